//! [`TokenManager`]: creating, changing and removing tokens from Rust code, with the same
//! rules as the admin API, which is built on it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::credential::Credential;
use crate::record::now;
use crate::record::{TokenRecord, TokenStatus};
use crate::secret::Secret;
use crate::store::{ListQuery, Page, Rotation, TokenPatch, TokenStore};
use crate::verify::{Verifier, VerifyError};

mod error;
mod new_token;
mod owned;
mod owners;
mod pepper;
pub(crate) mod rules;

pub use error::ManageError;
pub use new_token::NewToken;
pub use owned::OwnedTokens;

/// The scope [`TokenManager::bootstrap_admin`] grants, and the admin API requires by default.
pub const DEFAULT_ADMIN_SCOPE: &str = "tokens:admin";

/// The id of the token [`TokenManager::bootstrap`] makes. Every process that bootstraps the
/// same store tries to create a token with this id, so the store's uniqueness of ids lets
/// exactly one of them succeed.
pub const BOOTSTRAP_ID: &str = "bootstrap";

/// Creates, changes and removes tokens in a [`TokenStore`], applying the admin API's rules
/// (the admin API is built on it), and keeps a [`Verifier`]'s cache in step: a change is in
/// force on the next request through that verifier.
///
/// Use it where an HTTP admin API is the wrong tool: to mint the first admin token when a
/// service starts ([`TokenManager::bootstrap_admin`]), or behind an "API tokens" page of
/// your own app, where the user is already signed in with a session and no admin token is
/// involved.
///
/// ```
/// use std::sync::Arc;
/// use time::Duration;
/// use tollgate::{Credential, MemoryStore, NewToken, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate::ManageError> {
/// let store = Arc::new(MemoryStore::new());
/// let verifier = Verifier::builder(store.clone()).build();
/// let tokens = TokenManager::new(store, verifier.clone());
///
/// // The whole token is shown once, here; the store keeps only its hash.
/// let issued = tokens
///     .create(NewToken::new("laptop").scopes(["profile"]).expires_in(Duration::days(30)))
///     .await?;
/// let token = issued.token().expose().to_owned();
/// assert!(verifier.verify(&Credential::Bearer(&token)).await.is_ok());
///
/// // A rotation keeps the id; the old secret works for the grace period only.
/// let rotated = tokens.rotate(issued.id(), Duration::ZERO).await?;
/// assert!(verifier.verify(&Credential::Bearer(&token)).await.is_err());
///
/// tokens.delete(rotated.id()).await?;
/// # Ok(())
/// # }
/// ```
///
/// Cheap to clone. Every store call is bounded by [`store_timeout`](Self::store_timeout)
/// (default 5 s), so a Tokio runtime with its time driver is needed.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn TokenStore>,
    verifier: Verifier,
    store_timeout: Duration,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("verifier", &self.inner.verifier)
            .field("store_timeout", &self.inner.store_timeout)
            .finish_non_exhaustive()
    }
}

/// A token that was just made: its record, and the whole token, which exists nowhere else.
/// Show it to its owner once; the store keeps only its hash.
///
/// ```
/// use std::sync::Arc;
/// use tollgate::{MemoryStore, NewToken, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate::ManageError> {
/// let store = Arc::new(MemoryStore::new());
/// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
/// let issued = tokens.create(NewToken::new("ci").scopes(["deploy"])).await?;
/// // The store has the record; the token is only here.
/// assert_eq!(tokens.get(issued.id()).await?.as_ref(), Some(issued.record()));
/// // Safe to log: `Debug` redacts the token.
/// assert!(!format!("{issued:?}").contains(issued.token().expose()));
///
/// let (record, token) = issued.into_parts(); // `token`: for its owner's eyes, once
/// # let _ = (record, token);
/// # Ok(())
/// # }
/// ```
#[must_use = "the token is shown only once: hand it to its owner or it is lost"]
pub struct IssuedToken {
    record: TokenRecord,
    token: Secret,
}

