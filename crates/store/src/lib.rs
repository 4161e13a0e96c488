//! Content-addressed storage with an index, for modwarden.
//!
//! The promise to the rest of modwarden: **nothing partially written is ever
//! visible, nothing corrupted is ever served**, and the store behaves the same on
//! one disk ([`local::LocalStore`]) and on a bucket shared by many instances
//! ([`object::ObjectStoreBackend`], through the `object_store` crate: S3, GCS,
//! Azure, in-memory).
//!
//! # What is stored
//!
//! - **Blobs**: immutable bytes named by their SHA-256 ([`Digest`]). `.zip`,
//!   `.mod` and `.info` files of a module version are blobs.
//! - **Records** ([`Record`] under a [`RecordKey`] `module@version`): which blobs
//!   make up a version, their `h1:` hashes, who verified them and when they were
//!   fetched. Records are written **create-only**: writing an identical record
//!   again succeeds; a different one is an [`Error::Conflict`]. A record can only
//!   be written once every blob it names is present (blobs first, record last),
//!   so no record ever points at a blob that was never stored.
//! - **Documents** ([`DocKey`]): small mutable things (`@v/list`, `@latest`,
//!   query answers, checksum-DB latest note and tiles, the access-time table)
//!   stored with their fetch time ([`Doc::fetched_at`]) so the proxy can apply
//!   TTLs and serve stale copies. Last write wins.
//!
//! # Keys (the same on every backend)
//!
//! ```text
//! meta.toml                                  layout version (refused if newer than we know)
//! CACHEDIR.TAG                               (local only)
//! data/sha256/<first 2 hex>/<64 hex>         blobs
//! index/<escaped module>/@v/<escaped version>.json   records (JSON)
//! docs/mod/<escaped module>/@v/list          DocKey::List
//! docs/mod/<escaped module>/@latest          DocKey::Latest
//! docs/mod/<escaped module>/@query/<enc>     DocKey::Query (query escaped, then %-encoded)
//! docs/sumdb/<name>/latest                   DocKey::SumdbLatest
//! docs/sumdb/<name>/<tile path>              DocKey::SumdbTile (e.g. tile/8/0/001)
//! docs/access.json                           DocKey::Access (last-access table)
//! quarantine/sha256/<64 hex>.<unix nanos>    corrupt blobs moved aside by scrub/get
//! quarantine/index/<record key>.<unix nanos> unreadable records replaced by put_record
//! tmp/                                       staging (local only)
//! ```
//! Module paths and versions are case-escaped with [`gomod::escape::escape_string`]
//! (`!` before a lowercased capital), so keys are safe on case-insensitive disks.
//!
//! # Corruption on read
//!
//! `get_blob` never lets a wrong blob through as a *complete* answer:
//! - blobs up to [`VERIFY_UPFRONT_MAX`] (1 MiB; every `.mod` and `.info` and most
//!   zips) are read whole, hashed, and only then returned. A mismatch moves the
//!   blob to quarantine and `get_blob` reports [`Error::NotFound`], so the proxy
//!   refetches it.
//! - larger blobs are hashed while streaming, and the last chunk is held back
//!   until the hash is checked. On a mismatch the stream ends with an
//!   `io::Error` (kind `InvalidData`, wrapping [`Error::Corrupt`]) instead of its
//!   last chunk, so an HTTP body is cut short (the client sees an error, never a
//!   complete wrong file), and the blob is quarantined.
//! - a byte *range* of a large blob is checked for size only; `scrub` (see
//!   [`maint`]) re-hashes every blob.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use store::{BlobSource, Store, local::LocalStore};
//! let store = LocalStore::open(std::path::Path::new("/var/cache/modwarden")).await?;
//! let blob = store.put_blob(BlobSource::Bytes("module example.com/m\n".into())).await?;
//! let bytes = store.get_blob(&blob.digest, None).await?.bytes().await?;
//! assert_eq!(&bytes[..], b"module example.com/m\n");
//! # Ok(()) }
//! ```
#![warn(missing_docs, unreachable_pub)]

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

