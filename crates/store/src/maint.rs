//! Maintenance against any [`Store`]: [`scrub`], [`gc`] and [`stats`].
//!
//! Each returns a `serde::Serialize` report and tells a [`Reporter`] how far it
//! got (the binary draws progress bars from that; this crate draws nothing).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{BlobCheck, BlobInfo, Digest, Error, Record, RecordKey, Result, Store};

/// Progress callbacks. Every method has an empty default. The same shape as
/// `doctor::Reporter` (the binary draws both with one implementation).
pub trait Reporter: Send + Sync {
    /// A phase begins; `total` items if known.
    fn start(&self, _phase: &str, _total: Option<u64>) {}
    /// `n` more items of the current phase are done.
    fn advance(&self, _n: u64) {}
    /// The current phase is over.
    fn finish(&self) {}
    /// A one-line note about what is happening.
    fn note(&self, _message: &str) {}
}

/// A [`Reporter`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoReporter;
impl Reporter for NoReporter {}

/// Counts of what is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Number of records.
    pub records: u64,
    /// Number of blobs.
    pub blobs: u64,
    /// Total size of all blobs in bytes.
    pub blob_bytes: u64,
}

/// Counts records and blobs.
pub async fn stats(store: &dyn Store) -> Result<Stats> {
    let mut s = Stats::default();
    let mut recs = store.list_records().await?;
    while let Some(k) = recs.next().await {
        k?;
        s.records += 1;
    }
    let mut blobs = store.list_blobs().await?;
    while let Some(b) = blobs.next().await {
        let b = b?;
        s.blobs += 1;
        s.blob_bytes += b.size;
    }
    Ok(s)
}

/// What [`scrub`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScrubReport {
    /// Blobs re-hashed.
    pub blobs_checked: u64,
    /// Bytes re-hashed.
    pub bytes_checked: u64,
    /// Blobs whose content did not match and were moved to quarantine.
    pub quarantined: Vec<QuarantinedBlob>,
    /// Records that name a blob that is missing or has the wrong size (for
    /// instance one just quarantined). The proxy refetches such versions.
    pub records_missing_blobs: Vec<RecordKey>,
    /// Records that could not be read.
    pub unreadable_records: Vec<String>,
    /// Records that could not be parsed, moved to quarantine (the proxy
    /// fetches and verifies such a version again when it is asked for).
    pub quarantined_records: Vec<QuarantinedRecord>,
}

/// One quarantined record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuarantinedRecord {
    /// Its key.
    pub key: RecordKey,
    /// Why it could not be read.
    pub error: String,
    /// Where it went.
    pub to: String,
}

/// One quarantined blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuarantinedBlob {
    /// Its digest.
    pub digest: Digest,
    /// Where it went.
    pub to: String,
}

impl ScrubReport {
    /// Whether everything was fine.
    pub fn is_clean(&self) -> bool {
        self.quarantined.is_empty()
            && self.records_missing_blobs.is_empty()
            && self.unreadable_records.is_empty()
            && self.quarantined_records.is_empty()
    }
}

/// Options for [`scrub`].
#[derive(Clone, Debug)]
pub struct ScrubOptions {
    /// Blobs hashed at once.
    pub concurrency: usize,
}

impl Default for ScrubOptions {
    fn default() -> Self {
        ScrubOptions { concurrency: 4 }
    }
}

/// Re-hashes every blob (quarantining corrupt ones), then checks that every
/// record's blobs are present with the right size.
pub async fn scrub(
    store: &dyn Store,
    opts: &ScrubOptions,
    reporter: &dyn Reporter,
) -> Result<ScrubReport> {
    let mut report = ScrubReport::default();
    let blobs: Vec<BlobInfo> = store.list_blobs().await?.try_collect().await?;
    reporter.start("scrub blobs", Some(blobs.len() as u64));
    let mut checks = futures::stream::iter(blobs)
        .map(|b| async move { (b.digest, store.verify_blob(&b.digest).await) })
        .buffer_unordered(opts.concurrency.max(1));
    while let Some((digest, r)) = checks.next().await {
        match r? {
            BlobCheck::Ok { size } => {
                report.blobs_checked += 1;
                report.bytes_checked += size;
            }
            BlobCheck::Missing => {}
            BlobCheck::Quarantined { to } => {
                report.blobs_checked += 1;
                report.quarantined.push(QuarantinedBlob { digest, to });
            }
        }
        reporter.advance(1);
    }
    reporter.finish();

    let keys: Vec<RecordKey> = store.list_records().await?.try_collect().await?;
    reporter.start("scrub records", Some(keys.len() as u64));
    for k in keys {
        match store.get_record(&k).await {
            Ok(Some(rec)) => {
                for b in rec.blobs() {
                    if store.blob_size(&b.digest).await? != Some(b.size) {
                        report.records_missing_blobs.push(k.clone());
                        break;
                    }
                }
            }
            Ok(None) => {}
            Err(e @ Error::Malformed { .. }) => {
                if let Some(to) = store.quarantine_record(&k).await? {
                    report.quarantined_records.push(QuarantinedRecord {
                        key: k.clone(),
                        error: e.to_string(),
                        to,
                    });
                }
            }
            Err(e) => report.unreadable_records.push(format!("{k}: {e}")),
        }
        reporter.advance(1);
    }
    reporter.finish();
    report.quarantined.sort_by_key(|q| q.digest);
    Ok(report)
}

