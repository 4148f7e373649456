//! Owners and self-service through the admin API (CONTRACT §3a), run by
//! `tests/self_service.rs` one test each and by `tests/admin_logs.rs` under a log capture.

use http::header::WWW_AUTHENTICATE;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::admin::{Harness, Reply, assert_error, assert_is_record};

/// A token made by the admin, returned as (id, whole token).
pub async fn admin_makes(h: &Harness, body: Value) -> (String, String) {
    let reply = h.create(body).await;
    (
        reply.body["id"].as_str().unwrap().to_owned(),
        reply.body["token"].as_str().unwrap().to_owned(),
    )
}

fn ids_of(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.raw);
    let mut ids: Vec<String> = reply.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    ids.sort();
    ids
}

/// A record's date-time field.
fn at(value: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(value.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
}

pub fn assert_forbidden(reply: &Reply, scope: &str) {
    assert_error(reply, StatusCode::FORBIDDEN, "insufficient_scope");
    assert_eq!(
        reply.headers[WWW_AUTHENTICATE],
        format!("Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"{scope}\""),
        "{}",
        reply.raw
    );
}

// CONTRACT §3a: a `tokens:self` principal lists and manages its own owner's tokens only;
// another owner's token is 404, never 403; it grants only scopes it holds, never the admin
// scope.
pub async fn two_owners_each_manage_only_their_own_tokens() {
    let h = Harness::new().await;
    let (alice_id, alice) = admin_makes(
        &h,
        json!({"name": "alice self", "owner": "alice", "scopes": ["tokens:self", "reports:read"]}),
    )
    .await;
    let (bob_id, bob) = admin_makes(
        &h,
        json!({"name": "bob self", "owner": "bob", "scopes": ["tokens:self"]}),
    )
    .await;
    let (alice_ci, _) = admin_makes(&h, json!({"name": "alice ci", "owner": "alice"})).await;
    let (unowned, _) = admin_makes(&h, json!({"name": "nobody's"})).await;

    // Each creates a token of its own; it gets the owner and names its creator.
    let made = h
        .admin_as(
            &alice,
            Method::POST,
            "/tokens",
            Some(json!({"name": "laptop", "scopes": ["reports:read"]})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.raw);
    let mut shown = made.body.clone();
    shown.as_object_mut().unwrap().remove("token");
    assert_is_record(&shown);
    assert_eq!(
        (made.body["owner"].as_str(), made.body["created_by"].as_str()),
        (Some("alice"), Some(alice_id.as_str()))
    );
    let alice_laptop = made.body["id"].as_str().unwrap().to_owned();
    let laptop_token = made.body["token"].as_str().unwrap().to_owned();
    assert_eq!(h.bearer("/reports", &laptop_token).await, StatusCode::OK);
    let made = h
        .admin_as(&bob, Method::POST, "/tokens", Some(json!({"name": "bob's script"})))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.raw);
    let bob_script = made.body["id"].as_str().unwrap().to_owned();

    // Each lists only its own, page by page too.
    let alices = sorted(&[&alice_id, &alice_ci, &alice_laptop]);
    assert_eq!(ids_of(&h.admin_as(&alice, Method::GET, "/tokens", None).await), alices);
    assert_eq!(
        ids_of(&h.admin_as(&bob, Method::GET, "/tokens", None).await),
        sorted(&[&bob_id, &bob_script])
    );
    let mut walked = Vec::new();
    let mut path = "/tokens?limit=1".to_owned();
    loop {
        let page = h.admin_as(&alice, Method::GET, &path, None).await;
        walked.extend(ids_of(&page));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/tokens?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, alices);
    assert_eq!(
        ids_of(&h.admin_as(&alice, Method::GET, "/tokens?owner=alice", None).await),
        alices
    );
    let admin_view = h.admin(Method::GET, "/tokens?owner=alice", None).await;
    assert_eq!(ids_of(&admin_view), alices, "the admin filters by owner");
    assert_forbidden(
        &h.admin_as(&bob, Method::GET, "/tokens?owner=alice", None).await,
        "tokens:admin",
    );

    // Neither can see, change, rotate, revoke or delete the other's tokens, nor one without
    // an owner: 404, as for an id that does not exist.
    for (who, id) in [
        (&bob, &alice_laptop),
        (&bob, &alice_id),
        (&bob, &unowned),
        (&alice, &bob_script),
        (&alice, &bob_id),
        (&alice, &unowned),
    ] {
        let path = format!("/tokens/{id}");
        for (method, path, body) in [
            (Method::GET, path.clone(), None),
            (Method::PATCH, path.clone(), Some(json!({"name": "mine now"}))),
            (Method::PATCH, path.clone(), Some(json!({"status": "inactive"}))),
            (Method::POST, format!("{path}/rotate"), None),
            (Method::DELETE, path.clone(), None),
        ] {
            let reply = h.admin_as(who, method.clone(), &path, body).await;
            assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
            assert_eq!(
                reply.raw,
                h.admin_as(who, Method::GET, "/tokens/no-such-id", None).await.raw
            );
        }
    }
    assert_eq!(h.bearer("/reports", &laptop_token).await, StatusCode::OK, "untouched");
    assert_eq!(
        ids_of(&h.admin_as(&bob, Method::GET, "/tokens", None).await),
        sorted(&[&bob_id, &bob_script]),
        "untouched"
    );

    // Neither can mint a scope it lacks, nor an admin token, nor one for someone else.
    let lacks = h
        .admin_as(
            &bob,
            Method::POST,
            "/tokens",
            Some(json!({"name": "x", "scopes": ["reports:read"]})),
        )
        .await;
    assert_forbidden(&lacks, "reports:read");
    let message = lacks.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot grant reports:read"), "{message}");
    let lacks = h
        .admin_as(
            &alice,
            Method::POST,
            "/tokens",
            Some(json!({"name": "x", "scopes": ["reports:read", "billing:write"]})),
        )
        .await;
    assert_forbidden(&lacks, "billing:write");
    for who in [&alice, &bob] {
        let admin = h
            .admin_as(
                who,
                Method::POST,
                "/tokens",
                Some(json!({"name": "x", "scopes": ["tokens:admin"]})),
            )
            .await;
        assert_forbidden(&admin, "tokens:admin");
        let widened = h
            .admin_as(
                who,
                Method::PATCH,
                &format!("/tokens/{}", if who == &alice { &alice_id } else { &bob_id }),
                Some(json!({"scopes": ["tokens:self", "tokens:admin"]})),
            )
            .await;
        assert_forbidden(&widened, "tokens:admin");
    }
    let for_bob = h
        .admin_as(
            &alice,
            Method::POST,
            "/tokens",
            Some(json!({"name": "x", "owner": "bob"})),
        )
        .await;
    assert_forbidden(&for_bob, "tokens:admin");
    for owner in [json!("bob"), Value::Null] {
        let moved = h
            .admin_as(
                &alice,
                Method::PATCH,
                &format!("/tokens/{alice_laptop}"),
                Some(json!({"owner": owner})),
            )
            .await;
        assert_forbidden(&moved, "tokens:admin");
    }
    assert_forbidden(
        &h.admin_as(
            &alice,
            Method::POST,
            "/tokens/check",
            Some(json!({"token": laptop_token})),
        )
        .await,
        "tokens:admin",
    );

    // A revocation holds against the owner: an inactive token is not made active again.
    let (revoked_id, _) = admin_makes(&h, json!({"name": "leaked", "owner": "alice", "status": "inactive"})).await;
    let revived = h
        .admin_as(
            &alice,
            Method::PATCH,
            &format!("/tokens/{revoked_id}"),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_forbidden(&revived, "tokens:admin");
    let again = h
        .admin(
            Method::PATCH,
            &format!("/tokens/{revoked_id}"),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "an admin can");
    let deleted = h
        .admin_as(&alice, Method::DELETE, &format!("/tokens/{revoked_id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    // Its own tokens it manages like an admin would.
    let renamed = h
        .admin_as(
            &alice,
            Method::PATCH,
            &format!("/tokens/{alice_laptop}"),
            Some(json!({"name": "old laptop", "owner": "alice"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.raw);
    let rotated = h
        .admin_as(&alice, Method::POST, &format!("/tokens/{alice_laptop}/rotate"), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.raw);
    assert_eq!(
        h.bearer("/reports", &laptop_token).await,
        StatusCode::UNAUTHORIZED,
        "rotated out"
    );
    let deleted = h
        .admin_as(&alice, Method::DELETE, &format!("/tokens/{alice_laptop}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        ids_of(&h.admin_as(&alice, Method::GET, "/tokens", None).await),
        sorted(&[&alice_id, &alice_ci])
    );

    // Revoking by owner: another owner's is refused, its own is "sign out everywhere".
    assert_forbidden(
        &h.admin_as(&bob, Method::POST, "/tokens/revoke", Some(json!({"owner": "alice"})))
            .await,
        "tokens:admin",
    );
    let revoked = h
        .admin_as(&bob, Method::POST, "/tokens/revoke", Some(json!({"owner": "bob"})))
        .await;
    assert_eq!(
        (revoked.status, &revoked.body),
        (StatusCode::OK, &json!({"revoked": 2}))
    );
    assert_eq!(
        h.bearer("/me", &bob).await,
        StatusCode::UNAUTHORIZED,
        "bob's own token went too"
    );
    assert_eq!(h.bearer("/me", &alice).await, StatusCode::OK);
}

// CONTRACT §3a: without the self-service scope, or without an owner, a token manages
// nothing.
pub async fn self_service_needs_both_the_scope_and_an_owner() {
    let h = Harness::new().await;
    let (_, ownerless) = admin_makes(&h, json!({"name": "no owner", "scopes": ["tokens:self"]})).await;
    let (_, scopeless) = admin_makes(
        &h,
        json!({"name": "no scope", "owner": "carol", "scopes": ["reports:read"]}),
    )
    .await;
    for token in [&ownerless, &scopeless] {
        assert_forbidden(&h.admin_as(token, Method::GET, "/tokens", None).await, "tokens:admin");
        assert_forbidden(
            &h.admin_as(token, Method::POST, "/tokens", Some(json!({"name": "x"})))
                .await,
            "tokens:admin",
        );
    }
}

// CONTRACT §3a: revoking every token of an owner is one route that says how many; each is
// refused on the next request, with `revoked_at` and `updated_at` set.
pub async fn the_admin_revokes_every_token_of_an_owner() {
    let h = Harness::new().await;
    let mut dave = Vec::new();
    for i in 0..3 {
        dave.push(admin_makes(&h, json!({"name": format!("dave {i}"), "owner": "dave"})).await);
    }
    let (_, erin) = admin_makes(&h, json!({"name": "erin", "owner": "erin"})).await;
    for (_, token) in &dave {
        assert_eq!(h.bearer("/me", token).await, StatusCode::OK, "cached as valid");
    }
    let revoked = h
        .admin(Method::POST, "/tokens/revoke", Some(json!({"owner": "dave"})))
        .await;
    assert_eq!(
        (revoked.status, &revoked.body),
        (StatusCode::OK, &json!({"revoked": 3}))
    );
    for (id, token) in &dave {
        assert_eq!(h.bearer("/me", token).await, StatusCode::UNAUTHORIZED);
        let record = h.admin(Method::GET, &format!("/tokens/{id}"), None).await.body;
        assert_eq!(record["status"], "inactive");
        assert!(record["revoked_at"].is_string(), "{record}");
        assert_eq!(record["revoked_at"], record["updated_at"]);
    }
    assert_eq!(h.bearer("/me", &erin).await, StatusCode::OK);
    let again = h
        .admin(Method::POST, "/tokens/revoke", Some(json!({"owner": "dave"})))
        .await;
    assert_eq!(again.body, json!({"revoked": 0}), "already revoked");
    let bad = h
        .admin(Method::POST, "/tokens/revoke", Some(json!({"owner": ""})))
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_request");
    let missing = h.admin(Method::POST, "/tokens/revoke", Some(json!({}))).await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "invalid_request");
}

// CONTRACT §3a: `created_by`, `updated_at` and `revoked_at` follow each change.
pub async fn audit_fields_follow_admin_changes() {
    let h = Harness::new().await;
    let made = h.create(json!({"name": "audited", "owner": "frank"})).await.body;
    assert_eq!(made["created_by"], "bootstrap", "the admin token's id");
    assert_eq!(made["updated_at"], made["created_at"]);
    assert_eq!(made["revoked_at"], Value::Null);
    let id = made["id"].as_str().unwrap();
    let path = format!("/tokens/{id}");
    let off = h
        .admin(Method::PATCH, &path, Some(json!({"status": "inactive"})))
        .await
        .body;
    assert!(at(&off["updated_at"]) > at(&made["updated_at"]), "{off}");
    assert_eq!(off["revoked_at"], off["updated_at"]);
    let on = h
        .admin(Method::PATCH, &path, Some(json!({"status": "active", "owner": null})))
        .await
        .body;
    assert_eq!(
        (on["revoked_at"].clone(), on["owner"].clone()),
        (Value::Null, Value::Null)
    );
}

// CONTRACT §2: an imported token may name its id; self-service may import, with a random
// id only (naming ids is an operator's job: a holder could take the id an import needs).
pub async fn self_service_imports_with_a_random_id_only() {
    let h = Harness::new().await;
    let (_, ivan) = admin_makes(
        &h,
        json!({"name": "ivan self", "owner": "ivan", "scopes": ["tokens:self"]}),
    )
    .await;
    let before = h.store.inner.len();
    let named = h
        .admin_as(
            &ivan,
            Method::POST,
            "/tokens",
            Some(json!({"name": "old key", "id": "ivan1", "secret": "ivans-legacy-key-0123456789"})),
        )
        .await;
    assert_forbidden(&named, "tokens:admin");
    assert!(named.raw.contains("may not name a token's id"), "{}", named.raw);
    assert_eq!(h.store.inner.len(), before, "nothing was created");
    let random = h
        .admin_as(
            &ivan,
            Method::POST,
            "/tokens",
            Some(json!({"name": "old key", "secret": "ivans-legacy-key-0123456789"})),
        )
        .await;
    assert_eq!(random.status, StatusCode::CREATED, "{}", random.raw);
    assert_ne!(random.body["id"], "ivan1");
    assert_eq!(random.body["owner"], "ivan");
}

/// Every scenario, in order.
pub async fn all() {
    two_owners_each_manage_only_their_own_tokens().await;
    self_service_needs_both_the_scope_and_an_owner().await;
    the_admin_revokes_every_token_of_an_owner().await;
    audit_fields_follow_admin_changes().await;
    self_service_imports_with_a_random_id_only().await;
}
