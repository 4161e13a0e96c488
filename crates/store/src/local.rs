//! The local-disk backend, the embedded default.
//!
//! Every write goes to a staging file under `tmp/<instance>/`, is fsynced, and
//! then appears under its final name in one step: blobs and records with a
//! hard link (create-only: an existing file is never replaced), documents with
//! a rename (last write wins). The parent directory is fsynced afterwards. A
//! reader therefore sees a whole file or none, even across a crash.
//!
//! Hard links are required for create-only commits (every local filesystem
//! modwarden targets has them); a filesystem without them makes puts fail
//! with an I/O error rather than weakening the create-only rule.
//!
//! # Index: files, not an embedded database
//!
//! Records are small JSON files under `index/`, one per module version, not
//! rows in redb. Reasons:
//! - several processes may share one store directory (two `modwarden serve`
//!   on one host, or `modwarden gc` next to a running server). redb takes an
//!   exclusive lock on its file, so a second process could not even read.
//! - the same keys and the same create-only rule then work unchanged on object
//!   storage, and one conformance suite covers both.
//! - crash safety comes from one mechanism (stage, fsync, link) instead of two.
//! - a record is looked up by path: one `open` + `read`, no index to load.
//!
//! Listing every record walks the directory tree; that is only done by
//! maintenance (gc, scrub, stats), not on requests.
//!
//! # Staging and start-up cleanup
//!
//! Each open store holds an exclusive `flock` on `tmp/<instance>.lock`. At
//! open, every staging directory whose lock can be taken belongs to a dead
//! process and is removed; live processes sharing the directory keep theirs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use fs4::fs_std::FileExt;
use futures::StreamExt;
use futures::stream::BoxStream;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    BlobCheck, BlobInfo, BlobRef, BlobSource, BlobStream, Digest, Doc, DocKey, Error, Hasher,
    LAYOUT_VERSION, Record, RecordKey, Result, Store, VERIFY_UPFRONT_MAX, check_range, doc, keys,
};

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by modwarden.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

const COPY_BUF: usize = 1 << 20;
/// Chunk size of streamed reads (ranges and verified full reads). Every
/// client of a large blob holds about three chunks (the file read, the chunk
/// held back until the hash is checked, the one being written), so this
/// bounds memory per download: 200 clients of one 50 MiB zip must fit in
/// 64 MiB of RSS (crates/modwarden/tests/stampede_rss.rs).
const STREAM_CHUNK: usize = 32 << 10;
/// Streamed reads of large blobs share about this much read-buffer memory:
/// each read takes this divided by the number of such reads in progress,
/// clamped to [`STREAM_CHUNK`, `READ_CHUNK_MAX`]. A few downloads get big
/// chunks (fewer blocking-pool trips and system calls per byte); a stampede
/// of hundreds falls back to [`STREAM_CHUNK`].
const READ_BUDGET: usize = 4 << 20;
const READ_CHUNK_MAX: usize = 1 << 20;
static READS_ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// How long a large blob that hashed correctly is trusted without hashing it
/// again, while its file is unchanged (see [`LocalOptions::reverify_after`]).
pub const DEFAULT_REVERIFY_AFTER: Duration = Duration::from_secs(600);

/// Options for [`LocalStore::open_with`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LocalOptions {
    /// A large blob (over [`VERIFY_UPFRONT_MAX`]) whose full read hashed
    /// correctly is served without hashing again for this long, as long as
    /// its file is provably the one that was hashed: same device, inode,
    /// size, modification and change time (any write, truncation, rename
    /// over it or `chmod` changes the change time, which no program can set
    /// back). Zero hashes every full read. What this trades: a byte that rots
    /// on the medium without any write is caught by the next hash (at most
    /// this long later) or by `scrub`, instead of on the next read.
    pub reverify_after: Duration,
    /// Test hook: fail a write with "no space left" once it has staged more
    /// than this many bytes. For machines where a tiny filesystem
    /// cannot be mounted.
    #[doc(hidden)]
    pub inject_no_space_after: Option<u64>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            reverify_after: DEFAULT_REVERIFY_AFTER,
            inject_no_space_after: None,
        }
    }
}

