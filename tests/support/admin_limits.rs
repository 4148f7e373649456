//! Rate limits through the admin API (CONTRACT §3b): a token's `rate_limit` on create and
//! PATCH, and an owner's settings at `/owners/{owner}`, which the admin sets and
//! self-service does not. Run one test each by `tests/admin_limits.rs` (the admin's side)
//! and `tests/self_service.rs` (self-service's), and all together by `tests/admin_logs.rs`
//! under a log capture.

use std::sync::Arc;

use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tollgate::{AdminApi, MemoryStore, RateLimit, TokenManager, Verifier};
use tower::ServiceExt as _;

use super::NoOwnerSettings;
use super::admin::{Harness, Reply, assert_error, assert_is_record};
use super::self_service::{admin_makes, assert_forbidden};

/// The rule each bad `rate_limit` breaks, as its 400 names it.
const LIMIT_RULE: &str = "rate_limit.limit must be at least 1";
const PERIOD_RULE: &str = "rate_limit.period must be whole seconds, from 1 to 86400 (a day)";

/// Each `rate_limit` that breaks a rule, and what the 400's message must contain.
fn bad_rate_limits() -> Vec<(Value, &'static str)> {
    vec![
        (json!({"limit": 0, "period": 60}), LIMIT_RULE),
        (json!({"limit": 10, "period": 0}), PERIOD_RULE),
        (json!({"limit": 10, "period": 86_401}), PERIOD_RULE),
        (
            json!({"limit": 10, "period": 60, "burst": 0}),
            "rate_limit.burst must be from 1 to 100 times the limit (1000 here)",
        ),
        (
            json!({"limit": 10, "period": 60, "burst": 1_001}),
            "rate_limit.burst must be from 1 to 100 times the limit (1000 here)",
        ),
        (json!({"limit": 10, "period": 60, "brust": 5}), "brust"),
        (json!({"limit": 10}), "period"),
        (json!({"limit": -1, "period": 60}), "rate_limit.limit"),
        (json!({"limit": 10, "period": "60"}), "rate_limit.period"),
        (json!("10/minute"), "rate_limit"),
    ]
}

fn assert_names_rule(reply: &Reply, rule: &str, body: &Value) {
    assert_error(reply, StatusCode::BAD_REQUEST, "invalid_request");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(rule), "{body}: {message:?} does not name {rule:?}");
}

fn path_of(reply: &Reply) -> String {
    format!("/tokens/{}", reply.body["id"].as_str().unwrap())
}

// CONTRACT §3b: a record carries a `rate_limit` (`burst` optional, `limit` by default),
// settable at create and shown wherever the record is: the 201, GET and the list.
pub async fn a_rate_limit_given_at_create_is_shown_in_the_answer_get_and_list() {
    let h = Harness::new().await;
    let limited = h
        .create(json!({"name": "partner", "rate_limit": {"limit": 100, "period": 60, "burst": 20}}))
        .await;
    let shown = json!({"limit": 100, "period": 60, "burst": 20});
    assert_eq!(limited.body["rate_limit"], shown, "{}", limited.raw);
    let mut record = limited.body.clone();
    record.as_object_mut().unwrap().remove("token");
    assert_is_record(&record);
    let got = h.admin(Method::GET, &path_of(&limited), None).await;
    assert_eq!(got.body, record);
    let listed = h.admin(Method::GET, "/tokens", None).await;
    let in_list = listed.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == limited.body["id"])
        .unwrap();
    assert_eq!(in_list["rate_limit"], shown);

    let default_burst = h
        .create(json!({"name": "free", "rate_limit": {"limit": 10, "period": 3600}}))
        .await;
    assert_eq!(
        default_burst.body["rate_limit"],
        json!({"limit": 10, "period": 3600, "burst": 10}),
        "burst defaults to the limit"
    );
    // An imported secret carries it too.
    let imported = h
        .create(json!({"name": "legacy", "secret": "Legacy-Key-9f3Q-7xZr-2mWb-limits", "rate_limit": {"limit": 5, "period": 1}}))
        .await;
    assert_eq!(
        imported.body["rate_limit"],
        json!({"limit": 5, "period": 1, "burst": 5})
    );
    // `null` at create is none, as a record shows none; so is leaving it out.
    for body in [json!({"name": "none", "rate_limit": null}), json!({"name": "absent"})] {
        let reply = h.create(body).await;
        assert_eq!(reply.body["rate_limit"], Value::Null, "{}", reply.raw);
    }
}