/// What [`gc`] should remove.
#[derive(Clone, Debug)]
pub struct GcOptions {
    /// Keep the total size of blobs at or under this many bytes, removing
    /// least-recently-used records first.
    pub max_bytes: Option<u64>,
    /// Remove records not used (served, or fetched if never served) for this long.
    pub max_unused: Option<Duration>,
    /// Remove every record whose module matches one of these GOPRIVATE-style
    /// pattern lists (`example.com/private`, `*.corp.example.com,other.org`),
    /// with Go's `module.MatchPrefixPatterns` rules (see [`module_matches`]).
    pub modules: Vec<String>,
    /// Blobs no record needs are removed only once this old, so a blob whose
    /// record is still being written is not taken.
    pub orphan_grace: Duration,
    /// Report what would be removed, remove nothing.
    pub dry_run: bool,
    /// The current time (tests pass a fixed one).
    pub now: Option<OffsetDateTime>,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            max_bytes: None,
            max_unused: None,
            modules: Vec::new(),
            orphan_grace: Duration::from_secs(3600),
            dry_run: false,
            now: None,
        }
    }
}

/// What [`gc`] removed (or would remove, with `dry_run`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Records removed because their module matched a pattern.
    pub records_by_module: Vec<RecordKey>,
    /// Records removed because they were unused for too long.
    pub records_by_age: Vec<RecordKey>,
    /// Records removed, least recently used first, to meet the size budget.
    pub records_by_size: Vec<RecordKey>,
    /// Blobs removed.
    pub blobs_removed: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Total blob bytes left.
    pub bytes_after: u64,
    /// Whether nothing was actually removed.
    pub dry_run: bool,
    /// Blob removal was skipped because some records could not be read, so
    /// it was not known which blobs they need.
    pub unreadable_records: Vec<String>,
}

/// Whether a GOPRIVATE-style pattern list (comma-separated globs, Go's
/// `module.MatchPrefixPatterns`) matches `module` or a path prefix of it.
pub fn module_matches(patterns: &str, module: &str) -> bool {
    gomod::pattern::match_prefix_patterns(patterns, module)
}

