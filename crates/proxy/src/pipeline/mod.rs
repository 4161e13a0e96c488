//! The fetch pipeline: store lookup, negative cache, single flight, fetch
//! from the module's source, verification, commit.
//!
//! Verify, then commit: an answer is written to the store only after every
//! check passed, blobs first and the record last, so no reader ever sees a
//! record whose bytes were not verified.
//!
//! - [`flight`]: one fetch per key, in a bounded pool.
//! - [`negative`]: remembered "not found" answers.
//! - [`fetch`]: fetching a version from its source, with Redis coordination.
//! - [`verify`]: the pure verdict on what was fetched.
//! - [`commit`]: writing a verified version to the store.
//! - [`docs`]: mutable documents (`list`, `@latest`, queries).
//! - [`repair`]: restoring a blob a record names that is proven gone.

mod commit;
mod docs;
mod fetch;
pub(crate) mod flight;
pub(crate) mod negative;
mod repair;
pub(crate) mod verify;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use store::{AccessTracker, BlobRef, Record, RecordKey, Store};
use time::OffsetDateTime;

use crate::clock::{self, Clock};
use crate::coord::Coordinator;
use crate::error::{CacheOutcome, ErrorKind, ServeError, StoreFailure};
use crate::keys::{FetchKey, FileKind};
use crate::metrics::Metrics;
use crate::source::Sources;
use crate::verifier::Verifiers;
use flight::{FetchPool, Flights};
use negative::NegativeCache;

/// Time-related knobs.
#[derive(Debug, Clone)]
pub struct Timing {
    /// TTL of mutable answers.
    pub list_ttl: Duration,
    /// TTL of "not found" for an explicit version.
    pub negative_ttl: Duration,
    /// TTL of "not found" for list/@latest (the go command's path-prefix probes).
    pub probe_negative_ttl: Duration,
    /// How long past the TTL a mutable answer may be served when upstreams fail.
    pub stale_if_error: Duration,
    /// How long an instance waits for another instance's fetch of the same
    /// version (Redis coordination) before fetching itself; also the lock's
    /// expiry.
    pub coordination_wait: Duration,
}

/// Blobs up to this size are kept in memory once read (bounded by
/// [`PipelineParts::hot_cache_bytes`]).
pub(crate) const HOT_BLOB_MAX: u64 = 2 << 20;

/// Everything [`Pipeline::new`] needs.
pub struct PipelineParts {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Where each module is fetched from, and how it is verified.
    pub sources: Arc<Sources>,
    /// The checksum databases.
    pub verifiers: Arc<Verifiers>,
    /// Staging directory for downloads (same file system as a local store).
    pub staging: PathBuf,
    /// Serve only the store.
    pub offline: bool,
    /// TTLs.
    pub timing: Timing,
    /// Upstream fetches at once.
    pub max_upstream_concurrency: usize,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Redis coordination with other instances, if configured.
    pub coordinator: Option<Coordinator>,
    /// Memory for hot small blobs, in bytes (0 disables the cache).
    pub hot_cache_bytes: u64,
    /// Where serving a version is recorded (for `gc`'s least-recently-used
    /// order and `--unused-for`).
    pub access: Option<Arc<AccessTracker>>,
}

/// The shared state of the pipeline.
pub struct Pipeline {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) sources: Arc<Sources>,
    pub(crate) verifiers: Arc<Verifiers>,
    staging: PathBuf,
    pub(crate) offline: bool,
    pub(crate) timing: Timing,
    pool: FetchPool,
    pub(crate) metrics: Arc<Metrics>,
    record_flights: Flights<()>,
    doc_flights: Flights<Bytes>,
    negative: NegativeCache,
    clock: Arc<dyn Clock>,
    coord: Option<Coordinator>,
    /// Records read recently: a hit costs no store read.
    records: moka::sync::Cache<RecordKey, Arc<Record>>,
    /// Small blobs (.info, .mod, small zips) as verified when read: a hit
    /// costs no disk read and no hashing.
    hot: moka::sync::Cache<store::Digest, Bytes>,
    access: Option<Arc<AccessTracker>>,
}

/// Whether `v` names one immutable version (its files are cached forever):
/// canonical semver, `+incompatible` kept, as the go command asks for them.
pub(crate) fn is_canonical_version(v: &str) -> bool {
    gomod::semver::is_valid(v) && gomod::semver::canonical_version(v) == v
}

