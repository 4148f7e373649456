//! How the admin API answers: records shown as [`RecordView`]s (behaviour §3.1, never a
//! secret, never a hash), with the token once, in pages, and the other answers.

use serde::Serialize;

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
