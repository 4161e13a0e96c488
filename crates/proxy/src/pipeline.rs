//! The fetch pipeline: store lookup, negative cache, single-flight, upstream
//! fetch, verification against the checksum database, commit.
//!
//! Verify, then commit: an upstream answer is written to the store only after
//! every check passed, blobs first and the record last, so no reader ever sees
//! a record whose bytes were not verified.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use gomod::pattern::Patterns;
use store::{BlobRef, BlobSource, DocKey, Record, RecordKey, Store};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use upstream::{FetchError, UpstreamList};

use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::sumdb_proxy::SumdbHandle;

/// Size limits, from the go command's own.
pub(crate) const MAX_INFO: u64 = 1 << 20;
pub(crate) const MAX_GOMOD: u64 = 16 << 20;
pub(crate) const MAX_ZIP: u64 = 500 << 20;
pub(crate) const MAX_LIST: u64 = 16 << 20;

/// Which file of a module version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `.info`
    Info,
    /// `.mod`
    Mod,
    /// `.zip`
    Zip,
}

impl FileKind {
    /// The file extension, with its dot.
    pub fn ext(self) -> &'static str {
        match self {
            FileKind::Info => ".info",
            FileKind::Mod => ".mod",
            FileKind::Zip => ".zip",
        }
    }
}

/// A mutable answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mutable {
    /// `@v/list`
    List,
    /// `@latest`
    Latest,
    /// `@v/<query>.info` for a non-canonical version (branch, commit, prefix).
    Query(String),
}

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

/// How a module is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Public, verified against the checksum database.
    Verify,
    /// Public, GONOSUMDB: stored as unverified by policy.
    NoSumdb,
    /// Private: private upstream only, no checksum database.
    Private,
}

/// Where the pipeline reads the time: TTLs, staleness and negative entries
/// are all judged by it, so tests can move time without sleeping.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that runs with the system clock plus an offset tests advance.
#[derive(Debug, Default)]
pub struct ManualClock {
    offset_ms: std::sync::atomic::AtomicI64,
}

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.offset_ms.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Why fetching a version failed: plainly, or because one upstream's answer
/// failed verification (then the next upstream behind `|` may be tried).
enum Failure {
    Serve(ServeError),
    Bad { upstream: String, err: ServeError },
}

impl From<ServeError> for Failure {
    fn from(e: ServeError) -> Self {
        Failure::Serve(e)
    }
}

type Flight<T> = Shared<BoxFuture<'static, Result<T, ServeError>>>;

/// The shared state of the pipeline.
pub struct Pipeline {
    pub(crate) store: Arc<dyn Store>,
    public: UpstreamList,
    private: UpstreamList,
    pub(crate) sumdbs: Vec<Arc<SumdbHandle>>,
    nosumdb: Patterns,
    private_patterns: Patterns,
    staging: PathBuf,
    pub(crate) offline: bool,
    pub(crate) timing: Timing,
    pool: Arc<Semaphore>,
    pub(crate) metrics: Arc<Metrics>,
    record_flights: Mutex<HashMap<String, Flight<()>>>,
    doc_flights: Mutex<HashMap<String, Flight<Bytes>>>,
    negative: moka::sync::Cache<String, Negative>,
    clock: Arc<dyn Clock>,
    coord: Option<crate::coord::Coordinator>,
    /// Records read recently: a hit costs no store read.
    records: moka::sync::Cache<RecordKey, Arc<Record>>,
    /// Small blobs (.info, .mod, small zips) as verified when read: a hit
    /// costs no disk read and no hashing.
    hot: moka::sync::Cache<store::Digest, Bytes>,
}

/// Blobs up to this size are kept in memory once read (bounded by
/// [`PipelineParts::hot_cache_bytes`]).
pub(crate) const HOT_BLOB_MAX: u64 = 2 << 20;

#[derive(Debug, Clone)]
struct Negative {
    status: u16,
    message: String,
    /// When the entry stops counting (by the pipeline's clock; moka's own
    /// expiry only reclaims memory).
    expires: OffsetDateTime,
    ttl: Duration,
}

struct NegativeExpiry;

