//! Rate limits through the Rust API (CONTRACT §3b): a token's limit given at create,
//! an owner's settings read and replaced through `TokenManager` and in force on the next
//! verification, and `OwnedTokens`, which sets no limit without its explicit grant.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Instrumented, NoOwnerSettings, memory};
use tollgate::store::TokenSource;
use tollgate::{
    Credential, ManageError, MemoryStore, NewToken, OwnerSettings, RateLimit, Secret, TokenManager, TokenPatch,
    Verifier,
};

fn manager() -> (Arc<Instrumented<MemoryStore>>, Verifier, TokenManager) {
    let store = memory();
    let verifier = Verifier::builder(store.clone()).build();
    let tokens = TokenManager::new(store.clone(), verifier.clone()).store_timeout(Duration::from_millis(200));
    (store, verifier, tokens)
}

fn per_minute(limit: u32) -> RateLimit {
    RateLimit::new(limit, Duration::from_secs(60)).unwrap()
}

fn plan(limit: u32) -> OwnerSettings {
    OwnerSettings::new().with_rate_limit(Some(per_minute(limit)))
}

// CONTRACT §3b: a rate limit given at create (or import) is stored with the token.
#[tokio::test]
async fn a_token_created_or_imported_with_a_rate_limit_keeps_it() {
    let (store, verifier, tokens) = manager();
    let limit = per_minute(100).with_burst(20).unwrap();
    let issued = tokens
        .create(NewToken::new("partner").rate_limit(Some(limit)))
        .await
        .unwrap();
    assert_eq!(issued.record().rate_limit, Some(limit));
    assert_eq!(
        store.inner.get(issued.id()).await.unwrap().unwrap().rate_limit,
        Some(limit)
    );
    let principal = verifier
        .verify(&Credential::Bearer(issued.token().expose()))
        .await
        .unwrap();
    assert_eq!(principal.rate_limit(), Some(limit));
    let secret = Secret::new("Legacy-Key-9f3Q-7xZr-2mWb-manage");
    let imported = tokens
        .import(NewToken::new("legacy").rate_limit(Some(limit)), &secret)
        .await
        .unwrap();
    assert_eq!(
        store.inner.get(&imported.id).await.unwrap().unwrap().rate_limit,
        Some(limit)
    );
    let plain = tokens.create(NewToken::new("plain")).await.unwrap();
    assert_eq!(plain.record().rate_limit, None, "none unless given");
}

// CONTRACT §3b: an owner's settings are read and replaced through TokenManager, empty
// settings remove them, and the owner follows the owner rule.
#[tokio::test]
async fn owner_settings_round_trip_through_the_manager() {
    let (store, _verifier, tokens) = manager();
    assert_eq!(tokens.owner_settings("acme").await.unwrap(), OwnerSettings::new());
    assert_eq!(tokens.set_owner_settings("acme", plan(1000)).await.unwrap(), plan(1000));
    assert_eq!(tokens.owner_settings("acme").await.unwrap(), plan(1000));
    assert_eq!(
        store.inner.owner_settings("acme").await.unwrap(),
        plan(1000),
        "in the store"
    );
    assert_eq!(tokens.owner_settings("acme/other").await.unwrap(), OwnerSettings::new());
    tokens.set_owner_settings("acme", OwnerSettings::new()).await.unwrap();
    assert!(tokens.owner_settings("acme").await.unwrap().is_empty());
    for bad in [String::new(), "a".repeat(257), "a\nb".to_owned()] {
        for err in [
            tokens.owner_settings(&bad).await.unwrap_err(),
            tokens.set_owner_settings(&bad, plan(1)).await.unwrap_err(),
        ] {
            assert!(
                matches!(&err, ManageError::Invalid { field, .. } if field == "owner"),
                "{bad:?}: {err:?}"
            );
        }
    }
}

// CONTRACT §3b: a new owner limit is in force on the next request through this verifier,
// for tokens it had cached, with no change stream to tell it.
#[tokio::test]
async fn a_new_owner_limit_reaches_the_owners_cached_tokens_on_the_next_verification() {
    let (_store, verifier, tokens) = manager();
    let mut held = Vec::new();
    for name in ["a", "b"] {
        let issued = tokens.create(NewToken::new(name).owner("acme")).await.unwrap();
        held.push(issued.token().expose().to_owned());
    }
    let other = tokens.create(NewToken::new("c").owner("zed")).await.unwrap();
    let owner_limit = |token: String| {
        let verifier = verifier.clone();
        async move {
            verifier
                .verify(&Credential::Bearer(&token))
                .await
                .unwrap()
                .owner_rate_limit()
        }
    };
    for token in &held {
        assert_eq!(owner_limit(token.clone()).await, None, "cached with no owner limit");
    }
    tokens.set_owner_settings("acme", plan(10)).await.unwrap();
    for token in &held {
        assert_eq!(owner_limit(token.clone()).await, Some(per_minute(10)));
    }
    assert_eq!(owner_limit(other.token().expose().to_owned()).await, None);
    tokens.set_owner_settings("acme", OwnerSettings::new()).await.unwrap();
    for token in &held {
        assert_eq!(owner_limit(token.clone()).await, None, "removed as soon");
    }
}

