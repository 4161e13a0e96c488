//! The conformance suite every `Store` backend runs.
//!
//! A backend's test file provides a factory that makes a fresh, empty store
//! plus a way to damage a blob in place, and calls [`run_all`].
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use store::maint::{self, GcOptions, NoReporter, ScrubOptions};
use store::{AccessTracker, BlobRef, BlobSource, Digest, DocKey, Error, Record, RecordKey, Store};
use time::OffsetDateTime;

/// A fresh store and a way to flip a byte of one of its blobs.
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub corrupt: Box<dyn Fn(Digest) -> BoxFuture<'static, ()> + Send + Sync>,
    /// Writes raw bytes at a relative key (`store::keys`), behind the
    /// backend's back.
    pub overwrite: Overwriter,
}

/// See [`Harness::overwrite`].
pub type Overwriter = Box<dyn Fn(String, Vec<u8>) -> BoxFuture<'static, ()> + Send + Sync>;

/// Writes raw bytes at a key of an object store, behind the backend's back.
pub fn object_overwriter(
    os: Arc<dyn object_store::ObjectStore>,
    be: store::object::ObjectStoreBackend,
) -> Overwriter {
    Box::new(move |key: String, bytes: Vec<u8>| {
        let os = os.clone();
        let p = be.path(&key);
        Box::pin(async move {
            os.put(&p, Bytes::from(bytes).into()).await.unwrap();
        })
    })
}

/// Flips a byte of a blob stored in an object store, behind the backend's back.
pub fn object_corruptor(
    os: Arc<dyn object_store::ObjectStore>,
    be: store::object::ObjectStoreBackend,
) -> Box<dyn Fn(Digest) -> BoxFuture<'static, ()> + Send + Sync> {
    Box::new(move |d: Digest| {
        let os = os.clone();
        let p = be.path(&store::keys::blob(&d));
        Box::pin(async move {
            let b = os.get(&p).await.unwrap().bytes().await.unwrap();
            let mut v = b.to_vec();
            let i = v.len() / 2;
            v[i] ^= 0x20;
            os.put(&p, Bytes::from(v).into()).await.unwrap();
        })
    })
}

/// Runs every conformance test, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Harness>,
{
    macro_rules! run {
        ($($t:ident),* $(,)?) => {$(
            eprintln!("conformance: {}", stringify!($t));
            $t(make().await).await;
        )*};
    }
    run!(
        blob_round_trip_every_source,
        same_content_put_concurrently_is_one_blob,
        missing_blob_is_not_found,
        byte_ranges_small_and_large,
        large_blob_streams_and_verifies,
        records_are_create_only,
        unreadable_record_is_replaced_by_put,
        record_needs_its_blobs_first,
        records_list_and_delete_with_awkward_names,
        docs_last_write_wins_with_fetch_time,
        corrupt_small_blob_is_reported_missing,
        corrupt_large_blob_stream_ends_in_error,
        scrub_quarantines_flipped_byte,
        gc_keeps_size_budget_in_lru_order,
        gc_by_age_module_and_orphans,
        stats_count_records_and_bytes,
        access_tracker_writes_only_on_flush,
    );
}

/// Deterministic pseudo-random bytes.
pub use testkit::util::pseudo_random as data;

async fn put(s: &dyn Store, b: &[u8]) -> BlobRef {
    s.put_blob(BlobSource::Bytes(Bytes::copy_from_slice(b)))
        .await
        .unwrap()
}

