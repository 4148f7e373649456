//! The store conformance suite: every `TokenStore` backend must pass `run` unchanged.
//!
//! It needs an empty store, and leaves it empty.

use std::time::Duration;

use futures_util::StreamExt as _;

use super::now;
use serde_json::json;
use tollgate::store::{ChangeEvent, Rotation, TokenStore};
use tollgate::{
    ListQuery, OwnerSettings, PreviousSecret, RateLimit, SecretHasher, StoreError, TokenPatch, TokenRecord, TokenStatus,
};

fn hash(text: &str) -> tollgate::SecretHash {
    SecretHasher::Sha256.hash(text.as_bytes())
}

fn record(id: &str, secret: &str) -> TokenRecord {
    TokenRecord::new(id, format!("name of {id}"), hash(secret))
}

/// Whether a store under test offers a change stream: a stated property of the store, so
/// that a store that should have one and returns none fails the suite instead of skipping
/// its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changes {
    /// `changes()` gives a stream of every write.
    Streamed,
    /// `changes()` gives `None`.
    NotOffered,
}

/// Runs every check, in order.
pub async fn run<S: TokenStore>(store: &S, changes: Changes) {
    created_records_read_back_exactly(store).await;
    duplicate_ids_and_secrets_conflict(store).await;
    lookup_by_hash_finds_current_and_grace_secrets(store).await;
    listing_pages_by_id_with_filters(store).await;
    listing_stays_exact_while_tokens_come_and_go(store).await;
    updates_apply_each_field(store).await;
    concurrent_changes_to_one_token_are_all_kept(store).await;
    rotation_replaces_the_secret(store).await;
    deletion_removes_every_trace(store).await;
    replacing_writes_the_record_as_given(store).await;
    usage_is_recorded(store).await;
    owners_filter_lists_and_revoke_together(store).await;
    audit_fields_follow_each_change(store).await;
    rate_limits_read_back_exactly(store).await;
    patches_set_change_and_remove_the_rate_limit(store).await;
    owner_settings_are_kept_replaced_and_deleted(store).await;
    the_first_pepper_fingerprint_is_kept(store).await;
    changes_are_published(store, changes).await;
    owner_settings_publish_a_change_of_each_of_the_owners_tokens(store, changes).await;
    assert!(
        store.list(&ListQuery::new(1000)).await.unwrap().records.is_empty(),
        "suite must leave the store empty"
    );
}

async fn cleanup<S: TokenStore>(store: &S) {
    loop {
        let page = store.list(&ListQuery::new(1000)).await.unwrap();
        if page.records.is_empty() {
            break;
        }
        for r in page.records {
            store.delete(&r.id).await.unwrap();
        }
    }
}

async fn created_records_read_back_exactly<S: TokenStore>(store: &S) {
    let t = now();
    let mut rec = record("Aa1conf", "s-read-back").with_scopes(["b:write", "a:read"]);
    rec.kind = "service".into();
    rec.status = TokenStatus::Inactive;
    rec.expires_at = Some(t + time::Duration::days(30));
    rec.metadata = json!({"team": "infra", "n": 3, "nested": {"x": [1, 2]}})
        .as_object()
        .unwrap()
        .clone();
    store.create(rec.clone()).await.unwrap();
    let got = store.get("Aa1conf").await.unwrap().expect("created record is found");
    assert_eq!(got, rec, "every field round-trips, timestamps to the microsecond");
    assert_eq!(got.scopes, ["a:read", "b:write"]);
    assert!(store.get("nope").await.unwrap().is_none());
    assert!(store.get("aa1conf").await.unwrap().is_none(), "ids are case-sensitive");
    cleanup(store).await;
}

async fn duplicate_ids_and_secrets_conflict<S: TokenStore>(store: &S) {
    store.create(record("dup1", "s-dup")).await.unwrap();
    let err = store.create(record("dup1", "s-other")).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateId), "{err:?}");
    let err = store.create(record("dup2", "s-dup")).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateSecret), "{err:?}");
    assert!(
        store.get("dup2").await.unwrap().is_none(),
        "a refused create writes nothing"
    );
    cleanup(store).await;
}