impl moka::Expiry<String, Negative> for NegativeExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Negative,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Everything [`Pipeline::new`] needs.
pub struct PipelineParts {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Public upstreams.
    pub public: UpstreamList,
    /// Private upstreams.
    pub private: UpstreamList,
    /// Checksum databases; the first verifies public modules.
    pub sumdbs: Vec<Arc<SumdbHandle>>,
    /// GONOSUMDB patterns.
    pub nosumdb: Patterns,
    /// GOPRIVATE patterns.
    pub private_patterns: Patterns,
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
    pub coordinator: Option<crate::coord::Coordinator>,
    /// Memory for hot small blobs, in bytes (0 disables the cache).
    pub hot_cache_bytes: u64,
}

/// Deterministic jitter in [0.9, 1.0) of `base`, from a key and its fetch
/// time: entries fetched together expire apart, and every instance computes
/// the same expiry for the same entry.
pub fn jittered(base: Duration, key: &str, salt: i128) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    salt.hash(&mut h);
    let frac = (h.finish() % 1000) as f64 / 10_000.0; // 0 .. 0.0999
    base.mul_f64(1.0 - frac)
}

/// Whether `v` names one immutable version (its files are cached forever):
/// canonical semver, `+incompatible` kept, as the go command asks for them.
pub(crate) fn is_canonical_version(v: &str) -> bool {
    gomod::semver::is_valid(v) && gomod::semver::canonical_version(v) == v
}

