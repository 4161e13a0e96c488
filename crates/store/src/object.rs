//! The object-storage backend: S3 (and S3-compatible servers), GCS, Azure and
//! in-memory, through the `object_store` crate. Same keys as the local backend,
//! under a prefix.
//!
//! Writes are whole-object PUTs (or multipart uploads, which also become
//! visible only when completed), so no reader sees part of one.
//!
//! - Blobs: the content is hashed first (a [`BlobSource::Reader`] is spooled
//!   to a local temporary file while hashing, never held in memory), then
//!   uploaded under its digest unless it is already there. Up to 8 MiB: one
//!   create-only PUT (`If-None-Match: *`; "already exists" is success). Larger:
//!   a multipart upload in 8 MiB parts, hashed again on the way (a source that
//!   changed under us aborts the upload). Multipart uploads cannot be
//!   create-only, but the key is the content's hash, so a concurrent
//!   duplicate upload writes the same bytes.
//! - Records: create-only PUT; on "already exists" the stored record is read
//!   and compared. On a service that ignores `If-None-Match`, two different
//!   records written at the same instant could both "succeed" and the later
//!   wins; SeaweedFS, S3, GCS, Azure and the in-memory store all honour it.
//! - Documents: plain PUT (last write wins).
//! - Quarantine: copy to `quarantine/sha256/..`, then delete.

use std::io;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectMeta, ObjectStore, PutMode, PutOptions, PutPayload, WriteMultipart,
};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    BlobCheck, BlobInfo, BlobRef, BlobSource, BlobStream, Digest, Doc, DocKey, Error, Hasher,
    Record, RecordKey, Result, Store, VERIFY_UPFRONT_MAX, check_range, doc, keys,
};

/// Part size of multipart uploads and the largest single PUT.
const PART: usize = 8 << 20;
const READ_BUF: usize = 1 << 20;

/// A [`Store`] on an `object_store` bucket. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ObjectStoreBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    spool_dir: PathBuf,
}

/// Settings for an S3 or S3-compatible bucket.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (may be empty).
    #[serde(default)]
    pub prefix: String,
    /// Endpoint URL for S3-compatible servers (`http://127.0.0.1:8333`).
    /// Path-style requests are used when it is set.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    /// Access key id; if unset, the `AWS_*` environment applies.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Allow plain-HTTP endpoints.
    #[serde(default)]
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

fn to_time(m: &ObjectMeta) -> Option<OffsetDateTime> {
    let lm = m.last_modified;
    OffsetDateTime::from_unix_timestamp(lm.timestamp())
        .ok()
        .map(|t| t + time::Duration::nanoseconds(i64::from(lm.timestamp_subsec_nanos())))
}

