//! How the admin API answers: records shown as [`RecordView`]s (behaviour §3.1, never a
//! secret, never a hash), with the token once, in pages, and the other answers.

use serde::Serialize;

use crate::limit::{OwnerSettings, RateLimit};
use crate::record_view::RecordView;

/// A record with the token shown once (create, rotate).
#[derive(Serialize)]
pub(crate) struct WithToken<'a> {
    #[serde(flatten)]
    pub(crate) record: RecordView<'a>,
    pub(crate) token: &'a str,
}

/// `GET /tokens`.
#[derive(Serialize)]
pub(crate) struct ListView<'a> {
    pub(crate) tokens: Vec<RecordView<'a>>,
    pub(crate) next_cursor: Option<String>,
}

/// `POST /tokens/revoke`.
#[derive(Serialize)]
pub(crate) struct RevokedView {
    pub(crate) revoked: usize,
}

/// `POST /tokens/check`.
#[derive(Serialize)]
pub(crate) struct CheckView<'a> {
    pub(crate) valid: bool,
    pub(crate) token: Option<RecordView<'a>>,
}

/// `GET` and `PUT /owners/{owner}`: the owner and its settings, `rate_limit` `null` for none.
#[derive(Serialize)]
pub(crate) struct OwnerView<'a> {
    pub(crate) owner: &'a str,
    pub(crate) rate_limit: Option<RateLimit>,
}

impl<'a> OwnerView<'a> {
    pub(crate) fn new(owner: &'a str, settings: &OwnerSettings) -> Self {
        Self {
            owner,
            rate_limit: settings.rate_limit,
        }
    }
}