async fn lookup_by_hash_finds_current_and_grace_secrets<S: TokenStore>(store: &S) {
    store.create(record("byhash", "s-current")).await.unwrap();
    let found = store.find_by_hash(&hash("s-current")).await.unwrap().unwrap();
    assert_eq!(found.id, "byhash");
    assert!(store.find_by_hash(&hash("s-unknown")).await.unwrap().is_none());

    let mut with_grace = record("grace", "s-new");
    with_grace.previous_secret = Some(PreviousSecret {
        hash: hash("s-old"),
        valid_until: now() + time::Duration::hours(1),
    });
    store.create(with_grace).await.unwrap();
    assert_eq!(store.find_by_hash(&hash("s-old")).await.unwrap().unwrap().id, "grace");
    let err = store.create(record("other", "s-old")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateSecret),
        "a grace secret is still taken: {err:?}"
    );

    let mut expired_grace = record("gone", "s-new2");
    expired_grace.previous_secret = Some(PreviousSecret {
        hash: hash("s-old2"),
        valid_until: now() - time::Duration::seconds(1),
    });
    store.create(expired_grace).await.unwrap();
    assert!(
        store.find_by_hash(&hash("s-old2")).await.unwrap().is_none(),
        "an ended grace secret is not found"
    );
    cleanup(store).await;
}

async fn listing_pages_by_id_with_filters<S: TokenStore>(store: &S) {
    let mut ids: Vec<String> = (0..25).map(|i| format!("L{i:02}x")).collect();
    for (i, id) in ids.iter().enumerate() {
        let mut rec = record(id, &format!("s-list-{i}"));
        if i % 3 == 0 {
            rec.status = TokenStatus::Inactive;
        }
        if i % 2 == 0 {
            rec = rec.with_scopes(["even"]);
        }
        store.create(rec).await.unwrap();
    }
    ids.sort();

    let mut seen = Vec::new();
    let mut query = ListQuery::new(10);
    loop {
        let page = store.list(&query).await.unwrap();
        assert!(page.records.len() <= 10);
        seen.extend(page.records.iter().map(|r| r.id.clone()));
        match page.next_after {
            Some(after) => query = ListQuery::new(10).after(after),
            None => break,
        }
    }
    assert_eq!(seen, ids, "paging returns every id once, in byte order");

    let exact = store.list(&ListQuery::new(25)).await.unwrap();
    assert_eq!(exact.records.len(), 25);
    assert_eq!(exact.next_after, None, "no cursor when nothing follows");

    let inactive = store
        .list(&ListQuery::new(100).status(TokenStatus::Inactive))
        .await
        .unwrap();
    assert_eq!(inactive.records.len(), 9);
    assert!(inactive.records.iter().all(|r| r.status == TokenStatus::Inactive));

    let even = store.list(&ListQuery::new(5).scope("even")).await.unwrap();
    assert_eq!(even.records.len(), 5);
    assert!(even.records.iter().all(|r| r.has_scope("even")));
    let rest = store
        .list(&ListQuery::new(100).scope("even").after(even.next_after.unwrap()))
        .await
        .unwrap();
    assert_eq!(rest.records.len(), 8, "13 even tokens in all");
    cleanup(store).await;
}