impl Pipeline {
    /// Builds the pipeline.
    pub fn new(parts: PipelineParts) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            store: parts.store,
            public: parts.public,
            private: parts.private,
            sumdbs: parts.sumdbs,
            nosumdb: parts.nosumdb,
            private_patterns: parts.private_patterns,
            staging: parts.staging,
            offline: parts.offline,
            timing: parts.timing,
            pool: Arc::new(Semaphore::new(parts.max_upstream_concurrency)),
            metrics: parts.metrics,
            record_flights: Mutex::new(HashMap::new()),
            doc_flights: Mutex::new(HashMap::new()),
            negative: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .expire_after(NegativeExpiry)
                .support_invalidation_closures()
                .build(),
            clock: parts.clock,
            coord: parts.coordinator,
            records: moka::sync::Cache::builder().max_capacity(100_000).build(),
            hot: moka::sync::Cache::builder()
                .max_capacity(parts.hot_cache_bytes)
                .weigher(|_k: &store::Digest, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .build(),
        })
    }

    fn policy(&self, module: &str) -> Policy {
        if self.private_patterns.matches(module) {
            Policy::Private
        } else if self.nosumdb.matches(module) || self.sumdbs.is_empty() {
            Policy::NoSumdb
        } else {
            Policy::Verify
        }
    }

    pub(crate) fn age_of(&self, t: OffsetDateTime) -> Duration {
        (self.clock.now() - t).try_into().unwrap_or(Duration::ZERO)
    }

    /// The metrics this pipeline reports to.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The pipeline's current time.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Whether `module` matches the private patterns.
    pub(crate) fn is_private(&self, module: &str) -> bool {
        self.policy(module) == Policy::Private
    }

    fn upstreams(&self, module: &str) -> Result<&UpstreamList, ServeError> {
        match self.policy(module) {
            Policy::Private if self.private.is_empty() => Err(ServeError::new(
                404,
                format!(
                    "{module} is private (matches --private) and no --private-upstream is configured"
                ),
                "miss",
            )),
            Policy::Private => Ok(&self.private),
            _ => Ok(&self.public),
        }
    }

    fn offline_error(&self, what: &str) -> ServeError {
        ServeError::new(
            404,
            format!("modwarden is offline and has no cached copy of {what}"),
            "offline",
        )
    }

    async fn negative_hit(&self, key: &str) -> Option<ServeError> {
        if let Some(neg) = self.negative.get(key) {
            if self.clock.now() < neg.expires {
                self.metrics.negative_hit();
                return Some(ServeError::new(neg.status, neg.message, "negative"));
            }
            self.negative.invalidate(key);
        }
        // Another instance may have been told "not found" already.
        let (status, message) = self.coord.as_ref()?.get_negative(key).await?;
        self.metrics.negative_hit();
        Some(ServeError::new(status, message, "negative"))
    }

    async fn remember_not_found(&self, key: String, e: &ServeError, base: Duration) {
        let now = self.clock.now();
        let ttl = jittered(base, &key, now.unix_timestamp_nanos());
        if let Some(c) = &self.coord {
            c.set_negative(&key, e.status, &e.message, ttl).await;
        }
        let expires = now + ttl;
        self.negative.insert(
            key,
            Negative {
                status: e.status,
                message: e.message.clone(),
                expires,
                ttl,
            },
        );
    }

    /// The record for `module@version` holding at least the file `kind`,
    /// fetching and verifying it if needed.
    pub async fn record(
        self: &Arc<Self>,
        module: &str,
        version: &str,
        kind: FileKind,
        offline: bool,
    ) -> Result<(Arc<Record>, &'static str), ServeError> {
        let key = RecordKey::new(module, version);
        let existing = self.get_record(&key, kind == FileKind::Zip).await;
        if let Some(rec) = &existing
            && (kind != FileKind::Zip || rec.zip.is_some())
        {
            return Ok((rec.clone(), "hit"));
        }
        let what = format!("{module}@{version}{}", kind.ext());
        // One key names this fetch everywhere: the negative cache, the
        // single-flight map and the Redis lock of other instances.
        let fetch_key = format!("{module}@{version}:{}", kind == FileKind::Zip);
        if let Some(e) = self.negative_hit(&fetch_key).await {
            return Err(e);
        }
        if offline || self.offline {
            return Err(self.offline_error(&what));
        }
        let this = self.clone();
        let (m, v, k) = (module.to_string(), version.to_string(), fetch_key.clone());
        let result = self
            .single_flight(&self.record_flights, fetch_key.clone(), move || {
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
                        && e.outcome == "not-found"
                    {
                        this.remember_not_found(k, e, this.timing.negative_ttl)
                            .await;
                    }
                    r
                }
                .boxed()
            })
            .await;
        result?;
        match self.get_record(&key, kind == FileKind::Zip).await {
            Some(rec) if kind != FileKind::Zip || rec.zip.is_some() => Ok((rec, "miss")),
            _ => Err(ServeError::new(
                500,
                format!(
                    "{what} was fetched and verified but is not readable from the store; retry"
                ),
                "error",
            )),
        }
    }

    /// The record of a version, from memory when that answers the request.
    /// A record with its zip is final. One without may gain it (here or on
    /// another instance sharing the store), so for a `.zip` (`need_zip`) it is
    /// read again; for `.info` and `.mod` it is final too: gaining a zip
    /// never changes them. (Reading it again for every `.mod` cost ~2.5x the
    /// CPU of a warm `.mod` request: `go mod download` fetches the `.mod` of
    /// many versions whose zips nobody asks for.)
    async fn get_record(&self, key: &RecordKey, need_zip: bool) -> Option<Arc<Record>> {
        if let Some(r) = self.records.get(key)
            && (r.zip.is_some() || !need_zip)
        {
            return Some(r);
        }
        match self.store.get_record(key).await {
            Ok(r) => {
                let r = r.map(Arc::new);
                if let Some(rec) = &r {
                    self.records.insert(key.clone(), rec.clone());
                }
                r
            }
            Err(e) => {
                // Reads fail open into a miss: the verified refetch repairs it.
                tracing::warn!(record = %key, error = %e, "store read failed; treating as a miss");
                None
            }
        }
    }

    /// Forgets a record whose blobs cannot be read any more, so that the
    /// next request fetches and verifies the version again.
    pub(crate) async fn forget_record(&self, module: &str, version: &str) {
        let key = RecordKey::new(module, version);
        if let Some(rec) = self.records.get(&key) {
            for b in rec.blobs() {
                self.hot.invalidate(&b.digest);
            }
        }
        self.records.invalidate(&key);
        if let Err(e) = self.store.delete_record(&key).await {
            tracing::warn!(record = %key, error = %e, "could not forget an unreadable record");
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

    /// Runs `make` once per key at a time; every caller gets its result. The
    /// work runs in its own task, so callers that give up do not cancel it.
    async fn single_flight<T: Clone + Send + Sync + 'static>(
        &self,
        flights: &Mutex<HashMap<String, Flight<T>>>,
        key: String,
        make: impl FnOnce() -> BoxFuture<'static, Result<T, ServeError>>,
    ) -> Result<T, ServeError> {
        let flight = {
            let mut map = flights.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = map.get(&key) {
                self.metrics.singleflight_join();
                f.clone()
            } else {
                let Ok(permit) = self.pool.clone().try_acquire_owned() else {
                    self.metrics.overloaded();
                    let mut e = ServeError::new(
                        503,
                        "modwarden is busy: too many upstream fetches in flight; retry shortly",
                        "overloaded",
                    );
                    e.retry_after = Some(Duration::from_secs(1));
                    return Err(e);
                };
                let work = make();
                let metrics = self.metrics.clone();
                let handle = tokio::spawn(async move {
                    metrics.upstream_in_flight(1);
                    let r = work.await;
                    metrics.upstream_in_flight(-1);
                    drop(permit);
                    r
                });
                let flight: Flight<T> = async move {
                    match handle.await {
                        Ok(r) => r,
                        Err(e) => Err(ServeError::new(
                            500,
                            format!("internal error while fetching: {e}"),
                            "error",
                        )),
                    }
                }
                .boxed()
                .shared();
                map.insert(key.clone(), flight.clone());
                flight
            }
        };
        let result = flight.clone().await;
        // The first caller to see the result removes the entry, only if it
        // is still this flight (a newer one may have replaced it).
        let mut map = flights.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&key).is_some_and(|f| f.ptr_eq(&flight)) {
            map.remove(&key);
        }
        result
    }

    /// Fetches, verifies and commits a version.
    /// Fetches a version, first agreeing with other instances (Redis) on
    /// who fetches: the others wait for the record to appear in the shared
    /// store, or for a shared "not found".
    async fn fetch_coordinated(
        self: Arc<Self>,
        module: &str,
        version: &str,
        kind: FileKind,
        key: &str,
        existing: Option<Record>,
    ) -> Result<(), ServeError> {
        let Some(coord) = self.coord.clone() else {
            return self.fetch_version(module, version, kind, existing).await;
        };
        let wait = self.timing.coordination_wait;
        let give_up = tokio::time::Instant::now() + wait;
        loop {
            match coord.try_lock(key, wait).await {
                crate::coord::Lock::Acquired => {
                    let r = self
                        .clone()
                        .fetch_version(module, version, kind, existing)
                        .await;
                    coord.unlock(key).await;
                    return r;
                }
                crate::coord::Lock::Unavailable => {
                    return self.fetch_version(module, version, kind, existing).await;
                }
                crate::coord::Lock::Busy => {
                    self.metrics.singleflight_join();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let rec = self
                        .get_record(&RecordKey::new(module, version), kind == FileKind::Zip)
                        .await;
                    if rec.is_some_and(|r| kind != FileKind::Zip || r.zip.is_some()) {
                        return Ok(());
                    }
                    if let Some((status, message)) = coord.get_negative(key).await {
                        return Err(ServeError::new(status, message, "negative"));
                    }
                    // If the other instance failed, the lock is gone and the
                    // next round takes it; if it hangs, stop waiting.
                    if tokio::time::Instant::now() >= give_up {
                        return self.fetch_version(module, version, kind, existing).await;
                    }
                }
            }
        }
    }

    async fn fetch_version(
        self: Arc<Self>,
        module: &str,
        version: &str,
        kind: FileKind,
        existing: Option<Record>,
    ) -> Result<(), ServeError> {
        let mut ups = self.upstreams(module)?.clone();
        loop {
            match self
                .fetch_version_from(&ups, module, version, kind, existing.clone())
                .await
            {
                Ok(()) => return Ok(()),
                Err(Failure::Serve(e)) => return Err(e),
                // An upstream behind `|` answered, but its answer failed
                // verification: that is an error like any other, so the
                // next upstream gets its turn.
                Err(Failure::Bad { upstream, err }) => match ups.after_failed(&upstream) {
                    Some(rest) => {
                        tracing::warn!(module, version, %upstream, error = %err.message, "answer failed verification; trying the next upstream");
                        ups = rest;
                    }
                    None => return Err(err),
                },
            }
        }
    }

    async fn fetch_version_from(
        &self,
        ups: &UpstreamList,
        module: &str,
        version: &str,
        kind: FileKind,
        existing: Option<Record>,
    ) -> Result<(), Failure> {
        let need_zip = kind == FileKind::Zip;
        let policy = self.policy(module);
        let esc = format!(
            "{}/@v/{}",
            gomod::escape::escape_string(module),
            gomod::escape::escape_string(version)
        );
        let mv = format!("{module}@{version}");

        // Probe with one request first: for a module that does not exist
        // (the go command probes every path prefix of an import) that is the
        // only upstream request, and nothing is asked of the checksum database.
        let (mut info, mut gomod) = (None, None);
        if existing.is_none() {
            if kind == FileKind::Info {
                let r = ups.fetch_bytes(&format!("{esc}.info"), MAX_INFO).await;
                info = Some(r.map_err(|e| upstream_error(&format!("{mv}.info"), e))?);
            } else {
                let r = ups.fetch_bytes(&format!("{esc}.mod"), MAX_GOMOD).await;
                gomod = Some(r.map_err(|e| upstream_error(&format!("{mv}.mod"), e))?);
            }
        }
        let small = async {
            match &existing {
                Some(_) => Ok(None),
                None => {
                    let (info_path, mod_path) = (format!("{esc}.info"), format!("{esc}.mod"));
                    let fetch_info = async {
                        match info.take() {
                            Some(i) => Ok(i),
                            None => ups.fetch_bytes(&info_path, MAX_INFO).await,
                        }
                    };
                    let fetch_mod = async {
                        match gomod.take() {
                            Some(m) => Ok(m),
                            None => ups.fetch_bytes(&mod_path, MAX_GOMOD).await,
                        }
                    };
                    let (info, gomod) = tokio::try_join!(fetch_info, fetch_mod)?;
                    Ok(Some((info, gomod)))
                }
            }
        };
        let zip = async {
            if need_zip {
                let staging = self.staging.clone();
                ups.fetch_to_file(&format!("{esc}.zip"), &staging, MAX_ZIP)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        let lookup = async {
            match (policy, &existing) {
                (Policy::Verify, None) => self.verification_lookup(module, version).await.map(Some),
                (Policy::Verify, Some(r)) if r.zip_h1.is_none() => {
                    self.verification_lookup(module, version).await.map(Some)
                }
                _ => Ok(None),
            }
        };
        let (small, zip, lookup) = tokio::join!(small, zip, lookup);
        let small = small.map_err(|e: FetchError| upstream_error(&mv, e))?;
        let zip = zip.map_err(|e| upstream_error(&format!("{mv}.zip"), e))?;
        let lookup = lookup?;

        let verified_by = match policy {
            Policy::Verify => self.sumdbs[0].name.clone(),
            Policy::NoSumdb => "policy:nosumdb".to_string(),
            Policy::Private => "policy:private".to_string(),
        };

        // .info and .mod.
        let (info_ref, gomod_ref, gomod_h1) = match (&existing, small) {
            (Some(r), _) => (r.info, r.gomod, r.gomod_h1.clone()),
            (None, Some((info, gomod))) => {
                check_info(module, version, &info.body, &info.upstream).map_err(|err| {
                    self.metrics.verification_failure("info-version");
                    Failure::Bad {
                        upstream: info.upstream.clone(),
                        err,
                    }
                })?;
                let gomod_h1 = gomod::dirhash::hash_gomod(&gomod.body);
                if let Some(l) = &lookup
                    && l.gomod_h1 != gomod_h1
                {
                    self.metrics.verification_failure("gomod-h1");
                    return Err(Failure::Bad {
                        upstream: gomod.upstream.clone(),
                        err: ServeError::verification(format!(
                            "verifying {mv}/go.mod: checksum mismatch: checksum database {} has {}, upstream {} sent {}; nothing was cached",
                            verified_by, l.gomod_h1, gomod.upstream, gomod_h1
                        )),
                    });
                }
                let info_ref = self.put_bytes(info.body).await?;
                let gomod_ref = self.put_bytes(gomod.body).await?;
                (info_ref, gomod_ref, gomod_h1)
            }
            (None, None) => {
                return Err(ServeError::new(
                    500,
                    format!("internal error: {mv} has no record and no fetched .info/.mod"),
                    "error",
                )
                .into());
            }
        };

        let expected_zip_h1 = lookup
            .as_ref()
            .map(|l| l.zip_h1.clone())
            .or_else(|| existing.as_ref().and_then(|r| r.zip_h1.clone()));

        let (zip_ref, zip_h1) = match zip {
            None => (None, expected_zip_h1),
            Some(fetched) => {
                let path = fetched.body.file.path().to_path_buf();
                let (m, v) = (module.to_string(), version.to_string());
                let checked = tokio::task::spawn_blocking(move || {
                    crate::zipcheck::check_and_hash(&path, &m, &v)
                })
                .await
                .map_err(|e| ServeError::new(500, format!("internal error: {e}"), "error"))?;
                let got_h1 = match checked {
                    Ok(h) => h,
                    Err(problems) => {
                        self.metrics.verification_failure("zip-invalid");
                        return Err(Failure::Bad {
                            upstream: fetched.upstream.clone(),
                            err: ServeError::verification(format!(
                                "{mv}.zip from {} is not a valid module zip: {problems}; nothing was cached",
                                fetched.upstream
                            )),
                        });
                    }
                };
                if let Some(want) = &expected_zip_h1
                    && *want != got_h1
                {
                    self.metrics.verification_failure("zip-h1");
                    return Err(Failure::Bad {
                        upstream: fetched.upstream.clone(),
                        err: ServeError::verification(format!(
                            "verifying {mv}: checksum mismatch: checksum database {verified_by} has {want}, upstream {} sent {got_h1}; nothing was cached",
                            fetched.upstream
                        )),
                    });
                }
                let size = fetched.body.size;
                let blob = self
                    .store
                    .put_blob(BlobSource::File(fetched.body.file.path().to_path_buf()))
                    .await
                    .map_err(store_error)?;
                if blob.size != size {
                    return Err(ServeError::new(
                        500,
                        format!("{mv}.zip changed while being stored; retry"),
                        "error",
                    )
                    .into());
                }
                (Some(blob), Some(got_h1))
            }
        };

        let record = Record {
            zip: zip_ref,
            gomod: gomod_ref,
            info: info_ref,
            zip_h1,
            gomod_h1,
            verified_by,
            fetched_at: self.clock.now(),
        };
        let key = RecordKey::new(module, version);
        match self.store.put_record(&key, &record).await {
            Ok(()) => {}
            Err(store::Error::Conflict { .. }) => {
                // Another instance (or an earlier go.mod-only fetch) wrote it
                // first. Upgrade a record without zip; otherwise keep theirs.
                if let Ok(Some(old)) = self.store.get_record(&key).await
                    && old.zip.is_none()
                    && record.zip.is_some()
                {
                    self.store.delete_record(&key).await.map_err(store_error)?;
                    self.store
                        .put_record(&key, &record)
                        .await
                        .or_else(|e| match e {
                            store::Error::Conflict { .. } => Ok(()),
                            e => Err(e),
                        })
                        .map_err(store_error)?;
                }
            }
            Err(e) => return Err(store_error(e).into()),
        }
        let total: u64 = record.blobs().map(|b| b.size).sum();
        let before: u64 = existing
            .iter()
            .flat_map(|r| r.blobs())
            .map(|b| b.size)
            .sum();
        let new_records = i64::from(existing.is_none());
        self.metrics
            .store_added(new_records, total.saturating_sub(before) as i64);
        Ok(())
    }

    async fn put_bytes(&self, bytes: Bytes) -> Result<BlobRef, ServeError> {
        self.store
            .put_blob(BlobSource::Bytes(bytes))
            .await
            .map_err(store_error)
    }

    /// A mutable answer: fresh from the store, else fetched (single-flight),
    /// else stale within bounds.
    pub async fn mutable(
        self: &Arc<Self>,
        module: &str,
        what: &Mutable,
        offline: bool,
    ) -> Result<(Bytes, &'static str), ServeError> {
        let doc_key = match what {
            Mutable::List => DocKey::List(module.to_string()),
            Mutable::Latest => DocKey::Latest(module.to_string()),
            Mutable::Query(q) => DocKey::Query(module.to_string(), q.clone()),
        };
        let label = match what {
            Mutable::List => format!("{module}/@v/list"),
            Mutable::Latest => format!("{module}/@latest"),
            Mutable::Query(q) => format!("{module}@{q}"),
        };
        let cached = match self.store.get_doc(&doc_key).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(doc = %label, error = %e, "store read failed; treating as a miss");
                None
            }
        };
        let ttl = self.timing.list_ttl;
        if let Some(doc) = &cached {
            let age = self.age_of(doc.fetched_at);
            let fresh_for = jittered(ttl, &label, doc.fetched_at.unix_timestamp_nanos());
            if age < fresh_for {
                return Ok((doc.bytes.clone(), "hit"));
            }
            if offline || self.offline {
                self.metrics.stale("offline");
                return Ok((doc.bytes.clone(), "stale"));
            }
            if age < fresh_for * 2 {
                // Stale-while-revalidate: answer now, refresh once in the background.
                self.metrics.stale("revalidate");
                let this = self.clone();
                let (m, w, k, l) = (
                    module.to_string(),
                    what.clone(),
                    doc_key.clone(),
                    label.clone(),
                );
                tokio::spawn(async move {
                    let flight = DocFlight {
                        negative: None,
                        unless_fresh: Some(this.timing.list_ttl / 2),
                    };
                    if let Err(e) = this.fetch_doc_once(&m, &w, &k, &l, flight).await {
                        tracing::info!(doc = %l, error = %e, "background refresh failed; keeping the stale copy");
                    }
                });
                return Ok((doc.bytes.clone(), "stale"));
            }
        }
        let neg_key = format!("{label}:doc");
        if let Some(e) = self.negative_hit(&neg_key).await {
            return Err(e);
        }
        if offline || self.offline {
            return Err(self.offline_error(&label));
        }
        let base = match what {
            Mutable::Query(_) => self.timing.negative_ttl,
            _ => self.timing.probe_negative_ttl,
        };
        let flight = DocFlight {
            negative: Some((neg_key, base)),
            unless_fresh: None,
        };
        match self
            .fetch_doc_once(module, what, &doc_key, &label, flight)
            .await
        {
            Ok(bytes) => Ok((bytes, "miss")),
            Err(e) if e.outcome == "not-found" => Err(e),
            Err(e) => match cached {
                Some(doc) if self.age_of(doc.fetched_at) < ttl + self.timing.stale_if_error => {
                    self.metrics.stale("error");
                    tracing::warn!(doc = %label, error = %e, "every upstream failed; serving the stale copy");
                    Ok((doc.bytes, "stale"))
                }
                _ => Err(e),
            },
        }
    }
}

