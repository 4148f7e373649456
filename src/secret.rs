//! [`Secret`]: a string that holds credential material and refuses to be printed.

use std::fmt;

use zeroize::Zeroize;

/// Credential material (a whole token, its secret segment, or an imported secret).
///
/// `Debug` and `Display` print `[redacted]`, so a `Secret` inside any struct, error or log
/// line cannot leak; the bytes are wiped from memory on drop. Read it on purpose with
/// [`Secret::expose`].
///
/// ```
/// use tollgate::Secret;
///
/// let secret = Secret::new("hunter2-but-longer");
/// assert_eq!(format!("{secret:?} {secret}"), "Secret([redacted]) [redacted]");
/// assert_eq!(secret.expose(), "hunter2-but-longer");
/// ```
///
/// Two secrets compare equal in time that depends on their lengths only, not on where
/// they first differ.
#[derive(Clone)]
pub struct Secret(String);

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl Secret {
    /// Wraps credential material.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Every call site is a place the secret leaves its wrapper: keep
    /// them few.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        String::deserialize(de).map(Self)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
