//! The local Go setup doctor: environment diagnosis, a GOMODCACHE scan that
//! finds every known way an entry breaks, exact repair, cleaning by pattern,
//! age or size budget, `-x` trace and inittrace analysis, and a retry runner
//! that classifies go's failures.
//!
//! Every operation returns a `serde::Serialize` report; long work reports
//! progress through a [`Reporter`]. Nothing here prints.
//!
//! ```no_run
//! use doctor::{cache, NoReporter};
//! let opts = cache::ScanOptions::new("/home/me/go/pkg/mod".into());
//! let report = cache::scan(&opts, &NoReporter).unwrap();
//! for f in report.problems() {
//!     println!("{}: {}", f.kind, f.detail);
//! }
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod cache;
pub mod clean;
pub mod env;
mod fsutil;
pub mod gosum;
pub mod inittrace;
pub mod probe;
pub mod render;
pub mod repair;
pub mod retry;
pub mod runner;
pub mod trace;

pub use fsutil::{RemoveError, VersionLock};

/// Receives progress of long operations (hashing, removing). The binary draws
/// progress bars from it; tests and `--json` runs use [`NoReporter`].
/// Implementations must be cheap: `advance` is called from worker threads.
///
/// The same shape as `store::maint::Reporter` (the binary draws both with
/// one implementation).
pub trait Reporter: Send + Sync {
    /// A phase begins; `total` units of work if known.
    fn start(&self, _phase: &str, _total: Option<u64>) {}
    /// `n` more units of the current phase are done.
    fn advance(&self, _n: u64) {}
    /// The current phase is over.
    fn finish(&self) {}
    /// A one-line note about what is happening (a retry, a repair).
    fn note(&self, _message: &str) {}
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;
impl Reporter for NoReporter {}