/// What identifies the content of a blob file without reading it: if any of
/// these differ from when the file was hashed, it may have changed since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    #[cfg(unix)]
    fn of(m: &fs::Metadata) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    fn of(_: &fs::Metadata) -> Option<FileId> {
        None
    }

    /// Whether the last change is old enough that a later write cannot get
    /// the same change time (file systems with coarse timestamps tick every
    /// few milliseconds).
    fn settled(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        now - self.ctime.0 >= 2
    }
}

/// A store in a local directory. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    staging: PathBuf,
    _lock: File,
    seq: AtomicU64,
    opts: LocalOptions,
    /// Large blobs whose last full hash matched, with the identity of the
    /// file that was hashed; entries live [`LocalOptions::reverify_after`].
    /// `None` when that is zero.
    verified: Option<moka::sync::Cache<Digest, FileId>>,
    /// Full reads of large blobs: hashed while streaming, and trusted.
    reads_hashed: AtomicU64,
    reads_trusted: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("root", &self.root)
            .field("staging", &self.staging)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::Io {
            path: PathBuf::new(),
            source: io::Error::other(format!("blocking task failed: {e}")),
        }),
    }
}

/// A blob file opened by `get_blob`: small ones are read (and checked) at
/// once; a large one comes with its identity and whether it is trusted.
enum Opened {
    Small(Vec<u8>, u64, bool),
    Large {
        file: File,
        size: u64,
        id: Option<FileId>,
        trusted: bool,
    },
}

/// Counts a streamed read of a large blob while alive (see [`READ_BUDGET`]).
struct ActiveRead;

impl ActiveRead {
    fn start() -> ActiveRead {
        READS_ACTIVE.fetch_add(1, Ordering::Relaxed);
        ActiveRead
    }

    fn chunk(&self) -> usize {
        let n = READS_ACTIVE.load(Ordering::Relaxed).max(1);
        (READ_BUDGET / n).clamp(STREAM_CHUNK, READ_CHUNK_MAX)
    }
}