// CONTRACT §3b: PATCH sets and changes a token's limit, `null` removes it, and a patch
// without it keeps it.
pub async fn a_patch_changes_the_rate_limit_and_null_removes_it() {
    let h = Harness::new().await;
    let created = h.create(json!({"name": "p"})).await;
    let path = path_of(&created);
    let set = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"rate_limit": {"limit": 10, "period": 60}})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.raw);
    assert_eq!(set.body["rate_limit"], json!({"limit": 10, "period": 60, "burst": 10}));
    let raised = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"rate_limit": {"limit": 1000, "period": 3600, "burst": 50}})),
        )
        .await;
    assert_eq!(
        raised.body["rate_limit"],
        json!({"limit": 1000, "period": 3600, "burst": 50})
    );
    let renamed = h.admin(Method::PATCH, &path, Some(json!({"name": "q"}))).await;
    assert_eq!(renamed.body["rate_limit"], raised.body["rate_limit"], "absent: kept");
    let removed = h.admin(Method::PATCH, &path, Some(json!({"rate_limit": null}))).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.raw);
    assert_eq!(removed.body["rate_limit"], Value::Null);
    assert_eq!(
        h.admin(Method::GET, &path, None).await.body["rate_limit"],
        Value::Null,
        "removed in the store"
    );
}

// CONTRACT §3b: `limit` ≥ 1, `period` from 1 s to a day, `burst` from 1 to 100 × `limit`,
// no other field: each broken rule is a 400 that names it, at create, on PATCH and on an
// owner's PUT, and nothing is written.
pub async fn each_broken_rate_limit_rule_is_a_400_naming_it() {
    let h = Harness::new().await;
    let target = h
        .create(json!({"name": "target", "owner": "olga", "rate_limit": {"limit": 7, "period": 70}}))
        .await;
    let path = path_of(&target);
    for (rate_limit, rule) in bad_rate_limits() {
        let create = json!({"name": "n", "rate_limit": rate_limit});
        assert_names_rule(
            &h.admin(Method::POST, "/tokens", Some(create.clone())).await,
            rule,
            &create,
        );
        let patch = json!({"rate_limit": rate_limit});
        assert_names_rule(&h.admin(Method::PATCH, &path, Some(patch.clone())).await, rule, &patch);
        let put = json!({"rate_limit": rate_limit});
        assert_names_rule(
            &h.admin(Method::PUT, "/owners/olga", Some(put.clone())).await,
            rule,
            &put,
        );
    }
    assert_eq!(h.store.inner.len(), 2, "nothing was created");
    let kept = h.admin(Method::GET, &path, None).await.body;
    assert_eq!(kept["rate_limit"], json!({"limit": 7, "period": 70, "burst": 7}));
    assert_eq!(kept["updated_at"], target.body["updated_at"], "nothing was changed");
    assert_eq!(
        h.admin(Method::GET, "/owners/olga", None).await.body["rate_limit"],
        Value::Null
    );
}

// CONTRACT §3b: an owner carries a `rate_limit` shared by all its tokens: `PUT
// /owners/{owner}` sets it, GET reads it, `null` removes it; the owner is percent-encoded
// in the path.
pub async fn owner_settings_round_trip_through_put_and_get() {
    let h = Harness::new().await;
    let never = h.admin(Method::GET, "/owners/acme", None).await;
    assert_eq!(never.status, StatusCode::OK, "{}", never.raw);
    assert_eq!(never.body, json!({"owner": "acme", "rate_limit": null}));

    let plan = json!({"limit": 1000, "period": 3600, "burst": 100});
    let put = h
        .admin(Method::PUT, "/owners/acme", Some(json!({"rate_limit": plan})))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.raw);
    assert_eq!(put.body, json!({"owner": "acme", "rate_limit": plan}));
    assert_eq!(h.admin(Method::GET, "/owners/acme", None).await.body, put.body);
    let tokens = TokenManager::new(h.store.clone(), h.verifier.clone());
    assert_eq!(
        tokens.owner_settings("acme").await.unwrap().rate_limit,
        Some(RateLimit::from_parts(1000, 3600, 100).unwrap()),
        "kept by the store"
    );

    let removed = h
        .admin(Method::PUT, "/owners/acme", Some(json!({"rate_limit": null})))
        .await;
    assert_eq!(removed.body, json!({"owner": "acme", "rate_limit": null}));
    assert_eq!(h.admin(Method::GET, "/owners/acme", None).await.body, removed.body);

    // Any string is an owner: `/` and spaces travel percent-encoded, `+` is itself.
    let odd = h
        .admin(
            Method::PUT,
            "/owners/acme%2Fteam%20a+b%C3%A9",
            Some(json!({"rate_limit": {"limit": 5, "period": 60}})),
        )
        .await;
    assert_eq!(odd.status, StatusCode::OK, "{}", odd.raw);
    assert_eq!(odd.body["owner"], "acme/team a+bé");
    assert_eq!(
        tokens.owner_settings("acme/team a+bé").await.unwrap().rate_limit,
        Some(RateLimit::from_parts(5, 60, 5).unwrap())
    );
    assert_eq!(
        h.admin(Method::GET, "/owners/acme%2Fteam%20a+b%C3%A9", None).await.body,
        odd.body
    );

    // An owner that breaks the owner rule, or a body without `rate_limit` or with more.
    let long = "a".repeat(257);
    for path in ["/owners/%FF", "/owners/a%0Ab", &format!("/owners/{long}")] {
        for (method, body) in [(Method::GET, None), (Method::PUT, Some(json!({"rate_limit": null})))] {
            let reply = h.admin(method.clone(), path, body).await;
            assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
            let message = reply.body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("owner: "), "{method} {path}: {message}");
        }
    }
    for (body, field) in [
        (json!({}), "rate_limit"),
        (json!({"rate_limit": null, "plan": "gold"}), "plan"),
        (json!({"owner": "acme", "rate_limit": null}), "owner"),
    ] {
        assert_names_rule(
            &h.admin(Method::PUT, "/owners/acme", Some(body.clone())).await,
            field,
            &body,
        );
    }
}

