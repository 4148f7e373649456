//! The admin operations: each reads its input, asks the [`TokenManager`](crate::TokenManager)
//! (which applies the rules and keeps the verifier's cache in step), logs the action with
//! its actor, and renders JSON.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use serde::Serialize;

use super::api::{Actor, State};
use super::error::{ApiError, json_response};
use super::input::{
    self, CheckRequest, CreateRequest, OwnerSettingsRequest, PatchRequest, RevokeOwnerRequest, RotateRequest,
};
use super::view::{CheckView, ListView, OwnerView, RevokedView, WithToken};
use crate::credential::{BasicCredential, Credential};
use crate::limit::OwnerSettings;
use crate::manage::{NewToken, TokenManager};
use crate::record::TokenRecord;
use crate::store::BoxError;
use crate::store::TokenPatch;

type Reply = Result<Response<Full<Bytes>>, ApiError>;

fn json(status: StatusCode, value: &impl Serialize) -> Reply {
    let body = serde_json::to_vec(value).map_err(|_| ApiError::Unavailable)?;
    Ok(json_response(status, body))
}

impl State {
    pub(super) async fn create<B>(&self, req: Request<B>, actor: Actor<'_>) -> Reply
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let input: CreateRequest = input::read_json(req, self.body_limit, true)
            .await?
            .ok_or_else(missing_body)?;
        let mut new = NewToken::new(input.name)
            .scopes(input.scopes.unwrap_or_default())
            .metadata(input.metadata.unwrap_or_default());
        match (&input.expires_at, input.expires_in) {
            (Some(_), Some(_)) => return Err(ApiError::bad("expires_at: cannot be given with expires_in")),
            (Some(text), None) => new = new.expires_at(input::instant("expires_at", text)?),
            (None, Some(seconds)) => new = new.expires_in(time::Duration::seconds(seconds)),
            (None, None) => {}
        }
        if let Some(status) = input.status {
            new = new.status(status);
        }
        if let Some(kind) = input.kind {
            new = new.kind(kind);
        }
        if let Some(owner) = input.owner {
            new = new.owner(owner);
        }
        new = new.rate_limit(input.rate_limit);
        if !actor.id.is_empty() {
            new = new.created_by(actor.id);
        }
        // Only an import may name its id: `create` refuses one, with the Rust API's message.
        if let Some(id) = input.id {
            new = new.id(id);
        }
        let Some(secret) = input.secret else {
            let issued = actor.access.create(new).await?;
            tracing::info!(target: "tollgate::admin", action = "created", token_id = %issued.id(), actor = actor.id, imported = false);
            let shown = WithToken {
                record: issued.record().view(),
                token: issued.token().expose(),
            };
            return json(StatusCode::CREATED, &shown);
        };
        // The caller's secret is never echoed.
        let record = actor.access.import(new, &secret).await?;
        tracing::info!(target: "tollgate::admin", action = "created", token_id = %record.id, actor = actor.id, imported = true);
        json(StatusCode::CREATED, &record.view())
    }

    pub(super) async fn list(&self, query: Option<&str>, actor: Actor<'_>) -> Reply {
        let query = input::list_query(query)?;
        let page = actor.access.list(&query).await?;
        let view = ListView {
            tokens: page.records.iter().map(TokenRecord::view).collect(),
            next_cursor: page.next_after.as_deref().map(super::cursor::encode),
        };
        json(StatusCode::OK, &view)
    }

    pub(super) async fn get(&self, id: &str, actor: Actor<'_>) -> Reply {
        let record = actor.access.get(id).await?.ok_or(ApiError::NotFound)?;
        json(StatusCode::OK, &record.view())
    }

