//! [`Lookup`]: a request whose credential the cache could not decide, finished by asking the
//! store, as its request path (`path.rs`) decided.

use std::sync::Arc;

use super::damping::Attempt;
use super::rejection::Rejection;
use crate::principal::Principal;
use crate::verify::{Pending, Verifier};

/// A lookup a request waits for: what to look up, and, when damping counts the client's
/// lookups, the attempt it counts this one by.
pub(super) struct Lookup {
    pending: Pending,
    attempt: Option<Attempt>,
}

impl Lookup {
    pub(super) fn new(pending: Pending, attempt: Option<Attempt>) -> Self {
        Self { pending, attempt }
    }

    /// Asks the store (once for every request waiting on the same token), and answers as
    /// the cache would have: the principal, or the rejection, under the same rules.
    pub(super) async fn finish(self, verifier: &Verifier) -> Result<Principal, Rejection> {
        let Self { pending, attempt } = self;
        let id: Option<Arc<str>> = pending.id();
        let lookup = verifier.resolve(pending);
        let verdict = match attempt {
            Some(attempt) => attempt.run(lookup).await,
            None => lookup.await,
        };
        verdict.map_err(|err| Rejection::refused(&err, id.as_deref()))
    }
}
