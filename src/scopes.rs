//! [`Scopes`]: a token's scopes, sorted and without duplicates from the moment they are made.
//!
//! Records enter the crate from stores of any make, a custom
//! [`TokenSource`](crate::store::TokenSource) included. Their scopes are kept in order by
//! their type, not by a promise: every way to make a `Scopes` (collecting, converting a
//! `Vec`, deserializing) sorts and deduplicates, and nothing changes one in place. So
//! membership is a search by halves wherever scopes are read.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize};

/// The scopes a token grants: sorted, without duplicates, whatever order they were given
/// in. It reads as a slice of strings (`&[String]`).
///
/// ```
/// use tollgate::Scopes;
///
/// let scopes: Scopes = ["reports:read", "deploy", "reports:read"].into_iter().collect();
/// assert_eq!(scopes, ["deploy", "reports:read"]);
/// assert!(scopes.grants("deploy"));
/// assert!(!scopes.grants("admin"));
/// assert_eq!(serde_json::to_string(&scopes).unwrap(), r#"["deploy","reports:read"]"#);
/// let read: Scopes = serde_json::from_str(r#"["b", "a", "b"]"#).unwrap();
/// assert_eq!(read, ["a", "b"]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// No scopes.
    #[must_use]
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Whether `scope` is one of them.
    #[inline]
    #[must_use]
    pub fn grants(&self, scope: &str) -> bool {
        grants_sorted(&self.0, scope)
    }

    /// Whether every one of `scopes` is one of them.
    #[must_use]
    pub fn grants_all<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) -> bool {
        scopes.into_iter().all(|scope| self.grants(scope))
    }

    /// The scopes, sorted.
    #[must_use]
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The sorted scopes, as a `Vec`.
    #[must_use]
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Whether `sorted` (in ascending order, as a [`Scopes`] or a store's copy of one keeps
/// them) holds `scope`.
#[inline]
pub(crate) fn grants_sorted<S: AsRef<str>>(sorted: &[S], scope: &str) -> bool {
    sorted.binary_search_by(|granted| granted.as_ref().cmp(scope)).is_ok()
}

impl Deref for Scopes {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self::from(iter.into_iter().map(Into::into).collect::<Vec<String>>())
    }
}

impl From<Vec<String>> for Scopes {
    fn from(mut scopes: Vec<String>) -> Self {
        scopes.sort_unstable();
        scopes.dedup();
        Self(scopes)
    }
}

impl From<Scopes> for Vec<String> {
    fn from(scopes: Scopes) -> Self {
        scopes.0
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Read in any order, kept sorted.
impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(de).map(Self::from)
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for Scopes {
    fn eq(&self, other: &[S]) -> bool {
        self.0.len() == other.len() && self.0.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Scopes {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Scopes {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_to_make_scopes_sorts_and_deduplicates() {
        let collected: Scopes = ["c", "a", "b", "a"].into_iter().collect();
        let converted = Scopes::from(vec!["c".to_owned(), "a".to_owned(), "b".to_owned(), "a".to_owned()]);
        let read: Scopes = serde_json::from_str(r#"["c","a","b","a"]"#).unwrap();
        for scopes in [collected, converted, read] {
            assert_eq!(scopes, ["a", "b", "c"]);
            assert_eq!(scopes.as_slice(), ["a", "b", "c"]);
        }
    }

    #[test]
    fn membership_is_exact() {
        let scopes: Scopes = ["b", "a", "c"].into_iter().collect();
        assert!(["a", "b", "c"].iter().all(|s| scopes.grants(s)));
        assert!(!scopes.grants("d") && !scopes.grants("") && !scopes.grants("A"));
        assert!(scopes.grants_all(["c", "a"]));
        assert!(!scopes.grants_all(["c", "d"]));
        assert!(!Scopes::new().grants("a"));
        assert!(Scopes::new().grants_all([]));
    }
}