/// What a flight of [`Pipeline::fetch_doc_once`] does besides fetching. Both
/// checks run inside the flight, so no request slips in between the end of
/// one flight and the start of the next.
struct DocFlight {
    /// Remember a "not found" under this key, with this base TTL.
    negative: Option<(String, Duration)>,
    /// A background refresh: skip the upstream when the stored copy was
    /// refreshed (by an earlier flight) within this long.
    unless_fresh: Option<Duration>,
}

impl Pipeline {
    async fn fetch_doc_once(
        self: &Arc<Self>,
        module: &str,
        what: &Mutable,
        doc_key: &DocKey,
        label: &str,
        flight: DocFlight,
    ) -> Result<Bytes, ServeError> {
        let this = self.clone();
        let (m, w, k, l) = (
            module.to_string(),
            what.clone(),
            doc_key.clone(),
            label.to_string(),
        );
        self.single_flight(&self.doc_flights, label.to_string(), move || {
            async move {
                if let Some(fresh) = flight.unless_fresh
                    && let Ok(Some(doc)) = this.store.get_doc(&k).await
                    && this.age_of(doc.fetched_at) < fresh
                {
                    return Ok(doc.bytes);
                }
                let r = this.fetch_doc(&m, &w, &k, &l).await;
                if let (Err(e), Some((key, base))) = (&r, flight.negative)
                    && e.outcome == "not-found"
                {
                    this.remember_not_found(key, e, base).await;
                }
                r
            }
            .boxed()
        })
        .await
    }

