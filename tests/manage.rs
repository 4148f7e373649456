//! `TokenManager`: tokens made, changed and removed from Rust code, with the admin API's
//! rules, in force on the next request; and the bootstrap of a store's first admin token.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::{Instrumented, memory};
use tollgate::store::TokenSource;
use tollgate::{
    BOOTSTRAP_ID, BasicCredential, Credential, ManageError, MemoryStore, NewToken, Secret, TokenManager, TokenPatch,
    TokenStatus, Verifier, VerifyError,
};

fn manager() -> (Arc<Instrumented<MemoryStore>>, Verifier, TokenManager) {
    let store = memory();
    let verifier = Verifier::builder(store.clone()).build();
    let tokens = TokenManager::new(store.clone(), verifier.clone()).store_timeout(Duration::from_millis(200));
    (store, verifier, tokens)
}

async fn passes(verifier: &Verifier, token: &str) -> bool {
    match verifier.verify(&Credential::Bearer(token)).await {
        Ok(_) => true,
        Err(VerifyError::Invalid(_)) => false,
        Err(err) => panic!("the store failed: {err}"),
    }
}

#[tokio::test]
async fn a_created_token_works_at_once_and_is_shown_only_in_the_answer() {
    let (store, verifier, tokens) = manager();
    let issued = tokens
        .create(
            NewToken::new("laptop")
                .scopes(["b", "a", "b"])
                .kind("personal")
                .metadata(json!({"team": "web"}).as_object().unwrap().clone())
                .expires_in(time::Duration::days(30)),
        )
        .await
        .unwrap();
    let record = issued.record();
    assert_eq!(record.scopes, ["a", "b"], "scopes are normalised as the admin API does");
    assert_eq!(record.kind, "personal");
    assert_eq!(store.inner.get(issued.id()).await.unwrap().as_ref(), Some(record));
    let token = issued.token().expose().to_owned();
    assert!(token.starts_with(&format!("tg_{}_", issued.id())));
    assert!(passes(&verifier, &token).await);
    assert!(
        !format!("{issued:?}").contains(&token[token.len() - 20..]),
        "Debug hides the token"
    );
}

#[tokio::test]
async fn an_imported_secret_works_as_bearer_and_basic_and_is_taken_once() {
    let (_store, verifier, tokens) = manager();
    let secret = Secret::new("legacy-key-0123456789abcdef");
    let record = tokens.import(NewToken::new("legacy"), &secret).await.unwrap();
    assert!(passes(&verifier, secret.expose()).await);
    let basic = Credential::Basic(BasicCredential::new(&record.id, secret.expose()));
    assert!(verifier.verify(&basic).await.is_ok());
    let again = tokens.import(NewToken::new("again"), &secret).await.unwrap_err();
    assert!(matches!(again, ManageError::DuplicateSecret), "{again:?}");
}

/// A legacy system that kept only the SHA-256 of each secret: its clients keep working on a
/// store without a pepper; a peppered one refuses the hash, naming why.
#[tokio::test]
async fn an_import_of_a_secrets_sha256_works_unpeppered_and_is_refused_under_a_pepper() {
    use sha2::{Digest as _, Sha256};
    let (_store, verifier, tokens) = manager();
    let secret = "legacy-key-0123456789abcdef";
    let sha256: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let record = tokens
        .import_sha256(NewToken::new("legacy").id("acct7"), sha256)
        .await
        .unwrap();
    assert_eq!(record.id, "acct7");
    assert!(passes(&verifier, secret).await);
    let basic = Credential::Basic(BasicCredential::new("acct7", secret));
    assert!(verifier.verify(&basic).await.is_ok());
    let again = tokens.import_sha256(NewToken::new("again"), sha256).await.unwrap_err();
    assert!(matches!(again, ManageError::DuplicateSecret), "{again:?}");
    let bad_id = tokens
        .import_sha256(NewToken::new("bad").id("not-base62"), [7; 32])
        .await
        .unwrap_err();
    assert!(err_field_is(&bad_id, "id"), "{bad_id:?}");

    let store = Arc::new(MemoryStore::new());
    let peppered = Verifier::builder(store.clone())
        .hasher(tollgate::SecretHasher::hmac_sha256(b"0123456789abcdef0123456789abcdef"))
        .build();
    let err = TokenManager::new(store.clone(), peppered)
        .import_sha256(NewToken::new("legacy"), sha256)
        .await
        .unwrap_err();
    assert!(err_field_is(&err, "secret_sha256"), "{err:?}");
    assert!(err.to_string().contains("pepper"), "{err}");
    assert!(store.is_empty(), "nothing written");
}