impl Drop for ActiveRead {
    fn drop(&mut self) {
        READS_ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Streams `range` of `file`, one positioned read on the blocking pool per
/// chunk, each chunk sized by [`ActiveRead::chunk`] when it is read. Ends
/// with an `UnexpectedEof` error if the file is shorter than `range`.
fn read_range(file: File, range: Range<u64>) -> BoxStream<'static, io::Result<Bytes>> {
    let file = Arc::new(file);
    let st = (file, range.start, range.end, ActiveRead::start());
    futures::stream::unfold(Some(st), |st| async move {
        let (file, pos, end, active) = st?;
        if pos >= end {
            return None;
        }
        let want = (end - pos).min(active.chunk() as u64) as usize;
        let r = match read_cached_at(&file, want, pos) {
            Some(buf) => Ok(buf),
            None => {
                let f = file.clone();
                match tokio::task::spawn_blocking(move || read_full_at(&f, want, pos)).await {
                    Ok(r) => r,
                    Err(e) => Err(io::Error::other(format!("blocking read failed: {e}"))),
                }
            }
        };
        match r {
            Ok(buf) if buf.is_empty() => Some((
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("blob file ended at byte {pos}, before byte {end}"),
                )),
                None,
            )),
            Ok(buf) => {
                let next = pos + buf.len() as u64;
                Some((Ok(Bytes::from(buf)), Some((file, next, end, active))))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

/// Reads at `pos` without blocking, on the calling (async) thread, what the
/// page cache already holds: most reads of a warm blob. `None` when nothing
/// could be read that way (not cached, or not supported): the caller then
/// reads on the blocking pool, which also reports any real error.
#[cfg(target_os = "linux")]
fn read_cached_at(f: &File, want: usize, pos: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; want];
    let flags = rustix::io::ReadWriteFlags::NOWAIT;
    match rustix::io::preadv2(f, &mut [io::IoSliceMut::new(&mut buf)], pos, flags) {
        Ok(n) if n > 0 => {
            buf.truncate(n);
            Some(buf)
        }
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn read_cached_at(_: &File, _: usize, _: u64) -> Option<Vec<u8>> {
    None
}

/// Reads up to `want` bytes at `pos`; fewer only at the end of the file.
fn read_full_at(f: &File, want: usize, pos: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; want];
    let mut n = 0;
    while n < want {
        match read_at(f, &mut buf[n..], pos + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, pos)
}

#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, pos)
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

impl LocalStore {
    /// Opens (creating if needed) the store at `root`.
    ///
    /// Refuses a `meta.toml` with a newer layout ([`Error::LayoutTooNew`]) and a
    /// non-empty directory without one ([`Error::NotAStore`]). Removes staging
    /// leftovers of dead processes.
    pub async fn open(root: &Path) -> Result<LocalStore> {
        Self::open_with(root, LocalOptions::default()).await
    }

    /// [`LocalStore::open`] with options.
    pub async fn open_with(root: &Path, opts: LocalOptions) -> Result<LocalStore> {
        let root = root.to_path_buf();
        let inner = blocking(move || open_blocking(root, opts)).await?;
        Ok(LocalStore {
            inner: Arc::new(inner),
        })
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Full reads of large blobs so far: `(hashed, trusted)`. A trusted read
    /// is not hashed because the same file hashed correctly before (see
    /// [`LocalOptions::reverify_after`]).
    pub fn full_reads(&self) -> (u64, u64) {
        (
            self.inner.reads_hashed.load(Ordering::Relaxed),
            self.inner.reads_trusted.load(Ordering::Relaxed),
        )
    }

    /// The file that holds a blob (it may not exist).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.inner.root.join(keys::blob(d))
    }
}

fn read_meta(path: &Path) -> Result<Option<u32>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    parse_meta(&text, &path.display().to_string()).map(Some)
}

pub(crate) fn parse_meta(text: &str, path: &str) -> Result<u32> {
    let malformed = |reason: String| Error::Malformed {
        path: path.to_string(),
        reason,
    };
    let v: toml::Table = toml::from_str(text).map_err(|e| malformed(e.to_string()))?;
    let layout = v
        .get("layout")
        .and_then(|l| l.as_integer())
        .ok_or_else(|| malformed("no integer `layout` field".into()))?;
    let layout = u32::try_from(layout).map_err(|_| malformed(format!("bad layout {layout}")))?;
    if layout > LAYOUT_VERSION {
        return Err(Error::LayoutTooNew {
            found: layout,
            supported: LAYOUT_VERSION,
            path: path.to_string(),
        });
    }
    if layout == 0 {
        return Err(malformed("layout 0 is not a valid layout".into()));
    }
    Ok(layout)
}

pub(crate) fn meta_text() -> String {
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!(
        "# modwarden store metadata; do not edit.\n\
         # A newer modwarden may raise `layout`; older ones then refuse the store.\n\
         layout = {LAYOUT_VERSION}\ncreated_at = \"{now}\"\n"
    )
}

fn open_blocking(root: PathBuf, opts: LocalOptions) -> Result<Inner> {
    fs::create_dir_all(&root).map_err(io_err(&root))?;
    let meta = root.join(keys::META);
    if read_meta(&meta)?.is_none() {
        let known = ["CACHEDIR.TAG", "tmp", "data", "index", "docs", "quarantine"];
        for e in fs::read_dir(&root).map_err(io_err(&root))? {
            let e = e.map_err(io_err(&root))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !known.contains(&name.as_ref()) && !name.starts_with(".meta.toml.") {
                return Err(Error::NotAStore { path: root });
            }
        }
        // Create-only, so two processes opening a new store agree on one file.
        let staged = root.join(format!(".meta.toml.{}", std::process::id()));
        write_synced(&staged, meta_text().as_bytes())?;
        let linked = fs::hard_link(&staged, &meta);
        let _ = fs::remove_file(&staged);
        match linked {
            Ok(()) => fsync_dir(&root)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&meta, e)),
        }
        read_meta(&meta)?;
    }
    let tag = root.join("CACHEDIR.TAG");
    if !tag.exists() {
        fs::write(&tag, CACHEDIR_TAG).map_err(io_err(&tag))?;
    }
    for d in [
        keys::DATA_PREFIX,
        keys::INDEX_PREFIX,
        keys::DOCS_PREFIX,
        keys::QUARANTINE_PREFIX,
        "tmp",
    ] {
        let p = root.join(d);
        fs::create_dir_all(&p).map_err(io_err(&p))?;
    }
    let tmp = root.join("tmp");
    clean_staging(&tmp)?;
    let (lock, staging) = claim_staging(&tmp)?;
    let verified = (!opts.reverify_after.is_zero()).then(|| {
        moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(opts.reverify_after)
            .build()
    });
    Ok(Inner {
        root,
        staging,
        _lock: lock,
        seq: AtomicU64::new(0),
        opts,
        verified,
        reads_hashed: AtomicU64::new(0),
        reads_trusted: AtomicU64::new(0),
    })
}

/// Removes staging areas of processes that no longer run.
fn clean_staging(tmp: &Path) -> Result<()> {
    for e in fs::read_dir(tmp).map_err(io_err(tmp))? {
        let e = e.map_err(io_err(tmp))?;
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let is_lock = name.ends_with(".lock") || name.ends_with(".locking");
        if is_lock {
            let Ok(f) = OpenOptions::new().read(true).write(true).open(&path) else {
                continue;
            };
            if matches!(f.try_lock_exclusive(), Ok(true)) {
                let stem = name
                    .trim_end_matches(".locking")
                    .trim_end_matches(".lock")
                    .to_string();
                // Another process opening the store may be removing the same
                // leftovers right now: NotFound is fine.
                let dir = tmp.join(&stem);
                for r in [fs::remove_dir_all(&dir), fs::remove_file(&path)] {
                    match r {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(&path, e)),
                    }
                }
            }
        } else {
            let lock = tmp.join(format!("{name}.lock"));
            if !lock.exists() {
                // A staging dir is created only after its lock is in place, so
                // one without a lock belongs to nobody.
                let r = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                match r {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&path, e)),
                }
            }
        }
    }
    Ok(())
}

