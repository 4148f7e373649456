//! Who may do what in the admin API: a principal with the admin scope manages every token
//! and every owner's settings; one with the self-service scope and an owner manages its
//! owner's tokens only, through [`OwnedTokens`] (never given
//! [`allow_rate_limits`](OwnedTokens::allow_rate_limits), so it sets no rate limit), and
//! reads its own owner's settings; anyone else is refused 403 `insufficient_scope`.

use super::error::ApiError;
use crate::limit::OwnerSettings;
use crate::manage::{IssuedToken, ManageError, NewToken, OwnedTokens, TokenManager};
use crate::principal::Principal;
use crate::record::TokenRecord;
use crate::secret::Secret;
use crate::store::{ListQuery, Page, TokenPatch};

/// The admin API's two scopes.
#[derive(Debug, Clone)]
pub(crate) struct Scopes {
    pub(crate) admin: String,
    pub(crate) own: String,
}

/// What the principal of one admin request may manage.
pub(crate) enum Access {
    /// Every token.
    Admin(TokenManager),
    /// Its owner's tokens, granting only the scopes the principal holds.
    Own(OwnedTokens),
}

impl Access {
    /// The access `principal` has: admin first, then self-service.
    pub(crate) fn of(principal: Option<&Principal>, tokens: &TokenManager, scopes: &Scopes) -> Result<Self, ApiError> {
        // The admin API is always behind its own layer, which inserts the principal.
        let principal = principal.ok_or(ApiError::Unauthenticated)?;
        if principal.has_scope(&scopes.admin) {
            return Ok(Self::Admin(tokens.clone()));
        }
        match principal.owner() {
            Some(owner) if principal.has_scope(&scopes.own) => Ok(Self::Own(
                tokens
                    .owned_by(owner)
                    .grantable_scopes(principal.scopes().iter().cloned()),
            )),
            _ => Err(ApiError::Forbidden {
                scopes: vec![scopes.admin.clone()],
                message: None,
            }),
        }
    }

    /// The admin's manager, or 403 for a self-service principal.
    pub(crate) fn admin_only(&self, scopes: &Scopes) -> Result<&TokenManager, ApiError> {
        match self {
            Self::Admin(tokens) => Ok(tokens),
            Self::Own(_) => Err(ApiError::Forbidden {
                scopes: vec![scopes.admin.clone()],
                message: None,
            }),
        }
    }

    pub(crate) async fn create(&self, new: NewToken) -> Result<IssuedToken, ManageError> {
        match self {
            Self::Admin(tokens) => tokens.create(new).await,
            Self::Own(mine) => mine.create(new).await,
        }
    }

    pub(crate) async fn import(&self, new: NewToken, secret: &Secret) -> Result<TokenRecord, ManageError> {
        match self {
            Self::Admin(tokens) => tokens.import(new, secret).await,
            Self::Own(mine) => mine.import(new, secret).await,
        }
    }

    pub(crate) async fn list(&self, query: &ListQuery) -> Result<Page, ManageError> {
        match self {
            Self::Admin(tokens) => tokens.list(query).await,
            Self::Own(mine) => mine.list(query).await,
        }
    }

    pub(crate) async fn get(&self, id: &str) -> Result<Option<TokenRecord>, ManageError> {
        match self {
            Self::Admin(tokens) => tokens.get(id).await,
            Self::Own(mine) => mine.get(id).await,
        }
    }

    pub(crate) async fn update(&self, id: &str, patch: TokenPatch) -> Result<TokenRecord, ManageError> {
        match self {
            Self::Admin(tokens) => tokens.update(id, patch).await,
            Self::Own(mine) => mine.update(id, patch).await,
        }
    }

    pub(crate) async fn delete(&self, id: &str) -> Result<(), ManageError> {
        match self {
            Self::Admin(tokens) => tokens.delete(id).await,
            Self::Own(mine) => mine.delete(id).await,
        }
    }

    pub(crate) async fn rotate(&self, id: &str, grace: time::Duration) -> Result<IssuedToken, ManageError> {
        match self {
            Self::Admin(tokens) => tokens.rotate(id, grace).await,
            Self::Own(mine) => mine.rotate(id, grace).await,
        }
    }

    /// Revokes `owner`'s tokens: any owner's for an admin, its own only for a
    /// self-service principal.
    pub(crate) async fn revoke_owner(&self, owner: &str) -> Result<usize, ManageError> {
        match self {
            Self::Admin(tokens) => tokens.revoke_owner(owner).await,
            Self::Own(mine) if mine.owner() == owner => mine.revoke_all().await,
            Self::Own(_) => Err(ManageError::NotAllowed {
                rule: "may revoke only its own owner's tokens".to_owned(),
                scopes: Vec::new(),
            }),
        }
    }

    /// `owner`'s settings: any owner's for an admin; for a self-service principal its own
    /// owner's, and `None` for another's (answered 404, as another owner's token is).
    pub(crate) async fn owner_settings(&self, owner: &str) -> Result<Option<OwnerSettings>, ManageError> {
        match self {
            Self::Admin(tokens) => tokens.owner_settings(owner).await.map(Some),
            Self::Own(mine) if mine.owner() == owner => mine.owner_settings().await.map(Some),
            Self::Own(_) => Ok(None),
        }
    }

    /// Replaces `owner`'s settings: an admin's alone, since a self-service principal's
    /// [`OwnedTokens`] sets no rate limit.
    pub(crate) async fn set_owner_settings(
        &self,
        owner: &str,
        settings: OwnerSettings,
    ) -> Result<OwnerSettings, ManageError> {
        match self {
            Self::Admin(tokens) => tokens.set_owner_settings(owner, settings).await,
            Self::Own(mine) if mine.owner() == owner => mine.set_owner_settings(settings).await,
            Self::Own(_) => Err(ManageError::NotAllowed {
                rule: "may not change another owner's settings".to_owned(),
                scopes: Vec::new(),
            }),
        }
    }
}
