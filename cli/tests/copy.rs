//! `tollgate copy`: a SQLite store with tokens of every kind copied to PostgreSQL and to
//! Redis (when their servers are given), and back to SQLite; every token answers on the
//! target as on the source, through the `AuthLayer` every server runs.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::{Backend, answer};
use tollgate::store::TokenStore;
use tollgate::{NewToken, OwnerSettings, RateLimit, Secret, TokenManager, Verifier};

/// A credential of each kind a store holds, and how a server answers it.
struct Sample {
    what: &'static str,
    authorization: String,
    status: u16,
}

fn bearer(token: &Secret) -> String {
    format!("Bearer {}", token.expose())
}

/// Fills `source` with tokens of every kind, and returns a credential of each.
async fn every_kind(source: Arc<dyn TokenStore>) -> (TokenManager, Vec<Sample>) {
    let verifier = Verifier::builder(source.clone()).build();
    let tokens = TokenManager::from_shared(source, verifier);
    let mut samples = Vec::new();
    let mut sample = |what, authorization, status| {
        samples.push(Sample {
            what,
            authorization,
            status,
        });
    };

    let plain = tokens.create(NewToken::new("reader").scopes(["read"])).await.unwrap();
    sample("generated", bearer(plain.token()), 200);
    let other = tokens.create(NewToken::new("writer").scopes(["write"])).await.unwrap();
    sample("without the scope", bearer(other.token()), 403);

    let legacy = Secret::from("Zq8vN2xLk4pW7tRb0YcH3mJf".to_owned());
    tokens
        .import(NewToken::new("legacy").scopes(["read"]).id("acct42"), &legacy)
        .await
        .unwrap();
    sample(
        "imported, Basic id:secret",
        support::basic("acct42", legacy.expose()),
        200,
    );
    sample("imported, opaque Bearer", bearer(&legacy), 200);

    let rotated = tokens.create(NewToken::new("rotated").scopes(["read"])).await.unwrap();
    let renewed = tokens.rotate(rotated.id(), time::Duration::hours(1)).await.unwrap();
    sample("rotated, the old secret in grace", bearer(rotated.token()), 200);
    sample("rotated, the new secret", bearer(renewed.token()), 200);

    let revoked = tokens.create(NewToken::new("revoked").scopes(["read"])).await.unwrap();
    tokens.revoke(revoked.id()).await.unwrap();
    sample("revoked", bearer(revoked.token()), 401);

    let limit = RateLimit::from_parts(100, 60, 100).unwrap();
    let owned = tokens
        .create(
            NewToken::new("owned")
                .scopes(["read"])
                .owner("customer_1729")
                .rate_limit(Some(limit)),
        )
        .await
        .unwrap();
    tokens
        .set_owner_settings("customer_1729", OwnerSettings::new().with_rate_limit(Some(limit)))
        .await
        .unwrap();
    sample("owned, with limits", bearer(owned.token()), 200);

    let expiring = tokens
        .create(
            NewToken::new("expired")
                .scopes(["read"])
                .expires_in(time::Duration::seconds(1)),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sample("expired", bearer(expiring.token()), 401);
    (tokens, samples)
}

fn copy(target: &Backend, from: &str, more: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["--json".into(), "copy".into(), "--from".into(), from.into()];
    args.extend(target.as_target());
    args.extend(more.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    support::tollgate(&args, None, &[]).json()
}

/// Every sample answers on `store` as it should.
async fn answers(store: &Arc<dyn TokenStore>, samples: &[Sample], on: &str) {
    for sample in samples {
        assert_eq!(
            answer(store.clone(), &sample.authorization).await,
            sample.status,
            "{}: on {on}",
            sample.what
        );
    }
}

async fn a_sqlite_store_moves_whole(target: Backend) {
    let source = Backend::sqlite();
    let (tokens, samples) = every_kind(source.open().await).await;
    let from = source.url().to_owned();
    answers(&source.open().await, &samples, "the source").await;

    let first = copy(&target, &from, &["--verify"]);
    assert_eq!(first["read"], 7, "{first}");
    assert_eq!(first["created"], 7, "{first}");
    assert_eq!(first["owner_settings"], 1, "{first}");
    assert_eq!(first["verify"]["differing"], serde_json::json!([]), "{first}");
    let store = target.open().await;
    answers(&store, &samples, "the target").await;
    assert_eq!(
        store.owner_settings("customer_1729").await.unwrap(),
        tokens.owner_settings("customer_1729").await.unwrap()
    );

    // Nothing changed: nothing copied, and the table says so.
    let again = copy(&target, &from, &[]);
    assert_eq!(
        (again["created"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(again["unchanged"], 7);
    let mut args = vec!["copy", "--from", &from];
    let target_args = target.as_target();
    args.extend(target_args.iter().map(String::as_str));
    let table = support::tollgate(&args, None, &[]).expect(0);
    assert!(table.stdout.starts_with("Nothing to copy:"), "{table:#?}");

    // A revocation on the source before the cut-over reaches the target on a re-run.
    let reader = tokens.list(&tollgate::ListQuery::new(100)).await.unwrap();
    let reader = reader.records.iter().find(|r| r.name == "reader").unwrap().id.clone();
    tokens.revoke(&reader).await.unwrap();
    let caught_up = copy(&target, &from, &[]);
    assert_eq!(caught_up["updated"], 1, "{caught_up}");
    assert_eq!(answer(store.clone(), &samples[0].authorization).await, 401);

    // A token only the target holds is kept, and named; --prune deletes it.
    let extra = Verifier::builder(store.clone()).build();
    let made = TokenManager::from_shared(store.clone(), extra)
        .create(NewToken::new("made on the target"))
        .await
        .unwrap();
    assert_eq!(copy(&target, &from, &[])["target_only"], 1);
    let pruned = copy(&target, &from, &["--prune", "--verify"]);
    assert_eq!(pruned["pruned"], 1, "{pruned}");
    assert!(store.get(made.id()).await.unwrap().is_none());
    assert_eq!(
        store.list(&tollgate::ListQuery::new(100)).await.unwrap().records.len(),
        7
    );

    // And back: the target copied to a new SQLite file, which answers the same.
    let dir = tempfile::tempdir().unwrap();
    let back = format!("sqlite:{}", dir.path().join("back.db").display());
    let mut args = vec!["--json", "copy", "--to", &back, "--verify", "--from", target.url()];
    let place = target.as_target();
    if let Some(at) = place.iter().position(|arg| arg == "--to-schema") {
        args.extend(["--schema", &place[at + 1]]);
    }
    if let Some(at) = place.iter().position(|arg| arg == "--to-prefix") {
        args.extend(["--prefix", &place[at + 1]]);
    }
    let returned = support::tollgate(&args, None, &[]).json();
    assert_eq!(returned["created"], 7, "{returned}");
    assert_eq!(returned["verify"]["differing"], serde_json::json!([]));
    let back = tollgate::SqliteStore::open(dir.path().join("back.db")).await.unwrap();
    let back: Arc<dyn TokenStore> = Arc::new(back);
    answers(&back, &samples[1..], "the copy back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_moves_to_postgres_and_back() {
    if let Some(target) = Backend::postgres("a_sqlite_store_moves_to_postgres_and_back") {
        a_sqlite_store_moves_whole(target).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_moves_to_redis_and_back() {
    if let Some(target) = Backend::redis("a_sqlite_store_moves_to_redis_and_back") {
        a_sqlite_store_moves_whole(target).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_moves_to_another_sqlite_file() {
    a_sqlite_store_moves_whole(Backend::sqlite()).await;
}

/// The same store on both sides is refused before anything is read.
#[test]
fn copying_a_store_onto_itself_is_refused() {
    let store = Backend::sqlite();
    let run = support::tollgate(&["copy", "--from", store.url(), "--to", store.url()], None, &[]).expect(2);
    assert!(run.stderr.contains("the same store"), "{run:#?}");
}

/// More records than a page (500) on each side, and changes on both sides between runs: the
/// side-by-side walk copies what changed on the source, keeps what changed on the target,
/// and prunes what the source no longer holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_several_pages_catches_up_with_changes_on_both_sides() {
    use tollgate::{SecretHasher, TokenPatch, TokenRecord};
    const RECORDS: usize = 1203;
    let (source, target) = (Backend::sqlite(), Backend::sqlite());
    let (from, to) = (source.open().await, target.open().await);
    for n in 0..RECORDS {
        let hash = SecretHasher::Sha256.hash(format!("secret number {n}").as_bytes());
        from.replace(TokenRecord::new(format!("t{n:05}"), "paged", hash))
            .await
            .unwrap();
    }
    let run = |more: &[&str]| copy(&target, source.url(), more);
    let first = run(&["--verify"]);
    assert_eq!(first["created"], RECORDS, "{first}");
    assert_eq!(first["verify"]["differing"], serde_json::json!([]));

    for id in ["t00007", "t00600", "t01202"] {
        from.update(id, &TokenPatch::new().status(tollgate::TokenStatus::Inactive))
            .await
            .unwrap();
    }
    to.update("t00601", &TokenPatch::new().name("renamed on the target"))
        .await
        .unwrap();
    from.delete("t00900").await.unwrap();
    let second = run(&["--prune"]);
    assert_eq!(second["updated"], 3, "{second}");
    assert_eq!(second["newer_on_target"], serde_json::json!(["t00601"]), "{second}");
    assert_eq!(second["pruned"], 1, "{second}");
    assert_eq!(second["unchanged"], RECORDS - 1 - 3 - 1, "{second}");
    assert_eq!(
        to.get("t00600").await.unwrap().unwrap().status,
        tollgate::TokenStatus::Inactive
    );
    assert_eq!(to.get("t00601").await.unwrap().unwrap().name, "renamed on the target");
    assert!(to.get("t00900").await.unwrap().is_none());

    let third = run(&[]);
    assert_eq!(
        (third["created"].as_u64(), third["updated"].as_u64()),
        (Some(0), Some(0)),
        "{third}"
    );
}