/// A store made before fingerprints existed holds tokens and no fingerprint: a process that
/// may be wrong records nothing there, and one known to be right records it explicitly.
#[tokio::test]
async fn a_pepper_is_recorded_on_an_empty_store_only_unless_asked() {
    let store = Arc::new(MemoryStore::new());
    let manager = |pepper: Option<&[u8]>| {
        let mut verifier = Verifier::builder(store.clone());
        if let Some(pepper) = pepper {
            verifier = verifier.hasher(tollgate::SecretHasher::hmac_sha256(pepper));
        }
        TokenManager::new(store.clone(), verifier.build())
    };
    let right: &[u8] = b"the right pepper, 32 bytes long!";
    let _made = manager(Some(right)).create(NewToken::new("from before")).await.unwrap();
    use tollgate::store::TokenStore as _;
    manager(None)
        .check_pepper()
        .await
        .expect("nothing recorded: nothing to compare");
    assert_eq!(store.pepper_fingerprint().await.unwrap(), None, "and nothing recorded");
    manager(Some(right)).record_pepper().await.unwrap();
    let err = manager(None).check_pepper().await.unwrap_err();
    assert!(matches!(err, ManageError::PepperMismatch { .. }), "{err:?}");
    manager(Some(right)).check_pepper().await.unwrap();
}

