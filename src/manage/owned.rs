//! [`OwnedTokens`]: one owner's tokens, for self-service.

use std::fmt;

use super::{IssuedToken, ManageError, NewToken, TokenManager, rules};
use crate::limit::OwnerSettings;
use crate::record::{TokenRecord, TokenStatus};
use crate::secret::Secret;
use crate::store::{ListQuery, Page, TokenPatch};

/// A [`TokenManager`] that sees and changes one owner's tokens only: what a user manages
/// from an "API tokens" page of your app, signed in with your own session, and what the
/// admin API offers a principal with the self-service scope. Made by
/// [`TokenManager::owned_by`].
///
/// - Another owner's token does not exist for it: [`get`](Self::get) gives `None` and
///   every change [`ManageError::NotFound`], so ids do not leak.
/// - A token it creates belongs to its owner; it cannot give one to another owner, nor
///   take the owner off ([`ManageError::NotAllowed`]).
/// - It grants only the scopes given to [`grantable_scopes`](Self::grantable_scopes) (the
///   scopes the user holds, say), none until then: a token it makes carries no scope you
///   did not name, so no self-service page mints an admin token by mistake. Asking for
///   another is [`ManageError::NotAllowed`].
/// - It revokes, but never makes an inactive token active again: a revocation holds until
///   an admin lifts it ([`ManageError::NotAllowed`]).
/// - It sets no rate limit: not on a token it creates, nor on one it changes (set, raise or
///   remove), nor on its owner ([`ManageError::NotAllowed`]), unless given
///   [`allow_rate_limits`](Self::allow_rate_limits). Its tokens have no limit of their own
///   and stay under the owner's, which it may read ([`owner_settings`](Self::owner_settings)).
///
/// ```
/// use std::sync::Arc;
/// use tollgate::{ListQuery, ManageError, MemoryStore, NewToken, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ManageError> {
/// let store = Arc::new(MemoryStore::new());
/// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
///
/// // In the handler of your settings page, for the signed-in user:
/// let mine = tokens.owned_by("user_42").grantable_scopes(["repo:read", "repo:write"]);
/// let issued = mine.create(NewToken::new("laptop").scopes(["repo:read"])).await?;
/// assert_eq!(issued.record().owner.as_deref(), Some("user_42"));
/// assert_eq!(mine.list(&ListQuery::new(100)).await?.records.len(), 1);
///
/// // Another user sees nothing of it, and cannot grant what they were not given.
/// let theirs = tokens.owned_by("user_7").grantable_scopes(["repo:read"]);
/// assert!(theirs.get(issued.id()).await?.is_none());
/// assert!(matches!(theirs.delete(issued.id()).await, Err(ManageError::NotFound)));
/// let refused = theirs.create(NewToken::new("x").scopes(["repo:write"])).await;
/// assert!(matches!(refused, Err(ManageError::NotAllowed { .. })));
/// # Ok(())
/// # }
/// ```
///
/// An ownership check and the change that follows it are two store calls: an admin who
/// moves a token to another owner between the two races with it, as with any
/// read-then-write.
#[derive(Clone)]
#[must_use = "an OwnedTokens does nothing until one of its methods is called"]
pub struct OwnedTokens {
    manager: TokenManager,
    owner: String,
    grantable: Vec<String>,
    rate_limits: bool,
}

impl fmt::Debug for OwnedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedTokens")
            .field("owner", &self.owner)
            .field("grantable", &self.grantable)
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

impl OwnedTokens {
    pub(super) fn new(manager: TokenManager, owner: String) -> Self {
        Self {
            manager,
            owner,
            grantable: Vec::new(),
            rate_limits: false,
        }
    }

    /// Grants only these scopes (default: none, so its tokens carry no scope until you
    /// name those it may grant). The admin API passes the scopes of the principal that
    /// asks, so a user can never mint more than they hold.
    pub fn grantable_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grantable = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Lets it set rate limits: on the tokens it creates and changes, and on its owner
    /// ([`set_owner_settings`](Self::set_owner_settings)). For your own code that sells
    /// plans, acting for the owner on what the owner paid for; never for a token's holder
    /// or a user's settings page, or a user could lift the limit their plan sets. The admin
    /// API never gives it: there, only the admin scope sets limits.
    pub fn allow_rate_limits(mut self) -> Self {
        self.rate_limits = true;
        self
    }