async fn listing_stays_exact_while_tokens_come_and_go<S: TokenStore>(store: &S) {
    let stable: Vec<String> = (0..30).map(|i| format!("S{i:02}")).collect();
    for id in &stable {
        store.create(record(id, &format!("s-{id}"))).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut query = ListQuery::new(7);
    let mut round = 0;
    loop {
        let page = store.list(&query).await.unwrap();
        seen.extend(
            page.records
                .iter()
                .map(|r| r.id.clone())
                .filter(|id| id.starts_with('S')),
        );
        // Between pages, tokens appear before and after the cursor and some vanish.
        store
            .create(record(&format!("A{round}"), &format!("s-a{round}")))
            .await
            .unwrap();
        store
            .create(record(&format!("Z{round}"), &format!("s-z{round}")))
            .await
            .unwrap();
        store.delete(&format!("Z{}", round.max(1) - 1)).await.unwrap();
        round += 1;
        match page.next_after {
            Some(after) => query = ListQuery::new(7).after(after),
            None => break,
        }
    }
    assert_eq!(seen, stable, "every token present throughout is listed exactly once");
    cleanup(store).await;
}

async fn updates_apply_each_field<S: TokenStore>(store: &S) {
    let original = record("upd", "s-upd")
        .with_scopes(["a"])
        .with_expiry(Some(now() + time::Duration::days(1)));
    store.create(original.clone()).await.unwrap();

    let mut patch = TokenPatch::default();
    patch.name = Some("renamed".into());
    let got = store.update("upd", &patch).await.unwrap().unwrap();
    assert_eq!(got.name, "renamed");
    assert_eq!(got.scopes, ["a"], "fields not in the patch stay");

    let mut patch = TokenPatch::default();
    patch.scopes = Some(vec!["z".into(), "b".into()]);
    patch.status = Some(TokenStatus::Inactive);
    patch.metadata = Some(json!({"k": "v"}).as_object().unwrap().clone());
    patch.expires_at = Some(None);
    let got = store.update("upd", &patch).await.unwrap().unwrap();
    assert_eq!(got.scopes, ["b", "z"]);
    assert_eq!(got.status, TokenStatus::Inactive);
    assert_eq!(got.metadata["k"], "v");
    assert_eq!(got.expires_at, None);
    assert_eq!(
        got.secret_hash, original.secret_hash,
        "an update never touches the secret"
    );
    assert_eq!(store.get("upd").await.unwrap().unwrap(), got, "the update is stored");

    assert!(store.update("missing", &TokenPatch::default()).await.unwrap().is_none());
    cleanup(store).await;
}

/// Writes are atomic per token: changes to one token made at once, each of another field,
/// all land, however the store serializes them (a lock, a transaction, a version check).
async fn concurrent_changes_to_one_token_are_all_kept<S: TokenStore>(store: &S) {
    store.create(record("conc", "s-conc-1")).await.unwrap();
    let until = now() + time::Duration::minutes(5);
    let expires = now() + time::Duration::days(3);
    let patches = [
        TokenPatch::new().name("renamed at once"),
        TokenPatch::new().scopes(["y", "x"]),
        TokenPatch::new().metadata(json!({"k": 1}).as_object().unwrap().clone()),
        TokenPatch::new().owner(Some("owner-conc".into())),
        TokenPatch::new().expires_at(Some(expires)),
        TokenPatch::new().status(TokenStatus::Inactive),
    ];
    let updates = futures_util::future::join_all(patches.iter().map(|patch| store.update("conc", patch)));
    let rotation = Rotation::new(hash("s-conc-2"), Some(until));
    let (updated, rotated) = futures_util::future::join(updates, store.rotate("conc", &rotation)).await;
    assert!(updated.into_iter().all(|r| r.unwrap().is_some()));
    assert!(rotated.unwrap().is_some());
    let got = store.get("conc").await.unwrap().unwrap();
    assert_eq!(got.name, "renamed at once");
    assert_eq!(got.scopes, ["x", "y"]);
    assert_eq!(got.metadata["k"], 1);
    assert_eq!(got.owner.as_deref(), Some("owner-conc"));
    assert_eq!(got.expires_at, Some(expires));
    assert_eq!(got.status, TokenStatus::Inactive);
    assert!(got.revoked_at.is_some());
    assert_eq!(got.secret_hash, hash("s-conc-2"));
    assert_eq!(
        got.previous_secret,
        Some(PreviousSecret {
            hash: hash("s-conc-1"),
            valid_until: until
        })
    );
    assert_eq!(store.find_by_hash(&hash("s-conc-2")).await.unwrap().unwrap().id, "conc");
    assert_eq!(store.find_by_hash(&hash("s-conc-1")).await.unwrap().unwrap().id, "conc");
    cleanup(store).await;
}

async fn rotation_replaces_the_secret<S: TokenStore>(store: &S) {
    store.create(record("rot", "s-rot-1")).await.unwrap();
    let until = now() + time::Duration::minutes(5);
    let rotated = store
        .rotate("rot", &Rotation::new(hash("s-rot-2"), Some(until)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.secret_hash, hash("s-rot-2"));
    assert_eq!(
        rotated.previous_secret,
        Some(PreviousSecret {
            hash: hash("s-rot-1"),
            valid_until: until
        })
    );
    assert_eq!(store.find_by_hash(&hash("s-rot-1")).await.unwrap().unwrap().id, "rot");
    assert_eq!(store.find_by_hash(&hash("s-rot-2")).await.unwrap().unwrap().id, "rot");

    // Rotating again without grace ends both older secrets.
    store
        .rotate("rot", &Rotation::new(hash("s-rot-3"), None))
        .await
        .unwrap()
        .unwrap();
    assert!(store.find_by_hash(&hash("s-rot-1")).await.unwrap().is_none());
    assert!(store.find_by_hash(&hash("s-rot-2")).await.unwrap().is_none());
    assert_eq!(store.get("rot").await.unwrap().unwrap().previous_secret, None);
    // The old hash is free again.
    store.create(record("reuse", "s-rot-1")).await.unwrap();

    store.create(record("taken", "s-taken")).await.unwrap();
    let err = store
        .rotate("rot", &Rotation::new(hash("s-taken"), None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateSecret), "{err:?}");
    assert!(
        store
            .rotate("missing", &Rotation::new(hash("x"), None))
            .await
            .unwrap()
            .is_none()
    );
    // A hash in use is refused before an unknown id is, in every store.
    let err = store
        .rotate("missing", &Rotation::new(hash("s-taken"), None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateSecret), "{err:?}");
    cleanup(store).await;
}

async fn deletion_removes_every_trace<S: TokenStore>(store: &S) {
    store.create(record("del", "s-del")).await.unwrap();
    assert!(store.delete("del").await.unwrap());
    assert!(store.get("del").await.unwrap().is_none());
    assert!(store.find_by_hash(&hash("s-del")).await.unwrap().is_none());
    assert!(
        !store.delete("del").await.unwrap(),
        "deleting twice reports nothing deleted"
    );
    store
        .create(record("del", "s-del"))
        .await
        .expect("id and secret are free again");
    cleanup(store).await;
}

/// `replace` is how a store is copied: the record as given, with its hashes, times and
/// status, in place of the old one and of every index entry the old one had.
async fn replacing_writes_the_record_as_given<S: TokenStore>(store: &S) {
    let t = now();
    let mut first = record("Rp1", "s-rp-old")
        .with_owner(Some("rp-owner-a".into()))
        .with_created_at(t - time::Duration::days(3))
        .with_updated_at(t - time::Duration::days(2));
    first.last_used_at = Some(t - time::Duration::days(1));
    store
        .replace(first.clone())
        .await
        .expect("replacing an unknown id creates it");
    assert_eq!(store.get("Rp1").await.unwrap().unwrap(), first, "written as given");

    let second = record("Rp1", "s-rp-new")
        .with_owner(Some("rp-owner-b".into()))
        .with_status(TokenStatus::Inactive)
        .with_revoked_at(Some(t))
        .with_updated_at(t)
        .with_rate_limit(Some(RateLimit::from_parts(7, 60, 7).unwrap()))
        .with_previous_secret(Some(PreviousSecret {
            hash: hash("s-rp-grace"),
            valid_until: t + time::Duration::hours(1),
        }));
    store.replace(second.clone()).await.unwrap();
    assert_eq!(store.get("Rp1").await.unwrap().unwrap(), second);
    assert!(
        store.find_by_hash(&hash("s-rp-old")).await.unwrap().is_none(),
        "the old secret is gone"
    );
    assert_eq!(
        store.find_by_hash(&hash("s-rp-grace")).await.unwrap().unwrap().id,
        "Rp1"
    );
    let owned = |owner: &'static str| async move {
        let page = store.list(&ListQuery::new(10).owner(owner)).await.unwrap();
        page.records.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert!(owned("rp-owner-a").await.is_empty(), "the old owner lists it no more");
    assert_eq!(owned("rp-owner-b").await, ["Rp1"]);

    store.create(record("Rp2", "s-rp-other")).await.unwrap();
    for taken in ["s-rp-other", "s-rp-grace"] {
        let mut clash = record("Rp2", "s-rp-fresh");
        if taken == "s-rp-other" {
            clash.id = "Rp1".into();
            clash.secret_hash = hash(taken);
        } else {
            clash.previous_secret = Some(PreviousSecret {
                hash: hash(taken),
                valid_until: t + time::Duration::hours(1),
            });
        }
        let err = store.replace(clash).await.unwrap_err();
        assert!(matches!(err, StoreError::DuplicateSecret), "{taken}: {err:?}");
    }
    assert_eq!(
        store.get("Rp1").await.unwrap().unwrap(),
        second,
        "a refused replace writes nothing"
    );
    assert_eq!(store.get("Rp2").await.unwrap().unwrap().secret_hash, hash("s-rp-other"));
    assert_eq!(
        store.find_by_hash(&hash("s-rp-grace")).await.unwrap().unwrap().id,
        "Rp1"
    );
    cleanup(store).await;
}

async fn usage_is_recorded<S: TokenStore>(store: &S) {
    store.create(record("used", "s-used")).await.unwrap();
    let at = now();
    store
        .record_use(&[("used".into(), at), ("missing".into(), at)])
        .await
        .unwrap();
    assert_eq!(store.get("used").await.unwrap().unwrap().last_used_at, Some(at));
    // An older report never moves it back.
    store
        .record_use(&[("used".into(), at - time::Duration::hours(1))])
        .await
        .unwrap();
    assert_eq!(store.get("used").await.unwrap().unwrap().last_used_at, Some(at));
    cleanup(store).await;
}

async fn owners_filter_lists_and_revoke_together<S: TokenStore>(store: &S) {
    for (i, owner) in ["alice", "bob", "alice", "", "alice", "bob"].iter().enumerate() {
        let mut rec = record(&format!("own{i}"), &format!("s-own{i}"));
        if !owner.is_empty() {
            rec = rec.with_owner(Some((*owner).to_owned()));
        }
        if i == 4 {
            rec = rec.with_status(TokenStatus::Inactive);
        }
        store.create(rec).await.unwrap();
    }
    let mut alices = Vec::new();
    let mut query = ListQuery::new(1).owner("alice");
    loop {
        let page = store.list(&query).await.unwrap();
        alices.extend(page.records.iter().map(|r| r.id.clone()));
        assert!(page.records.iter().all(|r| r.owner.as_deref() == Some("alice")));
        match page.next_after {
            Some(after) => query = ListQuery::new(1).owner("alice").after(after),
            None => break,
        }
    }
    assert_eq!(alices, ["own0", "own2", "own4"], "paged by owner, in id order");
    let active = store
        .list(&ListQuery::new(10).owner("alice").status(TokenStatus::Active))
        .await
        .unwrap();
    assert_eq!(active.records.len(), 2);

    let before = now();
    let mut revoked = store.revoke_owner("alice").await.unwrap();
    revoked.sort();
    assert_eq!(revoked, ["own0", "own2"], "the active ones; own4 was inactive already");
    for id in ["own0", "own2"] {
        let got = store.get(id).await.unwrap().unwrap();
        assert_eq!(got.status, TokenStatus::Inactive);
        assert!(
            got.revoked_at.is_some_and(|at| at >= before),
            "{id}: {:?}",
            got.revoked_at
        );
        assert!(got.updated_at >= before);
    }
    assert_eq!(
        store.get("own4").await.unwrap().unwrap().revoked_at,
        None,
        "not revoked by this call"
    );
    for id in ["own1", "own3", "own5"] {
        assert_eq!(
            store.get(id).await.unwrap().unwrap().status,
            TokenStatus::Active,
            "{id}"
        );
    }
    assert!(
        store.revoke_owner("alice").await.unwrap().is_empty(),
        "nothing left to revoke"
    );
    assert!(store.revoke_owner("nobody").await.unwrap().is_empty());
    cleanup(store).await;
}

async fn audit_fields_follow_each_change<S: TokenStore>(store: &S) {
    let created = now() - time::Duration::minutes(5);
    let rec = record("aud", "s-aud")
        .with_created_at(created)
        .with_owner(Some("carol".into()))
        .with_created_by(Some("admin1".into()));
    store.create(rec.clone()).await.unwrap();
    let got = store.get("aud").await.unwrap().unwrap();
    assert_eq!(got, rec);
    assert_eq!((got.updated_at, got.revoked_at), (created, None));

    let revoked = store
        .update("aud", &TokenPatch::new().status(TokenStatus::Inactive))
        .await
        .unwrap()
        .unwrap();
    let at = revoked.revoked_at.expect("revoking sets revoked_at");
    assert!(at > created && revoked.updated_at >= at);
    // Inactive again: still revoked since the first time.
    let again = store
        .update("aud", &TokenPatch::new().status(TokenStatus::Inactive))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(at));
    let active = store
        .update("aud", &TokenPatch::new().status(TokenStatus::Active).owner(None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((active.revoked_at, active.owner.as_deref()), (None, None));
    assert_eq!(active.created_by.as_deref(), Some("admin1"), "created_by never changes");

    let before = now();
    let rotated = store
        .rotate("aud", &Rotation::new(hash("s-aud-2"), None))
        .await
        .unwrap()
        .unwrap();
    assert!(rotated.updated_at >= before);
    assert_eq!(store.get("aud").await.unwrap().unwrap(), rotated);
    cleanup(store).await;
}

fn limit(limit: u32, period_secs: u32, burst: u32) -> RateLimit {
    RateLimit::from_parts(limit, period_secs, burst).unwrap()
}

async fn rate_limits_read_back_exactly<S: TokenStore>(store: &S) {
    // The extremes a limit may take, and an ordinary one, each on a token of its own.
    let limits = [
        limit(100, 60, 20),
        limit(1, 1, 1),
        limit(u32::MAX, 86_400, u32::MAX),
        limit(10, 3_600, 1_000),
    ];
    for (i, rate_limit) in limits.into_iter().enumerate() {
        let rec = record(&format!("rl{i}"), &format!("s-rl{i}"))
            .with_owner(Some("rl-owner".into()))
            .with_rate_limit(Some(rate_limit));
        store.create(rec.clone()).await.unwrap();
        assert_eq!(store.get(&rec.id).await.unwrap().unwrap(), rec, "get");
        let found = store.find_by_hash(&rec.secret_hash).await.unwrap().unwrap();
        assert_eq!(found, rec, "find_by_hash");
    }
    let unlimited = record("rl9", "s-rl9").with_owner(Some("rl-owner".into()));
    store.create(unlimited.clone()).await.unwrap();
    assert_eq!(store.get("rl9").await.unwrap().unwrap().rate_limit, None);

    let listed = store.list(&ListQuery::new(10).owner("rl-owner")).await.unwrap().records;
    let got: Vec<Option<RateLimit>> = listed.iter().map(|r| r.rate_limit).collect();
    let mut want: Vec<Option<RateLimit>> = limits.into_iter().map(Some).collect();
    want.push(None);
    assert_eq!(got, want, "list, in id order");
    cleanup(store).await;
}

async fn patches_set_change_and_remove_the_rate_limit<S: TokenStore>(store: &S) {
    store.create(record("rlp", "s-rlp-1")).await.unwrap();
    let (first, second) = (limit(5, 10, 5), limit(50, 60, 7));

    let set = store
        .update("rlp", &TokenPatch::new().rate_limit(Some(first)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.rate_limit, Some(first));
    assert_eq!(
        store.get("rlp").await.unwrap().unwrap().rate_limit,
        Some(first),
        "stored"
    );

    let renamed = store
        .update("rlp", &TokenPatch::new().name("other"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.rate_limit, Some(first), "a patch without it keeps it");

    let changed = store
        .update("rlp", &TokenPatch::new().rate_limit(Some(second)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.rate_limit, Some(second));
    assert_eq!(store.get("rlp").await.unwrap().unwrap().rate_limit, Some(second));

    let rotated = store
        .rotate("rlp", &Rotation::new(hash("s-rlp-2"), None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.rate_limit, Some(second), "a rotation keeps it");
    assert_eq!(store.get("rlp").await.unwrap().unwrap(), rotated);

    let mut patch = TokenPatch::new();
    patch.rate_limit = Some(None);
    let removed = store.update("rlp", &patch).await.unwrap().unwrap();
    assert_eq!(removed.rate_limit, None, "Some(None) removes it");
    assert_eq!(store.get("rlp").await.unwrap().unwrap(), removed);
    cleanup(store).await;
}

async fn owner_settings_are_kept_replaced_and_deleted<S: TokenStore>(store: &S) {
    let none = OwnerSettings::default();
    assert_eq!(
        store.owner_settings("os-unknown").await.unwrap(),
        none,
        "an unknown owner has none"
    );

    let plan = OwnerSettings::new().with_rate_limit(Some(limit(1_000, 3_600, 100)));
    store.set_owner_settings("os-a", &plan).await.unwrap();
    assert_eq!(store.owner_settings("os-a").await.unwrap(), plan);
    assert_eq!(
        store.owner_settings("os-b").await.unwrap(),
        none,
        "other owners are untouched"
    );
    assert_eq!(
        store.owner_settings("os-A").await.unwrap(),
        none,
        "owners are case-sensitive"
    );

    let other = OwnerSettings::new().with_rate_limit(Some(limit(u32::MAX, 1, 1)));
    store.set_owner_settings("os-b", &other).await.unwrap();
    let bigger = OwnerSettings::new().with_rate_limit(Some(limit(5_000, 60, 5_000)));
    store.set_owner_settings("os-a", &bigger).await.unwrap();
    assert_eq!(store.owner_settings("os-a").await.unwrap(), bigger, "replaced");
    assert_eq!(store.owner_settings("os-b").await.unwrap(), other);

    store.set_owner_settings("os-a", &OwnerSettings::new()).await.unwrap();
    assert_eq!(
        store.owner_settings("os-a").await.unwrap(),
        none,
        "empty settings delete them"
    );
    assert_eq!(store.owner_settings("os-b").await.unwrap(), other);
    store.set_owner_settings("os-a", &OwnerSettings::new()).await.unwrap();
    store.set_owner_settings("os-a", &plan).await.unwrap();
    assert_eq!(
        store.owner_settings("os-a").await.unwrap(),
        plan,
        "set again after a delete"
    );

    // Owner settings are not tokens: they neither list nor go with the tokens.
    assert!(store.list(&ListQuery::new(10)).await.unwrap().records.is_empty());
    for owner in ["os-a", "os-b"] {
        store.set_owner_settings(owner, &OwnerSettings::new()).await.unwrap();
        assert_eq!(store.owner_settings(owner).await.unwrap(), none);
    }
}

/// The first fingerprint claimed is the store's for good: a later claim returns it, and
/// changes nothing. (It outlives the suite's tokens: it names the store's pepper.)
async fn the_first_pepper_fingerprint_is_kept<S: TokenStore>(store: &S) {
    let before = store.pepper_fingerprint().await.unwrap();
    let first = SecretHasher::hmac_sha256(b"the conformance suite's pepper").fingerprint();
    let held = store.claim_pepper_fingerprint(&first).await.unwrap();
    let kept = before.clone().unwrap_or_else(|| first.clone());
    assert_eq!(held.as_deref(), Some(kept.as_str()), "the first claim is kept");
    assert_eq!(
        store.claim_pepper_fingerprint("none").await.unwrap(),
        Some(kept.clone())
    );
    assert_eq!(store.pepper_fingerprint().await.unwrap(), Some(kept));
}

async fn changes_are_published<S: TokenStore>(store: &S, offered: Changes) {
    let stream = store.changes();
    assert_eq!(
        stream.is_some(),
        offered == Changes::Streamed,
        "the store's change stream is not what the test says it is"
    );
    let Some(mut changes) = stream else {
        return;
    };
    store
        .create(record("evt", "s-evt").with_owner(Some("erin".into())))
        .await
        .unwrap();
    store.update("evt", &TokenPatch::new().name("renamed")).await.unwrap();
    store
        .rotate("evt", &Rotation::new(hash("s-evt-2"), None))
        .await
        .unwrap();
    store.revoke_owner("erin").await.unwrap();
    let mut replaced = store.get("evt").await.unwrap().unwrap();
    replaced.name = "replaced".into();
    store.replace(replaced).await.unwrap();
    store.delete("evt").await.unwrap();
    // A store whose events travel (PostgreSQL's NOTIFY, say) may still deliver ones from the
    // steps before, for other ids: those are not this step's concern.
    let mut seen = 0;
    while seen < 6 {
        let event = tokio::time::timeout(Duration::from_secs(5), changes.next())
            .await
            .expect("a change event arrives for each write")
            .expect("the stream stays open");
        match event {
            ChangeEvent::Changed { id } if id == "evt" => seen += 1,
            ChangeEvent::Changed { .. } => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// Every token of the owner, whatever its status, is announced, so that every replica's
/// cache reads it again with the new settings; no other token is.
async fn owner_settings_publish_a_change_of_each_of_the_owners_tokens<S: TokenStore>(store: &S, offered: Changes) {
    let Some(mut changes) = store.changes() else {
        assert_eq!(offered, Changes::NotOffered);
        return;
    };
    let owned = |id: &str, owner: &str| record(id, &format!("s-{id}")).with_owner(Some(owner.into()));
    store.create(owned("ose1", "os-evt")).await.unwrap();
    let inactive = owned("ose2", "os-evt").with_status(TokenStatus::Inactive);
    store.create(inactive).await.unwrap();
    store.create(owned("ose3", "os-other")).await.unwrap();
    // A write after each step, whose event comes after the step's (events follow the order
    // of writes): what came before it is the step's.
    let fence = |step: &str| record(&format!("fence-{step}"), &format!("s-fence-{step}"));
    store.create(fence("created")).await.unwrap();
    assert_eq!(ids_until(&mut changes, "fence-created").await, ["ose1", "ose2", "ose3"]);

    let plan = OwnerSettings::new().with_rate_limit(Some(limit(10, 60, 10)));
    store.set_owner_settings("os-evt", &plan).await.unwrap();
    store.create(fence("set")).await.unwrap();
    assert_eq!(
        ids_until(&mut changes, "fence-set").await,
        ["ose1", "ose2"],
        "each of the owner's tokens, active or not, and no other"
    );

    store.set_owner_settings("os-evt", &OwnerSettings::new()).await.unwrap();
    store.create(fence("deleted")).await.unwrap();
    assert_eq!(
        ids_until(&mut changes, "fence-deleted").await,
        ["ose1", "ose2"],
        "deleting them too"
    );
    cleanup(store).await;
}

/// The sorted ids of this suite's owner-event tokens (`ose…`) changed before `fence` was: a
/// store whose events travel may still deliver ones from the steps before, for other ids.
async fn ids_until(changes: &mut tollgate::store::ChangeStream, fence: &str) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), changes.next())
            .await
            .expect("a change event arrives for each change")
            .expect("the stream stays open");
        match event {
            ChangeEvent::Changed { id } if id == fence => break,
            ChangeEvent::Changed { id } if id.starts_with("ose") => ids.push(id),
            ChangeEvent::Changed { .. } => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
    ids.sort();
    ids
}