// CONTRACT §2: an imported token may name its own id, 1 to 64 base62 characters, so that a
// legacy client's Basic id:secret keeps working; generated tokens keep random ids.
#[tokio::test]
async fn an_import_keeps_the_id_it_names_and_a_taken_id_is_refused() {
    let (_store, verifier, tokens) = manager();
    let secret = Secret::new("legacy-key-0123456789abcdef");
    let record = tokens
        .import(NewToken::new("legacy").id("acct42"), &secret)
        .await
        .unwrap();
    assert_eq!(record.id, "acct42");
    let basic = Credential::Basic(BasicCredential::new("acct42", secret.expose()));
    assert_eq!(verifier.verify(&basic).await.unwrap().id(), "acct42");

    let other = Secret::new("another-legacy-key-9876543210");
    let taken = tokens
        .import(NewToken::new("dup").id("acct42"), &other)
        .await
        .unwrap_err();
    assert!(matches!(taken, ManageError::DuplicateId), "{taken:?}");
    let generated = tokens.create(NewToken::new("generated")).await.unwrap();
    let taken = tokens
        .import(NewToken::new("dup").id(generated.id()), &other)
        .await
        .unwrap_err();
    assert!(
        matches!(taken, ManageError::DuplicateId),
        "a generated token's id: {taken:?}"
    );

    let longest = "Z".repeat(64);
    let record = tokens.import(NewToken::new("long").id(&longest), &other).await.unwrap();
    assert_eq!(record.id, longest, "64 characters are allowed");
    let too_long = "Z".repeat(65);
    for bad in ["", "acct_42", "acct-42", "äcct", too_long.as_str()] {
        let err = tokens
            .import(
                NewToken::new("bad").id(bad),
                &Secret::new("a-third-Legacy-key-0123456789"),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "id: must be 1 to 64 base62 characters (0-9, A-Z, a-z)",
            "{bad:?}"
        );
    }

    let owned = tokens
        .owned_by("olga")
        .import(
            NewToken::new("hers").id("olga1"),
            &Secret::new("olgas-legacy-key-0123456789"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(owned, ManageError::NotAllowed { .. }),
        "a holder may not choose ids: {owned:?}"
    );

    let created = tokens.create(NewToken::new("mine").id("mine1")).await.unwrap_err();
    assert!(
        err_field_is(&created, "id"),
        "a generated token cannot name its id: {created:?}"
    );
}

fn err_field_is(err: &ManageError, name: &str) -> bool {
    matches!(err, ManageError::Invalid { field, .. } if field == name)
}

#[tokio::test]
async fn updates_revocation_and_deletion_are_in_force_on_the_next_request() {
    let (_store, verifier, tokens) = manager();
    let issued = tokens.create(NewToken::new("n").scopes(["a"])).await.unwrap();
    let token = issued.token().expose().to_owned();
    assert!(passes(&verifier, &token).await, "cached now");

    let updated = tokens
        .update(issued.id(), TokenPatch::new().scopes(["b"]))
        .await
        .unwrap();
    assert_eq!(updated.scopes, ["b"]);
    let principal = verifier.verify(&Credential::Bearer(&token)).await.unwrap();
    assert_eq!(principal.scopes(), ["b"], "the cached scopes were dropped");

    let revoked = tokens.revoke(issued.id()).await.unwrap();
    assert_eq!(revoked.status, TokenStatus::Inactive);
    assert!(!passes(&verifier, &token).await);
    tokens
        .update(issued.id(), TokenPatch::new().status(TokenStatus::Active))
        .await
        .unwrap();
    assert!(passes(&verifier, &token).await, "made active again");

    tokens.delete(issued.id()).await.unwrap();
    assert!(!passes(&verifier, &token).await);
    for err in [
        tokens.delete(issued.id()).await.unwrap_err(),
        tokens.revoke(issued.id()).await.unwrap_err(),
        tokens
            .rotate(issued.id(), time::Duration::ZERO)
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(matches!(err, ManageError::NotFound), "{err:?}");
    }
    assert!(tokens.get(issued.id()).await.unwrap().is_none());
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_the_grace_period_only() {
    let (_store, verifier, tokens) = manager();
    let first = tokens.create(NewToken::new("n")).await.unwrap();
    let old = first.token().expose().to_owned();
    let graced = tokens
        .rotate(first.id(), time::Duration::milliseconds(300))
        .await
        .unwrap();
    assert_eq!(graced.id(), first.id());
    assert!(passes(&verifier, &old).await, "within the grace period");
    assert!(passes(&verifier, graced.token().expose()).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!passes(&verifier, &old).await, "after the grace period");

    let now = tokens.rotate(first.id(), time::Duration::ZERO).await.unwrap();
    assert!(!passes(&verifier, graced.token().expose()).await, "no grace: at once");
    assert!(passes(&verifier, now.token().expose()).await);
}

#[tokio::test]
async fn check_answers_the_record_or_nothing() {
    let (_store, _verifier, tokens) = manager();
    let issued = tokens.create(NewToken::new("n")).await.unwrap();
    let found = tokens
        .check(&Credential::Bearer(issued.token().expose()))
        .await
        .unwrap();
    assert_eq!(found.as_ref().map(|r| r.id.as_str()), Some(issued.id()));
    let basic = Credential::Basic(BasicCredential::new(issued.id(), "wrong"));
    assert_eq!(tokens.check(&basic).await.unwrap(), None);
}

#[tokio::test]
async fn a_store_that_fails_or_stalls_is_an_error_and_the_cache_is_still_told() {
    let (store, verifier, tokens) = manager();
    let issued = tokens.create(NewToken::new("n")).await.unwrap();
    let token = issued.token().expose().to_owned();
    assert!(passes(&verifier, &token).await, "cached now");

    // The delete is applied, then the store takes longer than the timeout to answer.
    store.set_write_delay(Duration::from_secs(2));
    let err = tokens.delete(issued.id()).await.unwrap_err();
    assert!(matches!(err, ManageError::Timeout(_)), "{err:?}");
    store.set_write_delay(Duration::ZERO);
    assert!(!passes(&verifier, &token).await, "the cached entry was dropped anyway");

    store.set_failing(true);
    let err = tokens.create(NewToken::new("m")).await.map(|_| ()).unwrap_err();
    assert!(matches!(err, ManageError::Store(_)), "{err:?}");
}

#[tokio::test]
async fn bootstrap_makes_the_first_token_only() {
    let (store, verifier, tokens) = manager();
    let admin = tokens.bootstrap_admin().await.unwrap().expect("an empty store");
    assert_eq!(admin.id(), BOOTSTRAP_ID);
    assert_eq!(admin.record().scopes, ["tokens:admin"]);
    assert!(passes(&verifier, admin.token().expose()).await);
    assert!(tokens.bootstrap_admin().await.unwrap().is_none());

    // Not on a store that holds any token, admin or not.
    let (other, _, others) = manager();
    let _first = others.create(NewToken::new("first")).await.unwrap();
    assert!(others.bootstrap_admin().await.unwrap().is_none());
    assert_eq!(other.inner.len(), 1);
    assert_eq!(store.inner.len(), 1);
}

#[tokio::test]
async fn an_owners_manager_grants_no_scope_it_was_not_given_and_sees_no_other_owner() {
    let (_store, verifier, tokens) = manager();
    // From code, with no principal: no creator is recorded.
    let plain = tokens.owned_by("alice").create(NewToken::new("laptop")).await.unwrap();
    assert_eq!(plain.record().owner.as_deref(), Some("alice"));
    assert_eq!(plain.record().created_by, None);
    assert!(passes(&verifier, plain.token().expose()).await);

    // Nothing named: not even an admin token, nor any other scope.
    for scope in [tollgate::DEFAULT_ADMIN_SCOPE, "tokens:self", "repo:read"] {
        let refused = tokens
            .owned_by("alice")
            .create(NewToken::new("x").scopes([scope]))
            .await;
        assert!(
            matches!(&refused, Err(ManageError::NotAllowed { scopes, .. }) if scopes == &[scope]),
            "{scope}: {refused:?}"
        );
    }
    let alice = tokens.owned_by("alice").grantable_scopes(["repo:read"]);
    let read = alice.create(NewToken::new("ci").scopes(["repo:read"])).await.unwrap();
    assert_eq!(read.record().scopes, ["repo:read"]);
    let widened = alice
        .update(read.id(), TokenPatch::new().scopes(["repo:read", "repo:write"]))
        .await;
    assert!(matches!(widened, Err(ManageError::NotAllowed { .. })), "{widened:?}");

    // Bob sees none of Alice's tokens, and each change of one is NotFound.
    let bob = tokens.owned_by("bob").grantable_scopes(["repo:read"]);
    assert!(bob.get(read.id()).await.unwrap().is_none());
    assert!(
        bob.list(&tollgate::ListQuery::new(10))
            .await
            .unwrap()
            .records
            .is_empty()
    );
    assert!(matches!(bob.revoke(read.id()).await, Err(ManageError::NotFound)));
    assert!(matches!(
        bob.rotate(read.id(), time::Duration::ZERO).await,
        Err(ManageError::NotFound)
    ));
    assert!(matches!(bob.delete(read.id()).await, Err(ManageError::NotFound)));
    assert!(passes(&verifier, read.token().expose()).await, "untouched by Bob");

    // Alice revokes her own, and cannot bring it back; an admin can.
    alice.revoke(read.id()).await.unwrap();
    assert!(!passes(&verifier, read.token().expose()).await);
    let back = alice
        .update(read.id(), TokenPatch::new().status(TokenStatus::Active))
        .await;
    assert!(matches!(back, Err(ManageError::NotAllowed { .. })), "{back:?}");
    assert_eq!(
        alice.revoke_all().await.unwrap(),
        1,
        "the laptop token, the other one already"
    );
    assert!(!passes(&verifier, plain.token().expose()).await);
}

#[cfg(feature = "_sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_bootstrapping_one_database_at_once_make_one_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    tollgate::SqliteStore::open(&path).await.unwrap().close().await.unwrap();
    // Eight stores on one file (each with its own connections, as eight processes would
    // have), all finding it empty and bootstrapping together.
    let mut starts = Vec::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    for _ in 0..8 {
        let (path, barrier) = (path.clone(), Arc::clone(&barrier));
        starts.push(tokio::spawn(async move {
            let store = Arc::new(tollgate::SqliteStore::open(&path).await.unwrap());
            let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
            barrier.wait().await;
            tokens
                .bootstrap_admin()
                .await
                .unwrap()
                .map(|issued| issued.into_parts().1)
        }));
    }
    let mut made = Vec::new();
    for start in starts {
        made.extend(start.await.unwrap());
    }
    assert_eq!(made.len(), 1, "exactly one store made the admin token");
    use tollgate::store::TokenStore as _;
    let store = tollgate::SqliteStore::open(&path).await.unwrap();
    let listed = store.list(&tollgate::ListQuery::new(10)).await.unwrap().records;
    assert_eq!(listed.len(), 1);
    let verifier = Verifier::builder(store).build();
    assert!(passes(&verifier, made[0].expose()).await, "and it is the one stored");
}

/// The same input refused by the Rust API and by the admin API, with the same message.
#[cfg(feature = "admin")]
mod against_the_admin_api {
    use http::{Method, StatusCode};
    use serde_json::{Value, json};
    use time::OffsetDateTime;
    use tollgate::{ManageError, NewToken, Secret, TokenManager, TokenPatch};

    use super::support::admin::Harness;

    fn field_of(err: &ManageError) -> &str {
        match err {
            ManageError::Invalid { field, .. } => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_rust_api_and_the_admin_api_refuse_the_same_input_with_the_same_message() {
        let h = Harness::new().await;
        let tokens = TokenManager::new(h.store.clone(), h.verifier.clone());
        let big = json!({"big": "x".repeat(4100)}).as_object().unwrap().clone();
        let past = OffsetDateTime::now_utc() - time::Duration::days(1);
        let cases: Vec<(Value, NewToken, Option<&str>, &str)> = vec![
            (json!({"name": ""}), NewToken::new(""), None, "name"),
            (
                json!({"name": "x".repeat(129)}),
                NewToken::new("x".repeat(129)),
                None,
                "name",
            ),
            (json!({"name": "a\u{7}b"}), NewToken::new("a\u{7}b"), None, "name"),
            (
                json!({"name": "n", "scopes": ["ok", "a b"]}),
                NewToken::new("n").scopes(["ok", "a b"]),
                None,
                "scopes[1]",
            ),
            (
                json!({"name": "n", "kind": ""}),
                NewToken::new("n").kind(""),
                None,
                "kind",
            ),
            (
                json!({"name": "n", "metadata": big}),
                NewToken::new("n").metadata(big.clone()),
                None,
                "metadata",
            ),
            (
                json!({"name": "n", "expires_at": past.format(&time::format_description::well_known::Rfc3339).unwrap()}),
                NewToken::new("n").expires_at(past),
                None,
                "expires_at",
            ),
            (
                json!({"name": "n", "expires_in": 0}),
                NewToken::new("n").expires_in(time::Duration::ZERO),
                None,
                "expires_in",
            ),
            (
                json!({"name": "n", "secret": "too-short"}),
                NewToken::new("n"),
                Some("too-short"),
                "secret",
            ),
            (
                json!({"name": "n", "secret": "tg_claims_our_prefix_123456"}),
                NewToken::new("n"),
                Some("tg_claims_our_prefix_123456"),
                "secret",
            ),
            (
                json!({"name": "n", "id": "acct_42", "secret": "legacy-key-0123456789abcdef"}),
                NewToken::new("n").id("acct_42"),
                Some("legacy-key-0123456789abcdef"),
                "id",
            ),
            (
                json!({"name": "n", "id": "acct42"}),
                NewToken::new("n").id("acct42"),
                None,
                "id",
            ),
        ];
        for (body, new, secret, field) in cases {
            let err = match secret {
                Some(secret) => tokens.import(new, &Secret::new(secret)).await.unwrap_err(),
                None => tokens.create(new).await.map(|_| ()).unwrap_err(),
            };
            assert_eq!(field_of(&err), field, "{body}");
            let reply = h.admin(Method::POST, "/tokens", Some(body.clone())).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(reply.body["error"]["message"], err.to_string(), "{body}");
        }

        let created = h.create(json!({"name": "target"})).await;
        let id = created.body["id"].as_str().unwrap();
        for (body, patch, field) in [
            (json!({"name": ""}), TokenPatch::new().name(""), "name"),
            (json!({"scopes": ["\""]}), TokenPatch::new().scopes(["\""]), "scopes[0]"),
            (
                json!({"expires_at": "2001-01-01T00:00:00Z"}),
                TokenPatch::new().expires_at(Some(time::macros::datetime!(2001-01-01 00:00 UTC))),
                "expires_at",
            ),
        ] {
            let err = tokens.update(id, patch).await.unwrap_err();
            assert_eq!(field_of(&err), field);
            let reply = h.admin(Method::PATCH, &format!("/tokens/{id}"), Some(body)).await;
            assert_eq!(reply.body["error"]["message"], err.to_string());
        }
        let err = tokens.rotate(id, time::Duration::seconds(-1)).await.unwrap_err();
        let reply = h
            .admin(
                Method::POST,
                &format!("/tokens/{id}/rotate"),
                Some(json!({"grace_seconds": -1})),
            )
            .await;
        assert_eq!(reply.body["error"]["message"], err.to_string());
    }
}