async fn get_all(s: &dyn Store, d: &Digest) -> Vec<u8> {
    s.get_blob(d, None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

fn t(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

/// A record whose three blobs are stored (zip of `zip_len` bytes).
pub async fn version(s: &dyn Store, module: &str, v: &str, zip_len: usize) -> (RecordKey, Record) {
    let seed = Digest::of(format!("{module}@{v}").as_bytes()).0[0] as u64
        + Digest::of(format!("{module}@{v}").as_bytes()).0[1] as u64 * 256;
    let zip = put(s, &data(seed, zip_len)).await;
    let gomod = put(s, format!("module {module}\n").as_bytes()).await;
    let info = put(s, format!("{{\"Version\":\"{v}\"}}").as_bytes()).await;
    let rec = Record {
        zip: Some(zip),
        gomod,
        info,
        zip_h1: Some(format!("h1:zip-{module}-{v}")),
        gomod_h1: format!("h1:mod-{module}"),
        verified_by: "sum.golang.org".into(),
        fetched_at: t(1_700_000_000),
    };
    let key = RecordKey::new(module, v);
    s.put_record(&key, &rec).await.unwrap();
    (key, rec)
}

pub async fn blob_round_trip_every_source(h: Harness) {
    let s = h.store.as_ref();
    let bytes = data(1, 5000);
    let a = put(s, &bytes).await;
    assert_eq!(a.digest, Digest::of(&bytes));
    assert_eq!(a.size, 5000);
    assert_eq!(get_all(s, &a.digest).await, bytes);

    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("src");
    let fbytes = data(2, 300_000);
    std::fs::write(&f, &fbytes).unwrap();
    let b = s.put_blob(BlobSource::File(f.clone())).await.unwrap();
    assert_eq!(b.digest, Digest::of(&fbytes));
    assert!(f.exists(), "the caller's file is copied, not moved");
    assert_eq!(get_all(s, &b.digest).await, fbytes);

    let rbytes = data(3, 70_000);
    let c = s
        .put_blob(BlobSource::Reader(Box::new(std::io::Cursor::new(
            rbytes.clone(),
        ))))
        .await
        .unwrap();
    assert_eq!(c.digest, Digest::of(&rbytes));
    assert_eq!(get_all(s, &c.digest).await, rbytes);

    let e = put(s, b"").await;
    assert_eq!(e.size, 0);
    assert_eq!(get_all(s, &e.digest).await, b"");
    assert_eq!(s.blob_size(&b.digest).await.unwrap(), Some(300_000));
    assert!(s.has_blob(&c.digest).await.unwrap());
}

pub async fn same_content_put_concurrently_is_one_blob(h: Harness) {
    let bytes = Bytes::from(data(4, 200_000));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = h.store.clone();
        let b = bytes.clone();
        tasks.push(tokio::spawn(async move {
            s.put_blob(BlobSource::Bytes(b)).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().digest, Digest::of(&bytes));
    }
    let all: Vec<_> = h
        .store
        .list_blobs()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].size, 200_000);
}

pub async fn missing_blob_is_not_found(h: Harness) {
    let d = Digest::of(b"never stored");
    let e = h.store.get_blob(&d, None).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(h.store.blob_size(&d).await.unwrap(), None);
    h.store.delete_blob(&d).await.unwrap();
}

pub async fn byte_ranges_small_and_large(h: Harness) {
    let s = h.store.as_ref();
    for len in [1000usize, 3 << 20] {
        let bytes = data(5, len);
        let b = put(s, &bytes).await;
        let n = len as u64;
        for r in [0..0, 0..10, 10..n / 2, n - 7..n, 0..n, n..n] {
            let st = s.get_blob(&b.digest, Some(r.clone())).await.unwrap();
            assert_eq!(st.total_size, n);
            assert_eq!(st.range, r);
            let got = st.bytes().await.unwrap();
            assert_eq!(
                &got[..],
                &bytes[r.start as usize..r.end as usize],
                "{len} {r:?}"
            );
        }
        #[allow(clippy::reversed_empty_ranges)]
        let bad = [5..4, 0..n + 1];
        for r in bad {
            let e = s.get_blob(&b.digest, Some(r)).await.unwrap_err();
            assert!(matches!(e, Error::InvalidRange { .. }), "{e}");
        }
    }
}

pub async fn large_blob_streams_and_verifies(h: Harness) {
    let s = h.store.as_ref();
    // Over the object backend's 8 MiB single-PUT limit, so multipart too.
    let bytes = data(6, (12 << 20) + 123);
    let b = s
        .put_blob(BlobSource::Reader(Box::new(std::io::Cursor::new(
            bytes.clone(),
        ))))
        .await
        .unwrap();
    assert_eq!(b.digest, Digest::of(&bytes));
    let mut st = s.get_blob(&b.digest, None).await.unwrap();
    let mut got = Vec::new();
    while let Some(c) = st.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert_eq!(got.len(), bytes.len());
    assert!(got == bytes);
}

pub async fn records_are_create_only(h: Harness) {
    let s = h.store.as_ref();
    let (k, rec) = version(s, "example.com/a", "v1.0.0", 2000).await;
    assert_eq!(s.get_record(&k).await.unwrap(), Some(rec.clone()));
    s.put_record(&k, &rec).await.unwrap();
    let later = Record {
        fetched_at: t(1_800_000_000),
        verified_by: "policy:nosumdb".into(),
        ..rec.clone()
    };
    s.put_record(&k, &later).await.unwrap();
    assert_eq!(
        s.get_record(&k).await.unwrap(),
        Some(rec.clone()),
        "first writer kept"
    );
    let different = Record {
        zip_h1: Some("h1:other".into()),
        ..rec.clone()
    };
    let e = s.put_record(&k, &different).await.unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
    assert_eq!(s.get_record(&k).await.unwrap(), Some(rec));
    assert_eq!(
        s.get_record(&RecordKey::new("example.com/a", "v9.9.9"))
            .await
            .unwrap(),
        None
    );
}

pub async fn unreadable_record_is_replaced_by_put(h: Harness) {
    let s = h.store.as_ref();
    let (key, rec) = version(s, "example.com/Damaged", "v1.0.0", 3000).await;
    (h.overwrite)(store::keys::record(&key).unwrap(), b"{\"zip\": tr".to_vec()).await;
    let e = s.get_record(&key).await.unwrap_err();
    assert!(matches!(e, Error::Malformed { .. }), "{e}");
    // A verified record of the same version replaces it (create-only would
    // otherwise make the version unservable forever).
    s.put_record(&key, &rec).await.unwrap();
    let got = s.get_record(&key).await.unwrap().unwrap();
    assert!(got.same_content(&rec));
    s.put_record(&key, &rec).await.unwrap();
    let keys: Vec<RecordKey> = s.list_records().await.unwrap().try_collect().await.unwrap();
    assert_eq!(keys, vec![key.clone()]);

    // Scrub moves an unreadable record to quarantine, so the version is
    // simply missing (fetched and verified again) instead of an error.
    (h.overwrite)(store::keys::record(&key).unwrap(), b"\x00\x01".to_vec()).await;
    let report = maint::scrub(s, &ScrubOptions::default(), &NoReporter)
        .await
        .unwrap();
    assert_eq!(report.quarantined_records.len(), 1, "{report:?}");
    assert_eq!(report.quarantined_records[0].key, key);
    assert!(
        report.quarantined_records[0]
            .to
            .contains("quarantine/index/")
    );
    assert!(!report.is_clean());
    assert!(s.get_record(&key).await.unwrap().is_none());
    let again = maint::scrub(s, &ScrubOptions::default(), &NoReporter)
        .await
        .unwrap();
    assert!(again.is_clean(), "{again:?}");
}

pub async fn record_needs_its_blobs_first(h: Harness) {
    let s = h.store.as_ref();
    let gomod = put(s, b"module m\n").await;
    let info = put(s, b"{}").await;
    let mut rec = Record {
        zip: Some(BlobRef {
            digest: Digest::of(b"not stored"),
            size: 10,
        }),
        gomod,
        info,
        zip_h1: None,
        gomod_h1: "h1:x".into(),
        verified_by: "sum.golang.org".into(),
        fetched_at: t(0),
    };
    let k = RecordKey::new("example.com/m", "v1.0.0");
    let e = s.put_record(&k, &rec).await.unwrap_err();
    assert!(matches!(e, Error::MissingBlob { .. }), "{e}");
    rec.zip = None;
    rec.gomod.size += 1;
    let e = s.put_record(&k, &rec).await.unwrap_err();
    assert!(matches!(e, Error::MissingBlob { .. }), "wrong size: {e}");
    assert_eq!(s.get_record(&k).await.unwrap(), None);
}

pub async fn records_list_and_delete_with_awkward_names(h: Harness) {
    let s = h.store.as_ref();
    let mut want = Vec::new();
    for (m, v) in [
        ("github.com/Azure/azure-sdk-for-go", "v1.0.0"),
        ("github.com/azure/azure-sdk-for-go", "v1.0.0"),
        ("example.com/tilde~x/v2", "v2.0.0-RC.1+incompatible"),
        ("example.com/a", "v0.0.0-20240101000000-abcdefabcdef"),
    ] {
        want.push(version(s, m, v, 100).await.0);
    }
    let mut got: Vec<RecordKey> = s.list_records().await.unwrap().try_collect().await.unwrap();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    s.delete_record(&want[0]).await.unwrap();
    s.delete_record(&want[0]).await.unwrap();
    assert_eq!(s.get_record(&want[0]).await.unwrap(), None);
    let got: Vec<RecordKey> = s.list_records().await.unwrap().try_collect().await.unwrap();
    assert_eq!(got.len(), 3);
    let e = s
        .get_record(&RecordKey::new("../etc", "v1.0.0"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidKey { .. }), "{e}");
}

pub async fn docs_last_write_wins_with_fetch_time(h: Harness) {
    let s = h.store.as_ref();
    let keys = [
        DocKey::List("github.com/Foo/bar".into()),
        DocKey::Latest("github.com/Foo/bar".into()),
        DocKey::Query("github.com/Foo/bar".into(), "master".into()),
        DocKey::Query("github.com/Foo/bar".into(), "Master".into()),
        DocKey::SumdbLatest("sum.golang.org".into()),
        DocKey::SumdbTile("sum.golang.org".into(), "tile/8/0/x001/234.p/5".into()),
        DocKey::Access,
    ];
    let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(s.get_doc(k).await.unwrap(), None);
        s.put_doc(k, Bytes::from(format!("first {i}")), at)
            .await
            .unwrap();
    }
    for (i, k) in keys.iter().enumerate() {
        let d = s.get_doc(k).await.unwrap().unwrap();
        assert_eq!(d.bytes, Bytes::from(format!("first {i}")), "{k:?}");
        assert_eq!(d.fetched_at, at);
    }
    let later = at + Duration::from_secs(60);
    s.put_doc(&keys[0], Bytes::from_static(b"v1.0.0\nv1.1.0\n"), later)
        .await
        .unwrap();
    let d = s.get_doc(&keys[0]).await.unwrap().unwrap();
    assert_eq!(&d.bytes[..], b"v1.0.0\nv1.1.0\n");
    assert_eq!(d.fetched_at, later);
    s.delete_doc(&keys[0]).await.unwrap();
    s.delete_doc(&keys[0]).await.unwrap();
    assert_eq!(s.get_doc(&keys[0]).await.unwrap(), None);
    // Binary content (tiles) survives.
    let bin = Bytes::from(data(7, 8192));
    s.put_doc(&keys[5], bin.clone(), at).await.unwrap();
    assert_eq!(s.get_doc(&keys[5]).await.unwrap().unwrap().bytes, bin);
}

pub async fn corrupt_small_blob_is_reported_missing(h: Harness) {
    let s = h.store.as_ref();
    let b = put(s, &data(8, 10_000)).await;
    (h.corrupt)(b.digest).await;
    let e = s.get_blob(&b.digest, None).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(!s.has_blob(&b.digest).await.unwrap(), "quarantined");
    // Storing the right content again repairs it.
    let b2 = put(s, &data(8, 10_000)).await;
    assert_eq!(b2, b);
    assert_eq!(get_all(s, &b.digest).await, data(8, 10_000));
}

pub async fn corrupt_large_blob_stream_ends_in_error(h: Harness) {
    let s = h.store.as_ref();
    let bytes = data(9, 3 << 20);
    let b = put(s, &bytes).await;
    (h.corrupt)(b.digest).await;
    let mut st = s.get_blob(&b.digest, None).await.unwrap();
    let mut n = 0u64;
    let mut err = None;
    while let Some(c) = st.next().await {
        match c {
            Ok(c) => n += c.len() as u64,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("a corrupt blob must not stream to the end without an error");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(n < b.size, "the whole blob was delivered before the error");
    assert!(st.next().await.is_none());
    let e = s.get_blob(&b.digest, None).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

pub async fn scrub_quarantines_flipped_byte(h: Harness) {
    let s = h.store.as_ref();
    let (k, rec) = version(s, "example.com/scrub", "v1.0.0", 50_000).await;
    let (_k2, _) = version(s, "example.com/other", "v1.0.0", 2 << 20).await;
    let r = maint::scrub(s, &ScrubOptions::default(), &NoReporter)
        .await
        .unwrap();
    assert!(r.is_clean(), "{r:?}");
    assert_eq!(r.blobs_checked, 5, "{r:?}");
    let zip = rec.zip.unwrap();
    (h.corrupt)(zip.digest).await;
    let r = maint::scrub(s, &ScrubOptions::default(), &NoReporter)
        .await
        .unwrap();
    assert_eq!(r.quarantined.len(), 1, "{r:?}");
    assert_eq!(r.quarantined[0].digest, zip.digest);
    assert_eq!(r.records_missing_blobs, vec![k]);
    let e = s.get_blob(&zip.digest, None).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let r = maint::scrub(s, &ScrubOptions::default(), &NoReporter)
        .await
        .unwrap();
    assert!(r.quarantined.is_empty(), "{r:?}");
}

async fn assert_records_complete(s: &dyn Store) {
    let keys: Vec<RecordKey> = s.list_records().await.unwrap().try_collect().await.unwrap();
    for k in keys {
        let r = s.get_record(&k).await.unwrap().unwrap();
        for b in r.blobs() {
            assert_eq!(
                s.blob_size(&b.digest).await.unwrap(),
                Some(b.size),
                "{k} lost {b:?}"
            );
        }
    }
}

pub async fn gc_keeps_size_budget_in_lru_order(h: Harness) {
    let s = h.store.as_ref();
    let tracker = AccessTracker::new(h.store.clone());
    let mut keys = Vec::new();
    for i in 0..6 {
        // All versions share one go.mod blob; each has its own 10 kB zip.
        let (k, _) = version(s, "example.com/lru", &format!("v1.0.{i}"), 10_000).await;
        keys.push(k);
    }
    // Use order: 3, 0, 5, 1, 4, 2 (2 most recent).
    for (n, i) in [3usize, 0, 5, 1, 4, 2].iter().enumerate() {
        tracker.touch_at(&keys[*i], t(1_700_001_000 + n as i64));
    }
    tracker.flush().await.unwrap();
    let before = maint::stats(s).await.unwrap();
    let budget = before.blob_bytes - 25_000;
    let opts = GcOptions {
        max_bytes: Some(budget),
        orphan_grace: Duration::ZERO,
        now: Some(t(1_700_002_000)),
        ..GcOptions::default()
    };
    let r = maint::gc(s, &opts, &NoReporter).await.unwrap();
    assert_eq!(
        r.records_by_size,
        vec![keys[3].clone(), keys[0].clone(), keys[5].clone()]
    );
    assert!(r.bytes_after <= budget, "{r:?}");
    let after = maint::stats(s).await.unwrap();
    assert_eq!(after.blob_bytes, r.bytes_after);
    assert_eq!(after.records, 3);
    assert_records_complete(s).await;
    let access = store::access::load(s).await.unwrap();
    assert!(
        !access.contains_key(&keys[3]),
        "access time of a removed record kept"
    );
    assert!(access.contains_key(&keys[2]));
    // The shared go.mod blob is still there for the survivors.
    for i in [1, 4, 2] {
        assert!(s.get_record(&keys[i]).await.unwrap().is_some());
    }
    // A budget that fits changes nothing.
    let r = maint::gc(s, &opts, &NoReporter).await.unwrap();
    assert!(
        r.records_by_size.is_empty() && r.blobs_removed == 0,
        "{r:?}"
    );
}

pub async fn gc_by_age_module_and_orphans(h: Harness) {
    let s = h.store.as_ref();
    let (old, _) = version(s, "example.com/old", "v1.0.0", 1000).await;
    let (private, _) = version(s, "corp.example.com/secret/x", "v1.0.0", 1000).await;
    let (fresh, _) = version(s, "example.com/fresh", "v1.0.0", 1000).await;
    let tracker = AccessTracker::new(h.store.clone());
    tracker.touch_at(&fresh, t(1_700_500_000));
    tracker.touch_at(&private, t(1_700_500_000));
    tracker.flush().await.unwrap();
    let orphan = put(s, &data(10, 777)).await;
    let dry = GcOptions {
        max_unused: Some(Duration::from_secs(86_400)),
        modules: vec!["*.example.com/secret".into()],
        orphan_grace: Duration::from_secs(3600),
        now: Some(t(1_700_500_100)),
        dry_run: true,
        ..GcOptions::default()
    };
    let r = maint::gc(s, &dry, &NoReporter).await.unwrap();
    assert_eq!(r.records_by_age, vec![old.clone()]);
    assert_eq!(r.records_by_module, vec![private.clone()]);
    assert_eq!(
        maint::stats(s).await.unwrap().records,
        3,
        "dry run removed something"
    );
    let opts = GcOptions {
        dry_run: false,
        ..dry
    };
    maint::gc(s, &opts, &NoReporter).await.unwrap();
    let left: Vec<RecordKey> = s.list_records().await.unwrap().try_collect().await.unwrap();
    assert_eq!(left, vec![fresh.clone()]);
    assert_records_complete(s).await;
    // The orphan is young (relative to the real clock) and kept...
    assert!(s.has_blob(&orphan.digest).await.unwrap());
    // ...until it is older than the grace period.
    let later = GcOptions {
        now: Some(OffsetDateTime::now_utc() + Duration::from_secs(7200)),
        max_unused: None,
        modules: vec![],
        ..opts
    };
    maint::gc(s, &later, &NoReporter).await.unwrap();
    assert!(!s.has_blob(&orphan.digest).await.unwrap());
    assert_records_complete(s).await;
    assert!(s.get_record(&fresh).await.unwrap().is_some());
}

pub async fn stats_count_records_and_bytes(h: Harness) {
    let s = h.store.as_ref();
    assert_eq!(maint::stats(s).await.unwrap(), maint::Stats::default());
    version(s, "example.com/s", "v1.0.0", 1000).await;
    let st = maint::stats(s).await.unwrap();
    assert_eq!(st.records, 1);
    assert_eq!(st.blobs, 3);
    let info_len = "{\"Version\":\"v1.0.0\"}".len() as u64;
    let mod_len = "module example.com/s\n".len() as u64;
    assert_eq!(st.blob_bytes, 1000 + info_len + mod_len);
}

pub async fn access_tracker_writes_only_on_flush(h: Harness) {
    let s = h.store.as_ref();
    let tracker = AccessTracker::new(h.store.clone());
    let k = RecordKey::new("example.com/hot", "v1.0.0");
    for _ in 0..1000 {
        tracker.touch(&k);
    }
    assert_eq!(
        s.get_doc(&DocKey::Access).await.unwrap(),
        None,
        "a touch wrote"
    );
    assert_eq!(tracker.pending(), 1);
    tracker.flush().await.unwrap();
    let first = s.get_doc(&DocKey::Access).await.unwrap().unwrap();
    tracker.flush().await.unwrap();
    let second = s.get_doc(&DocKey::Access).await.unwrap().unwrap();
    assert_eq!(first, second, "an empty flush wrote");
    let table = store::access::load(s).await.unwrap();
    assert!(table.contains_key(&k));
}