    pub(super) async fn update<B>(&self, id: &str, req: Request<B>, actor: Actor<'_>) -> Reply
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let input: PatchRequest = input::read_json(req, self.body_limit, true)
            .await?
            .ok_or_else(missing_body)?;
        let mut patch = TokenPatch::new();
        patch.name = input.name;
        patch.scopes = input.scopes;
        patch.status = input.status;
        patch.metadata = input.metadata;
        patch.owner = input.owner;
        patch.rate_limit = input.rate_limit;
        if let Some(expires_at) = input.expires_at {
            patch.expires_at = Some(match expires_at {
                Some(text) => Some(input::instant("expires_at", &text)?),
                None => None,
            });
        }
        let record = actor.access.update(id, patch).await?;
        tracing::info!(target: "tollgate::admin", action = "updated", token_id = %id, actor = actor.id);
        json(StatusCode::OK, &record.view())
    }

    pub(super) async fn delete(&self, id: &str, actor: Actor<'_>) -> Reply {
        actor.access.delete(id).await?;
        tracing::info!(target: "tollgate::admin", action = "deleted", token_id = %id, actor = actor.id);
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }

    pub(super) async fn rotate<B>(&self, id: &str, req: Request<B>, actor: Actor<'_>) -> Reply
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let input: RotateRequest = input::read_json(req, self.body_limit, false).await?.unwrap_or_default();
        let grace = input.grace_seconds.unwrap_or(0);
        let issued = actor.access.rotate(id, time::Duration::seconds(grace)).await?;
        tracing::info!(target: "tollgate::admin", action = "rotated", token_id = %id, actor = actor.id, grace_seconds = grace);
        let shown = WithToken {
            record: issued.record().view(),
            token: issued.token().expose(),
        };
        json(StatusCode::OK, &shown)
    }

    pub(super) async fn revoke_owner<B>(&self, req: Request<B>, actor: Actor<'_>) -> Reply
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let input: RevokeOwnerRequest = input::read_json(req, self.body_limit, true)
            .await?
            .ok_or_else(missing_body)?;
        let revoked = actor.access.revoke_owner(&input.owner).await?;
        // The owner is the application's id, not a secret; it is what an audit needs.
        tracing::info!(target: "tollgate::admin", action = "revoked_owner", owner = %input.owner, revoked, actor = actor.id);
        json(StatusCode::OK, &RevokedView { revoked })
    }

    pub(super) async fn get_owner(&self, segment: &str, actor: Actor<'_>) -> Reply {
        let owner = input::owner_in_path(segment)?;
        let settings = actor
            .access
            .owner_settings(&owner)
            .await?
            .ok_or(ApiError::UnknownOwner)?;
        json(StatusCode::OK, &OwnerView::new(&owner, &settings))
    }

    pub(super) async fn set_owner<B>(&self, segment: &str, req: Request<B>, actor: Actor<'_>) -> Reply
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let owner = input::owner_in_path(segment)?;
        let input: OwnerSettingsRequest = input::read_json(req, self.body_limit, true)
            .await?
            .ok_or_else(missing_body)?;
        let settings = OwnerSettings::new().with_rate_limit(input.rate_limit);
        let settings = actor.access.set_owner_settings(&owner, settings).await?;
        tracing::info!(target: "tollgate::admin", action = "set_owner_settings", owner = %owner, actor = actor.id);
        json(StatusCode::OK, &OwnerView::new(&owner, &settings))
    }

    pub(super) async fn check<B>(&self, req: Request<B>, tokens: &TokenManager) -> Reply
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let input: CheckRequest = input::read_json(req, self.body_limit, true)
            .await?
            .ok_or_else(missing_body)?;
        let basic;
        let credential = match (&input.token, &input.id, &input.secret) {
            (Some(token), None, None) => Credential::Bearer(token.expose()),
            (None, Some(id), Some(secret)) => {
                basic = BasicCredential::new(id, secret.expose());
                Credential::Basic(basic)
            }
            _ => return Err(ApiError::bad("token: give either `token`, or both `id` and `secret`")),
        };
        let record = tokens.check(&credential).await?;
        let view = CheckView {
            valid: record.is_some(),
            token: record.as_ref().map(TokenRecord::view),
        };
        json(StatusCode::OK, &view)
    }
}

fn missing_body() -> ApiError {
    ApiError::bad("invalid JSON body: expected a JSON object")
}