/// Removes records by module pattern, by age and by size budget (in that
/// order), then every blob no remaining record needs.
///
/// Records go first, blobs after, so no record is ever left pointing at a
/// removed blob. A blob that a remaining record names is never removed. Blobs
/// that were already orphans when gc started are removed only after
/// `orphan_grace`; blobs freed by this run's record removals go at once
/// (unless rewritten since gc listed them, which a concurrent put of the same
/// content does on the local backend).
pub async fn gc(store: &dyn Store, opts: &GcOptions, reporter: &dyn Reporter) -> Result<GcReport> {
    let now = opts.now.unwrap_or_else(OffsetDateTime::now_utc);
    let mut report = GcReport {
        dry_run: opts.dry_run,
        ..GcReport::default()
    };
    let keys: Vec<RecordKey> = store.list_records().await?.try_collect().await?;
    reporter.start("gc: read records", Some(keys.len() as u64));
    let mut records: Vec<(RecordKey, Record)> = Vec::with_capacity(keys.len());
    let mut fetched = futures::stream::iter(keys)
        .map(|k| async move {
            let r = store.get_record(&k).await;
            (k, r)
        })
        .buffer_unordered(16);
    while let Some((k, r)) = fetched.next().await {
        match r {
            Ok(Some(rec)) => records.push((k, rec)),
            Ok(None) => {}
            Err(e) => report.unreadable_records.push(format!("{k}: {e}")),
        }
        reporter.advance(1);
    }
    drop(fetched);
    reporter.finish();

    let blobs: HashMap<Digest, BlobInfo> = store
        .list_blobs()
        .await?
        .map_ok(|b| (b.digest, b))
        .try_collect()
        .await?;
    let access = crate::access::load(store).await?;
    let last_used = |k: &RecordKey, r: &Record| -> OffsetDateTime {
        access
            .get(k)
            .copied()
            .map_or(r.fetched_at, |a| a.max(r.fetched_at))
    };

    let mut refs: HashMap<Digest, u32> = HashMap::new();
    for (_, r) in &records {
        for b in r.blobs() {
            *refs.entry(b.digest).or_default() += 1;
        }
    }
    let orphans_at_start: HashSet<Digest> = blobs
        .keys()
        .filter(|d| !refs.contains_key(d))
        .copied()
        .collect();

    // Choose records to remove.
    let mut keep: Vec<(RecordKey, Record, OffsetDateTime)> = Vec::new();
    let mut remove: Vec<RecordKey> = Vec::new();
    let release = |r: &Record, refs: &mut HashMap<Digest, u32>| {
        for b in r.blobs() {
            if let Some(n) = refs.get_mut(&b.digest) {
                *n -= 1;
                if *n == 0 {
                    refs.remove(&b.digest);
                }
            }
        }
    };
    for (k, r) in records {
        let used = last_used(&k, &r);
        if opts.modules.iter().any(|p| module_matches(p, &k.module)) {
            release(&r, &mut refs);
            report.records_by_module.push(k.clone());
            remove.push(k);
        } else if opts.max_unused.is_some_and(|age| {
            now - used > time::Duration::try_from(age).unwrap_or(time::Duration::MAX)
        }) {
            release(&r, &mut refs);
            report.records_by_age.push(k.clone());
            remove.push(k);
        } else {
            keep.push((k, r, used));
        }
    }
    if let Some(budget) = opts.max_bytes {
        let size_of = |d: &Digest| blobs.get(d).map_or(0, |b| b.size);
        let mut live: u64 = refs.keys().map(size_of).sum();
        // Least recently used first; ties broken by key for a stable order.
        keep.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0)));
        let mut keep_iter = keep.into_iter();
        for (k, r, _) in keep_iter.by_ref() {
            if live <= budget {
                break;
            }
            for b in r.blobs() {
                if let Some(n) = refs.get_mut(&b.digest) {
                    *n -= 1;
                    if *n == 0 {
                        refs.remove(&b.digest);
                        live -= size_of(&b.digest);
                    }
                }
            }
            report.records_by_size.push(k.clone());
            remove.push(k);
        }
    }

    reporter.start("gc: remove records", Some(remove.len() as u64));
    if !opts.dry_run {
        for k in &remove {
            store.delete_record(k).await?;
            reporter.advance(1);
        }
        if !remove.is_empty() {
            // Forget the access times of removed records.
            let mut table = crate::access::load_table(store).await?;
            let before = table.len();
            for k in &remove {
                table.remove(&crate::access::table_key(k));
            }
            if table.len() != before {
                crate::access::save_table(store, &table).await?;
            }
        }
    }
    reporter.finish();

    let grace = time::Duration::try_from(opts.orphan_grace).unwrap_or(time::Duration::MAX);
    let mut doomed: Vec<&BlobInfo> = Vec::new();
    let mut bytes_total: u64 = blobs.values().map(|b| b.size).sum();
    if report.unreadable_records.is_empty() {
        for (d, b) in &blobs {
            if refs.contains_key(d) {
                continue;
            }
            if orphans_at_start.contains(d) {
                let young = b.modified.is_none_or(|m| now - m < grace);
                if young {
                    continue;
                }
            }
            doomed.push(b);
        }
    }
    reporter.start("gc: remove blobs", Some(doomed.len() as u64));
    for b in doomed {
        if !opts.dry_run {
            if !orphans_at_start.contains(&b.digest) && rewritten_since_listed(store, b).await? {
                continue;
            }
            store.delete_blob(&b.digest).await?;
        }
        report.blobs_removed += 1;
        report.bytes_freed += b.size;
        bytes_total -= b.size;
        reporter.advance(1);
    }
    reporter.finish();
    report.bytes_after = bytes_total;
    Ok(report)
}

/// Whether a blob's modification time moved since it was listed (a
/// concurrent put of the same content refreshes it on the local backend), or
/// it is already gone.
async fn rewritten_since_listed(store: &dyn Store, b: &BlobInfo) -> Result<bool> {
    Ok(match store.stat_blob(&b.digest).await? {
        None => true,
        // Whole seconds: listings and HEAD may report different precisions.
        Some(now) => {
            now.modified.map(|m| m.unix_timestamp()) != b.modified.map(|m| m.unix_timestamp())
        }
    })
}
