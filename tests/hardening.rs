//! What an attacker, or a careless client, tries: a generated token's secret on its own,
//! far-off dates, panics in a handler.

mod support;

use support::memory;
use tollgate::{
    BasicCredential, Credential, InvalidReason, NewToken, Principal, Secret, TokenManager, Verifier, VerifyError,
};

fn refused(result: Result<Principal, VerifyError>) -> bool {
    match result {
        Err(VerifyError::Invalid(reason)) => reason == InvalidReason::Unknown,
        Ok(_) => false,
        Err(err) => panic!("the store failed: {err}"),
    }
}

// CONTRACT §1: the opaque Bearer form is for imported tokens. A generated token's last
// segment (its Basic password) must not work alone, cold or cached, nor during a
// rotation's grace; with its id (Basic) or whole it still does.
#[tokio::test]
async fn a_generated_tokens_secret_segment_does_not_work_on_its_own() {
    let store = memory();
    let verifier = Verifier::builder(store.clone()).build();
    let tokens = TokenManager::new(store, verifier.clone());
    let issued = tokens.create(NewToken::new("generated")).await.unwrap();
    let whole = issued.token().expose().to_owned();
    let segment = whole.rsplit('_').next().unwrap().to_owned();

    for _ in 0..2 {
        // A miss, then again with the token's id and hash cached.
        assert!(
            refused(verifier.verify(&Credential::Bearer(&segment)).await),
            "Bearer <segment>"
        );
        assert!(verifier.verify(&Credential::Bearer(&whole)).await.is_ok());
        let basic = BasicCredential::new(issued.id(), &segment);
        assert!(
            verifier.verify(&Credential::Basic(basic)).await.is_ok(),
            "Basic id:segment"
        );
    }
    let no_id = BasicCredential::new("", &segment);
    assert!(
        verifier.verify(&Credential::Basic(no_id)).await.is_err(),
        "Basic :segment"
    );

    // Rotated with a grace period: the old segment alone is refused too, the new one as well.
    let rotated = tokens.rotate(issued.id(), time::Duration::hours(1)).await.unwrap();
    let new_segment = rotated.token().expose().rsplit('_').next().unwrap().to_owned();
    for candidate in [&segment, &new_segment] {
        assert!(refused(verifier.verify(&Credential::Bearer(candidate)).await));
        // As a Basic password alone (netrc, URL userinfo), or under another name.
        for user in ["", "someone"] {
            let basic = BasicCredential::new(user, candidate);
            assert!(
                verifier.verify(&Credential::Basic(basic)).await.is_err(),
                "Basic {user}:segment in the grace"
            );
        }
    }
    assert!(
        verifier.verify(&Credential::Bearer(&whole)).await.is_ok(),
        "the old token, whole, in its grace"
    );
    let old_basic = BasicCredential::new(issued.id(), &segment);
    assert!(verifier.verify(&Credential::Basic(old_basic)).await.is_ok());

    // An imported secret keeps its opaque form, and after a rotation the token is a
    // generated one like any other.
    let legacy = Secret::new("legacy-key-0123456789abcdef");
    let imported = tokens.import(NewToken::new("legacy"), &legacy).await.unwrap();
    assert!(verifier.verify(&Credential::Bearer(legacy.expose())).await.is_ok());
    let rotated = tokens.rotate(&imported.id, time::Duration::ZERO).await.unwrap();
    let segment = rotated.token().expose().rsplit('_').next().unwrap().to_owned();
    assert!(refused(verifier.verify(&Credential::Bearer(&segment)).await));
}

// CONTRACT §1 and §3 never answer 500 on their own; a panic in tollgate's code, or in code
// of the app's it calls, must answer that one request 500 (never end the connection
// without an answer) and leave the next request decided afresh.
#[tokio::test]
async fn a_panic_in_the_layer_answers_that_request_500_and_the_next_is_decided() {
    use http::{Request, Response, StatusCode, header::AUTHORIZATION};
    use tollgate::{AuthLayer, Damping, Rejection, RejectionKind};
    use tower::{Layer, ServiceExt, service_fn};

    let store = memory();
    let verifier = Verifier::builder(store.clone()).build();
    let tokens = TokenManager::new(store, verifier.clone());
    let good = tokens.create(NewToken::new("good")).await.unwrap();
    // A client key of the app's that panics on one client.
    let damping = Damping::builder()
        .client_key(|headers: &http::HeaderMap, _: &http::Extensions| {
            assert!(!headers.contains_key("x-panic"), "a bug in the app's client key");
            Some(std::net::IpAddr::from([127, 0, 0, 1]))
        })
        .build();
    let service = AuthLayer::builder(verifier)
        .damping(damping)
        .build()
        .layer(service_fn(|_: Request<()>| async {
            Ok::<_, std::convert::Infallible>(Response::new(String::new()))
        }));
    let call = |token: &str, panic: bool| {
        let mut req = Request::new(());
        req.headers_mut()
            .insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        if panic {
            req.headers_mut().insert("x-panic", "1".parse().unwrap());
        }
        service.clone().oneshot(req)
    };
    let unknown = tollgate::TokenFormat::default().generate().unwrap();
    let response = call(unknown.token().expose(), true).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let rejection = response.extensions().get::<Rejection>().unwrap();
    assert_eq!(rejection.kind(), &RejectionKind::Internal);
    assert_eq!(
        call(good.token().expose(), false).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        call(unknown.token().expose(), false).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[cfg(feature = "admin")]
#[tokio::test]
async fn a_panic_in_an_admin_handler_answers_that_request_500() {
    use http::{Method, StatusCode};
    let h = support::admin::Harness::new().await;
    let created = h.create(serde_json::json!({"name": "target"})).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    // The admin token is cached by now; the store's next read panics, inside the handler.
    h.store.panic_on_next_lookup();
    let reply = h.admin(Method::GET, &format!("/tokens/{id}"), None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", reply.raw);
    assert_eq!(reply.body["error"]["code"], "internal_error");
    assert_eq!(
        h.admin(Method::GET, &format!("/tokens/{id}"), None).await.status,
        StatusCode::OK
    );
}

// CONTRACT §3: 400 for a malformed field, never a panic: a date-time whose UTC instant is
// past the year 9999 (the offset carries it over) is out of range, in POST and in PATCH.
#[cfg(feature = "admin")]
#[tokio::test]
async fn far_dates_are_refused_not_a_panic() {
    use http::{Method, StatusCode};
    let h = support::admin::Harness::new().await;
    for far in ["9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999999-23:59"] {
        let reply = h
            .admin(
                Method::POST,
                "/tokens",
                Some(serde_json::json!({"name": "p", "expires_at": far})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{far}: {}", reply.raw);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("expires_at")
        );
    }
    let created = h.create(serde_json::json!({"name": "target"})).await;
    let id = created.body["id"].as_str().unwrap();
    let reply = h
        .admin(
            Method::PATCH,
            &format!("/tokens/{id}"),
            Some(serde_json::json!({"expires_at": "9999-12-31T23:59:59-01:00"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.raw);
    // The last instant RFC 3339 can write in UTC is still a valid expiry.
    let reply = h
        .admin(
            Method::PATCH,
            &format!("/tokens/{id}"),
            Some(serde_json::json!({"expires_at": "9999-12-31T23:59:59Z"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.raw);
}