/// Creates this process's locked staging directory.
fn claim_staging(tmp: &Path) -> Result<(File, PathBuf)> {
    for _ in 0..16 {
        let id = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        let locking = tmp.join(format!("{id}.locking"));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&locking)
            .map_err(io_err(&locking))?;
        if !matches!(f.try_lock_exclusive(), Ok(true)) {
            continue;
        }
        let lock = tmp.join(format!("{id}.lock"));
        // If a concurrent cleaner removed our `.locking` file in the instant
        // before we locked it, the rename fails and we try another name.
        if fs::rename(&locking, &lock).is_err() {
            continue;
        }
        let dir = tmp.join(&id);
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        return Ok((f, dir));
    }
    Err(Error::Io {
        path: tmp.to_path_buf(),
        source: io::Error::other("could not claim a staging directory"),
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(io_err(path))?;
    let r = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = r {
        let _ = fs::remove_file(path);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Removes a staging file when dropped, unless disarmed.
struct TmpGuard(Option<PathBuf>);

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

impl Inner {
    fn staging_path(&self) -> PathBuf {
        self.staging
            .join(self.seq.fetch_add(1, Ordering::Relaxed).to_string())
    }

    fn injected(&self, written: u64, path: &Path) -> Result<()> {
        match self.opts.inject_no_space_after {
            Some(limit) if written > limit => Err(Error::NoSpace {
                path: path.to_path_buf(),
            }),
            _ => Ok(()),
        }
    }

    /// Writes `bytes` to a new staging file, fsynced.
    fn stage_bytes(&self, bytes: &[u8]) -> Result<(PathBuf, TmpGuard)> {
        let p = self.staging_path();
        let guard = TmpGuard(Some(p.clone()));
        self.injected(bytes.len() as u64, &p)?;
        write_synced(&p, bytes)?;
        Ok((p, guard))
    }

    /// Makes a staged file visible at `dst` unless something is already
    /// there. Returns false if `dst` existed.
    fn link_new(&self, staged: &Path, dst: &Path) -> Result<bool> {
        let parent = dst.parent().unwrap_or(&self.root);
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        let created = match fs::hard_link(staged, dst) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(Error::io(dst, e)),
        };
        let _ = fs::remove_file(staged);
        if created {
            fsync_dir(parent)?;
        }
        Ok(created)
    }

    /// Makes a staged file visible at `dst`, replacing what is there.
    fn rename_over(&self, staged: &Path, dst: &Path) -> Result<()> {
        let parent = dst.parent().unwrap_or(&self.root);
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        fs::rename(staged, dst).map_err(io_err(dst))?;
        fsync_dir(parent)
    }

    /// Copies `src` to a staging file, hashing on the way.
    fn stage_copy(
        &self,
        src: &mut dyn Read,
        src_path: &Path,
    ) -> Result<(PathBuf, TmpGuard, BlobRef)> {
        let p = self.staging_path();
        let guard = TmpGuard(Some(p.clone()));
        let mut f = File::create(&p).map_err(io_err(&p))?;
        // Hashing runs on its own thread while this one reads and writes, so
        // a put costs about max(hash, copy) instead of their sum. At most
        // PIPELINE chunks are in flight: memory stays flat whatever the size.
        const PIPELINE: usize = 3;
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(PIPELINE);
        // Buffers come back after hashing, so none is allocated per chunk.
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPELINE + 1);
        std::thread::scope(|scope| {
            let hasher = scope.spawn(move || {
                let mut h = Hasher::default();
                for (buf, n) in rx {
                    h.update(&buf[..n]);
                    let _ = back_tx.try_send(buf);
                }
                h.finish()
            });
            let mut spare: Vec<Vec<u8>> = (0..PIPELINE + 1).map(|_| vec![0u8; COPY_BUF]).collect();
            let mut written = 0u64;
            let copied: Result<()> = loop {
                let mut buf = match spare.pop() {
                    Some(b) => b,
                    None => match back_rx.recv() {
                        Ok(b) => b,
                        Err(_) => {
                            break Err(Error::Io {
                                path: p.clone(),
                                source: io::Error::other("hashing thread stopped"),
                            });
                        }
                    },
                };
                let n = match src.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        spare.push(buf);
                        continue;
                    }
                    Err(e) => break Err(Error::io(src_path, e)),
                };
                written += n as u64;
                if let Err(e) = self.injected(written, &p) {
                    break Err(e);
                }
                if let Err(e) = f.write_all(&buf[..n]) {
                    break Err(Error::io(&p, e));
                }
                if tx.send((buf, n)).is_err() {
                    break Err(Error::Io {
                        path: p.clone(),
                        source: io::Error::other("hashing thread stopped"),
                    });
                }
            };
            drop(tx);
            let r = hasher.join().map_err(|_| Error::Io {
                path: p.clone(),
                source: io::Error::other("hashing thread panicked"),
            });
            copied?;
            let r = r?;
            f.sync_all().map_err(io_err(&p))?;
            Ok((p.clone(), guard, r))
        })
    }

    /// Moves a staged blob into `data/`.
    fn commit_blob(&self, staged: &Path, mut guard: TmpGuard, b: BlobRef) -> Result<BlobRef> {
        let dst = self.root.join(keys::blob(&b.digest));
        match fs::metadata(&dst) {
            Ok(m) if m.len() == b.size => {
                // Already stored: refresh its time so gc's grace period covers a
                // record about to be written against it.
                if let Err(e) = File::open(&dst).and_then(|f| f.set_modified(SystemTime::now())) {
                    tracing::debug!(path = %dst.display(), error = %e, "could not refresh blob mtime");
                }
                return Ok(b);
            }
            Ok(_) => {
                // A wrong-sized copy can only be damage: replace it.
                tracing::warn!(path = %dst.display(), "replacing a blob of the wrong size");
                readonly(staged);
                self.rename_over(staged, &dst)?;
                guard.0 = None;
                return Ok(b);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&dst, e)),
        }
        readonly(staged);
        self.link_new(staged, &dst)?;
        guard.0 = None;
        Ok(b)
    }

    /// The identity of the file whose last full hash matched `d`, if that
    /// is recent enough to trust.
    fn trusted(&self, d: &Digest) -> Option<FileId> {
        self.verified.as_ref()?.get(d)
    }

    /// Records that the file with identity `id` hashed to `d`. Files changed
    /// in the last seconds are not recorded: a write in the same timestamp
    /// tick would leave the identity unchanged.
    fn trust(&self, d: &Digest, id: Option<FileId>) {
        if let (Some(cache), Some(id)) = (&self.verified, id)
            && id.settled()
        {
            cache.insert(*d, id);
        }
    }

    fn distrust(&self, d: &Digest) {
        if let Some(cache) = &self.verified {
            cache.invalidate(d);
        }
    }

    /// Moves the record file at `rel` to `quarantine/index/`.
    fn quarantine_record(&self, rel: &str) -> Result<Option<PathBuf>> {
        let src = self.root.join(rel);
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let dst = self.root.join(keys::quarantine_record(rel, nanos));
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        match fs::rename(&src, &dst) {
            Ok(()) => Ok(Some(dst)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&src, e)),
        }
    }

    fn quarantine(&self, d: &Digest) -> Result<Option<PathBuf>> {
        self.distrust(d);
        let src = self.root.join(keys::blob(d));
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let dst = self.root.join(keys::quarantine(d, nanos));
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        match fs::rename(&src, &dst) {
            Ok(()) => {
                tracing::warn!(digest = %d, to = %dst.display(), "corrupt blob quarantined");
                Ok(Some(dst))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&src, e)),
        }
    }
}