/// Maps a store failure to the answer for our client: the kinds that may
/// pass (I/O, object storage) are 503 with `Retry-After`.
pub(crate) fn store_error(e: store::Error) -> ServeError {
    let failure = match &e {
        store::Error::NoSpace { .. } => StoreFailure::Full,
        store::Error::Io { .. } | store::Error::Backend { .. } => StoreFailure::Transient,
        _ => StoreFailure::Other,
    };
    let hint = match failure {
        StoreFailure::Transient => "; retry shortly",
        _ => "",
    };
    ServeError::new(
        ErrorKind::Store(failure),
        format!("storage error: {e}{hint}"),
    )
}

impl Pipeline {
    /// Builds the pipeline.
    pub fn new(parts: PipelineParts) -> Arc<Pipeline> {
        let stale_if_error = parts.timing.stale_if_error;
        let queue_wait = parts.timing.coordination_wait;
        Arc::new(Pipeline {
            store: parts.store,
            sources: parts.sources,
            verifiers: parts.verifiers,
            staging: parts.staging,
            offline: parts.offline,
            timing: parts.timing,
            pool: FetchPool::new(
                parts.max_upstream_concurrency,
                queue_wait,
                parts.metrics.clone(),
            ),
            negative: NegativeCache::new(
                parts.clock.clone(),
                parts.coordinator.clone(),
                parts.metrics.clone(),
                stale_if_error,
            ),
            metrics: parts.metrics,
            record_flights: Flights::default(),
            doc_flights: Flights::default(),
            clock: parts.clock,
            coord: parts.coordinator,
            records: moka::sync::Cache::builder().max_capacity(100_000).build(),
            hot: moka::sync::Cache::builder()
                .max_capacity(parts.hot_cache_bytes)
                .weigher(|_k: &store::Digest, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .build(),
            access: parts.access,
        })
    }

    pub(crate) fn age_of(&self, t: OffsetDateTime) -> Duration {
        clock::age(&*self.clock, t)
    }

    /// The metrics this pipeline reports to.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The pipeline's current time.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn offline_error(&self, what: &str) -> ServeError {
        ServeError::new(
            ErrorKind::Offline,
            format!("modwarden is offline and has no cached copy of {what}"),
        )
    }

    /// The record for `module@version` holding at least the file `kind`,
    /// fetching and verifying it if needed.
    pub async fn record(
        self: &Arc<Self>,
        module: &str,
        version: &str,
        kind: FileKind,
        offline: bool,
    ) -> Result<(Arc<Record>, CacheOutcome), ServeError> {
        let key = RecordKey::new(module, version);
        let need_zip = kind == FileKind::Zip;
        // Formatted only on the way to an error or a fetch: a warm hit
        // allocates nothing for messages.
        let what = || format!("{module}@{version}{}", kind.ext());
        let named = |e: ServeError| ServeError::new(e.kind, format!("{}: {}", what(), e.message));
        let existing = self.get_record(&key, need_zip).await.map_err(named)?;
        if let Some(rec) = &existing
            && (!need_zip || rec.zip.is_some())
        {
            return Ok((rec.clone(), CacheOutcome::Hit));
        }
        // One key names this fetch everywhere: the negative cache, the
        // single-flight map and the Redis lock of other instances.
        let fetch_key = FetchKey::version(module, version, kind);
        if let Some(e) = self.negative.get(&fetch_key).await {
            return Err(e);
        }
        if offline || self.offline {
            return Err(self.offline_error(&what()));
        }
        let this = self.clone();
        let (m, v, k) = (module.to_string(), version.to_string(), fetch_key.clone());
        self.record_flights
            .run(&self.pool, fetch_key.clone(), move || {
                let existing = existing.map(|r| Record::clone(&r));
                async move {
                    let r = this
                        .clone()
                        .fetch_coordinated(&m, &v, kind, &k, existing)
                        .await;
                    // Remembered before the flight ends: a request arriving
                    // between the end of the flight and a waiter's write
                    // would otherwise start a second upstream fetch.
                    if let Err(e) = &r
                        && e.kind.is_not_found()
                    {
                        this.negative.remember(k, e, this.timing.negative_ttl).await;
                    }
                    r
                }
                .boxed()
            })
            .await
            .map_err(|e| self.stale_not_found(&fetch_key, e))?;
        match self.get_record(&key, need_zip).await.map_err(named)? {
            Some(rec) if !need_zip || rec.zip.is_some() => Ok((rec, CacheOutcome::Miss)),
            _ => Err(ServeError::internal(format!(
                "{} was fetched and verified but is not readable from the store; retry",
                what()
            ))),
        }
    }