// CONTRACT §3b: an owner's limit set through the API is in force on the next request
// with any of its tokens, even one this process had cached, and with no change stream.
pub async fn an_owner_limit_set_through_the_api_is_in_force_on_the_next_request() {
    let h = Harness::new().await;
    let first = h.create(json!({"name": "ivy 1", "owner": "ivy"})).await;
    let second = h.create(json!({"name": "ivy 2", "owner": "ivy"})).await;
    let tokens: Vec<String> = [first, second]
        .iter()
        .map(|reply| reply.body["token"].as_str().unwrap().to_owned())
        .collect();
    for token in &tokens {
        assert_eq!(h.bearer("/me", token).await, StatusCode::OK, "cached, with no limit");
    }
    let put = h
        .admin(
            Method::PUT,
            "/owners/ivy",
            Some(json!({"rate_limit": {"limit": 1, "period": 3600}})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.raw);
    assert_eq!(
        h.bearer("/me", &tokens[0]).await,
        StatusCode::OK,
        "the one request an hour"
    );
    assert_eq!(
        h.bearer("/me", &tokens[1]).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the owner's limit, shared by its tokens"
    );
    h.admin(Method::PUT, "/owners/ivy", Some(json!({"rate_limit": null})))
        .await;
    assert_eq!(h.bearer("/me", &tokens[1]).await, StatusCode::OK, "lifted at once");
}

// CONTRACT §3b: a store that keeps no owner settings answers 501 to PUT (not 503: retrying
// will not help); every owner reads as one with none.
pub async fn a_store_without_owner_settings_answers_501_to_put() {
    let store = Arc::new(NoOwnerSettings(MemoryStore::new()));
    let verifier = Verifier::builder(store.clone()).build();
    let admin = TokenManager::new(store.clone(), verifier.clone())
        .bootstrap_admin()
        .await
        .unwrap()
        .unwrap();
    super::admin::SECRETS
        .lock()
        .unwrap()
        .push(admin.token().expose().to_owned());
    let api = AdminApi::builder(store.clone(), verifier).build();
    let send = |method: Method, body: Option<Value>| {
        let mut req = Request::builder()
            .method(method)
            .uri("/owners/acme")
            .header(AUTHORIZATION, format!("Bearer {}", admin.token().expose()));
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let api = api.clone();
        async move {
            let response = api.oneshot(req).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, body) = send(Method::PUT, Some(json!({"rate_limit": {"limit": 1, "period": 1}}))).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{body}");
    assert_eq!(body["error"]["code"], "not_implemented");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("this store keeps no owner settings"), "{message}");
    let (status, body) = send(Method::GET, None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"owner": "acme", "rate_limit": null}))
    );
}

/// A 403 for a rate limit: the admin scope named, and why.
fn assert_no_limits(reply: &Reply) {
    assert_forbidden(reply, "tokens:admin");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("rate limit"), "{message}");
}