    async fn fetch_doc(
        &self,
        module: &str,
        what: &Mutable,
        doc_key: &DocKey,
        label: &str,
    ) -> Result<Bytes, ServeError> {
        let ups = self.upstreams(module)?;
        let esc = gomod::escape::escape_string(module);
        let path = match what {
            Mutable::List => format!("{esc}/@v/list"),
            Mutable::Latest => format!("{esc}/@latest"),
            Mutable::Query(q) => format!("{esc}/@v/{}.info", gomod::escape::escape_string(q)),
        };
        let fetched = ups
            .fetch_bytes(&path, MAX_LIST)
            .await
            .map_err(|e| upstream_error(label, e))?;
        match what {
            Mutable::List => check_list(&fetched.body, label, &fetched.upstream)?,
            _ => {
                check_query_info(&fetched.body, label, &fetched.upstream).inspect_err(|_| {
                    self.metrics.verification_failure("info-json");
                })?;
            }
        }
        if let Err(e) = self
            .store
            .put_doc(doc_key, fetched.body.clone(), self.clock.now())
            .await
        {
            tracing::warn!(doc = %label, error = %e, "could not cache; serving anyway");
        }
        Ok(fetched.body)
    }

    /// Forgets negative and mutable entries of a module (after a release).
    pub async fn purge(&self, module: &str) -> Result<u64, ServeError> {
        let prefix_at = format!("{module}@");
        let prefix_slash = format!("{module}/@");
        let before = self.negative.entry_count();
        let (a, b) = (prefix_at.clone(), prefix_slash.clone());
        self.negative
            .invalidate_entries_if(move |k, _| k.starts_with(&a) || k.starts_with(&b))
            .map_err(|e| ServeError::new(500, format!("purge failed: {e}"), "error"))?;
        self.negative.run_pending_tasks();
        if let Some(c) = &self.coord {
            c.purge_negative(&[prefix_at.clone(), prefix_slash.clone()])
                .await;
        }
        let mut purged = before.saturating_sub(self.negative.entry_count());
        for key in [
            DocKey::List(module.to_string()),
            DocKey::Latest(module.to_string()),
        ] {
            if let Ok(Some(_)) = self.store.get_doc(&key).await {
                self.store.delete_doc(&key).await.map_err(store_error)?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}

/// Maps an upstream failure to the answer for our client.
pub(crate) fn upstream_error(what: &str, e: FetchError) -> ServeError {
    match e {
        FetchError::NotFound {
            status,
            message,
            url,
        } => {
            let msg = if message.is_empty() {
                format!("{what}: not found upstream ({url}: {status})")
            } else {
                format!("{what}: not found upstream: {message}")
            };
            ServeError::new(status, msg, "not-found")
        }
        FetchError::NoUpstream => ServeError::new(
            404,
            format!("{what}: no upstream configured (offline)"),
            "offline",
        ),
        e => ServeError::new(
            e.client_status(),
            format!("{what}: upstream failed: {e}"),
            "upstream-error",
        ),
    }
}

pub(crate) fn store_error(e: store::Error) -> ServeError {
    ServeError::new(500, format!("storage error: {e}"), "store-error")
}

fn check_info(module: &str, version: &str, body: &[u8], upstream: &str) -> Result<(), ServeError> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Version")]
        version: String,
    }
    let info: Info = serde_json::from_slice(body).map_err(|e| {
        ServeError::verification(format!(
            "{module}@{version}.info from {upstream} is not valid JSON: {e}; nothing was cached"
        ))
    })?;
    if info.version != version {
        return Err(ServeError::verification(format!(
            "{module}@{version}.info from {upstream} names version {:?} instead of {version:?}; nothing was cached",
            info.version
        )));
    }
    Ok(())
}

fn check_query_info(body: &[u8], label: &str, upstream: &str) -> Result<(), ServeError> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Version")]
        version: String,
    }
    let info: Info = serde_json::from_slice(body).map_err(|e| {
        ServeError::verification(format!("{label} from {upstream} is not valid JSON: {e}"))
    })?;
    if !gomod::semver::is_valid(&info.version) {
        return Err(ServeError::verification(format!(
            "{label} from {upstream} names {:?}, which is not a valid version",
            info.version
        )));
    }
    Ok(())
}