    /// When every source failed (not "not found": they could not be
    /// reached), the last known "not found" of `key`, within
    /// `stale_if_error`; else `e`.
    pub(super) fn stale_not_found(&self, key: &FetchKey, e: ServeError) -> ServeError {
        if matches!(
            e.kind,
            ErrorKind::UpstreamUnavailable | ErrorKind::Timeout | ErrorKind::Overloaded
        ) && let Some(stale) = self.negative.get_stale(key)
        {
            tracing::warn!(key = %key, error = %e, "every upstream failed; answering with the last known not-found");
            return stale;
        }
        e
    }

    /// The record of a version, from memory when that answers the request.
    /// A record with its zip is final. One without may gain it (here or on
    /// another instance sharing the store), so for a `.zip` (`need_zip`) it is
    /// read again; for `.info` and `.mod` it is final too: gaining a zip
    /// never changes them. (Reading it again for every `.mod` cost ~2.5x the
    /// CPU of a warm `.mod` request: `go mod download` fetches the `.mod` of
    /// many versions whose zips nobody asks for.)
    ///
    /// A record that cannot be parsed is a miss (the verified refetch
    /// replaces it); a store that cannot be read is an error, never a miss:
    /// fetching again would not help, and with the upstream down a 503 is
    /// the honest answer.
    async fn get_record(
        &self,
        key: &RecordKey,
        need_zip: bool,
    ) -> Result<Option<Arc<Record>>, ServeError> {
        if let Some(r) = self.records.get(key)
            && (r.zip.is_some() || !need_zip)
        {
            return Ok(Some(r));
        }
        match self.store.get_record(key).await {
            Ok(r) => {
                let r = r.map(Arc::new);
                if let Some(rec) = &r {
                    self.records.insert(key.clone(), rec.clone());
                }
                Ok(r)
            }
            Err(e @ store::Error::Malformed { .. }) => {
                tracing::warn!(record = %key, error = %e, "stored record is unreadable; fetching the version again");
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(record = %key, error = %e, "store read failed");
                Err(store_error(e))
            }
        }
    }

    /// Forgets a record whose blob is proven corrupt or missing, so that the
    /// request fetches and verifies the version again. Never called for any
    /// other store error.
    pub(crate) async fn forget_broken_record(&self, module: &str, version: &str) {
        let key = RecordKey::new(module, version);
        if let Some(rec) = self.records.get(&key) {
            for b in rec.blobs() {
                self.hot.invalidate(&b.digest);
            }
        }
        self.records.invalidate(&key);
        if let Err(e) = self.store.delete_record(&key).await {
            tracing::warn!(record = %key, error = %e, "could not forget a record whose blob is gone");
        }
    }

    /// A small blob already in memory.
    pub(crate) fn hot_blob(&self, blob: &BlobRef) -> Option<Bytes> {
        self.hot
            .get(&blob.digest)
            .filter(|b| b.len() as u64 == blob.size)
    }

    /// Keeps a small blob, verified by the store as it was read, in memory.
    pub(crate) fn keep_hot_blob(&self, blob: &BlobRef, bytes: Bytes) {
        if bytes.len() as u64 == blob.size && blob.size <= HOT_BLOB_MAX {
            self.hot.insert(blob.digest, bytes);
        }
    }

    /// Notes that `module@version` was served (batched; flushed on shutdown).
    pub(crate) fn served(&self, module: &str, version: &str) {
        if let Some(a) = &self.access {
            a.touch(&RecordKey::new(module, version));
        }
    }

    /// Writes what `Pipeline::served` noted to the store.
    pub async fn flush_access(&self) {
        if let Some(a) = &self.access
            && let Err(e) = a.flush().await
        {
            tracing::warn!(error = %e, "could not record when versions were last served");
        }
    }

    /// Forgets negative and mutable entries of a module (after a release).
    pub async fn purge(&self, module: &str) -> Result<u64, ServeError> {
        let mut purged = self.negative.purge(module).await?;
        purged += self.purge_docs(module).await?;
        Ok(purged)
    }
}