    /// Whose tokens these are.
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// A page of the owner's tokens, by ascending id, with `query`'s other filters.
    ///
    /// # Errors
    /// [`ManageError::NotAllowed`] when `query` names another owner; otherwise as
    /// [`TokenManager::list`].
    pub async fn list(&self, query: &ListQuery) -> Result<Page, ManageError> {
        self.check_owner()?;
        if query.owner.as_ref().is_some_and(|owner| *owner != self.owner) {
            return Err(not_allowed("may list only its own owner's tokens", Vec::new()));
        }
        let query = query.clone().owner(self.owner.clone());
        self.manager.list(&query).await
    }

    /// The owner's token with this id; `None` when there is none, or it is another
    /// owner's.
    ///
    /// # Errors
    /// As [`TokenManager::get`].
    pub async fn get(&self, id: &str) -> Result<Option<TokenRecord>, ManageError> {
        self.check_owner()?;
        let record = self.manager.get(id).await?;
        Ok(record.filter(|record| record.owner.as_deref() == Some(self.owner.as_str())))
    }

    /// Creates a token for the owner, as [`TokenManager::create`] does.
    ///
    /// # Errors
    /// [`ManageError::NotAllowed`] for a scope it may not grant, another owner in `new`, or
    /// a rate limit without [`allow_rate_limits`](Self::allow_rate_limits); otherwise as
    /// [`TokenManager::create`].
    pub async fn create(&self, new: NewToken) -> Result<IssuedToken, ManageError> {
        let new = self.own(new)?;
        self.manager.create(new).await
    }