fn check_list(body: &[u8], label: &str, upstream: &str) -> Result<(), ServeError> {
    std::str::from_utf8(body).map_err(|_| {
        ServeError::new(
            502,
            format!("{label} from {upstream} is not UTF-8 text"),
            "verify-failed",
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_jitter_spreads_entries_within_ten_percent() {
        let base = Duration::from_secs(300);
        let mut seen = std::collections::HashSet::new();
        for i in 0..500 {
            let key = format!("example.com/m{i}/@v/list");
            let t = jittered(base, &key, 1_700_000_000_000_000_000);
            assert!(t <= base && t > base.mul_f64(0.9), "{t:?}");
            seen.insert(t.as_millis());
            // Deterministic: every instance computes the same expiry.
            assert_eq!(t, jittered(base, &key, 1_700_000_000_000_000_000));
        }
        assert!(
            seen.len() > 100,
            "entries fetched together would expire together"
        );
    }

    #[test]
    fn canonical_versions_are_the_immutable_ones() {
        for v in [
            "v1.0.0",
            "v2.0.0+incompatible",
            "v0.0.0-20240101120000-abcdefabcdef",
            "v1.0.1-Beta.2",
        ] {
            assert!(is_canonical_version(v), "{v}");
        }
        for v in [
            "v1",
            "v1.2",
            "master",
            "v1.0.0+meta",
            "latest",
            "abcdef123456",
        ] {
            assert!(!is_canonical_version(v), "{v}");
        }
    }
}
