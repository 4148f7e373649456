//! Listing tokens: the filters a listing takes ([`ListQuery`]) and the pages it gives
//! ([`Page`]), with the paging rule every store follows.

use crate::record::{TokenRecord, TokenStatus};

/// Which tokens a [`TokenStore::list`](super::TokenStore::list) call returns.
///
/// ```
/// use tollgate::{ListQuery, TokenStatus};
///
/// let query = ListQuery::new(50).owner("customer_1729").status(TokenStatus::Active);
/// assert_eq!(query.limit, 50);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListQuery {
    /// At most this many records.
    pub limit: usize,
    /// Only ids strictly after this one (in byte order): the cursor of the previous page.
    pub after: Option<String>,
    /// Only tokens with this status.
    pub status: Option<TokenStatus>,
    /// Only tokens granting this scope.
    pub scope: Option<String>,
    /// Only tokens of this owner.
    pub owner: Option<String>,
}

impl ListQuery {
    /// The first `limit` records, unfiltered.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            after: None,
            status: None,
            scope: None,
            owner: None,
        }
    }

    /// Continues after this id.
    #[must_use]
    pub fn after(mut self, id: impl Into<String>) -> Self {
        self.after = Some(id.into());
        self
    }

    /// Keeps only this status.
    #[must_use]
    pub fn status(mut self, status: TokenStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Keeps only tokens granting this scope.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Keeps only tokens of this owner.
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Whether `record` passes the filters (not the cursor).
    #[must_use]
    pub fn matches(&self, record: &TokenRecord) -> bool {
        self.admits(record.status, &record.scopes, record.owner.as_deref())
    }

    /// [`matches`](Self::matches) on a record's parts, for a store that keeps them in a
    /// form of its own; `sorted_scopes` in ascending order, as a record's are.
    pub(crate) fn admits<S: AsRef<str>>(&self, status: TokenStatus, sorted_scopes: &[S], owner: Option<&str>) -> bool {
        self.status.is_none_or(|s| status == s)
            && self
                .scope
                .as_deref()
                .is_none_or(|s| crate::scopes::grants_sorted(sorted_scopes, s))
            && self.owner.as_deref().is_none_or(|o| owner == Some(o))
    }
}

/// One page of a listing, ordered by id.
///
/// ```
/// use tollgate::store::Page;
///
/// let page = Page::new(Vec::new(), None);
/// assert!(page.records.is_empty() && page.next_after.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// The records, in ascending byte order of id.
    pub records: Vec<TokenRecord>,
    /// The id to continue after, when more records may follow.
    pub next_after: Option<String>,
}

impl Page {
    /// A page of `records`, continued after `next_after`.
    #[must_use]
    pub fn new(records: Vec<TokenRecord>, next_after: Option<String>) -> Self {
        Self { records, next_after }
    }

    /// The page a store read with one record more than `limit` asked for, if there was one:
    /// the extra record only says that another page follows, and is dropped.
    #[must_use]
    pub(crate) fn from_overfetch(mut records: Vec<TokenRecord>, limit: usize) -> Self {
        let more = records.len() > limit;
        records.truncate(limit);
        let next_after = if more {
            records.last().map(|r| r.id.clone())
        } else {
            None
        };
        Self { records, next_after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::SecretHasher;

    fn records(n: usize) -> Vec<TokenRecord> {
        (0..n)
            .map(|i| TokenRecord::new(format!("id{i}"), "n", SecretHasher::Sha256.hash(b"s")))
            .collect()
    }

    #[test]
    fn an_overfetched_record_says_another_page_follows_and_is_dropped() {
        let page = Page::from_overfetch(records(3), 2);
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.next_after.as_deref(), Some("id1"));
        let last = Page::from_overfetch(records(2), 2);
        assert_eq!((last.records.len(), last.next_after), (2, None));
        let empty = Page::from_overfetch(records(1), 0);
        assert_eq!((empty.records.len(), empty.next_after), (0, None));
    }
}
