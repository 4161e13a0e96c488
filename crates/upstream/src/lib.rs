//! HTTP client for upstream Go module proxies and checksum databases
//! ([`SumdbTransport`] reads a database's files for [`sumdb::Client`]).
//!
//! An [`UpstreamList`] is a GOPROXY-style list: entries separated by `,` fall
//! through to the next only on 404/410; entries separated by `|` fall through
//! on any error. Each request to one upstream has separate connect,
//! first-byte and idle-read timeouts, an overall deadline, retries with
//! exponential backoff and full jitter (honouring `Retry-After`), and passes
//! through that upstream's circuit breaker.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use upstream::{ClientConfig, Entry, Fallback, NoObserver, UpstreamList};
//! let list = UpstreamList::new(
//!     vec![Entry { base: "http://127.0.0.1:3001".parse()?, fallback: Fallback::OnNotFound }],
//!     ClientConfig::default(),
//!     Arc::new(NoObserver),
//! )?;
//! let info = list.fetch_bytes("example.com/m/@v/v1.0.0.info", 1 << 20).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod backoff;
pub mod breaker;
mod client;
mod error;
mod sumdb_transport;

pub use backoff::RetryConfig;
pub use breaker::{BreakerConfig, BreakerState};
pub use client::{
    BuildError, ClientConfig, Entry, Fetched, FileBody, NoObserver, Observer, UpstreamList, redact,
};
pub use error::FetchError;
/// How an entry's failure falls through to the next: GOPROXY's own type,
/// re-exported (the same type as [`gomod::goenv::Fallback`], so a parsed
/// GOPROXY list maps onto [`Entry`] without conversion).
pub use gomod::goenv::Fallback;
pub use sumdb_transport::SumdbTransport;