pub mod access;
mod doc;
mod error;
pub mod keys;
pub mod local;
pub mod maint;
pub mod object;
mod open;
mod verify;

pub use access::AccessTracker;
pub use error::Error;
pub use open::{Location, Mode, NoStore, OBJECT_SCHEMES, OpenOptions, open};

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The store layout version this code writes and understands.
pub const LAYOUT_VERSION: u32 = 1;

/// Blobs up to this size are verified in full before `get_blob` returns.
pub const VERIFY_UPFRONT_MAX: u64 = 1 << 20;

/// A SHA-256 digest: the name of a blob.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// Lowercase hex, 64 characters (also the blob's file name and ETag).
    pub fn hex(&self) -> String {
        let mut out = [0u8; 64];
        self.hex_into(&mut out).to_string()
    }

    /// Writes the 64 lowercase hex digits into `out` (no allocation).
    pub fn hex_into<'a>(&self, out: &'a mut [u8; 64]) -> &'a str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        std::str::from_utf8(out).unwrap_or_default()
    }

    /// Parses 64 hex digits, optionally prefixed with `sha256:`.
    pub fn parse(s: &str) -> Result<Digest> {
        let h = s.strip_prefix("sha256:").unwrap_or(s);
        let bad = |reason: &str| Error::InvalidKey {
            input: s.to_string(),
            reason: format!("not a SHA-256 digest: {reason}"),
        };
        if h.len() != 64 {
            return Err(bad("want 64 hex digits"));
        }
        if h.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("hex digits must be lowercase"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(h, &mut out).map_err(|e| bad(&e.to_string()))?;
        Ok(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A stored blob: its digest and size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    /// SHA-256 of the content.
    pub digest: Digest,
    /// Length in bytes.
    pub size: u64,
}

/// Where the bytes of a new blob come from.
pub enum BlobSource {
    /// A local file the caller has finished writing (for instance a verified
    /// download). It is copied, not moved; the caller still owns it.
    File(PathBuf),
    /// Bytes already in memory.
    Bytes(Bytes),
    /// A stream of bytes; it is hashed while it is written, never held whole
    /// in memory.
    Reader(Box<dyn tokio::io::AsyncRead + Send + Unpin>),
}

impl fmt::Debug for BlobSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobSource::File(p) => f.debug_tuple("File").field(p).finish(),
            BlobSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            BlobSource::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

/// The bytes of a blob (or of a range of it), as a stream.
///
/// Implements `Stream<Item = io::Result<Bytes>>`. An `Err` item ends the
/// stream; see the crate docs for how corruption shows up.
pub struct BlobStream {
    /// Size of the whole blob.
    pub total_size: u64,
    /// The byte range this stream yields (`0..total_size` without a range).
    pub range: Range<u64>,
    stream: BoxStream<'static, io::Result<Bytes>>,
}

impl BlobStream {
    /// Wraps a stream that yields exactly `range` of a blob of `total_size` bytes.
    pub fn new(
        total_size: u64,
        range: Range<u64>,
        stream: BoxStream<'static, io::Result<Bytes>>,
    ) -> BlobStream {
        BlobStream {
            total_size,
            range,
            stream,
        }
    }

    /// Number of bytes this stream yields.
    pub fn len(&self) -> u64 {
        self.range.end - self.range.start
    }

    /// Whether the stream yields no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Collects the whole stream into memory (for small blobs and tests).
    pub async fn bytes(mut self) -> io::Result<Bytes> {
        let mut out = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        while let Some(chunk) = self.stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.into())
    }

    /// The inner stream.
    pub fn into_inner(self) -> BoxStream<'static, io::Result<Bytes>> {
        self.stream
    }
}

