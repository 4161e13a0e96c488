//! What can go wrong talking to an upstream.

use std::time::Duration;

/// One failed request to one upstream (after its retries), or to the list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// 404 or 410: the upstream says the thing does not exist.
    #[error("{url}: {status} {}", message_or(message, "not found"))]
    NotFound {
        /// The URL asked.
        url: String,
        /// 404 or 410.
        status: u16,
        /// The upstream's text/plain explanation, first line, if any.
        message: String,
    },
    /// Any other non-200 status.
    #[error("{url}: {status} {}", message_or(message, "unexpected status"))]
    Status {
        /// The URL asked.
        url: String,
        /// The status the upstream answered.
        status: u16,
        /// The upstream's text/plain explanation, first line, if any.
        message: String,
        /// A `Retry-After` the upstream sent, if any.
        retry_after: Option<Duration>,
    },
    /// A timeout: connecting, waiting for the first byte, waiting for more of
    /// the body, or the request's overall deadline.
    #[error("{url}: timed out {phase} after {after:?}")]
    Timeout {
        /// The URL asked.
        url: String,
        /// "connecting", "waiting for response headers", "reading the body",
        /// or "before the request deadline".
        phase: &'static str,
        /// The limit that was hit.
        after: Duration,
    },
    /// The connection could not be made (refused, DNS, TLS, reset before an
    /// answer).
    #[error("{url}: {detail}")]
    Connect {
        /// The URL asked.
        url: String,
        /// What the transport said.
        detail: String,
    },
    /// The answer started but its body broke off, or was shorter than its
    /// `Content-Length`.
    #[error("{url}: reading the body failed: {detail}")]
    Body {
        /// The URL asked.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The body is larger than what this kind of file may be.
    #[error("{url}: body larger than the {limit}-byte limit")]
    TooLarge {
        /// The URL asked.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The upstream's circuit breaker is open: it failed repeatedly and is
    /// not being asked until it cools down.
    #[error("{url}: skipped, upstream is failing (circuit breaker open)")]
    CircuitOpen {
        /// The upstream's base URL.
        url: String,
    },
    /// There is no upstream to ask (offline mode or an empty list).
    #[error("no upstream configured (offline)")]
    NoUpstream,
    /// A local file error (file:// upstreams and the staging directory).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn message_or<'a>(message: &'a str, fallback: &'a str) -> &'a str {
    if message.is_empty() {
        fallback
    } else {
        message
    }
}

impl FetchError {
    /// 404 or 410 from the upstream: the only errors a `,` list falls through on.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FetchError::NotFound { .. })
    }

    /// A 4xx other than 404, 410 and 429 (a registry's 403 for a path it
    /// will not serve, a 400): a definite answer, not an outage.
    pub fn is_refusal(&self) -> bool {
        matches!(self, FetchError::Status { status, .. } if Self::is_refusal_status(*status))
    }

    /// Whether an upstream `status` (other than 404/410) is a refusal; see
    /// [`FetchError::is_refusal`].
    pub fn is_refusal_status(status: u16) -> bool {
        (400..500).contains(&status) && status != 429
    }

    /// A timeout of any phase.
    pub fn is_timeout(&self) -> bool {
        matches!(self, FetchError::Timeout { .. })
    }

    /// Whether trying the same upstream again may help: connection errors,
    /// timeouts, broken bodies, 5xx and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Timeout { .. } | FetchError::Connect { .. } | FetchError::Body { .. } => {
                true
            }
            FetchError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// Whether this outcome says the upstream itself is unhealthy (feeds the
    /// circuit breaker). A 404 is a healthy answer.
    pub fn counts_against_upstream(&self) -> bool {
        self.is_retryable()
    }

    /// The `Retry-After` delay the upstream asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The status a proxy should answer its own client with: 404 for not
    /// found, 504 for timeouts, 502 for every other upstream failure.
    pub fn client_status(&self) -> u16 {
        match self {
            FetchError::NotFound { status, .. } => *status,
            FetchError::NoUpstream => 404,
            FetchError::Timeout { .. } => 504,
            _ => 502,
        }
    }

    /// Go's ranking of errors when a whole list failed: "not found" is the
    /// least helpful, any other error is preferred.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            FetchError::NoUpstream => 0,
            FetchError::NotFound { .. } => 1,
            FetchError::CircuitOpen { .. } => 2,
            _ => 3,
        }
    }
}
