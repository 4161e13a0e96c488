//! A stored version is lost only when its blob is proven corrupt or missing.
//!
//! - A client's odd or overflowing `Range` header is answered 416 (or an
//!   exact 206, or the whole file where RFC 9110 lets a server ignore the
//!   header): never a 5xx, a dropped connection, a panic, or a forgotten
//!   record. With the upstream stopped afterwards, every file is still served.
//! - A transient store read error (an object store's 503, an `EIO`) is a 503
//!   with `Retry-After` naming the version and the store; the record stays and
//!   the next request is served from the store, with the upstream gone.
//! - A blob proven corrupt (a flipped byte) or missing is still fetched again
//!   and verified while the upstream is up.

mod common;

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::*;
use futures::stream::BoxStream;
use proxy::config::Layer;
use store::{
    BlobCheck, BlobInfo, BlobRef, BlobSource, BlobStream, Digest, Doc, DocKey, Record, RecordKey,
    Store,
};
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::server::FixtureServer;
use time::OffsetDateTime;

// ---------------------------------------------------------------------------
// Fixtures

/// A version whose zip is a few KiB: at most 1 MiB, so the store hashes it
/// whole on every read, and at most 2 MiB, so the proxy keeps it in memory.
fn small_module(path: &str, seed: u64) -> ModuleVersion {
    let data = testkit::util::pseudo_random(seed, 4 << 10);
    ModuleVersion::from_files(
        path,
        "v1.0.0",
        &[
            ("go.mod", format!("module {path}\n").as_bytes()),
            ("data.bin", &data),
        ],
    )
}

/// A version whose zip is over 2 MiB (incompressible): streamed from the
/// store in chunks, never kept in memory.
fn large_module(path: &str, seed: u64) -> ModuleVersion {
    let data = testkit::util::pseudo_random(seed, 3 << 20);
    ModuleVersion::from_files(
        path,
        "v1.0.0",
        &[
            ("go.mod", format!("module {path}\n").as_bytes()),
            ("data.bin", &data),
        ],
    )
}

fn assert_sizes(small: &ModuleVersion, large: &ModuleVersion) {
    assert!(
        small.zip.len() > 1 << 10 && small.zip.len() < 1 << 20,
        "the small zip should be a few KiB, is {} bytes",
        small.zip.len()
    );
    assert!(
        large.zip.len() > (2 << 20) + (256 << 10),
        "the large zip should be well over 2 MiB, is {} bytes",
        large.zip.len()
    );
}

const EXTS: [&str; 3] = ["info", "mod", "zip"];

fn file_bytes<'a>(mv: &'a ModuleVersion, ext: &str) -> &'a [u8] {
    match ext {
        "info" => &mv.info_json,
        "mod" => &mv.gomod,
        "zip" => &mv.zip,
        _ => unreachable!("{ext}"),
    }
}

/// The decoded upstream path of a file (what `FixtureServer` counts).
fn upstream_path(mv: &ModuleVersion, ext: &str) -> String {
    format!("/{}/@v/{}.{ext}", mv.path, mv.version)
}

fn file_url(base: &str, mv: &ModuleVersion, ext: &str) -> String {
    format!("{base}/{}/@v/{}.{ext}", mv.path, mv.version)
}

/// Flags for a proxy in front of `upstream`, failing fast once it is gone.
fn test_flags(upstream: &FixtureServer, vkey: &str) -> Layer {
    test_flags_at(&upstream.base_url(), vkey)
}

/// [`test_flags`] for an upstream (and its checksum database) at `base`.
fn test_flags_at(base: &str, vkey: &str) -> Layer {
    Layer {
        upstream: Some(base.to_string()),
        sumdb: Some(vec![format!("{vkey} {base}/sumdb/{DB_NAME}")]),
        upstream_attempts: Some(1),
        upstream_timeout: Some(2),
        request_deadline: Some(5),
        ..Layer::default()
    }
}

