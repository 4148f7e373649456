//! A store of the user's own that keeps a token's scopes in an order of its choosing (here:
//! descending). The crate documents scopes as sorted, and their type keeps them so: a record
//! the store builds from its own form holds them sorted, whatever order it gave, so whether
//! a token grants a scope never depends on the order.

mod support;

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header::AUTHORIZATION};
use http_body_util::Full;
use support::issue;
use tollgate::store::{Page, Rotation, TokenSource, TokenStore};
use tollgate::{
    AuthLayer, ListQuery, MemoryStore, OwnerSettings, Principal, RateLimit, SecretHash, StoreError, TokenManager,
    TokenPatch, TokenRecord, Verifier,
};
use tower::{ServiceBuilder, ServiceExt as _, service_fn};

/// Keeps scopes in descending order, its own form, and builds every record it hands out
/// from that form.
struct Descending(MemoryStore);

/// The scopes as this store keeps them.
fn own_form(record: &TokenRecord) -> Vec<String> {
    let mut scopes = record.scopes.to_vec();
    scopes.sort_unstable_by(|a, b| b.cmp(a));
    scopes
}

fn descending(mut record: TokenRecord) -> TokenRecord {
    record.scopes = own_form(&record).into_iter().collect();
    record
}

#[async_trait]
impl TokenSource for Descending {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.0.get(id).await?.map(descending))
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.0.find_by_hash(hash).await?.map(descending))
    }
}

#[async_trait]
impl TokenStore for Descending {
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
        self.0.create(record).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let mut page = self.0.list(query).await?;
        page.records = page.records.into_iter().map(descending).collect();
        Ok(page)
    }

    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.0.update(id, patch).await?.map(descending))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.0.delete(id).await
    }

    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.0.rotate(id, rotation).await?.map(descending))
    }
}

const SCOPES: [&str; 3] = ["c", "a", "b"];