impl Stream for BlobStream {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStream")
            .field("total_size", &self.total_size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// A blob as listed by [`Store::list_blobs`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlobInfo {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// When it was last written (a `put_blob` of an existing blob refreshes
    /// this on the local backend); `None` if the backend cannot tell.
    #[serde(with = "time::serde::rfc3339::option")]
    pub modified: Option<OffsetDateTime>,
}

/// What [`Store::verify_blob`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BlobCheck {
    /// The content hashes to its name.
    Ok {
        /// Size in bytes.
        size: u64,
    },
    /// There is no such blob.
    Missing,
    /// The content did not hash to its name; it was moved to `quarantine`.
    Quarantined {
        /// Where it went (a file path or object key).
        to: String,
    },
}

/// The key of a [`Record`]: a module version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordKey {
    /// Module path, as Go spells it (not escaped).
    pub module: String,
    /// Version, as Go spells it.
    pub version: String,
}

impl RecordKey {
    /// A key for `module@version`.
    pub fn new(module: impl Into<String>, version: impl Into<String>) -> RecordKey {
        RecordKey {
            module: module.into(),
            version: version.into(),
        }
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.module, self.version)
    }
}

/// What the store knows about one module version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The module zip (absent for a version whose zip was never fetched).
    pub zip: Option<BlobRef>,
    /// The go.mod file.
    pub gomod: BlobRef,
    /// The `.info` JSON.
    pub info: BlobRef,
    /// `h1:` hash of the zip.
    pub zip_h1: Option<String>,
    /// `h1:` hash of the go.mod file.
    pub gomod_h1: String,
    /// Who vouched for the hashes: `sum.golang.org`, `policy:nosumdb`, ...
    pub verified_by: String,
    /// When the content was fetched from upstream.
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
}

impl Record {
    /// The blobs this record needs.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        self.zip.iter().chain([&self.gomod, &self.info])
    }

    /// Whether two records describe the same content. `verified_by` and
    /// `fetched_at` are ignored: two instances that fetched the same version
    /// at once write records differing only there, and that is not a conflict.
    pub fn same_content(&self, other: &Record) -> bool {
        self.zip == other.zip
            && self.gomod == other.gomod
            && self.info == other.info
            && self.zip_h1 == other.zip_h1
            && self.gomod_h1 == other.gomod_h1
    }
}

/// The key of a mutable document.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DocKey {
    /// `<module>/@v/list`.
    List(String),
    /// `<module>/@latest`.
    Latest(String),
    /// The answer to a version query (`<module>/@v/<query>.info` for a query
    /// that is not a canonical version): module, query.
    Query(String, String),
    /// A checksum-database lookup answer, proved by the verifying client:
    /// database name, module, version. Stored where earlier layouts kept it
    /// (as the query `sumdb-lookup:<db>@<version>` of the module), so
    /// existing stores keep their proved lookups.
    SumdbLookup {
        /// The database's name.
        db: String,
        /// The module path.
        module: String,
        /// The version.
        version: String,
    },
    /// The latest signed tree note of a checksum database, by its name.
    SumdbLatest(String),
    /// A checksum-database tile: database name, tile path (`tile/8/0/001`,
    /// `tile/8/1/002.p/5`, ...).
    SumdbTile(String, String),
    /// The last-access table kept by [`AccessTracker`].
    Access,
}

/// A mutable document and when it was fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    /// Its content.
    pub bytes: Bytes,
    /// When it was fetched from upstream.
    pub fetched_at: OffsetDateTime,
}