impl IssuedToken {
    /// The token's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The stored record.
    #[must_use]
    pub fn record(&self) -> &TokenRecord {
        &self.record
    }

    /// The whole token, `<prefix>_<id>_<secret><checksum>`.
    #[must_use]
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// The record and the token.
    #[must_use]
    pub fn into_parts(self) -> (TokenRecord, Secret) {
        (self.record, self.token)
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("record", &self.record)
            .field("token", &self.token)
            .finish()
    }
}

impl TokenManager {
    /// A manager of the tokens in `store`. `verifier` must read the same store: the manager
    /// uses its token format and hasher, and drops changed tokens from its cache.
    pub fn new(store: impl TokenStore, verifier: Verifier) -> Self {
        Self::from_shared(Arc::new(store), verifier)
    }

    /// [`TokenManager::new`] over a store already shared as a trait object.
    pub fn from_shared(store: Arc<dyn TokenStore>, verifier: Verifier) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                verifier,
                store_timeout: Duration::from_secs(5),
            }),
        }
    }

    /// How long one store call may take before it fails with [`ManageError::Timeout`]
    /// (default 5 s).
    #[must_use]
    pub fn store_timeout(self, timeout: Duration) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                store: Arc::clone(&inner.store),
                verifier: inner.verifier.clone(),
                store_timeout: timeout,
            }),
        }
    }

    /// The verifier whose cache this manager keeps in step.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// Creates a token with a generated id and secret, and returns it: the only time the
    /// whole token is available.
    ///
    /// # Errors
    /// [`ManageError::Invalid`] naming a field that breaks a rule; [`ManageError::Store`] or
    /// [`ManageError::Timeout`] when the store fails.
    pub async fn create(&self, new: NewToken) -> Result<IssuedToken, ManageError> {
        if new.id_ref().is_some() {
            return Err(ManageError::invalid(
                "id",
                "may be given only to an imported token (with its secret): a generated token gets a random id",
            ));
        }
        let generated = self.format().generate().map_err(ManageError::Random)?;
        let hash = self.hasher().hash(generated.secret_segment().as_bytes());
        let record = new.into_record(generated.id(), hash, now())?;
        self.insert(record.clone()).await?;
        tracing::debug!(target: "tollgate::manage", action = "created", token_id = %record.id);
        Ok(IssuedToken {
            record,
            token: generated.token().clone(),
        })
    }

    /// Creates a token around a secret that exists already (a legacy API key, say), used as
    /// an opaque Bearer token or as the Basic password with the id. The id is the one
    /// [`NewToken::id`] names, so that Basic `id:secret` clients keep working, or else a
    /// random one. The secret must be 16 to 512 token68 characters and must not start with
    /// this format's prefix.
    ///
    /// # Errors
    /// As [`create`](Self::create) (an id that breaks its rule is [`ManageError::Invalid`]
    /// naming `id`), [`ManageError::DuplicateId`] when the id is taken, and
    /// [`ManageError::DuplicateSecret`] when another token already has this secret.
    pub async fn import(&self, new: NewToken, secret: &Secret) -> Result<TokenRecord, ManageError> {
        rules::imported_secret(secret.expose(), self.format())?;
        let id = self.imported_id(&new)?;
        let hash = self.hasher().hash(secret.expose().as_bytes());
        let record = new.into_record(&id, hash, now())?;
        self.insert(record.clone()).await?;
        tracing::debug!(target: "tollgate::manage", action = "imported", token_id = %record.id);
        Ok(record)
    }

    /// Creates a token from the SHA-256 of a secret that exists already, for a legacy system
    /// that kept only such hashes: its clients keep sending the secret, and this store
    /// matches it, as an opaque Bearer token or as the Basic password with the id. The id is
    /// [`NewToken::id`]'s, or a random one.
    ///
    /// Only where secrets are hashed as plain SHA-256 ([`SecretHasher::Sha256`]): under a
    /// pepper the stored hash is keyed, and the SHA-256 alone cannot give it. The secret's
    /// own rules (length, alphabet, prefix) cannot be checked on its hash: the legacy
    /// system's are taken as they were.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sha2::{Digest as _, Sha256};
    /// use tollgate::{Credential, MemoryStore, NewToken, TokenManager, Verifier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = Arc::new(MemoryStore::new());
    /// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
    /// // All the old system kept of the secret "sk_live_4f9aZq8vN2xLk4pW".
    /// let sha256: [u8; 32] = Sha256::digest(b"sk_live_4f9aZq8vN2xLk4pW").into();
    /// let record = tokens.import_sha256(NewToken::new("legacy").id("acct42"), sha256).await.unwrap();
    /// assert_eq!(record.id, "acct42");
    /// let presented = Credential::Bearer("sk_live_4f9aZq8vN2xLk4pW");
    /// assert!(tokens.check(&presented).await.unwrap().is_some());
    /// # }
    /// ```
    ///
    /// [`SecretHasher::Sha256`]: crate::SecretHasher::Sha256
    ///
    /// # Errors
    /// [`ManageError::Invalid`] naming `secret_sha256` on a peppered verifier, and as
    /// [`import`](Self::import) otherwise.
    pub async fn import_sha256(&self, new: NewToken, sha256: [u8; 32]) -> Result<TokenRecord, ManageError> {
        if !matches!(self.hasher(), crate::hash::SecretHasher::Sha256) {
            return Err(ManageError::invalid(
                "secret_sha256",
                "secrets here are hashed under a pepper, which a plain SHA-256 cannot match: import the secret itself",
            ));
        }
        let id = self.imported_id(&new)?;
        let record = new.into_record(&id, crate::hash::SecretHash::from_bytes(sha256), now())?;
        self.insert(record.clone()).await?;
        tracing::debug!(target: "tollgate::manage", action = "imported", token_id = %record.id);
        Ok(record)
    }

    /// The id an import asks for, if it keeps the rule, or a random one.
    fn imported_id(&self, new: &NewToken) -> Result<String, ManageError> {
        match new.id_ref() {
            Some(id) => {
                rules::imported_id(id)?;
                Ok(id.to_owned())
            }
            None => Ok(self.format().generate().map_err(ManageError::Random)?.id().to_owned()),
        }
    }

    /// Stores a new record and forgets any earlier "unknown" answer for its id or secret.
    async fn insert(&self, record: TokenRecord) -> Result<(), ManageError> {
        let (id, hash) = (record.id.clone(), record.secret_hash);
        let created = self.call(self.inner.store.create(record)).await;
        self.inner.verifier.invalidate(&id);
        self.inner.verifier.invalidate_hash(&hash);
        created
    }

    /// The record with this id, if there is one.
    ///
    /// # Errors
    /// [`ManageError::Store`] or [`ManageError::Timeout`] when the store fails.
    pub async fn get(&self, id: &str) -> Result<Option<TokenRecord>, ManageError> {
        self.call(self.inner.store.get(id)).await
    }

    /// A page of records by ascending id; pass [`Page::next_after`] to
    /// [`ListQuery::after`] for the next one.
    ///
    /// # Errors
    /// [`ManageError::Store`] or [`ManageError::Timeout`] when the store fails.
    pub async fn list(&self, query: &ListQuery) -> Result<Page, ManageError> {
        self.call(self.inner.store.list(query)).await
    }

    /// Changes a token's name, scopes, status, expiry, metadata, owner or rate limit, in
    /// force on the next request, and returns the new record.
    ///
    /// # Errors
    /// [`ManageError::Invalid`] naming a field that breaks a rule (an expiry must be in the
    /// future); [`ManageError::NotFound`] for an unknown id; [`ManageError::Store`] or
    /// [`ManageError::Timeout`] when the store fails.
    pub async fn update(&self, id: &str, mut patch: TokenPatch) -> Result<TokenRecord, ManageError> {
        if let Some(name) = &patch.name {
            rules::name(name)?;
        }
        if let Some(scopes) = &patch.scopes {
            rules::scopes(scopes)?;
        }
        if let Some(metadata) = &patch.metadata {
            rules::metadata(metadata)?;
        }
        if let Some(Some(owner)) = &patch.owner {
            rules::owner(owner)?;
        }
        if let Some(Some(at)) = patch.expires_at {
            patch.expires_at = Some(Some(rules::expires_at(at, now())?));
        }
        let updated = self.call(self.inner.store.update(id, &patch)).await;
        // Whatever the answer: a write that timed out may still have been applied.
        self.inner.verifier.invalidate(id);
        let record = updated?.ok_or(ManageError::NotFound)?;
        tracing::debug!(target: "tollgate::manage", action = "updated", token_id = %id);
        Ok(record)
    }

    /// Makes a token inactive: refused from the next request on, but kept, with its
    /// history, until it is deleted (or made active again with [`update`](Self::update)).
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub async fn revoke(&self, id: &str) -> Result<TokenRecord, ManageError> {
        self.update(id, TokenPatch::new().status(TokenStatus::Inactive)).await
    }

    /// A manager of `owner`'s tokens only, for self-service: what an "API tokens" page
    /// behind your own sign-in calls. It grants no scope until you name those it may with
    /// [`OwnedTokens::grantable_scopes`], and sets no rate limit unless given
    /// [`OwnedTokens::allow_rate_limits`]. See [`OwnedTokens`].
    pub fn owned_by(&self, owner: impl Into<String>) -> OwnedTokens {
        OwnedTokens::new(self.clone(), owner.into())
    }

    /// Deletes a token: it fails on the next request, and its id and secret are forgotten.
    ///
    /// # Errors
    /// [`ManageError::NotFound`] for an unknown id; [`ManageError::Store`] or
    /// [`ManageError::Timeout`] when the store fails (the delete may have been applied).
    pub async fn delete(&self, id: &str) -> Result<(), ManageError> {
        let deleted = self.call(self.inner.store.delete(id)).await;
        // Whatever the answer: a delete that timed out may still have been applied.
        self.inner.verifier.invalidate(id);
        if !deleted? {
            return Err(ManageError::NotFound);
        }
        tracing::debug!(target: "tollgate::manage", action = "deleted", token_id = %id);
        Ok(())
    }

    /// Gives a token a new generated secret and returns it; the id, name, scopes, kind,
    /// metadata and expiry stay. The old secret keeps working for `grace` (0 to one year;
    /// never past the token's expiry), then never again.
    ///
    /// # Errors
    /// [`ManageError::Invalid`] for a grace period out of range; [`ManageError::NotFound`]
    /// for an unknown id; [`ManageError::Store`] or [`ManageError::Timeout`] when the store
    /// fails.
    pub async fn rotate(&self, id: &str, grace: time::Duration) -> Result<IssuedToken, ManageError> {
        let grace = rules::grace(grace)?;
        let current = self.get(id).await?.ok_or(ManageError::NotFound)?;
        let generated = self.format().generate_for(id).map_err(|err| match err {
            crate::token::TokenError::Random(_) => ManageError::Random(err),
            _ => ManageError::invalid("id", "this token's id cannot carry a generated secret"),
        })?;
        let at = now();
        let old_valid_until = (grace.is_positive())
            .then(|| at + grace)
            .map(|until| current.expires_at.map_or(until, |exp| exp.min(until)))
            .filter(|until| *until > at);
        let rotation = Rotation {
            new_hash: self.hasher().hash(generated.secret_segment().as_bytes()),
            old_valid_until,
        };
        let rotated = self.call(self.inner.store.rotate(id, &rotation)).await;
        // Whatever the answer: a rotation that timed out may still have been applied.
        self.inner.verifier.invalidate(id);
        let record = rotated?.ok_or(ManageError::NotFound)?;
        tracing::debug!(target: "tollgate::manage", action = "rotated", token_id = %id, grace_seconds = grace.whole_seconds());
        Ok(IssuedToken {
            record,
            token: generated.token().clone(),
        })
    }

    /// The record a credential authenticates as, or `None` when it does not authenticate
    /// (for whatever reason: the reason is not told).
    ///
    /// # Errors
    /// [`ManageError::Store`] or [`ManageError::Timeout`] when the store fails.
    pub async fn check(&self, credential: &Credential<'_>) -> Result<Option<TokenRecord>, ManageError> {
        match self.inner.verifier.verify(credential).await {
            Ok(principal) => self.get(principal.id()).await,
            Err(VerifyError::Invalid(_)) => Ok(None),
            Err(VerifyError::Timeout(after)) => Err(ManageError::Timeout(after)),
            Err(VerifyError::Unavailable(err)) => Err(ManageError::Store(crate::store::StoreError::unavailable(err))),
        }
    }

    /// Creates `new` as the store's first token, when it holds none, and returns it;
    /// `Ok(None)` when the store already holds tokens. The token gets the id
    /// [`BOOTSTRAP_ID`], so when several processes start at once on one empty store, the
    /// store lets exactly one create it and the others get `None`.
    ///
    /// Print or save the token at once: if it is lost, delete the `bootstrap` token (or
    /// empty the store) and start again, or mint an admin token with
    /// [`create`](Self::create).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub async fn bootstrap(&self, new: NewToken) -> Result<Option<IssuedToken>, ManageError> {
        if !self.list(&ListQuery::new(1)).await?.records.is_empty() {
            return Ok(None);
        }
        let generated = self.format().generate_for(BOOTSTRAP_ID).map_err(ManageError::Random)?;
        let hash = self.hasher().hash(generated.secret_segment().as_bytes());
        let record = new.into_record(BOOTSTRAP_ID, hash, now())?;
        match self.insert(record.clone()).await {
            Ok(()) => {}
            // Another process bootstrapped the store a moment ago.
            Err(ManageError::DuplicateId) => return Ok(None),
            Err(err) => return Err(err),
        }
        tracing::debug!(target: "tollgate::manage", action = "bootstrapped", token_id = %record.id);
        Ok(Some(IssuedToken {
            record,
            token: generated.token().clone(),
        }))
    }

    /// [`bootstrap`](Self::bootstrap) with an admin token: named `bootstrap admin`, with
    /// the scope [`DEFAULT_ADMIN_SCOPE`] (`tokens:admin`), which the admin API requires by
    /// default.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tollgate::{MemoryStore, TokenManager, Verifier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tollgate::ManageError> {
    /// let store = Arc::new(MemoryStore::new());
    /// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
    /// if let Some(admin) = tokens.bootstrap_admin().await? {
    ///     println!("admin token (shown once): {}", admin.token().expose());
    /// }
    /// assert!(tokens.bootstrap_admin().await?.is_none(), "only on an empty store");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub async fn bootstrap_admin(&self) -> Result<Option<IssuedToken>, ManageError> {
        self.bootstrap(NewToken::new("bootstrap admin").scopes([DEFAULT_ADMIN_SCOPE]))
            .await
    }

    fn format(&self) -> &crate::token::TokenFormat {
        self.inner.verifier.format()
    }

    fn hasher(&self) -> &crate::hash::SecretHasher {
        self.inner.verifier.hasher()
    }

    /// Runs a store call under the configured timeout.
    async fn call<T>(&self, call: impl Future<Output = Result<T, crate::store::StoreError>>) -> Result<T, ManageError> {
        let timeout = self.inner.store_timeout;
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ManageError::Timeout(timeout)),
        }
    }
}