    /// Imports a secret as a token of the owner, as [`TokenManager::import`] does, with a
    /// random id.
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`TokenManager::import`]; [`ManageError::NotAllowed`]
    /// for a `new` that names its id ([`NewToken::id`]), which only a [`TokenManager`] may.
    pub async fn import(&self, new: NewToken, secret: &Secret) -> Result<TokenRecord, ManageError> {
        let new = self.own(new)?;
        self.manager.import(new, secret).await
    }

    /// Changes one of the owner's tokens, as [`TokenManager::update`] does.
    ///
    /// # Errors
    /// [`ManageError::NotFound`] for another owner's token; [`ManageError::NotAllowed`]
    /// for a scope it may not grant, an owner change, making an inactive token active, or a
    /// patch that carries a rate limit at all (to set, raise or remove) without
    /// [`allow_rate_limits`](Self::allow_rate_limits); otherwise as
    /// [`TokenManager::update`].
    pub async fn update(&self, id: &str, patch: TokenPatch) -> Result<TokenRecord, ManageError> {
        self.check_owner()?;
        match &patch.owner {
            Some(Some(owner)) if *owner == self.owner => {}
            None => {}
            Some(_) => return Err(not_allowed("may not give a token to another owner", Vec::new())),
        }
        if patch.rate_limit.is_some() {
            self.check_rate_limits()?;
        }
        if let Some(scopes) = &patch.scopes {
            self.check_grantable(scopes)?;
        }
        let current = self.get(id).await?.ok_or(ManageError::NotFound)?;
        // A revocation holds against the owner: a leaked token an admin revoked must not be
        // brought back by whoever holds another of the owner's tokens.
        if patch.status == Some(TokenStatus::Active) && current.status == TokenStatus::Inactive {
            return Err(not_allowed(
                "may not make an inactive token active again; an admin can",
                Vec::new(),
            ));
        }
        self.manager.update(id, patch).await
    }

    /// Makes one of the owner's tokens inactive, as [`TokenManager::revoke`] does.
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub async fn revoke(&self, id: &str) -> Result<TokenRecord, ManageError> {
        self.owned(id).await?;
        self.manager.revoke(id).await
    }

    /// Revokes every active token of the owner and returns how many, as
    /// [`TokenManager::revoke_owner`] does: "sign out everywhere".
    ///
    /// # Errors
    /// As [`TokenManager::revoke_owner`].
    pub async fn revoke_all(&self) -> Result<usize, ManageError> {
        self.manager.revoke_owner(&self.owner).await
    }

    /// The owner's settings (the rate limit all its tokens share), as
    /// [`TokenManager::owner_settings`] reads them.
    ///
    /// # Errors
    /// As [`TokenManager::owner_settings`].
    pub async fn owner_settings(&self) -> Result<OwnerSettings, ManageError> {
        self.manager.owner_settings(&self.owner).await
    }

    /// Replaces the owner's settings, as [`TokenManager::set_owner_settings`] does; only
    /// with [`allow_rate_limits`](Self::allow_rate_limits).
    ///
    /// # Errors
    /// [`ManageError::NotAllowed`] without [`allow_rate_limits`](Self::allow_rate_limits);
    /// otherwise as [`TokenManager::set_owner_settings`].
    pub async fn set_owner_settings(&self, settings: OwnerSettings) -> Result<OwnerSettings, ManageError> {
        self.check_owner()?;
        self.check_rate_limits()?;
        self.manager.set_owner_settings(&self.owner, settings).await
    }

    /// Rotates one of the owner's tokens, as [`TokenManager::rotate`] does.
    ///
    /// # Errors
    /// [`ManageError::NotFound`] for another owner's token; otherwise as
    /// [`TokenManager::rotate`].
    pub async fn rotate(&self, id: &str, grace: time::Duration) -> Result<IssuedToken, ManageError> {
        self.owned(id).await?;
        self.manager.rotate(id, grace).await
    }

    /// Deletes one of the owner's tokens, as [`TokenManager::delete`] does.
    ///
    /// # Errors
    /// [`ManageError::NotFound`] for another owner's token; otherwise as
    /// [`TokenManager::delete`].
    pub async fn delete(&self, id: &str) -> Result<(), ManageError> {
        self.owned(id).await?;
        self.manager.delete(id).await
    }

    /// `NotFound` unless the token exists and is the owner's.
    async fn owned(&self, id: &str) -> Result<(), ManageError> {
        self.get(id).await?.map(drop).ok_or(ManageError::NotFound)
    }

    /// `new`, given to the owner, with its scopes checked.
    fn own(&self, new: NewToken) -> Result<NewToken, ManageError> {
        self.check_owner()?;
        if new.owner_ref().is_some_and(|owner| owner != self.owner) {
            return Err(not_allowed("may not create a token for another owner", Vec::new()));
        }
        self.check_grantable(new.scopes_ref())?;
        if new.has_rate_limit() {
            self.check_rate_limits()?;
        }
        // Naming an id is for an operator moving a legacy system's tokens in: a holder who
        // could choose ids could take the one an import is about to need.
        if new.id_ref().is_some() {
            return Err(not_allowed("may not name a token's id; an admin can", Vec::new()));
        }
        Ok(new.owner(self.owner.clone()))
    }

    fn check_owner(&self) -> Result<(), ManageError> {
        rules::owner(&self.owner)
    }

    /// A rate limit is the plan the owner was sold, not the holder's to choose. Without the
    /// grant it is refused as the other things it may not do are, naming no scope (the
    /// admin API's challenge then names the admin scope).
    fn check_rate_limits(&self) -> Result<(), ManageError> {
        if self.rate_limits {
            Ok(())
        } else {
            Err(not_allowed(
                "may not set, change or remove a rate limit; an admin can",
                Vec::new(),
            ))
        }
    }

    fn check_grantable(&self, scopes: &[String]) -> Result<(), ManageError> {
        let missing: Vec<String> = scopes.iter().filter(|s| !self.grantable.contains(s)).cloned().collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(not_allowed(
                format!("cannot grant {}: not among the scopes it may grant", missing.join(" ")),
                missing,
            ))
        }
    }
}

fn not_allowed(rule: impl Into<String>, scopes: Vec<String>) -> ManageError {
    ManageError::NotAllowed {
        rule: rule.into(),
        scopes,
    }
}
