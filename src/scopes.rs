//! The one rule for a token's scopes: kept sorted and without duplicates, and granted by
//! plain membership.
//!
//! Records enter the crate from stores of any make, a custom [`TokenSource`] included, and
//! a record's `scopes` field is public: nothing outside this crate promises the order.
//! So the order is restored where records enter (the verifier's cache entry, and what
//! [`TokenManager`] reads), and membership never depends on it.
//!
//! [`TokenSource`]: crate::TokenSource
//! [`TokenManager`]: crate::TokenManager

/// Sorts and deduplicates scopes: the form records and principals keep them in.
#[must_use]
pub(crate) fn normalize<I, S>(scopes: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// Whether `scopes` grant `scope`, in whatever order they are. Sorted scopes (all that
/// this crate keeps) are searched by halves, so a granted scope costs a few comparisons
/// even on a token with hundreds; only when the search misses is the order checked, and
/// scopes in another order (a record's field set by hand) are scanned instead.
#[inline]
#[must_use]
pub(crate) fn grants<S: AsRef<str>>(scopes: &[S], scope: &str) -> bool {
    scopes.binary_search_by(|granted| granted.as_ref().cmp(scope)).is_ok()
        || (!scopes.is_sorted_by(|a, b| a.as_ref() <= b.as_ref())
            && scopes.iter().any(|granted| granted.as_ref() == scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_scopes_are_sorted_and_distinct() {
        assert_eq!(normalize(["c", "a", "b", "a"]), ["a", "b", "c"]);
    }

    #[test]
    fn membership_does_not_depend_on_the_order() {
        let sorted = ["a", "b", "c"];
        let unsorted = ["c", "a", "b"];
        for scopes in [sorted, unsorted] {
            assert!(scopes.iter().all(|s| grants(&scopes, s)), "{scopes:?}");
            assert!(!grants(&scopes, "d") && !grants(&scopes, ""), "{scopes:?}");
        }
        assert!(!grants::<&str>(&[], "a"));
    }
}