// CONTRACT §3b: only `tokens:admin` sets, raises or removes a limit; self-service gets 403,
// on a token it creates and on its own tokens, and its tokens get no limit of their own.
pub async fn self_service_cannot_set_raise_or_remove_a_rate_limit() {
    let h = Harness::new().await;
    let (_, gina) = admin_makes(
        &h,
        json!({"name": "gina self", "owner": "gina", "scopes": ["tokens:self"]}),
    )
    .await;
    let limit = json!({"limit": 10, "period": 60, "burst": 10});
    let (limited, _) = admin_makes(&h, json!({"name": "gina ci", "owner": "gina", "rate_limit": limit})).await;
    let (unlimited, _) = admin_makes(&h, json!({"name": "gina laptop", "owner": "gina"})).await;
    let before = h.store.inner.len();

    for rate_limit in [
        json!({"limit": 1, "period": 1}),
        json!({"limit": 1_000_000, "period": 1}),
    ] {
        let made = h
            .admin_as(
                &gina,
                Method::POST,
                "/tokens",
                Some(json!({"name": "x", "rate_limit": rate_limit})),
            )
            .await;
        assert_no_limits(&made);
    }
    assert_eq!(h.store.inner.len(), before, "nothing was created");
    // No limit asked for (`null` is none): a token of its own, under its owner's limit only.
    let made = h
        .admin_as(
            &gina,
            Method::POST,
            "/tokens",
            Some(json!({"name": "mine", "rate_limit": null})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.raw);
    assert_eq!(made.body["rate_limit"], Value::Null);

    for (id, rate_limit, what) in [
        (&unlimited, json!({"limit": 5, "period": 60}), "set"),
        (&limited, json!({"limit": 10_000, "period": 60}), "raise"),
        (&limited, json!({"limit": 1, "period": 60}), "lower"),
        (&limited, limit.clone(), "restate"),
        (&limited, Value::Null, "remove"),
    ] {
        let path = format!("/tokens/{id}");
        let patched = h
            .admin_as(
                &gina,
                Method::PATCH,
                &path,
                Some(json!({"name": "renamed", "rate_limit": rate_limit})),
            )
            .await;
        assert_no_limits(&patched);
        let record = h.admin(Method::GET, &path, None).await.body;
        assert_ne!(record["name"], "renamed", "{what}: nothing of the patch was applied");
    }
    assert_eq!(
        h.admin(Method::GET, &format!("/tokens/{limited}"), None).await.body["rate_limit"],
        limit
    );
    assert_eq!(
        h.admin(Method::GET, &format!("/tokens/{unlimited}"), None).await.body["rate_limit"],
        Value::Null
    );
}

// CONTRACT §3b and §3a: a self-service principal reads its own owner's settings, never
// another's (404, as another owner's token), and sets none (403).
pub async fn self_service_reads_only_its_own_owners_settings_and_sets_none() {
    let h = Harness::new().await;
    let (_, hana) = admin_makes(
        &h,
        json!({"name": "hana self", "owner": "acme/hana", "scopes": ["tokens:self"]}),
    )
    .await;
    let plan = json!({"limit": 100, "period": 60, "burst": 100});
    for owner in ["acme%2Fhana", "bob"] {
        let put = h
            .admin(
                Method::PUT,
                &format!("/owners/{owner}"),
                Some(json!({"rate_limit": plan})),
            )
            .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.raw);
    }

    let own = h.admin_as(&hana, Method::GET, "/owners/acme%2Fhana", None).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.raw);
    assert_eq!(own.body, json!({"owner": "acme/hana", "rate_limit": plan}));
    let others = h.admin_as(&hana, Method::GET, "/owners/bob", None).await;
    assert_error(&others, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        others.raw,
        h.admin_as(&hana, Method::GET, "/owners/nobody", None).await.raw,
        "another owner's settings look like no owner's"
    );

    for owner in ["acme%2Fhana", "bob"] {
        for body in [
            json!({"rate_limit": null}),
            json!({"rate_limit": {"limit": 1_000_000, "period": 1}}),
            json!({"rate_limit": plan}),
        ] {
            let put = h
                .admin_as(&hana, Method::PUT, &format!("/owners/{owner}"), Some(body))
                .await;
            assert_forbidden(&put, "tokens:admin");
        }
    }
    for owner in ["acme%2Fhana", "bob"] {
        let kept = h.admin(Method::GET, &format!("/owners/{owner}"), None).await;
        assert_eq!(kept.body["rate_limit"], plan, "unchanged");
    }
}

/// Every scenario, in order.
pub async fn all() {
    a_rate_limit_given_at_create_is_shown_in_the_answer_get_and_list().await;
    a_patch_changes_the_rate_limit_and_null_removes_it().await;
    each_broken_rate_limit_rule_is_a_400_naming_it().await;
    owner_settings_round_trip_through_put_and_get().await;
    an_owner_limit_set_through_the_api_is_in_force_on_the_next_request().await;
    a_store_without_owner_settings_answers_501_to_put().await;
    self_service_cannot_set_raise_or_remove_a_rate_limit().await;
    self_service_reads_only_its_own_owners_settings_and_sets_none().await;
}