/// Decodes the `%XX` escapes `object_store` puts in path parts.
fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl ObjectStoreBackend {
    /// A store under `prefix` of `store`. Reads `meta.toml` there (writing it
    /// for a new store) and refuses a newer layout ([`Error::LayoutTooNew`]).
    pub async fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<ObjectStoreBackend> {
        let prefix = prefix.trim_matches('/').to_string();
        let me = ObjectStoreBackend {
            inner: Arc::new(Inner {
                store,
                prefix,
                spool_dir: std::env::temp_dir(),
            }),
        };
        me.check_meta().await?;
        Ok(me)
    }

    /// Opens a store from a URL: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix`, `memory:///`. `options` are `object_store`
    /// configuration keys (`aws_endpoint`, `aws_allow_http`, `aws_region`,
    /// ...); for S3 the `AWS_*` environment variables apply too. An unknown
    /// option is an error.
    pub async fn from_url<I, K, V>(url: &str, options: I) -> Result<ObjectStoreBackend>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let (store, prefix) = store_of_url(url, options)?;
        Self::new(store, &prefix).await
    }

    /// Opens an S3 or S3-compatible bucket.
    pub async fn s3(cfg: &S3Config) -> Result<ObjectStoreBackend> {
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&cfg.bucket)
            .with_region(cfg.region.clone().unwrap_or_else(|| "us-east-1".into()))
            .with_allow_http(cfg.allow_http);
        if let Some(e) = &cfg.endpoint {
            b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
        }
        if let Some(k) = &cfg.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &cfg.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let s = b
            .build()
            .map_err(|e| Error::backend(format!("s3://{}", cfg.bucket), e))?;
        Self::new(Arc::new(s), &cfg.prefix).await
    }

    /// Where [`BlobSource::Reader`] content is spooled while it is hashed
    /// (default: the system temporary directory).
    pub fn with_spool_dir(self, dir: impl Into<PathBuf>) -> ObjectStoreBackend {
        let inner = Inner {
            store: self.inner.store.clone(),
            prefix: self.inner.prefix.clone(),
            spool_dir: dir.into(),
        };
        ObjectStoreBackend {
            inner: Arc::new(inner),
        }
    }

    /// The underlying object store.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    /// The full object path of a relative key.
    pub fn path(&self, rel: &str) -> Path {
        if self.inner.prefix.is_empty() {
            Path::from(rel)
        } else {
            Path::from(format!("{}/{rel}", self.inner.prefix))
        }
    }

    fn s(&self) -> &dyn ObjectStore {
        self.inner.store.as_ref()
    }

    async fn check_meta(&self) -> Result<()> {
        let p = self.path(keys::META);
        for _ in 0..2 {
            match self.s().get(&p).await {
                Ok(r) => {
                    let b = r.bytes().await.map_err(|e| Error::backend(p.as_ref(), e))?;
                    let text = String::from_utf8_lossy(&b);
                    crate::local::parse_meta(&text, p.as_ref())?;
                    return Ok(());
                }
                Err(object_store::Error::NotFound { .. }) => {
                    let opts = PutOptions {
                        mode: PutMode::Create,
                        ..Default::default()
                    };
                    let body = PutPayload::from(crate::local::meta_text().into_bytes());
                    match self.s().put_opts(&p, body, opts).await {
                        Ok(_) => return Ok(()),
                        Err(object_store::Error::AlreadyExists { .. }) => continue,
                        Err(e) => return Err(Error::backend(p.as_ref(), e)),
                    }
                }
                Err(e) => return Err(Error::backend(p.as_ref(), e)),
            }
        }
        Ok(())
    }

    async fn get_bytes(&self, p: &Path) -> Result<Option<Bytes>> {
        match self.s().get(p).await {
            Ok(r) => Ok(Some(
                r.bytes().await.map_err(|e| Error::backend(p.as_ref(), e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Error::backend(p.as_ref(), e)),
        }
    }

    /// Create-only PUT; returns false if the object existed.
    async fn put_create(&self, p: &Path, body: Bytes) -> Result<bool> {
        self.put_mode(p, body, PutMode::Create).await
    }

    async fn put_mode(&self, p: &Path, body: Bytes, mode: PutMode) -> Result<bool> {
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        match self.s().put_opts(p, body.into(), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(Error::backend(p.as_ref(), e)),
        }
    }

    /// Where a record's unreadable bytes are moved (a new key each time).
    fn record_aside(&self, key: &RecordKey) -> Result<Path> {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Ok(self.path(&keys::quarantine_record(&keys::record(key)?, nanos)))
    }

    async fn quarantine(&self, d: &Digest) -> Result<Option<String>> {
        let src = self.path(&keys::blob(d));
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let dst = self.path(&keys::quarantine(d, nanos));
        match self.s().copy(&src, &dst).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(Error::backend(src.as_ref(), e)),
        }
        match self.s().delete(&src).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(Error::backend(src.as_ref(), e)),
        }
        tracing::warn!(digest = %d, to = %dst, "corrupt blob quarantined");
        Ok(Some(dst.to_string()))
    }

    fn on_corrupt(&self, d: Digest) -> crate::verify::OnCorrupt {
        let me = self.clone();
        Box::new(move || {
            Box::pin(async move {
                if let Err(e) = me.quarantine(&d).await {
                    tracing::warn!(digest = %d, error = %e, "could not quarantine corrupt blob");
                }
            })
        })
    }

    /// Uploads a local file whose digest is `r`.
    async fn put_file_known(&self, path: &FsPath, r: BlobRef) -> Result<BlobRef> {
        let key = self.path(&keys::blob(&r.digest));
        let mode = match self.stat_blob(&r.digest).await? {
            Some(b) if b.size == r.size => return Ok(r),
            // A wrong-sized copy can only be damage: replace it.
            Some(_) => PutMode::Overwrite,
            None => PutMode::Create,
        };
        let changed = || Error::Io {
            path: path.to_path_buf(),
            source: io::Error::other("file changed while it was being stored"),
        };
        if r.size <= PART as u64 {
            let b = tokio::fs::read(path)
                .await
                .map_err(|e| Error::io(path, e))?;
            if Digest::of(&b) != r.digest || b.len() as u64 != r.size {
                return Err(changed());
            }
            self.put_mode(&key, b.into(), mode).await?;
            return Ok(r);
        }
        let upload = self
            .s()
            .put_multipart(&key)
            .await
            .map_err(|e| Error::backend(key.as_ref(), e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut f = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::io(path, e))?;
        let mut h = Hasher::default();
        let mut buf = vec![0u8; READ_BUF];
        let res: Result<()> = async {
            loop {
                let n = f.read(&mut buf).await.map_err(|e| Error::io(path, e))?;
                if n == 0 {
                    return Ok(());
                }
                h.update(&buf[..n]);
                w.wait_for_capacity(4)
                    .await
                    .map_err(|e| Error::backend(key.as_ref(), e))?;
                w.write(&buf[..n]);
            }
        }
        .await;
        if let Err(e) = res {
            let _ = w.abort().await;
            return Err(e);
        }
        if h.finish() != r {
            let _ = w.abort().await;
            return Err(changed());
        }
        w.finish()
            .await
            .map_err(|e| Error::backend(key.as_ref(), e))?;
        Ok(r)
    }
}

#[async_trait]
impl Store for ObjectStoreBackend {
    async fn put_blob(&self, src: BlobSource) -> Result<BlobRef> {
        match src {
            BlobSource::Bytes(b) => {
                let r = if b.len() > READ_BUF {
                    let b2 = b.clone();
                    tokio::task::spawn_blocking(move || {
                        let mut h = Hasher::default();
                        h.update(&b2);
                        h.finish()
                    })
                    .await
                    .map_err(|e| Error::Io {
                        path: PathBuf::new(),
                        source: io::Error::other(e.to_string()),
                    })?
                } else {
                    let mut h = Hasher::default();
                    h.update(&b);
                    h.finish()
                };
                let mode = match self.stat_blob(&r.digest).await? {
                    Some(x) if x.size == r.size => return Ok(r),
                    Some(_) => PutMode::Overwrite,
                    None => PutMode::Create,
                };
                self.put_mode(&self.path(&keys::blob(&r.digest)), b, mode)
                    .await?;
                Ok(r)
            }
            BlobSource::File(path) => {
                let p2 = path.clone();
                let r = tokio::task::spawn_blocking(move || crate::local::hash_file(&p2))
                    .await
                    .map_err(|e| Error::Io {
                        path: path.clone(),
                        source: io::Error::other(e.to_string()),
                    })?
                    .map_err(|e| Error::io(&path, e))?;
                self.put_file_known(&path, r).await
            }
            BlobSource::Reader(mut rd) => {
                let dir = self.inner.spool_dir.clone();
                let spool = tempfile::Builder::new()
                    .prefix("modwarden-spool-")
                    .tempfile_in(&dir)
                    .map_err(|e| Error::io(&dir, e))?;
                let sp = spool.path().to_path_buf();
                let mut f = tokio::fs::File::create(&sp)
                    .await
                    .map_err(|e| Error::io(&sp, e))?;
                let mut h = Hasher::default();
                let mut buf = vec![0u8; 256 << 10];
                loop {
                    let n = rd.read(&mut buf).await.map_err(|e| Error::Io {
                        path: PathBuf::from("<blob source reader>"),
                        source: e,
                    })?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    f.write_all(&buf[..n])
                        .await
                        .map_err(|e| Error::io(&sp, e))?;
                }
                f.flush().await.map_err(|e| Error::io(&sp, e))?;
                drop(f);
                let r = self.put_file_known(&sp, h.finish()).await;
                drop(spool);
                r
            }
        }
    }

    async fn get_blob(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<BlobStream> {
        let key = self.path(&keys::blob(digest));
        let not_found = || Error::NotFound {
            what: format!("blob {digest}"),
        };
        let size = match &range {
            None => None,
            Some(_) => Some(self.stat_blob(digest).await?.ok_or_else(not_found)?.size),
        };
        let want_full = match (size, &range) {
            (None, _) => true,
            (Some(sz), _) if sz <= VERIFY_UPFRONT_MAX => true,
            (Some(sz), Some(r)) => *r == (0..sz),
            (Some(_), None) => true,
        };
        if want_full {
            let res = match self.s().get(&key).await {
                Ok(r) => r,
                Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
                Err(e) => return Err(Error::backend(key.as_ref(), e)),
            };
            let size = res.meta.size;
            let r = check_range(digest, range, size)?;
            if size <= VERIFY_UPFRONT_MAX {
                let b = res
                    .bytes()
                    .await
                    .map_err(|e| Error::backend(key.as_ref(), e))?;
                if Digest::of(&b) != *digest || b.len() as u64 != size {
                    self.quarantine(digest).await?;
                    return Err(Error::NotFound {
                        what: format!(
                            "blob {digest} (the stored copy was corrupt and was quarantined)"
                        ),
                    });
                }
                let b = b.slice(r.start as usize..r.end as usize);
                return Ok(BlobStream::new(
                    size,
                    r,
                    futures::stream::iter([Ok(b)]).boxed(),
                ));
            }
            let raw = res.into_stream().map_err(io::Error::other).boxed();
            let s = crate::verify::verified(
                raw,
                BlobRef {
                    digest: *digest,
                    size,
                },
                key.to_string(),
                self.on_corrupt(*digest),
                Box::new(|| {}),
            );
            return Ok(BlobStream::new(size, r, s));
        }
        let size = size.unwrap_or_default();
        let r = check_range(digest, range, size)?;
        if r.is_empty() {
            return Ok(BlobStream::new(size, r, futures::stream::empty().boxed()));
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(r.clone())),
            ..Default::default()
        };
        let res = match self.s().get_opts(&key, opts).await {
            Ok(res) => res,
            Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(Error::backend(key.as_ref(), e)),
        };
        let s = res.into_stream().map_err(io::Error::other).boxed();
        Ok(BlobStream::new(size, r, s))
    }

    async fn stat_blob(&self, digest: &Digest) -> Result<Option<BlobInfo>> {
        let key = self.path(&keys::blob(digest));
        match self.s().head(&key).await {
            Ok(m) => Ok(Some(BlobInfo {
                digest: *digest,
                size: m.size,
                modified: to_time(&m),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Error::backend(key.as_ref(), e)),
        }
    }

    async fn verify_blob(&self, digest: &Digest) -> Result<BlobCheck> {
        let key = self.path(&keys::blob(digest));
        let res = match self.s().get(&key).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(BlobCheck::Missing),
            Err(e) => return Err(Error::backend(key.as_ref(), e)),
        };
        let mut s = res.into_stream();
        let mut h = Hasher::default();
        while let Some(c) = s.next().await {
            h.update(&c.map_err(|e| Error::backend(key.as_ref(), e))?);
        }
        let got = h.finish();
        if got.digest == *digest {
            return Ok(BlobCheck::Ok { size: got.size });
        }
        Ok(match self.quarantine(digest).await? {
            Some(to) => BlobCheck::Quarantined { to },
            None => BlobCheck::Missing,
        })
    }

    async fn delete_blob(&self, digest: &Digest) -> Result<()> {
        let key = self.path(&keys::blob(digest));
        match self.s().delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::backend(key.as_ref(), e)),
        }
    }

    async fn list_blobs(&self) -> Result<BoxStream<'static, Result<BlobInfo>>> {
        let prefix = self.path(keys::DATA_PREFIX);
        let pstr = prefix.to_string();
        let s =
            self.s()
                .list(Some(&prefix))
                .map_err(move |e| Error::backend(pstr.clone(), e))
                .try_filter_map(|m| async move {
                    let parts: Vec<_> = m.location.parts().collect();
                    let n = parts.len();
                    if n < 2 {
                        return Ok(None);
                    }
                    let info = keys::parse_blob(parts[n - 2].as_ref(), parts[n - 1].as_ref()).map(
                        |digest| BlobInfo {
                            digest,
                            size: m.size,
                            modified: to_time(&m),
                        },
                    );
                    Ok(info)
                })
                .boxed();
        Ok(s)
    }

    async fn put_record(&self, key: &RecordKey, rec: &Record) -> Result<()> {
        let p = self.path(&keys::record(key)?);
        for b in rec.blobs() {
            if self.blob_size(&b.digest).await? != Some(b.size) {
                return Err(Error::MissingBlob {
                    key: key.clone(),
                    digest: b.digest,
                    size: b.size,
                });
            }
        }
        let json = serde_json::to_vec_pretty(rec).map_err(|e| Error::Malformed {
            path: p.to_string(),
            reason: format!("cannot serialize record: {e}"),
        })?;
        let json = Bytes::from(json);
        if self.put_create(&p, json.clone()).await? {
            return Ok(());
        }
        let existing = self.get_bytes(&p).await?.unwrap_or_default();
        let Ok(old) = serde_json::from_slice::<Record>(&existing) else {
            // Unreadable: replaced by the record of what was just verified;
            // the old bytes are kept in quarantine.
            let aside = self.record_aside(key)?;
            self.put_mode(&aside, existing, PutMode::Overwrite).await?;
            self.put_mode(&p, json, PutMode::Overwrite).await?;
            tracing::warn!(record = %p, to = %aside, "unreadable record replaced; the old one was quarantined");
            return Ok(());
        };
        if old.same_content(rec) {
            Ok(())
        } else {
            Err(Error::Conflict { key: key.clone() })
        }
    }

    async fn get_record(&self, key: &RecordKey) -> Result<Option<Record>> {
        let p = self.path(&keys::record(key)?);
        match self.get_bytes(&p).await? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Malformed {
                    path: p.to_string(),
                    reason: format!("bad record JSON: {e}"),
                }),
        }
    }

    async fn delete_record(&self, key: &RecordKey) -> Result<()> {
        let p = self.path(&keys::record(key)?);
        match self.s().delete(&p).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::backend(p.as_ref(), e)),
        }
    }

    async fn quarantine_record(&self, key: &RecordKey) -> Result<Option<String>> {
        let src = self.path(&keys::record(key)?);
        let dst = self.record_aside(key)?;
        match self.s().copy(&src, &dst).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(Error::backend(src.as_ref(), e)),
        }
        match self.s().delete(&src).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(Some(dst.to_string())),
            Err(e) => Err(Error::backend(src.as_ref(), e)),
        }
    }

    async fn list_records(&self) -> Result<BoxStream<'static, Result<RecordKey>>> {
        let prefix = self.path(keys::INDEX_PREFIX);
        let skip = prefix.parts().count();
        let pstr = prefix.to_string();
        let s = self
            .s()
            .list(Some(&prefix))
            .map_err(move |e| Error::backend(pstr.clone(), e))
            .try_filter_map(move |m| async move {
                let rel: Option<Vec<String>> = m
                    .location
                    .parts()
                    .skip(skip)
                    .map(|p| pct_decode(p.as_ref()))
                    .collect();
                let k = rel.and_then(|r| keys::parse_record(&r.join("/")));
                if k.is_none() {
                    tracing::warn!(key = %m.location, "ignoring unexpected object in index");
                }
                Ok(k)
            })
            .boxed();
        Ok(s)
    }

    async fn put_doc(&self, key: &DocKey, bytes: Bytes, fetched_at: OffsetDateTime) -> Result<()> {
        let p = self.path(&keys::doc(key)?);
        self.s()
            .put(&p, doc::encode(&bytes, fetched_at).into())
            .await
            .map_err(|e| Error::backend(p.as_ref(), e))?;
        Ok(())
    }

    async fn get_doc(&self, key: &DocKey) -> Result<Option<Doc>> {
        let p = self.path(&keys::doc(key)?);
        match self.get_bytes(&p).await? {
            None => Ok(None),
            Some(b) => doc::decode(b, p.as_ref()).map(Some),
        }
    }

    async fn delete_doc(&self, key: &DocKey) -> Result<()> {
        let p = self.path(&keys::doc(key)?);
        match self.s().delete(&p).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::backend(p.as_ref(), e)),
        }
    }
}

