//! Typed outcomes at the HTTP boundary.
//!
//! Every request path ends in a [`CacheOutcome`] (it was answered) or a
//! [`ServeError`] (it was not). A `ServeError` is an [`ErrorKind`] and a
//! one-line message; the HTTP status, `Retry-After` and the label used by
//! logs and metrics are derived from the kind here, in one place. Control
//! flow matches on kinds, never on strings.

use std::time::Duration;

/// How long a client is asked to wait before retrying a request that failed
/// for a reason expected to pass (overload, a transient store error).
pub const RETRY_SOON: Duration = Duration::from_secs(1);

/// How a store operation failed, as far as the client's answer is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// The store could not be read or written right now (an I/O error, an
    /// object-storage 5xx or timeout): worth retrying; nothing is forgotten.
    Transient,
    /// The disk holding the store is full.
    Full,
    /// Any other store error (an invalid key, a layout problem).
    Other,
}

/// Why a request was not answered. Each kind fixes the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (400).
    Invalid,
    /// Refused by policy or because the peer may not do this (403).
    Forbidden,
    /// Not found: upstream said so (404), or a path we do not serve.
    NotFound,
    /// Gone: upstream answered 410 (the go command treats it as not found).
    Gone,
    /// Upstream refused the request with a 4xx other than 404, 410 and 429
    /// (a registry's 403 for an unknown path, a 400): its status is passed
    /// on, and it is not an upstream failure.
    Refused {
        /// The upstream's status.
        status: u16,
    },
    /// A not-found, gone or refused answer remembered from an earlier one.
    Remembered {
        /// Its status (404, 410 or another 4xx).
        status: u16,
    },
    /// Offline (`--offline`, `Disable-Module-Fetch`, `/cached-only/`) and not
    /// in the store (404).
    Offline,
    /// Every upstream failed; the message names the cause (502).
    UpstreamUnavailable,
    /// Every upstream timed out (504).
    Timeout,
    /// An answer arrived but failed verification; nothing was cached (502).
    VerificationFailed,
    /// The store failed.
    Store(StoreFailure),
    /// Too many upstream fetches in flight (503 with `Retry-After`).
    Overloaded,
    /// A bug: something that should not happen (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound | ErrorKind::Offline => 404,
            ErrorKind::Gone => 410,
            ErrorKind::Refused { status } | ErrorKind::Remembered { status } => status,
            ErrorKind::UpstreamUnavailable | ErrorKind::VerificationFailed => 502,
            ErrorKind::Timeout => 504,
            ErrorKind::Store(StoreFailure::Transient) | ErrorKind::Overloaded => 503,
            ErrorKind::Store(StoreFailure::Full) => 507,
            ErrorKind::Store(StoreFailure::Other) | ErrorKind::Internal => 500,
        }
    }

    /// The label of logs and metrics (`cache=` / `outcome=`).
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound | ErrorKind::Gone => "not-found",
            ErrorKind::Refused { .. } => "refused",
            ErrorKind::Remembered { .. } => "negative",
            ErrorKind::Offline => "offline",
            ErrorKind::UpstreamUnavailable => "upstream-error",
            ErrorKind::Timeout => "upstream-timeout",
            ErrorKind::VerificationFailed => "verify-failed",
            ErrorKind::Store(_) => "store-error",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Internal => "error",
        }
    }

    /// The `Retry-After` sent with this kind.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            ErrorKind::Overloaded | ErrorKind::Store(StoreFailure::Transient) => Some(RETRY_SOON),
            _ => None,
        }
    }

    /// Whether the answer is a definite "no" from upstream (404, 410 or
    /// another refusing 4xx, fresh or remembered): the answers the negative
    /// cache keeps, and never a reason to serve stale copies.
    pub fn is_not_found(self) -> bool {
        matches!(
            self,
            ErrorKind::NotFound
                | ErrorKind::Gone
                | ErrorKind::Refused { .. }
                | ErrorKind::Remembered { .. }
        )
    }

    /// The not-found kind for an upstream status (410 is gone, anything else
    /// not found).
    pub fn not_found_for(status: u16) -> ErrorKind {
        if status == 410 {
            ErrorKind::Gone
        } else {
            ErrorKind::NotFound
        }
    }

    /// The kind for a definite upstream answer of `status`, as remembered.
    pub fn remembered(status: u16) -> ErrorKind {
        if (400..500).contains(&status) {
            ErrorKind::Remembered { status }
        } else {
            ErrorKind::Remembered { status: 404 }
        }
    }
}

/// A failed answer: a kind and one line of text/plain the go command shows
/// as "server response".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// One line for the user: what, to what, and what to do.
    pub message: String,
    /// `Retry-After` learned from upstream, overriding the kind's own.
    retry_after: Option<Duration>,
}

impl ServeError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message: String = message.into();
        // The go command shows up to 8 lines, cut at the first blank line;
        // keep ours to one line so nothing is lost.
        let message = message.replace(['\r', '\n'], " ");
        ServeError {
            kind,
            message,
            retry_after: None,
        }
    }

    /// A 400 for a malformed request.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// A 404 for something we do not serve.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A 502: an answer failed verification.
    pub fn verification(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::VerificationFailed, message)
    }

    /// A 500: something that should not happen.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The same error with a `Retry-After` of `after`.
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The `Retry-After` to send, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after.or(self.kind.retry_after())
    }

    /// The label of logs and metrics.
    pub fn label(&self) -> &'static str {
        self.kind.label()
    }
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status(), self.message)
    }
}

impl std::error::Error for ServeError {}

/// How an answer was produced, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheOutcome {
    /// Not a proxied answer (health, status, admin).
    #[default]
    None,
    /// From the store or memory.
    Hit,
    /// Fetched from a source now.
    Miss,
    /// A stale mutable answer (revalidating, offline or upstream failing).
    Stale,
    /// Failed.
    Error(ErrorKind),
}

impl CacheOutcome {
    /// The label of logs and metrics; empty for [`CacheOutcome::None`].
    pub fn label(self) -> &'static str {
        match self {
            CacheOutcome::None => "",
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Stale => "stale",
            CacheOutcome::Error(k) => k.label(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_retry_after_follow_the_kind() {
        let transient = ServeError::new(ErrorKind::Store(StoreFailure::Transient), "x");
        assert_eq!(transient.status(), 503);
        assert_eq!(transient.retry_after(), Some(RETRY_SOON));
        assert_eq!(ServeError::not_found("x").status(), 404);
        assert_eq!(ErrorKind::not_found_for(410).status(), 410);
        assert_eq!(ErrorKind::remembered(410).status(), 410);
        assert_eq!(ErrorKind::remembered(200).status(), 404);
        assert!(ErrorKind::remembered(404).is_not_found());
        assert_eq!(ErrorKind::Refused { status: 403 }.status(), 403);
        assert!(ErrorKind::Refused { status: 403 }.is_not_found());
        assert!(!ErrorKind::Offline.is_not_found());
        assert_eq!(ErrorKind::Timeout.status(), 504);
        let upstream = ServeError::new(ErrorKind::UpstreamUnavailable, "x")
            .with_retry_after(Some(Duration::from_secs(7)));
        assert_eq!(upstream.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn messages_are_one_line() {
        let e = ServeError::invalid("a\nb\r\nc");
        assert_eq!(e.message, "a b  c");
    }
}
