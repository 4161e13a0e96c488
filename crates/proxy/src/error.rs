//! The error every request path returns: an HTTP status and a one-line,
//! text/plain message the go command shows as "server response".

use std::time::Duration;

/// A failed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeError {
    /// HTTP status.
    pub status: u16,
    /// One line for the user: what, to what, and what to do.
    pub message: String,
    /// Cache outcome for logs and metrics (`negative`, `offline`, `error`, ...).
    pub outcome: &'static str,
    /// `Retry-After` to send, if any.
    pub retry_after: Option<Duration>,
}

impl ServeError {
    /// A 400 for a malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message, "invalid")
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message, "miss")
    }

    /// Any status.
    pub fn new(status: u16, message: impl Into<String>, outcome: &'static str) -> Self {
        let message: String = message.into();
        // The go command shows up to 8 lines, cut at the first blank line;
        // keep ours to one line so nothing is lost.
        let message = message.replace(['\r', '\n'], " ");
        ServeError {
            status,
            message,
            outcome,
            retry_after: None,
        }
    }

    /// A 502 from a verification failure.
    pub fn verification(message: impl Into<String>) -> Self {
        Self::new(502, message, "verify-failed")
    }
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ServeError {}