/// A store of one's own that keeps no owner settings, as the traits' defaults do: every
/// owner has none, and setting them is refused as unsupported, never dropped in silence.
#[tokio::test]
async fn a_custom_store_that_keeps_no_owner_settings_has_none_and_refuses_them() {
    let store = Descending(MemoryStore::new());
    let plan = OwnerSettings::new().with_rate_limit(Some(RateLimit::from_parts(1, 1, 1).unwrap()));
    let err = store.set_owner_settings("alice", &plan).await.unwrap_err();
    assert!(matches!(err, StoreError::Unsupported(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "unsupported by this token store: this store keeps no owner settings"
    );
    assert_eq!(store.owner_settings("alice").await.unwrap(), OwnerSettings::default());
    assert_eq!(store.0.owner_settings("alice").await.unwrap(), OwnerSettings::default());
}

#[tokio::test]
async fn scopes_in_any_order_from_a_custom_store_are_granted_and_shown_sorted() {
    let store = Arc::new(Descending(MemoryStore::new()));
    let (token, record) = issue(&store.0, "unsorted", |r| r.with_scopes(SCOPES)).await;
    let fetched = store.get(&record.id).await.unwrap().unwrap();
    assert_eq!(own_form(&fetched), ["c", "b", "a"], "the store keeps them descending");
    assert_eq!(
        fetched.scopes,
        ["a", "b", "c"],
        "the record it builds holds them sorted"
    );
    assert!(SCOPES.iter().all(|scope| fetched.has_scope(scope)));

    let verifier = Verifier::builder(store.clone()).build();
    let auth = AuthLayer::new(verifier.clone());
    for scope in SCOPES {
        // Before scopes were kept in order by their type, "a" and "c" could be refused with
        // 403: a principal searched ["c", "b", "a"] by halves.
        let service = ServiceBuilder::new()
            .layer(auth.clone())
            .layer(auth.scope_layer([scope]))
            .service(service_fn(|req: Request<Full<Bytes>>| async move {
                let principal = req.extensions().get::<Principal>().expect("authenticated");
                assert_eq!(principal.scopes(), ["a", "b", "c"], "sorted, as documented");
                assert!(principal.require_scopes(SCOPES).is_ok());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            }));
        let request = Request::builder()
            .header(AUTHORIZATION, format!("Bearer {}", token.token().expose()))
            .body(Full::default())
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "scope {scope}");
    }

    // The manager, and so the admin API, give the crate's form too, and filter by scope.
    let tokens = TokenManager::new(store.clone(), verifier.clone());
    assert_eq!(tokens.get(&record.id).await.unwrap().unwrap().scopes, ["a", "b", "c"]);
    for scope in SCOPES {
        let page = tokens.list(&ListQuery::new(10).scope(scope)).await.unwrap();
        assert_eq!(page.records.len(), 1, "scope {scope}");
        assert_eq!(page.records[0].scopes, ["a", "b", "c"]);
    }
    let updated = tokens
        .update(&record.id, TokenPatch::new().name("renamed"))
        .await
        .unwrap();
    assert_eq!(updated.scopes, ["a", "b", "c"]);

    #[cfg(feature = "admin")]
    admin_shows_them_sorted(&store, verifier, &record.id).await;
}

/// The admin API's view of the same token, and its own admin token, whose scopes the
/// store also keeps descending.
#[cfg(feature = "admin")]
async fn admin_shows_them_sorted(store: &Arc<Descending>, verifier: Verifier, id: &str) {
    let admin = tollgate::AdminApi::builder(store.clone(), verifier).build();
    let (admin_token, _) = issue(&store.0, "admin", |r| r.with_scopes(["tokens:admin", "other"])).await;
    let response = admin
        .oneshot(
            Request::builder()
                .uri(format!("/tokens/{id}"))
                .header(AUTHORIZATION, format!("Bearer {}", admin_token.token().expose()))
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .unwrap();
    // "tokens:admin" sorts last of ["other", "tokens:admin"], first as the store keeps it.
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["scopes"], serde_json::json!(["a", "b", "c"]));
}

/// A store of one's own without `replace` gets the default: the secrets are checked first,
/// so a clash writes nothing, then the record is deleted and created as given.
#[tokio::test]
async fn a_custom_store_replaces_through_the_default() {
    let store = Descending(MemoryStore::new());
    let hash = |text: &str| tollgate::SecretHasher::Sha256.hash(text.as_bytes());
    store.create(TokenRecord::new("a", "first", hash("a1"))).await.unwrap();
    store.create(TokenRecord::new("b", "other", hash("b1"))).await.unwrap();

    let replacement = TokenRecord::new("a", "second", hash("a2")).with_status(tollgate::TokenStatus::Inactive);
    store.replace(replacement.clone()).await.unwrap();
    assert_eq!(store.get("a").await.unwrap().unwrap(), replacement);
    assert!(store.find_by_hash(&hash("a1")).await.unwrap().is_none());

    let clash = TokenRecord::new("a", "third", hash("b1"));
    let err = store.replace(clash).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateSecret), "{err:?}");
    assert_eq!(
        store.get("a").await.unwrap().unwrap(),
        replacement,
        "nothing was written"
    );
    store
        .replace(TokenRecord::new("c", "new", hash("c1")))
        .await
        .expect("an unknown id is created");
    assert_eq!(store.get("c").await.unwrap().unwrap().name, "new");

    // A previous secret whose grace ended is found by no lookup, yet still taken: the create
    // fails after the delete, and the old record is put back.
    let ended = tollgate::PreviousSecret {
        hash: hash("d0"),
        valid_until: time::OffsetDateTime::now_utc() - time::Duration::hours(1),
    };
    store
        .create(TokenRecord::new("d", "rotated long ago", hash("d1")).with_previous_secret(Some(ended)))
        .await
        .unwrap();
    let err = store
        .replace(TokenRecord::new("a", "fourth", hash("d0")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateSecret), "{err:?}");
    assert_eq!(
        store.get("a").await.unwrap().unwrap(),
        replacement,
        "the old record is back"
    );
}
