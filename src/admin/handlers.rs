//! The admin operations. Each reads its input, calls the store once or twice, drops the
//! token from the verifier's cache when it changed, logs the action, and renders JSON.

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use serde::Serialize;

use super::error::{ApiError, json_response};
use super::input::{self, CheckRequest, CreateRequest, PatchRequest, RotateRequest};
use super::view::{CheckView, ListView, RecordView, WithToken};
use super::{State, cursor};
use crate::record::now;
use crate::store::BoxError;
use crate::{BasicCredential, Credential, Rotation, TokenPatch, TokenRecord, VerifyError};

type Reply = Result<Response<Full<Bytes>>, ApiError>;

fn json(status: StatusCode, value: &impl Serialize) -> Reply {
    let body = serde_json::to_vec(value).map_err(|_| ApiError::Unavailable)?;
    Ok(json_response(status, body))
}

impl State {
    /// Runs a store call under the configured timeout.
    async fn store<T>(&self, call: impl Future<Output = Result<T, crate::StoreError>>) -> Result<T, ApiError> {
        match tokio::time::timeout(self.store_timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => {
                tracing::error!(target: "tollgate::admin", timeout = ?self.store_timeout, "token store timed out");
                Err(ApiError::Unavailable)
            }
        }
    }

    pub(super) async fn create<B>(&self, req: Request<B>, actor: &str) -> Reply
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let input: CreateRequest = input::read_json(req, self.body_limit, true)
            .await?
            .ok_or_else(missing_body)?;
        input::name(&input.name)?;
        let at = now();
        let expires_at = match (&input.expires_at, input.expires_in) {
            (Some(_), Some(_)) => return Err(ApiError::bad("expires_at: cannot be given with expires_in")),
            (Some(text), None) => Some(input::future_instant("expires_at", text, at)?),
            (None, Some(seconds)) => Some(input::expires_in(seconds, at)?),
            (None, None) => None,
        };
        if let Some(scopes) = &input.scopes {
            input::scopes(scopes)?;
        }
        if let Some(kind) = &input.kind {
            input::kind(kind)?;
        }
        if let Some(metadata) = &input.metadata {
            input::metadata(metadata)?;
        }
        let format = self.verifier.format();
        let hasher = self.verifier.hasher();
        // Every token gets a generated id; an import keeps the caller's secret instead.
        let generated = format.generate().map_err(|_| ApiError::Unavailable)?;
        let hash = match &input.secret {
            Some(secret) => {
                input::imported_secret(secret.expose(), format)?;
                hasher.hash(secret.expose().as_bytes())
            }
            None => hasher.hash(generated.secret_segment().as_bytes()),
        };
        let mut record = TokenRecord::new(generated.id(), input.name, hash)
            .with_scopes(input.scopes.unwrap_or_default())
            .with_expiry(expires_at);
        record.created_at = at;
        if let Some(status) = input.status {
            record.status = status;
        }
        if let Some(kind) = input.kind {
            record.kind = kind;
        }
        if let Some(metadata) = input.metadata {
            record.metadata = metadata;
        }
        self.store(self.tokens.create(record.clone())).await?;
        // Forget any earlier "unknown" answer for this id or secret.
        self.verifier.invalidate(&record.id);
        self.verifier.invalidate_hash(&hash);
        let imported = input.secret.is_some();
        tracing::info!(target: "tollgate::admin", action = "created", token_id = %record.id, actor, imported);
        if imported {
            json(StatusCode::CREATED, &RecordView::from(&record))
        } else {
            let shown = WithToken {
                record: RecordView::from(&record),
                token: generated.token().expose(),
            };
            json(StatusCode::CREATED, &shown)
        }
    }

    pub(super) async fn list(&self, query: Option<&str>) -> Reply {
        let query = input::list_query(query)?;
        let page = self.store(self.tokens.list(&query)).await?;
        let view = ListView {
            tokens: page.records.iter().map(RecordView::from).collect(),
            next_cursor: page.next_after.as_deref().map(cursor::encode),
        };
        json(StatusCode::OK, &view)
    }

    pub(super) async fn get(&self, id: &str) -> Reply {
        let record = self.store(self.tokens.get(id)).await?.ok_or(ApiError::NotFound)?;
        json(StatusCode::OK, &RecordView::from(&record))
    }

    pub(super) async fn update<B>(&self, id: &str, req: Request<B>, actor: &str) -> Reply
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let input: PatchRequest = input::read_json(req, self.body_limit, true)
            .await?
            .ok_or_else(missing_body)?;
        let mut patch = TokenPatch::default();
        if let Some(name) = input.name {
            input::name(&name)?;
            patch.name = Some(name);
        }
        if let Some(scopes) = input.scopes {
            input::scopes(&scopes)?;
            patch.scopes = Some(scopes);
        }
        patch.status = input.status;
        if let Some(expires_at) = input.expires_at {
            patch.expires_at = Some(match expires_at {
                Some(text) => Some(input::future_instant("expires_at", &text, now())?),
                None => None,
            });
        }
        if let Some(metadata) = input.metadata {
            input::metadata(&metadata)?;
            patch.metadata = Some(metadata);
        }
        let updated = self.store(self.tokens.update(id, &patch)).await;
        // Whatever the answer: a write that timed out may still have been applied.
        self.verifier.invalidate(id);
        let record = updated?.ok_or(ApiError::NotFound)?;
        tracing::info!(target: "tollgate::admin", action = "updated", token_id = %id, actor);
        json(StatusCode::OK, &RecordView::from(&record))
    }

    pub(super) async fn delete(&self, id: &str, actor: &str) -> Reply {
        let deleted = self.store(self.tokens.delete(id)).await;
        // Whatever the answer: a delete that timed out may still have been applied.
        self.verifier.invalidate(id);
        if !deleted? {
            return Err(ApiError::NotFound);
        }
        tracing::info!(target: "tollgate::admin", action = "deleted", token_id = %id, actor);
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }

    pub(super) async fn rotate<B>(&self, id: &str, req: Request<B>, actor: &str) -> Reply
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let input: RotateRequest = input::read_json(req, self.body_limit, false).await?.unwrap_or_default();
        let grace = input::grace_seconds(input.grace_seconds.unwrap_or(0))?;
        let current = self.store(self.tokens.get(id)).await?.ok_or(ApiError::NotFound)?;
        let generated = self
            .verifier
            .format()
            .generate_for(id)
            .map_err(|_| ApiError::bad("this token's id cannot carry a generated secret"))?;
        let at = now();
        let old_valid_until = (grace > 0)
            .then(|| at + time::Duration::seconds(grace))
            .map(|until| current.expires_at.map_or(until, |exp| exp.min(until)))
            .filter(|until| *until > at);
        let rotation = Rotation {
            new_hash: self.verifier.hasher().hash(generated.secret_segment().as_bytes()),
            old_valid_until,
        };
        let rotated = self.store(self.tokens.rotate(id, &rotation)).await;
        // Whatever the answer: a rotation that timed out may still have been applied.
        self.verifier.invalidate(id);
        let record = rotated?.ok_or(ApiError::NotFound)?;
        tracing::info!(target: "tollgate::admin", action = "rotated", token_id = %id, actor, grace_seconds = grace);
        let shown = WithToken {
            record: RecordView::from(&record),
            token: generated.token().expose(),
        };
        json(StatusCode::OK, &shown)
    }

    pub(super) async fn check<B>(&self, req: Request<B>) -> Reply
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
        let record = match self.verifier.verify(&credential).await {
            Ok(principal) => self.store(self.tokens.get(principal.id())).await?,
            Err(VerifyError::Invalid(_)) => None,
            Err(_) => return Err(ApiError::Unavailable),
        };
        let view = CheckView {
            valid: record.is_some(),
            token: record.as_ref().map(RecordView::from),
        };
        json(StatusCode::OK, &view)
    }
}

fn missing_body() -> ApiError {
    ApiError::bad("invalid JSON body: expected a JSON object")
}