// CONTRACT §3b: a store that keeps no owner settings refuses to set them (501, not worth
// retrying), and every owner reads as one with none.
#[tokio::test]
async fn a_store_without_owner_settings_is_unsupported() {
    let store = Arc::new(NoOwnerSettings(MemoryStore::new()));
    let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
    let err = tokens.set_owner_settings("acme", plan(1)).await.unwrap_err();
    assert!(matches!(err, ManageError::Unsupported(_)), "{err:?}");
    assert_eq!(err.status(), http::StatusCode::NOT_IMPLEMENTED);
    assert!(err.to_string().contains("this store keeps no owner settings"), "{err}");
    assert!(tokens.owner_settings("acme").await.unwrap().is_empty());
}

// CONTRACT §3b: `OwnedTokens` (self-service) sets, raises or removes no limit, on a token or
// on its owner, and reads its owner's settings; `allow_rate_limits` is the explicit grant.
#[tokio::test]
async fn an_owners_manager_sets_no_rate_limit_unless_allowed() {
    let (_store, _verifier, tokens) = manager();
    let limit = per_minute(10);
    let limited = tokens
        .create(NewToken::new("ci").owner("alice").rate_limit(Some(limit)))
        .await
        .unwrap();
    tokens.set_owner_settings("alice", plan(100)).await.unwrap();
    let alice = tokens.owned_by("alice");
    let refused = |result: Result<(), ManageError>| match result {
        Err(err @ ManageError::NotAllowed { .. }) => {
            assert_eq!(err.status(), http::StatusCode::FORBIDDEN);
            assert!(err.to_string().contains("rate limit"), "{err}");
        }
        other => panic!("not refused: {other:?}"),
    };
    refused(alice.create(NewToken::new("x").rate_limit(Some(limit))).await.map(drop));
    refused(
        alice
            .import(
                NewToken::new("x").rate_limit(Some(limit)),
                &Secret::new("Legacy-Key-9f3Q-7xZr-2mWb-owned"),
            )
            .await
            .map(drop),
    );
    for patch in [
        TokenPatch::new().rate_limit(Some(per_minute(10_000))),
        TokenPatch::new().rate_limit(Some(per_minute(1))),
        TokenPatch::new().rate_limit(None),
        TokenPatch::new().name("renamed").rate_limit(Some(limit)),
    ] {
        refused(alice.update(limited.id(), patch).await.map(drop));
    }
    refused(alice.set_owner_settings(OwnerSettings::new()).await.map(drop));
    refused(alice.set_owner_settings(plan(1_000_000)).await.map(drop));
    let kept = tokens.get(limited.id()).await.unwrap().unwrap();
    assert_eq!((kept.name.as_str(), kept.rate_limit), ("ci", Some(limit)));
    assert_eq!(alice.owner_settings().await.unwrap(), plan(100), "it may read them");
    let mine = alice.create(NewToken::new("laptop")).await.unwrap();
    assert_eq!(
        mine.record().rate_limit,
        None,
        "no limit of its own: the owner's applies"
    );

    // The explicit grant: code that sells plans.
    let billing = tokens.owned_by("alice").allow_rate_limits();
    let made = billing
        .create(NewToken::new("partner").rate_limit(Some(limit)))
        .await
        .unwrap();
    assert_eq!(made.record().rate_limit, Some(limit));
    let raised = billing
        .update(limited.id(), TokenPatch::new().rate_limit(Some(per_minute(50))))
        .await
        .unwrap();
    assert_eq!(raised.rate_limit, Some(per_minute(50)));
    let removed = billing
        .update(limited.id(), TokenPatch::new().rate_limit(None))
        .await
        .unwrap();
    assert_eq!(removed.rate_limit, None);
    assert_eq!(billing.set_owner_settings(plan(500)).await.unwrap(), plan(500));
    assert_eq!(tokens.owner_settings("alice").await.unwrap(), plan(500));
    // Still one owner's: another's token is not found, grant or not.
    let bobs = tokens.create(NewToken::new("bob's").owner("bob")).await.unwrap();
    let err = billing
        .update(bobs.id(), TokenPatch::new().rate_limit(Some(limit)))
        .await
        .unwrap_err();
    assert!(matches!(err, ManageError::NotFound), "{err:?}");
}