// ---------------------------------------------------------------------------
// HTTP

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        // A connection a panic dropped is never reused for the next case.
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// What one exchange gave.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    /// `Err`: the body was cut short.
    body: Result<Bytes, String>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn describe(&self) -> String {
        let body = match &self.body {
            Err(e) => format!("body cut short: {e}"),
            Ok(b) if b.len() <= 300 && std::str::from_utf8(b).is_ok() => {
                format!("{} body bytes {:?}", b.len(), String::from_utf8_lossy(b))
            }
            Ok(b) => format!("{} body bytes", b.len()),
        };
        format!(
            "{} (Content-Range {:?}, Content-Type {:?}, Retry-After {:?}, {body})",
            self.status,
            self.header("content-range"),
            self.header("content-type"),
            self.header("retry-after"),
        )
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Sends one request; `Err` when no answer came (connection dropped).
async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    range: Option<&str>,
) -> Result<Answer, String> {
    let mut req = client.request(method, url);
    if let Some(r) = range {
        req = req.header(reqwest::header::RANGE, r);
    }
    let resp = req.send().await.map_err(|e| error_chain(&e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| error_chain(&e));
    Ok(Answer {
        status,
        headers,
        body,
    })
}

async fn get(client: &reqwest::Client, url: &str) -> Result<Answer, String> {
    send(client, reqwest::Method::GET, url, None).await
}

/// `Ok` when `url` answers 200 with exactly `want`; else what it did.
async fn served_exactly(client: &reqwest::Client, url: &str, want: &[u8]) -> Result<(), String> {
    let a = get(client, url)
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    match &a.body {
        Ok(b) if a.status == 200 && b.as_ref() == want => Ok(()),
        Ok(b) if a.status == 200 => Err(format!(
            "200 but the body differs ({} bytes, want {})",
            b.len(),
            want.len()
        )),
        _ => Err(a.describe()),
    }
}

/// Fetches every file of `mv` through the proxy (the upstream must be up).
async fn warm(client: &reqwest::Client, base: &str, mv: &ModuleVersion) {
    for ext in EXTS {
        let url = file_url(base, mv, ext);
        if let Err(e) = served_exactly(client, &url, file_bytes(mv, ext)).await {
            panic!("warming {url}: {e}");
        }
    }
}

// ---------------------------------------------------------------------------
// Ranges

/// What a range request may be answered with.
#[derive(Debug, Clone, PartialEq)]
enum Allowed {
    /// 206 with exactly this slice and `Content-Range: bytes a-b/size`.
    Partial(Range<u64>),
    /// 206 covering these ranges: one part spanning them (coalesced) or a
    /// `multipart/byteranges` body holding each.
    Parts(Vec<Range<u64>>),
    /// 200 with the whole file (RFC 9110 lets a server ignore this header).
    Whole,
    /// 416 with `Content-Range: bytes */<size>`.
    Unsatisfiable,
}

use Allowed::{Partial, Parts, Unsatisfiable, Whole};

/// Every odd range of a file of `size` bytes and what may answer it.
fn range_cases(size: u64) -> Vec<(String, Vec<Allowed>)> {
    let max = u64::MAX;
    vec![
        // Overflows `last + 1`.
        (format!("bytes=1-{max}"), vec![Partial(1..size)]),
        (format!("bytes={max}-"), vec![Unsatisfiable]),
        // A suffix longer than the file is the whole file (RFC 9110 14.1.2).
        (format!("bytes=-{max}"), vec![Partial(0..size), Whole]),
        (format!("bytes={}-{max}", max - 1), vec![Unsatisfiable]),
        // Past u64 altogether.
        (
            "bytes=1-18446744073709551616".into(),
            vec![Partial(1..size), Unsatisfiable, Whole],
        ),
        (
            "bytes=18446744073709551616-".into(),
            vec![Unsatisfiable, Whole],
        ),
        // Invalid (last < first): a server may ignore or reject it.
        ("bytes=5-1".into(), vec![Unsatisfiable, Whole]),
        ("bytes=0-0".into(), vec![Partial(0..1)]),
        // A zero-length suffix is unsatisfiable.
        ("bytes=-0".into(), vec![Unsatisfiable, Whole]),
        ("bytes=abc".into(), vec![Whole, Unsatisfiable]),
        ("bytes=".into(), vec![Whole, Unsatisfiable]),
        ("bytes=-".into(), vec![Whole, Unsatisfiable]),
        (
            "bytes= 0 - 9 ".into(),
            vec![Partial(0..10), Whole, Unsatisfiable],
        ),
        ("items=0-9".into(), vec![Whole]),
        (
            "bytes=0-9,20-29".into(),
            vec![Parts(vec![0..10, 20..30]), Whole],
        ),
        // The last ten bytes, ending at size - 1 and at size.
        (
            format!("bytes={}-{}", size - 10, size - 1),
            vec![Partial(size - 10..size)],
        ),
        (
            format!("bytes={}-{}", size - 10, size),
            vec![Partial(size - 10..size)],
        ),
        (
            format!("bytes={}-", size - 1),
            vec![Partial(size - 1..size)],
        ),
        ("bytes=-1".into(), vec![Partial(size - 1..size)]),
        ("bytes=0-".into(), vec![Partial(0..size)]),
        (format!("bytes={size}-"), vec![Unsatisfiable]),
        (format!("bytes={size}-{size}"), vec![Unsatisfiable]),
        (format!("bytes={size}-{max}"), vec![Unsatisfiable]),
    ]
}

/// Parses `bytes a-b/size` into `a..b+1` and `size`.
fn parse_content_range(v: &str) -> Option<(Range<u64>, u64)> {
    let rest = v.strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b, total): (u64, u64, u64) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    (a <= b).then_some((a..b.checked_add(1)?, total))
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `Ok` when `a` is one of `allowed` for a file `want` (`head`: a HEAD
/// request, so no body but the same headers).
fn judge(a: &Answer, want: &[u8], head: bool, allowed: &[Allowed]) -> Result<(), String> {
    let size = want.len() as u64;
    let body = a
        .body
        .as_ref()
        .map_err(|e| format!("body cut short: {e}"))?;
    if head && !body.is_empty() {
        return Err(format!("HEAD answered with {} body bytes", body.len()));
    }
    let content_length = a
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let sliced = |r: &Range<u64>| &want[r.start as usize..r.end as usize];
    match a.status {
        200 if allowed.contains(&Whole) => {
            if head {
                if content_length != Some(size) {
                    return Err(format!(
                        "200 to HEAD with Content-Length {content_length:?}, want {size}"
                    ));
                }
            } else if body.as_ref() != want {
                return Err(format!(
                    "200 but the body is not the file ({} bytes, want {size})",
                    body.len()
                ));
            }
            Ok(())
        }
        416 if allowed.contains(&Unsatisfiable) => {
            let want_cr = format!("bytes */{size}");
            if a.header("content-range") != Some(want_cr.as_str()) {
                return Err(format!(
                    "416 with Content-Range {:?}, want {want_cr:?}",
                    a.header("content-range")
                ));
            }
            Ok(())
        }
        206 => {
            let parts = allowed.iter().find_map(|x| match x {
                Parts(p) => Some(p),
                _ => None,
            });
            let ctype = a.header("content-type").unwrap_or_default();
            if ctype.starts_with("multipart/byteranges") {
                let Some(parts) = parts else {
                    return Err("a multipart/byteranges answer to a single range".into());
                };
                if !head {
                    for r in parts {
                        let cr = format!("bytes {}-{}/{size}", r.start, r.end - 1);
                        if !find(body, cr.as_bytes()) || !find(body, sliced(r)) {
                            return Err(format!("the multipart body lacks the part {cr}"));
                        }
                    }
                }
                return Ok(());
            }
            let cr = a.header("content-range").unwrap_or_default();
            let Some((got, total)) = parse_content_range(cr) else {
                return Err(format!("206 with Content-Range {cr:?}"));
            };
            if total != size || got.end > size {
                return Err(format!(
                    "206 with Content-Range {cr:?} for a file of {size} bytes"
                ));
            }
            let fits = allowed.iter().any(|x| match x {
                Partial(r) => *r == got,
                Parts(p) => p.iter().all(|r| got.start <= r.start && r.end <= got.end),
                _ => false,
            });
            if !fits {
                return Err(format!(
                    "206 with Content-Range {cr:?}, want one of {allowed:?}"
                ));
            }
            if content_length != Some(got.end - got.start) {
                return Err(format!(
                    "206 {cr:?} with Content-Length {content_length:?}, want {}",
                    got.end - got.start
                ));
            }
            if !head && body.as_ref() != sliced(&got) {
                return Err(format!(
                    "206 {cr:?} but the body is not that slice of the file ({} bytes)",
                    body.len()
                ));
            }
            Ok(())
        }
        s => Err(format!("status {s}; want one of {allowed:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflowing_and_odd_ranges_are_416_or_exact_206_and_never_lose_the_version() {
    let small = small_module("example.com/rangesmall", 11);
    let large = large_module("example.com/rangelarge", 12);
    assert_sizes(&small, &large);
    let mut set = FixtureSet::new();
    set.add(small.clone()).add(large.clone());
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let flags = test_flags(&upstream, &vkey);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags.clone(), dir.path()).await;
    let client = client();
    let versions = [&small, &large];
    for mv in versions {
        warm(&client, &proxy.base, mv).await;
        // Twice: the second answer of the small zip comes from memory.
        warm(&client, &proxy.base, mv).await;
    }

    let mut failures = Vec::new();
    for mv in versions {
        let want = &mv.zip;
        let url = file_url(&proxy.base, mv, "zip");
        let mut cases: Vec<(reqwest::Method, String, Vec<Allowed>)> =
            range_cases(want.len() as u64)
                .into_iter()
                .map(|(r, a)| (reqwest::Method::GET, r, a))
                .collect();
        // HEAD parses the range too.
        cases.extend(
            range_cases(want.len() as u64)
                .into_iter()
                .take(4)
                .map(|(r, a)| (reqwest::Method::HEAD, r, a)),
        );
        for (method, range, allowed) in cases {
            let label = format!(
                "{} .zip ({} bytes): {method} Range: {range:?}",
                mv.id(),
                want.len()
            );
            match send(&client, method.clone(), &url, Some(&range)).await {
                Err(e) => failures.push(format!(
                    "{label}: no answer, the connection was dropped (a panic in the handler?): {e}"
                )),
                Ok(a) => {
                    if let Err(why) = judge(&a, want, method == reqwest::Method::HEAD, &allowed) {
                        failures.push(format!("{label}: got {}: {why}", a.describe()));
                    }
                }
            }
            if !proxy.is_running() {
                failures.push(format!("{label}: the server task ended"));
                panic!("{}", failures.join("\n"));
            }
        }
    }

    // No range request made the proxy forget the version and fetch it again.
    for mv in versions {
        for ext in EXTS {
            let n = upstream.request_count(&upstream_path(mv, ext));
            if n != 1 {
                failures.push(format!(
                    "{}.{ext} was fetched from the upstream {n} times, want once: a range request made the proxy forget its stored copy",
                    mv.id()
                ));
            }
        }
        match proxy.record(&mv.path, &mv.version).await {
            Some(rec) if rec.zip.is_some() => {}
            other => failures.push(format!(
                "after the range requests the store's record of {} is {other:?}",
                mv.id()
            )),
        }
    }
    match get(&client, &format!("{}/healthz", proxy.base)).await {
        Ok(a) if a.status == 200 => {}
        Ok(a) => failures.push(format!("/healthz answered {}", a.describe())),
        Err(e) => failures.push(format!("/healthz did not answer: {e}")),
    }
    assert!(proxy.is_running(), "the server task ended");

    // With the upstream gone every file is still served: by this instance,
    // and by a fresh one on the same store (nothing in memory).
    upstream.stop().await;
    for mv in versions {
        for ext in EXTS {
            let url = file_url(&proxy.base, mv, ext);
            if let Err(e) = served_exactly(&client, &url, file_bytes(mv, ext)).await {
                failures.push(format!(
                    "upstream stopped, same instance: {}.{ext}: {e} (the stored version was lost)",
                    mv.id()
                ));
            }
        }
    }
    proxy.stop().await;
    let fresh = start_proxy(flags, dir.path()).await;
    for mv in versions {
        for ext in EXTS {
            let url = file_url(&fresh.base, mv, ext);
            if let Err(e) = served_exactly(&client, &url, file_bytes(mv, ext)).await {
                failures.push(format!(
                    "upstream stopped, fresh instance on the same store: {}.{ext}: {e} (the stored version was lost)",
                    mv.id()
                ));
            }
        }
    }
    fresh.stop().await;
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// A store whose reads fail on demand

/// The error an injected read failure returns. Today `store::Error` has no
/// variant that says "transient": an object store's 503 is
/// `Error::Backend { source: object_store::Error::Generic { .. } }` and a
/// local read error (`EIO`) is `Error::Io`. This is the latter; switch it
/// here once the store has a transient variant.
/// `path` never names the module version, so that the proxy's message has
/// to.
fn transient_store_error(path: &str) -> store::Error {
    store::Error::Io {
        path: format!("injected-fault/{path}").into(),
        source: std::io::Error::from_raw_os_error(5), // EIO
    }
}

/// Fails every read while armed; `n` of [`FlakyStore::fail_blob_reads`].
const UNTIL_DISARMED: usize = usize::MAX;

/// A [`Store`] that delegates to a real one and fails the next N
/// `get_blob` (and, separately, `get_record`) calls with
/// [`transient_store_error`]; it counts reads and deletions.
struct FlakyStore {
    inner: store::local::LocalStore,
    blob_failures_left: AtomicUsize,
    record_failures_left: AtomicUsize,
    blob_reads: AtomicUsize,
    blob_reads_failed: AtomicUsize,
    record_reads: AtomicUsize,
    record_reads_failed: AtomicUsize,
    records_deleted: AtomicUsize,
    records_quarantined: AtomicUsize,
}

impl FlakyStore {
    fn new(inner: store::local::LocalStore) -> FlakyStore {
        FlakyStore {
            inner,
            blob_failures_left: AtomicUsize::new(0),
            record_failures_left: AtomicUsize::new(0),
            blob_reads: AtomicUsize::new(0),
            blob_reads_failed: AtomicUsize::new(0),
            record_reads: AtomicUsize::new(0),
            record_reads_failed: AtomicUsize::new(0),
            records_deleted: AtomicUsize::new(0),
            records_quarantined: AtomicUsize::new(0),
        }
    }

    /// Fails the next `n` `get_blob` calls.
    fn fail_blob_reads(&self, n: usize) {
        self.blob_failures_left.store(n, Ordering::SeqCst);
    }

    /// Fails the next `n` `get_record` calls.
    fn fail_record_reads(&self, n: usize) {
        self.record_failures_left.store(n, Ordering::SeqCst);
    }

    fn disarm(&self) {
        self.fail_blob_reads(0);
        self.fail_record_reads(0);
    }

    fn count(c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }

    /// Takes one failure from `left`, if any is left.
    fn take(left: &AtomicUsize) -> bool {
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
            0 => None,
            UNTIL_DISARMED => Some(UNTIL_DISARMED),
            n => Some(n - 1),
        })
        .is_ok()
    }
}

#[async_trait]
impl Store for FlakyStore {
    async fn put_blob(&self, src: BlobSource) -> store::Result<BlobRef> {
        self.inner.put_blob(src).await
    }

    async fn get_blob(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> store::Result<BlobStream> {
        self.blob_reads.fetch_add(1, Ordering::SeqCst);
        if Self::take(&self.blob_failures_left) {
            self.blob_reads_failed.fetch_add(1, Ordering::SeqCst);
            return Err(transient_store_error(&digest.hex()));
        }
        self.inner.get_blob(digest, range).await
    }

    async fn stat_blob(&self, digest: &Digest) -> store::Result<Option<BlobInfo>> {
        self.inner.stat_blob(digest).await
    }

    async fn verify_blob(&self, digest: &Digest) -> store::Result<BlobCheck> {
        self.inner.verify_blob(digest).await
    }

    async fn delete_blob(&self, digest: &Digest) -> store::Result<()> {
        self.inner.delete_blob(digest).await
    }

    async fn list_blobs(&self) -> store::Result<BoxStream<'static, store::Result<BlobInfo>>> {
        self.inner.list_blobs().await
    }

    async fn put_record(&self, key: &RecordKey, rec: &Record) -> store::Result<()> {
        self.inner.put_record(key, rec).await
    }

    async fn get_record(&self, key: &RecordKey) -> store::Result<Option<Record>> {
        self.record_reads.fetch_add(1, Ordering::SeqCst);
        if Self::take(&self.record_failures_left) {
            self.record_reads_failed.fetch_add(1, Ordering::SeqCst);
            return Err(transient_store_error("index"));
        }
        self.inner.get_record(key).await
    }

    async fn delete_record(&self, key: &RecordKey) -> store::Result<()> {
        self.records_deleted.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_record(key).await
    }

    async fn quarantine_record(&self, key: &RecordKey) -> store::Result<Option<String>> {
        self.records_quarantined.fetch_add(1, Ordering::SeqCst);
        self.inner.quarantine_record(key).await
    }

    async fn list_records(&self) -> store::Result<BoxStream<'static, store::Result<RecordKey>>> {
        self.inner.list_records().await
    }

    async fn put_doc(
        &self,
        key: &DocKey,
        bytes: Bytes,
        fetched_at: OffsetDateTime,
    ) -> store::Result<()> {
        self.inner.put_doc(key, bytes, fetched_at).await
    }

    async fn get_doc(&self, key: &DocKey) -> store::Result<Option<Doc>> {
        self.inner.get_doc(key).await
    }

    async fn delete_doc(&self, key: &DocKey) -> store::Result<()> {
        self.inner.delete_doc(key).await
    }

    async fn blob_size(&self, digest: &Digest) -> store::Result<Option<u64>> {
        self.inner.blob_size(digest).await
    }

    async fn has_blob(&self, digest: &Digest) -> store::Result<bool> {
        self.inner.has_blob(digest).await
    }
}

/// A proxy on a [`FlakyStore`] over a local store in `dir`, with the hot
/// cache off (`hot_cache_mib = 0`) so that every `.info`, `.mod` and small
/// zip answer reads the store and can meet an injected error.
async fn start_on_flaky(
    upstream: &FixtureServer,
    vkey: &str,
    dir: &std::path::Path,
) -> (Proxy, Arc<FlakyStore>) {
    start_on_flaky_at(&upstream.base_url(), vkey, dir).await
}

/// [`start_on_flaky`] for an upstream at `base`.
async fn start_on_flaky_at(
    base: &str,
    vkey: &str,
    dir: &std::path::Path,
) -> (Proxy, Arc<FlakyStore>) {
    let local = store::local::LocalStore::open(dir).await.unwrap();
    let flaky = Arc::new(FlakyStore::new(local));
    let mut flags = test_flags_at(base, vkey);
    flags.hot_cache_mib = Some(0);
    let proxy = start_proxy_on_store(flags, dir, flaky.clone()).await;
    (proxy, flaky)
}

/// `Ok` when `a` is the answer to a store failure: 503, a `Retry-After` of
/// whole seconds (or an HTTP date), not cacheable, and a one-line body
/// naming `module@version` and the store.
fn is_store_unavailable(a: &Answer, mv: &ModuleVersion) -> Result<(), String> {
    let mut why = Vec::new();
    if a.status != 503 {
        why.push(format!("status {}, want 503", a.status));
    }
    match a.header("retry-after") {
        None => why.push("no Retry-After header".into()),
        Some(v) if v.trim().parse::<u64>().is_ok_and(|s| s >= 1) || v.ends_with(" GMT") => {}
        Some(v) => why.push(format!(
            "Retry-After {v:?} is neither seconds >= 1 nor a date"
        )),
    }
    if let Some(cc) = a.header("cache-control")
        && (cc.contains("immutable") || cc.contains("max-age=31536000"))
    {
        why.push(format!("an error marked cacheable: Cache-Control {cc:?}"));
    }
    match &a.body {
        Err(e) => why.push(format!("body cut short: {e}")),
        Ok(b) => {
            let text = String::from_utf8_lossy(b);
            let line = text.strip_suffix('\n').unwrap_or(&text);
            if line.is_empty() || line.contains('\n') {
                why.push("body is not one line".into());
            }
            if !line.contains(&mv.id()) {
                why.push(format!("body does not name {}", mv.id()));
            }
            let lower = line.to_ascii_lowercase();
            if !lower.contains("store") && !lower.contains("storage") {
                why.push("body does not say the store failed".into());
            }
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", a.describe(), why.join("; ")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_read_error_is_a_503_with_retry_after_and_the_record_stays() {
    let small = small_module("example.com/flakysmall", 21);
    let large = large_module("example.com/flakylarge", 22);
    assert_sizes(&small, &large);
    let mut set = FixtureSet::new();
    set.add(small.clone()).add(large.clone());
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let dir = tempfile::tempdir().unwrap();
    let (proxy, flaky) = start_on_flaky(&upstream, &vkey, dir.path()).await;
    let client = client();
    let versions = [&small, &large];
    for mv in versions {
        warm(&client, &proxy.base, mv).await;
    }
    upstream.stop().await;

    // Served from the store with the upstream gone, each answer a store read
    // (else this test could not inject anything).
    for mv in versions {
        for ext in EXTS {
            let reads = FlakyStore::count(&flaky.blob_reads);
            let url = file_url(&proxy.base, mv, ext);
            if let Err(e) = served_exactly(&client, &url, file_bytes(mv, ext)).await {
                panic!("before any fault, upstream stopped: {url}: {e}");
            }
            assert!(
                FlakyStore::count(&flaky.blob_reads) > reads,
                "{}.{ext} was answered without reading the store (hot_cache_mib = 0 should leave no copy in memory), so no error can be injected",
                mv.id()
            );
        }
    }

    // Every store read fails: each request is a 503, twice in a row, and
    // nothing is forgotten.
    let mut failures = Vec::new();
    // (Warming may have replaced a go.mod-only record by one with its zip.)
    let deleted_before = FlakyStore::count(&flaky.records_deleted);
    flaky.fail_blob_reads(UNTIL_DISARMED);
    for mv in versions {
        for ext in EXTS {
            for attempt in 1..=2 {
                let failed = FlakyStore::count(&flaky.blob_reads_failed);
                let deleted = FlakyStore::count(&flaky.records_deleted);
                let label = format!(
                    "store failing, upstream stopped: {}.{ext} #{attempt}",
                    mv.id()
                );
                match get(&client, &file_url(&proxy.base, mv, ext)).await {
                    Err(e) => failures.push(format!("{label}: no answer: {e}")),
                    Ok(a) => {
                        if let Err(why) = is_store_unavailable(&a, mv) {
                            failures.push(format!("{label}: {why}"));
                        }
                    }
                }
                if FlakyStore::count(&flaky.blob_reads_failed) == failed {
                    failures.push(format!(
                        "{label}: answered without reading the store, so no error was injected (was its record already forgotten?)"
                    ));
                }
                if FlakyStore::count(&flaky.records_deleted) != deleted {
                    failures.push(format!("{label}: this request deleted the record"));
                }
            }
        }
    }
    let deleted = FlakyStore::count(&flaky.records_deleted) - deleted_before;
    if deleted != 0 {
        failures.push(format!(
            "delete_record was called {deleted} times while store reads failed: a transient store error made the proxy forget a version"
        ));
    }
    for mv in versions {
        match flaky
            .inner
            .get_record(&RecordKey::new(&mv.path, &mv.version))
            .await
        {
            Ok(Some(rec)) if rec.zip.is_some() => {}
            other => failures.push(format!(
                "after the store errors the record of {} is {other:?}, want it kept",
                mv.id()
            )),
        }
    }

    // The store recovers: everything is served from it, the upstream still
    // stopped.
    flaky.disarm();
    for mv in versions {
        for ext in EXTS {
            let url = file_url(&proxy.base, mv, ext);
            if let Err(e) = served_exactly(&client, &url, file_bytes(mv, ext)).await {
                failures.push(format!(
                    "store recovered, upstream stopped: {}.{ext}: {e} (the stored version was lost)",
                    mv.id()
                ));
            }
        }
    }
    assert!(proxy.is_running(), "the server task ended");
    proxy.stop().await;
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_transient_store_read_error_does_not_lose_the_version() {
    let small = small_module("example.com/blipsmall", 31);
    let large = large_module("example.com/bliplarge", 32);
    assert_sizes(&small, &large);
    let mut set = FixtureSet::new();
    set.add(small.clone()).add(large.clone());
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let dir = tempfile::tempdir().unwrap();
    let (proxy, flaky) = start_on_flaky(&upstream, &vkey, dir.path()).await;
    let client = client();
    let versions = [&small, &large];
    for mv in versions {
        warm(&client, &proxy.base, mv).await;
    }
    upstream.stop().await;

    // One read fails (one object-store 503): that request may be retried
    // inside the proxy (200) or answered 503; the next one is served.
    let mut failures = Vec::new();
    let deleted_before = FlakyStore::count(&flaky.records_deleted);
    for mv in versions {
        for ext in EXTS {
            let label = format!(
                "one store read failing, upstream stopped: {}.{ext}",
                mv.id()
            );
            let want = file_bytes(mv, ext);
            let url = file_url(&proxy.base, mv, ext);
            let deleted = FlakyStore::count(&flaky.records_deleted);
            flaky.fail_blob_reads(1);
            match get(&client, &url).await {
                Err(e) => failures.push(format!("{label}: no answer: {e}")),
                Ok(a) if a.status == 200 => {
                    if a.body.as_deref().ok() != Some(want) {
                        failures.push(format!(
                            "{label}: 200 with the wrong body: {}",
                            a.describe()
                        ));
                    }
                }
                Ok(a) => {
                    if let Err(why) = is_store_unavailable(&a, mv) {
                        failures.push(format!("{label}: neither the file nor a 503: {why}"));
                    }
                }
            }
            if FlakyStore::count(&flaky.blob_failures_left) != 0 {
                failures.push(format!(
                    "{label}: answered without reading the store, so no error was injected (was its record already forgotten?)"
                ));
            }
            if FlakyStore::count(&flaky.records_deleted) != deleted {
                failures.push(format!("{label}: this request deleted the record"));
            }
            flaky.disarm();
            if let Err(e) = served_exactly(&client, &url, want).await {
                failures.push(format!(
                    "{label}: the request after it: {e} (the stored version was lost)"
                ));
            }
        }
    }
    let deleted = FlakyStore::count(&flaky.records_deleted) - deleted_before;
    if deleted != 0 {
        failures.push(format!(
            "delete_record was called {deleted} times: one transient store error made the proxy forget a version"
        ));
    }
    proxy.stop().await;
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_read_error_is_a_503_and_the_version_is_served_once_the_store_recovers() {
    let small = small_module("example.com/recflaky", 41);
    let mut set = FixtureSet::new();
    set.add(small.clone());
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = start_on_flaky(&upstream, &vkey, dir.path()).await;
    warm(&client(), &first.base, &small).await;
    first.stop().await;
    let gone = upstream.base_url();
    upstream.stop().await;
    // A fresh instance: no record in memory, so every request reads it.
    let (proxy, flaky) = start_on_flaky_at(&gone, &vkey, dir.path()).await;
    let client = client();
    let mut failures = Vec::new();
    flaky.fail_record_reads(UNTIL_DISARMED);
    for ext in EXTS {
        let label = format!(
            "record reads failing, upstream stopped: {}.{ext}",
            small.id()
        );
        let failed = FlakyStore::count(&flaky.record_reads_failed);
        match get(&client, &file_url(&proxy.base, &small, ext)).await {
            Err(e) => failures.push(format!("{label}: no answer: {e}")),
            Ok(a) => {
                if let Err(why) = is_store_unavailable(&a, &small) {
                    failures.push(format!("{label}: {why}"));
                }
            }
        }
        if FlakyStore::count(&flaky.record_reads_failed) == failed {
            failures.push(format!(
                "{label}: answered without reading the record, so no error was injected"
            ));
        }
    }
    let (deleted, quarantined) = (
        FlakyStore::count(&flaky.records_deleted),
        FlakyStore::count(&flaky.records_quarantined),
    );
    if deleted + quarantined != 0 {
        failures.push(format!(
            "while record reads failed, delete_record was called {deleted} and quarantine_record {quarantined} times"
        ));
    }
    flaky.disarm();
    for ext in EXTS {
        let url = file_url(&proxy.base, &small, ext);
        if let Err(e) = served_exactly(&client, &url, file_bytes(&small, ext)).await {
            failures.push(format!(
                "store recovered, upstream stopped: {}.{ext}: {e}",
                small.id()
            ));
        }
    }
    proxy.stop().await;
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Proven corrupt or missing: fetched again

fn blob_path(store_dir: &std::path::Path, blob: &BlobRef) -> std::path::PathBuf {
    let hex = blob.digest.hex();
    store_dir.join("data/sha256").join(&hex[..2]).join(&hex)
}

fn quarantined(store_dir: &std::path::Path, blob: &BlobRef) -> bool {
    let hex = blob.digest.hex();
    std::fs::read_dir(store_dir.join("quarantine/sha256"))
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(&hex))
        })
        .unwrap_or(false)
}

fn flip_byte(path: &std::path::Path, at: usize) {
    testkit::util::make_writable(path);
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_proven_corrupt_or_missing_is_fetched_again_and_verified() {
    let small = small_module("example.com/rotsmall", 51);
    let gone = small_module("example.com/gonemod", 52);
    let large = large_module("example.com/rotlarge", 53);
    assert_sizes(&small, &large);
    let mut set = FixtureSet::new();
    set.add(small.clone()).add(gone.clone()).add(large.clone());
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let flags = test_flags(&upstream, &vkey);
    let dir = tempfile::tempdir().unwrap();
    let client = client();
    let versions = [&small, &gone, &large];

    let first = start_proxy(flags.clone(), dir.path()).await;
    let mut before = Vec::new();
    for mv in versions {
        warm(&client, &first.base, mv).await;
        before.push(first.record(&mv.path, &mv.version).await.unwrap());
    }
    first.stop().await;

    // While no instance has them in memory: a byte of the small zip flips,
    // the .mod blob of another version disappears, a byte in the middle of
    // the large zip flips.
    let small_zip = before[0].zip.unwrap();
    let gone_mod = before[1].gomod;
    let large_zip = before[2].zip.unwrap();
    flip_byte(&blob_path(dir.path(), &small_zip), 10);
    std::fs::remove_file(blob_path(dir.path(), &gone_mod)).unwrap();
    flip_byte(&blob_path(dir.path(), &large_zip), large.zip.len() / 2);

    let second = start_proxy(flags.clone(), dir.path()).await;
    let mut failures = Vec::new();

    // The small zip is hashed whole before it is served: the first answer
    // is already the verified refetch.
    let url = file_url(&second.base, &small, "zip");
    if let Err(e) = served_exactly(&client, &url, &small.zip).await {
        failures.push(format!("corrupt small zip: {e}"));
    }
    let n = upstream.request_count(&upstream_path(&small, "zip"));
    if n != 2 {
        failures.push(format!("corrupt small zip fetched {n} times, want 2"));
    }
    if !quarantined(dir.path(), &small_zip) {
        failures.push("the corrupt small zip is not in quarantine/sha256".into());
    }

    // The missing .mod is fetched again.
    let url = file_url(&second.base, &gone, "mod");
    if let Err(e) = served_exactly(&client, &url, &gone.gomod).await {
        failures.push(format!("missing .mod: {e}"));
    }
    let n = upstream.request_count(&upstream_path(&gone, "mod"));
    if n != 2 {
        failures.push(format!("missing .mod fetched {n} times, want 2"));
    }
    if !blob_path(dir.path(), &gone_mod).exists() {
        failures.push("the missing .mod blob was not stored again".into());
    }

    // The large zip streams: the first download is cut short (never a
    // complete wrong file) and quarantines it; the next is the refetch.
    let url = file_url(&second.base, &large, "zip");
    match get(&client, &url).await {
        Ok(a) => {
            if let Ok(b) = &a.body
                && a.status == 200
                && b.len() == large.zip.len()
                && *b != large.zip
            {
                failures.push("a complete corrupt large zip was served".into());
            }
        }
        Err(e) => eprintln!("first read of the corrupt large zip: {e}"),
    }
    if let Err(e) = served_exactly(&client, &url, &large.zip).await {
        failures.push(format!("corrupt large zip, the request after: {e}"));
    }
    let n = upstream.request_count(&upstream_path(&large, "zip"));
    if n != 2 {
        failures.push(format!("corrupt large zip fetched {n} times, want 2"));
    }
    if !quarantined(dir.path(), &large_zip) {
        failures.push("the corrupt large zip is not in quarantine/sha256".into());
    }

    // The records repaired name the same content, the zip included.
    for (mv, old) in versions.iter().zip(&before) {
        let rec = second.record(&mv.path, &mv.version).await;
        let same = rec
            .as_ref()
            .is_some_and(|rec| rec.same_content(old) && rec.zip.is_some());
        if !same {
            failures.push(format!(
                "the record of {} after the refetch is {rec:?}, want the content of {old:?}",
                mv.id()
            ));
        }
    }
    second.stop().await;

    // What was fetched again stays: a fresh instance serves it with the
    // upstream gone.
    upstream.stop().await;
    let third = start_proxy(flags, dir.path()).await;
    for mv in versions {
        for ext in EXTS {
            let url = file_url(&third.base, mv, ext);
            if let Err(e) = served_exactly(&client, &url, file_bytes(mv, ext)).await {
                failures.push(format!(
                    "upstream stopped, after the repair: {}.{ext}: {e}",
                    mv.id()
                ));
            }
        }
    }
    third.stop().await;
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_mod_blob_went_missing_keeps_its_zip() {
    let mv = small_module("example.com/modgone", 61);
    let mut set = FixtureSet::new();
    set.add(mv.clone());
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let flags = test_flags(&upstream, &vkey);
    let dir = tempfile::tempdir().unwrap();
    let client = client();
    let first = start_proxy(flags.clone(), dir.path()).await;
    warm(&client, &first.base, &mv).await;
    let before = first.record(&mv.path, &mv.version).await.unwrap();
    first.stop().await;
    std::fs::remove_file(blob_path(dir.path(), &before.gomod)).unwrap();

    // The .mod is asked for, found missing, fetched again and verified.
    let second = start_proxy(flags.clone(), dir.path()).await;
    let url = file_url(&second.base, &mv, "mod");
    if let Err(e) = served_exactly(&client, &url, &mv.gomod).await {
        panic!("the missing .mod was not fetched again: {e}");
    }
    let after = second.record(&mv.path, &mv.version).await;
    second.stop().await;

    // Its verified zip, intact in the store all along, is still part of the
    // version: served with the upstream gone.
    upstream.stop().await;
    let third = start_proxy(flags, dir.path()).await;
    let zip = served_exactly(&client, &file_url(&third.base, &mv, "zip"), &mv.zip).await;
    third.stop().await;
    assert!(
        zip.is_ok() && after.as_ref().is_some_and(|r| r.same_content(&before)),
        "repairing the .mod of {} dropped its zip from the version: the record after is {after:?} (before: {before:?}); with the upstream stopped the .zip answered {zip:?}",
        mv.id()
    );
}