fn readonly(p: &Path) {
    if let Ok(m) = fs::metadata(p) {
        let mut perm = m.permissions();
        perm.set_readonly(true);
        let _ = fs::set_permissions(p, perm);
    }
}

pub(crate) fn hash_file(path: &Path) -> io::Result<BlobRef> {
    hash_reader(&mut File::open(path)?)
}

fn hash_reader(f: &mut File) -> io::Result<BlobRef> {
    let mut h = Hasher::default();
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn remove_opt(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn parse_record(bytes: &[u8], path: &Path) -> Result<Record> {
    serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
        path: path.display().to_string(),
        reason: format!("bad record JSON: {e}"),
    })
}

fn walk_records(dir: &Path, rel: &str, out: &mut Vec<RecordKey>) -> Result<()> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for e in rd {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let ft = e.file_type().map_err(io_err(&e.path()))?;
        if ft.is_dir() {
            walk_records(&e.path(), &child_rel, out)?;
        } else if name.ends_with(".json") {
            match keys::parse_record(&child_rel) {
                Some(k) => out.push(k),
                None => {
                    tracing::warn!(path = %e.path().display(), "ignoring unexpected file in index")
                }
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Store for LocalStore {
    async fn put_blob(&self, src: BlobSource) -> Result<BlobRef> {
        let inner = self.inner.clone();
        match src {
            BlobSource::Bytes(b) => {
                blocking(move || {
                    let mut h = Hasher::default();
                    h.update(&b);
                    let r = h.finish();
                    let (p, g) = inner.stage_bytes(&b)?;
                    inner.commit_blob(&p, g, r)
                })
                .await
            }
            BlobSource::File(path) => {
                blocking(move || {
                    let mut f = File::open(&path).map_err(io_err(&path))?;
                    let (p, g, r) = inner.stage_copy(&mut f, &path)?;
                    inner.commit_blob(&p, g, r)
                })
                .await
            }
            BlobSource::Reader(mut r) => {
                let p = inner.staging_path();
                let guard = TmpGuard(Some(p.clone()));
                let mut f = tokio::fs::File::create(&p).await.map_err(io_err(&p))?;
                let mut h = Hasher::default();
                let mut buf = vec![0u8; STREAM_CHUNK];
                loop {
                    let n = match r.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            return Err(Error::Io {
                                path: PathBuf::from("<blob source reader>"),
                                source: e,
                            });
                        }
                    };
                    h.update(&buf[..n]);
                    inner.injected(h.n, &p)?;
                    f.write_all(&buf[..n]).await.map_err(io_err(&p))?;
                }
                f.sync_all().await.map_err(io_err(&p))?;
                drop(f);
                let r = h.finish();
                blocking(move || inner.commit_blob(&p, guard, r)).await
            }
        }
    }

    async fn get_blob(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<BlobStream> {
        let path = self.blob_path(digest);
        // One trip to the blocking pool opens the file, reads its size and,
        // for a small blob, reads and checks all of it: a warm `.info` or
        // `.mod` costs one thread hand-off instead of one per file operation
        // (the hand-offs dominated the profile of warm `.info` serving).
        let d = *digest;
        let p = path.clone();
        let inner = self.inner.clone();
        let opened = blocking(move || {
            let mut f = match File::open(&p) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::NotFound {
                        what: format!("blob {d}"),
                    });
                }
                Err(e) => return Err(Error::io(&p, e)),
            };
            let meta = f.metadata().map_err(io_err(&p))?;
            let size = meta.len();
            if size > VERIFY_UPFRONT_MAX {
                let id = FileId::of(&meta);
                let trusted = id.is_some() && inner.trusted(&d) == id;
                return Ok(Opened::Large {
                    file: f,
                    size,
                    id,
                    trusted,
                });
            }
            let mut buf = Vec::with_capacity(size as usize);
            f.read_to_end(&mut buf).map_err(io_err(&p))?;
            let good = buf.len() as u64 == size && Digest::of(&buf) == d;
            Ok(Opened::Small(buf, size, good))
        })
        .await?;
        let (file, size, id, trusted) = match opened {
            Opened::Small(buf, size, good) => {
                let r = check_range(digest, range, size)?;
                if !good {
                    let inner = self.inner.clone();
                    blocking(move || inner.quarantine(&d)).await?;
                    return Err(Error::NotFound {
                        what: format!(
                            "blob {digest} (the stored copy was corrupt and was quarantined)"
                        ),
                    });
                }
                let bytes = Bytes::from(buf).slice(r.start as usize..r.end as usize);
                let stream = futures::stream::iter([Ok(bytes)]).boxed();
                return Ok(BlobStream::new(size, r, stream));
            }
            Opened::Large {
                file,
                size,
                id,
                trusted,
            } => (file, size, id, trusted),
        };
        let r = check_range(digest, range, size)?;
        if r != (0..size) || trusted {
            // A range is checked for size only (see the crate docs); a
            // trusted blob was hashed before and its file is unchanged.
            if trusted && r == (0..size) {
                self.inner.reads_trusted.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(BlobStream::new(size, r.clone(), read_range(file, r)));
        }
        self.inner.reads_hashed.fetch_add(1, Ordering::Relaxed);
        let raw = read_range(file, r.clone());
        let on_corrupt: crate::verify::OnCorrupt = {
            let inner = self.inner.clone();
            Box::new(move || {
                Box::pin(async move {
                    let _ = blocking(move || inner.quarantine(&d)).await;
                })
            })
        };
        let on_good: crate::verify::OnGood = {
            let inner = self.inner.clone();
            Box::new(move || inner.trust(&d, id))
        };
        let s = crate::verify::verified(
            raw,
            BlobRef {
                digest: *digest,
                size,
            },
            path.display().to_string(),
            on_corrupt,
            on_good,
        );
        Ok(BlobStream::new(size, r, s))
    }

    async fn stat_blob(&self, digest: &Digest) -> Result<Option<BlobInfo>> {
        let path = self.blob_path(digest);
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(Some(BlobInfo {
                digest: *digest,
                size: m.len(),
                modified: m.modified().ok().map(OffsetDateTime::from),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    async fn verify_blob(&self, digest: &Digest) -> Result<BlobCheck> {
        let inner = self.inner.clone();
        let d = *digest;
        blocking(move || {
            let path = inner.root.join(keys::blob(&d));
            let hashed = File::open(&path).and_then(|mut f| {
                let id = FileId::of(&f.metadata()?);
                Ok((hash_reader(&mut f)?, id))
            });
            match hashed {
                Ok((r, id)) if r.digest == d => {
                    if r.size > VERIFY_UPFRONT_MAX {
                        inner.trust(&d, id);
                    }
                    Ok(BlobCheck::Ok { size: r.size })
                }
                Ok(_) => match inner.quarantine(&d)? {
                    Some(to) => Ok(BlobCheck::Quarantined {
                        to: to.display().to_string(),
                    }),
                    None => Ok(BlobCheck::Missing),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BlobCheck::Missing),
                Err(e) => Err(Error::io(&path, e)),
            }
        })
        .await
    }

    async fn delete_blob(&self, digest: &Digest) -> Result<()> {
        self.inner.distrust(digest);
        let path = self.blob_path(digest);
        blocking(move || remove_opt(&path)).await
    }

    async fn list_blobs(&self) -> Result<BoxStream<'static, Result<BlobInfo>>> {
        let root = self.inner.root.join(keys::DATA_PREFIX);
        let v = blocking(move || {
            let mut out = Vec::new();
            for dir in fs::read_dir(&root).map_err(io_err(&root))? {
                let dir = dir.map_err(io_err(&root))?;
                let dname = dir.file_name().to_string_lossy().into_owned();
                let dpath = dir.path();
                if !dpath.is_dir() {
                    continue;
                }
                for f in fs::read_dir(&dpath).map_err(io_err(&dpath))? {
                    let f = f.map_err(io_err(&dpath))?;
                    let name = f.file_name().to_string_lossy().into_owned();
                    let Some(digest) = keys::parse_blob(&dname, &name) else {
                        continue;
                    };
                    let m = match f.metadata() {
                        Ok(m) => m,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(Error::io(f.path(), e)),
                    };
                    out.push(Ok(BlobInfo {
                        digest,
                        size: m.len(),
                        modified: m.modified().ok().map(OffsetDateTime::from),
                    }));
                }
            }
            Ok(out)
        })
        .await?;
        Ok(futures::stream::iter(v).boxed())
    }

    async fn put_record(&self, key: &RecordKey, rec: &Record) -> Result<()> {
        let rel = keys::record(key)?;
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
            path: rel.clone(),
            reason: format!("cannot serialize record: {e}"),
        })?;
        let inner = self.inner.clone();
        let key = key.clone();
        let rec = rec.clone();
        blocking(move || {
            let dst = inner.root.join(&rel);
            if let Some(existing) = read_opt(&dst)? {
                if parse_record(&existing, &dst).is_ok() {
                    return same_or_conflict(&existing, &dst, &rec, key);
                }
                // Unreadable (damaged by hand or by the disk): it can only
                // be replaced by a record of what was just verified. The old
                // bytes are kept in quarantine.
                if let Some(to) = inner.quarantine_record(&rel)? {
                    tracing::warn!(record = %dst.display(), to = %to.display(),
                        "unreadable record replaced; the old one was quarantined");
                }
            }
            let (p, _g) = inner.stage_bytes(&json)?;
            if inner.link_new(&p, &dst)? {
                return Ok(());
            }
            let existing = read_opt(&dst)?.unwrap_or_default();
            same_or_conflict(&existing, &dst, &rec, key)
        })
        .await
    }

    async fn get_record(&self, key: &RecordKey) -> Result<Option<Record>> {
        let path = self.inner.root.join(keys::record(key)?);
        blocking(move || match read_opt(&path)? {
            Some(b) => parse_record(&b, &path).map(Some),
            None => Ok(None),
        })
        .await
    }

    async fn delete_record(&self, key: &RecordKey) -> Result<()> {
        let path = self.inner.root.join(keys::record(key)?);
        blocking(move || remove_opt(&path)).await
    }

    async fn quarantine_record(&self, key: &RecordKey) -> Result<Option<String>> {
        let rel = keys::record(key)?;
        let inner = self.inner.clone();
        let to = blocking(move || inner.quarantine_record(&rel)).await?;
        Ok(to.map(|p| p.display().to_string()))
    }

    async fn list_records(&self) -> Result<BoxStream<'static, Result<RecordKey>>> {
        let root = self.inner.root.join(keys::INDEX_PREFIX);
        let v = blocking(move || {
            let mut out = Vec::new();
            walk_records(&root, "", &mut out)?;
            Ok(out)
        })
        .await?;
        Ok(futures::stream::iter(v.into_iter().map(Ok)).boxed())
    }

    async fn put_doc(&self, key: &DocKey, bytes: Bytes, fetched_at: OffsetDateTime) -> Result<()> {
        let dst = self.inner.root.join(keys::doc(key)?);
        let inner = self.inner.clone();
        blocking(move || {
            let (p, mut g) = inner.stage_bytes(&doc::encode(&bytes, fetched_at))?;
            inner.rename_over(&p, &dst)?;
            g.0 = None;
            Ok(())
        })
        .await
    }

    async fn get_doc(&self, key: &DocKey) -> Result<Option<Doc>> {
        let path = self.inner.root.join(keys::doc(key)?);
        blocking(move || match read_opt(&path)? {
            Some(b) => doc::decode(b.into(), &path.display().to_string()).map(Some),
            None => Ok(None),
        })
        .await
    }

    async fn delete_doc(&self, key: &DocKey) -> Result<()> {
        let path = self.inner.root.join(keys::doc(key)?);
        blocking(move || remove_opt(&path)).await
    }
}

fn same_or_conflict(existing: &[u8], path: &Path, rec: &Record, key: RecordKey) -> Result<()> {
    let old = parse_record(existing, path)?;
    if old.same_content(rec) {
        Ok(())
    } else {
        Err(Error::Conflict { key })
    }
}