/// Storage for blobs, records and documents.
///
/// Every method is atomic as seen by other readers, in this process or another
/// one: a reader sees either nothing or the whole thing.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a blob, hashing it while it is written. Storing content that is
    /// already present succeeds and returns the same [`BlobRef`].
    async fn put_blob(&self, src: BlobSource) -> Result<BlobRef>;

    /// Streams a blob, or `range` of it (`start <= end <= size`, else
    /// [`Error::InvalidRange`]). A missing blob is [`Error::NotFound`].
    async fn get_blob(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<BlobStream>;

    /// Size and modification time of a blob, or `None` if it is not stored.
    async fn stat_blob(&self, digest: &Digest) -> Result<Option<BlobInfo>>;

    /// Re-hashes a blob; a corrupt one is moved to quarantine.
    async fn verify_blob(&self, digest: &Digest) -> Result<BlobCheck>;

    /// Deletes a blob; deleting a missing blob succeeds. Callers must make sure
    /// no record needs it (see [`maint::gc`]).
    async fn delete_blob(&self, digest: &Digest) -> Result<()>;

    /// Every stored blob.
    async fn list_blobs(&self) -> Result<BoxStream<'static, Result<BlobInfo>>>;

    /// Writes a record, create-only. An existing record with the same content
    /// ([`Record::same_content`]) is success; a different one is
    /// [`Error::Conflict`]. Every blob the record names must already be stored
    /// with the right size, else [`Error::MissingBlob`].
    async fn put_record(&self, key: &RecordKey, rec: &Record) -> Result<()>;

    /// Reads a record.
    async fn get_record(&self, key: &RecordKey) -> Result<Option<Record>>;

    /// Deletes a record; deleting a missing record succeeds.
    async fn delete_record(&self, key: &RecordKey) -> Result<()>;

    /// Moves a record's bytes to `quarantine/index/...` (for one that cannot
    /// be parsed) and returns where they went, or `None` if it is missing.
    async fn quarantine_record(&self, key: &RecordKey) -> Result<Option<String>>;

    /// Every record key.
    async fn list_records(&self) -> Result<BoxStream<'static, Result<RecordKey>>>;

    /// Writes a document (last write wins).
    async fn put_doc(&self, key: &DocKey, bytes: Bytes, fetched_at: OffsetDateTime) -> Result<()>;

    /// Reads a document. One whose stored checksum does not match is
    /// [`Error::Corrupt`].
    async fn get_doc(&self, key: &DocKey) -> Result<Option<Doc>>;

    /// Deletes a document; deleting a missing one succeeds.
    async fn delete_doc(&self, key: &DocKey) -> Result<()>;

    /// The size of a blob, or `None` if it is not stored.
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.stat_blob(digest).await?.map(|b| b.size))
    }

    /// Whether a blob is stored.
    async fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Ok(self.stat_blob(digest).await?.is_some())
    }
}

/// Validates `range` against a blob of `size` bytes.
pub(crate) fn check_range(
    digest: &Digest,
    range: Option<Range<u64>>,
    size: u64,
) -> Result<Range<u64>> {
    match range {
        None => Ok(0..size),
        Some(r) if r.start <= r.end && r.end <= size => Ok(r),
        Some(r) => Err(Error::InvalidRange {
            digest: *digest,
            start: r.start,
            end: r.end,
            size,
        }),
    }
}

/// Incremental SHA-256 with a byte count.
#[derive(Clone, Default)]
pub(crate) struct Hasher {
    h: Sha256,
    n: u64,
}

impl Hasher {
    pub(crate) fn update(&mut self, b: &[u8]) {
        self.h.update(b);
        self.n += b.len() as u64;
    }
    pub(crate) fn finish(self) -> BlobRef {
        BlobRef {
            digest: Digest(self.h.finalize().into()),
            size: self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_json_names_digests_and_times_readably() {
        let b = BlobRef {
            digest: Digest::of(b"x"),
            size: 1,
        };
        let rec = Record {
            zip: None,
            gomod: b,
            info: b,
            zip_h1: None,
            gomod_h1: "h1:abc=".into(),
            verified_by: "sum.golang.org".into(),
            fetched_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert!(json.contains(&format!("\"digest\":\"sha256:{}\"", Digest::of(b"x").hex())));
        assert!(
            json.contains("\"fetched_at\":\"2023-11-14T22:13:20Z\""),
            "{json}"
        );
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn digest_parse_rejects_bad_input() {
        let d = Digest::of(b"y");
        assert_eq!(d.hex(), hex::encode(d.0));
        assert_eq!(Digest::parse(&d.hex()).unwrap(), d);
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert!(Digest::parse(&d.hex().to_uppercase()).is_err());
        assert!(Digest::parse("abc").is_err());
        assert!(Digest::parse(&"g".repeat(64)).is_err());
    }
}
