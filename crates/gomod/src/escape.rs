//! Case-escaping of module paths and versions (Go's `module.EscapePath`,
//! `module.EscapeVersion` and their inverses).
//!
//! Each upper-case ASCII letter becomes `!` followed by its lower-case form, so
//! that paths survive case-insensitive file systems and URLs. This module only
//! does the character transformation; validity of the path itself is checked
//! elsewhere.

use std::fmt;

/// Why an escaped string could not be un-escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnescapeError {
    /// The escaped input.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for UnescapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid escaped string {:?}: {}",
            self.input, self.reason
        )
    }
}

impl std::error::Error for UnescapeError {}

/// Escapes upper-case letters as `!` + lower-case. Does not validate.
pub fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`escape_string`]. Rejects upper-case letters, a `!` not followed
/// by a lower-case ASCII letter, and a trailing `!`.
pub fn unescape_string(s: &str) -> Result<String, UnescapeError> {
    let err = |reason| UnescapeError {
        input: s.to_string(),
        reason,
    };
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        if bang {
            if !c.is_ascii_lowercase() {
                return Err(err("'!' must be followed by a lower-case letter"));
            }
            out.push(c.to_ascii_uppercase());
            bang = false;
        } else if c == '!' {
            bang = true;
        } else if c.is_ascii_uppercase() {
            return Err(err(
                "upper-case letters must be written as '!' + lower-case",
            ));
        } else {
            out.push(c);
        }
    }
    if bang {
        return Err(err("trailing '!'"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(
            escape_string("github.com/Azure/azure-sdk"),
            "github.com/!azure/azure-sdk"
        );
        assert_eq!(escape_string("v1.0.0-RC1"), "v1.0.0-!r!c1");
        assert_eq!(
            unescape_string("github.com/!azure/x").unwrap(),
            "github.com/Azure/x"
        );
        assert!(unescape_string("github.com/Azure").is_err());
        assert!(unescape_string("a!").is_err());
        assert!(unescape_string("a!1").is_err());
    }
}