/// The object store a URL names and the key prefix under it (S3 from the
/// `AWS_*` environment, the others by `object_store::parse_url_opts`), with
/// `options` as backend settings. Used by [`ObjectStoreBackend::from_url`]
/// and [`crate::open`].
pub(crate) fn store_of_url<I, K, V>(url: &str, options: I) -> Result<(Arc<dyn ObjectStore>, String)>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: Into<String>,
{
    let bad = |reason: String| Error::InvalidKey {
        input: url.to_string(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(format!("not a valid URL: {e}")))?;
    if matches!(parsed.scheme(), "s3" | "s3a") {
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(url);
        for (k, v) in options {
            let key: object_store::aws::AmazonS3ConfigKey = k
                .as_ref()
                .parse()
                .map_err(|_| bad(format!("unknown S3 option {:?}", k.as_ref())))?;
            b = b.with_config(key, v);
        }
        let s = b.build().map_err(|e| Error::backend(url, e))?;
        Ok((Arc::new(s), parsed.path().to_string()))
    } else {
        let opts: Vec<(String, String)> = options
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_string(), v.into()))
            .collect();
        let (s, p) =
            object_store::parse_url_opts(&parsed, opts).map_err(|e| Error::backend(url, e))?;
        Ok((Arc::from(s), p.to_string()))
    }
}
