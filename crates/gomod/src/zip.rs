//! Module zips: creation from a directory (Go's `zip.CreateFromDir`), a
//! low-level [`ZipBuilder`] that can write any entry (including invalid ones,
//! for tests), and a checker that reports every rule a zip breaks
//! ([`check_zip_file`], Go's `zip.CheckZip` plus the size and CRC checks that
//! `zip.Unzip` does while extracting).
//!
//! Both the checker and the hasher stream: memory grows with the number of
//! entries, never with their size.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

use crate::dirhash::Hash1Builder;
use crate::fold_table::FOLD;
use crate::module::{self, PathError};
use crate::rawzip::{self, ZipArchive, ZipFormatError};
use crate::semver;

/// Largest module zip, and largest total uncompressed size (500 MiB).
pub const MAX_ZIP_FILE: u64 = 500 << 20;
/// Largest go.mod inside a module zip (16 MiB).
pub const MAX_GO_MOD: u64 = 16 << 20;
/// Largest LICENSE inside a module zip (16 MiB).
pub const MAX_LICENSE: u64 = 16 << 20;

/// Errors that stop zip creation or checking altogether.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZipError {
    /// An I/O error on a named file.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The zip container cannot be read at all.
    #[error("{path}: {source}", path = path.display())]
    Format {
        /// The zip file.
        path: PathBuf,
        /// What was wrong.
        source: ZipFormatError,
    },
    /// The version is not canonical (Go: `version "v1.0" is not canonical (should be "v1.0.0")`).
    #[error("version {version:?} is not canonical (should be {canonical:?})")]
    NotCanonical {
        /// The version given.
        version: String,
        /// Its canonical form.
        canonical: String,
    },
    /// The module path or version is invalid or inconsistent.
    #[error(transparent)]
    Module(#[from] PathError),
    /// Creating a zip found files that cannot go into a module zip.
    #[error("create zip from directory {dir}: {}", list(.invalid), dir = dir.display())]
    InvalidFiles {
        /// The source directory.
        dir: PathBuf,
        /// Each invalid file and why.
        invalid: Vec<FileIssue>,
    },
    /// The directory's files add up to more than [`MAX_ZIP_FILE`].
    #[error("create zip from directory {dir}: module source tree too large (max size is {MAX_ZIP_FILE} bytes)", dir = dir.display())]
    TreeTooLarge {
        /// The source directory.
        dir: PathBuf,
    },
}

fn list(v: &[FileIssue]) -> String {
    v.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One file left out of, or rejected from, a module zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIssue {
    /// Slash-separated path relative to the module root.
    pub path: String,
    /// Why (Go's wording).
    pub reason: String,
}

impl fmt::Display for FileIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

// ---------------------------------------------------------------------------
// Low-level writer
// ---------------------------------------------------------------------------

/// How an entry's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// No compression.
    Store,
    /// Deflate (what Go writes).
    #[default]
    Deflate,
}

/// Overrides for one entry written by [`ZipBuilder::add_raw`]. Any `Some`
/// value replaces the true one in both the local and the central header,
/// which is how tests build zips that lie about their contents.
#[derive(Debug, Clone, Default)]
pub struct RawOptions {
    /// Compression method.
    pub method: Method,
    /// Declared uncompressed size instead of the real one.
    pub uncompressed_size: Option<u64>,
    /// Declared CRC-32 instead of the real one.
    pub crc32: Option<u32>,
    /// Compression method number written instead of `method`'s (data is still
    /// encoded with `method`).
    pub method_number: Option<u16>,
    /// Unix mode bits for the external attributes (e.g. `0o120777` for a symlink).
    pub unix_mode: Option<u32>,
}

struct Central {
    name: Vec<u8>,
    flags: u16,
    method: u16,
    crc32: u32,
    csize: u64,
    usize_: u64,
    offset: u64,
    external: u32,
    creator: u16,
}

/// Writes a zip archive entry by entry to any [`Write`]. Entries are written
/// as Go's `archive/zip` writes them: deflated, with a data descriptor when
/// streamed, UTF-8 flag for non-ASCII names.
pub struct ZipBuilder<W: Write> {
    w: Counting<W>,
    central: Vec<Central>,
}

impl<W: Write> fmt::Debug for ZipBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZipBuilder")
            .field("entries", &self.central.len())
            .field("offset", &self.w.n)
            .finish()
    }
}

struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn too_big(what: &str) -> io::Error {
    io::Error::other(format!(
        "{what} needs zip64, which ZipBuilder does not write"
    ))
}

fn u32_of(v: u64, what: &str) -> io::Result<u32> {
    u32::try_from(v).map_err(|_| too_big(what))
}

fn name_flags(name: &[u8]) -> u16 {
    // Go sets the UTF-8 flag when the name is valid UTF-8 and not plain ASCII.
    if !name.is_ascii() && std::str::from_utf8(name).is_ok() {
        0x800
    } else {
        0
    }
}

impl<W: Write> ZipBuilder<W> {
    /// A builder writing to `w`.
    pub fn new(w: W) -> Self {
        ZipBuilder {
            w: Counting { inner: w, n: 0 },
            central: Vec::new(),
        }
    }

    fn local_header(
        &mut self,
        name: &[u8],
        flags: u16,
        method: u16,
        crc: u32,
        csize: u32,
        usize_: u32,
    ) -> io::Result<()> {
        let name_len = u16::try_from(name.len()).map_err(|_| too_big("a long name"))?;
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes()); // version needed
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // time
        h.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&csize.to_le_bytes());
        h.extend_from_slice(&usize_.to_le_bytes());
        h.extend_from_slice(&name_len.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // extra
        h.extend_from_slice(name);
        self.w.write_all(&h)
    }

    /// Adds a directory entry (`name` should end in `/`), stored and empty.
    pub fn add_dir(&mut self, name: &str) -> io::Result<()> {
        self.add_raw(
            name.as_bytes(),
            b"",
            &RawOptions {
                method: Method::Store,
                ..RawOptions::default()
            },
        )
    }

    /// Adds a deflated file from memory.
    pub fn add_file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.add_raw(name.as_bytes(), data, &RawOptions::default())
    }

    /// Adds an entry with arbitrary name bytes and optional lies about its
    /// size, CRC or method (see [`RawOptions`]). Sizes go in the headers, so no
    /// data descriptor is written.
    pub fn add_raw(&mut self, name: &[u8], data: &[u8], opts: &RawOptions) -> io::Result<()> {
        let real_crc = crc32fast::hash(data);
        let body = match opts.method {
            Method::Store => data.to_vec(),
            Method::Deflate => {
                let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
                enc.write_all(data)?;
                enc.finish()?
            }
        };
        let method = opts.method_number.unwrap_or(match opts.method {
            Method::Store => rawzip::METHOD_STORE,
            Method::Deflate => rawzip::METHOD_DEFLATE,
        });
        let crc = opts.crc32.unwrap_or(real_crc);
        let usize_ = opts.uncompressed_size.unwrap_or(data.len() as u64);
        let csize = body.len() as u64;
        let offset = self.w.n;
        let flags = name_flags(name);
        self.local_header(
            name,
            flags,
            method,
            crc,
            u32_of(csize, "a large entry")?,
            u32_of(usize_, "a large entry")?,
        )?;
        self.w.write_all(&body)?;
        self.central.push(Central {
            name: name.to_vec(),
            flags,
            method,
            crc32: crc,
            csize,
            usize_,
            offset,
            external: opts.unix_mode.map(|m| m << 16).unwrap_or(0),
            creator: if opts.unix_mode.is_some() {
                3 << 8 | 20
            } else {
                20
            },
        });
        Ok(())
    }

    /// Streams a file's content into a deflated entry with a data descriptor,
    /// as Go's `zip.Writer.Create` does. Returns the uncompressed size.
    pub fn add_reader(&mut self, name: &str, mut r: impl Read) -> io::Result<u64> {
        let name = name.as_bytes();
        let flags = name_flags(name) | rawzip::FLAG_DATA_DESCRIPTOR;
        let offset = self.w.n;
        self.local_header(name, flags, rawzip::METHOD_DEFLATE, 0, 0, 0)?;
        let start = self.w.n;
        let mut crc = crc32fast::Hasher::new();
        let mut total = 0u64;
        {
            let mut enc = DeflateEncoder::new(&mut self.w, Compression::default());
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                crc.update(&buf[..n]);
                total += n as u64;
                enc.write_all(&buf[..n])?;
            }
            enc.finish()?;
        }
        let csize = self.w.n - start;
        let crc = crc.finalize();
        let mut d = Vec::with_capacity(16);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        d.extend_from_slice(&u32_of(csize, "a large entry")?.to_le_bytes());
        d.extend_from_slice(&u32_of(total, "a large entry")?.to_le_bytes());
        self.w.write_all(&d)?;
        self.central.push(Central {
            name: name.to_vec(),
            flags,
            method: rawzip::METHOD_DEFLATE,
            crc32: crc,
            csize,
            usize_: total,
            offset,
            external: 0,
            creator: 20,
        });
        Ok(total)
    }

    /// Writes the central directory and end record; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let dir_start = self.w.n;
        let count = u16::try_from(self.central.len()).map_err(|_| too_big("65536+ entries"))?;
        let mut buf = Vec::new();
        for c in &self.central {
            buf.clear();
            buf.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            buf.extend_from_slice(&c.creator.to_le_bytes());
            buf.extend_from_slice(&20u16.to_le_bytes());
            buf.extend_from_slice(&c.flags.to_le_bytes());
            buf.extend_from_slice(&c.method.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
            buf.extend_from_slice(&0x21u16.to_le_bytes());
            buf.extend_from_slice(&c.crc32.to_le_bytes());
            buf.extend_from_slice(&u32_of(c.csize, "a large entry")?.to_le_bytes());
            buf.extend_from_slice(&u32_of(c.usize_, "a large entry")?.to_le_bytes());
            let name_len = u16::try_from(c.name.len()).map_err(|_| too_big("a long name"))?;
            buf.extend_from_slice(&name_len.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra
            buf.extend_from_slice(&0u16.to_le_bytes()); // comment
            buf.extend_from_slice(&0u16.to_le_bytes()); // disk
            buf.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
            buf.extend_from_slice(&c.external.to_le_bytes());
            buf.extend_from_slice(&u32_of(c.offset, "a large zip")?.to_le_bytes());
            buf.extend_from_slice(&c.name);
            self.w.write_all(&buf)?;
        }
        let dir_size = self.w.n - dir_start;
        buf.clear();
        buf.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.extend_from_slice(&count.to_le_bytes());
        buf.extend_from_slice(&count.to_le_bytes());
        buf.extend_from_slice(&u32_of(dir_size, "a large zip")?.to_le_bytes());
        buf.extend_from_slice(&u32_of(dir_start, "a large zip")?.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        self.w.write_all(&buf)?;
        self.w.flush()?;
        Ok(self.w.inner)
    }
}

// ---------------------------------------------------------------------------
// Shared rules
// ---------------------------------------------------------------------------

/// Go's `path.Clean` for slash-separated paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for elem in p.split('/') {
        match elem {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            e => out.push(e),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// A string such that `fold(a) == fold(b)` iff Go's `strings.EqualFold(a, b)`
/// (Go's `str.ToFold`, using Unicode simple case folding).
pub fn to_fold(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            let u = c as u32;
            match FOLD.binary_search_by_key(&u, |&(k, _)| k) {
                Ok(i) => char::from_u32(FOLD[i].1).unwrap_or(c),
                Err(_) => c,
            }
        })
        .collect()
}

/// Go's `strings.EqualFold`.
pub fn equal_fold(a: &str, b: &str) -> bool {
    to_fold(a) == to_fold(b)
}

/// The Go language version (major, minor) of a go.mod's `go` directive, as
/// `go/version.Lang` would give it, or `None` if absent or invalid.
pub fn go_lang_version(gomod: &[u8]) -> Option<(u64, u64)> {
    // Like Go: ParseLax, and no version at all if the file does not parse.
    let f = crate::modfile::parse_lax("go.mod", gomod).ok()?;
    lang_of(&f.go?.version)
}

fn lang_of(v: &str) -> Option<(u64, u64)> {
    let digits = |s: &str| -> Option<u64> {
        if s.is_empty()
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            None
        } else {
            s.parse().ok()
        }
    };
    let mut parts = v.splitn(2, '.');
    let major = digits(parts.next()?)?;
    let Some(rest) = parts.next() else {
        return Some((major, 0));
    };
    let minor_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let minor = digits(&rest[..minor_end])?;
    Some((major, minor))
}

fn vendored_package(name: &str, lang: Option<(u64, u64)>) -> bool {
    let go124 = lang.is_some_and(|l| l >= (1, 24));
    if go124 && name == "vendor/modules.txt" {
        return true;
    }
    let i = if let Some(rest) = name.strip_prefix("vendor/") {
        name.len() - rest.len()
    } else if let Some(j) = name.find("/vendor/") {
        if go124 {
            j + "/vendor/".len()
        } else {
            "/vendor/".len()
        }
    } else {
        return false;
    };
    name.get(i..).is_some_and(|s| s.contains('/'))
}

/// Finds case-fold collisions and paths that are both a file and a directory
/// (Go's `collisionChecker`).
#[derive(Debug, Default)]
struct Collisions {
    seen: HashMap<String, (String, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Collision {
    Case(String, String),
    FileAndDir(String),
    Duplicate(String),
}

impl Collisions {
    fn check(&mut self, p: &str, is_dir: bool) -> Result<(), Collision> {
        let fold = to_fold(p);
        if let Some((other, other_dir)) = self.seen.get(&fold) {
            if other != p {
                return Err(Collision::Case(other.clone(), p.to_string()));
            }
            if *other_dir != is_dir {
                return Err(Collision::FileAndDir(p.to_string()));
            }
            if !is_dir {
                return Err(Collision::Duplicate(p.to_string()));
            }
        } else {
            self.seen.insert(fold, (p.to_string(), is_dir));
        }
        match p.rfind('/') {
            Some(i) if i > 0 => self.check(&p[..i], true),
            _ => Ok(()),
        }
    }
}

impl Collision {
    fn kind(&self) -> ViolationKind {
        match self {
            Collision::Case(..) => ViolationKind::CaseCollision,
            Collision::FileAndDir(_) => ViolationKind::FileAndDirectory,
            Collision::Duplicate(_) => ViolationKind::DuplicateFile,
        }
    }
    fn message(&self) -> String {
        match self {
            Collision::Case(a, b) => {
                format!("case-insensitive file name collision: {a:?} and {b:?}")
            }
            Collision::FileAndDir(p) => format!("entry {p:?} is both a file and a directory"),
            Collision::Duplicate(p) => format!("multiple entries for file {p:?}"),
        }
    }
}

fn check_module_version(module: &str, version: &str) -> Result<(), ZipError> {
    let canonical = semver::canonical_version(version);
    if canonical != version {
        return Err(ZipError::NotCanonical {
            version: version.to_string(),
            canonical,
        });
    }
    module::check(module, version)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

/// What [`create_zip_from_dir`] put in and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateReport {
    /// Files written, relative to the module root, in zip order.
    pub files: Vec<String>,
    /// Files and directories left out, with Go's reason.
    pub omitted: Vec<FileIssue>,
    /// Total uncompressed bytes written.
    pub bytes: u64,
}

struct DirFile {
    path: PathBuf,
    rel: String,
    size: u64,
    regular: bool,
    symlink: bool,
}

fn list_files_in_dir(
    dir: &Path,
    lang: Option<(u64, u64)>,
    files: &mut Vec<DirFile>,
    omitted: &mut Vec<FileIssue>,
) -> Result<(), ZipError> {
    fn walk(
        dir: &Path,
        rel: &str,
        lang: Option<(u64, u64)>,
        files: &mut Vec<DirFile>,
        omitted: &mut Vec<FileIssue>,
    ) -> Result<(), ZipError> {
        let ioerr = |p: &Path| {
            let path = p.to_path_buf();
            move |source| ZipError::Io { path, source }
        };
        for e in crate::dirhash::read_dir_sorted(dir).map_err(ioerr(dir))? {
            let path = e.path();
            let base = e.file_name().to_string_lossy().into_owned();
            let slash = if rel.is_empty() {
                base.clone()
            } else {
                format!("{rel}/{base}")
            };
            let meta = std::fs::symlink_metadata(&path).map_err(ioerr(&path))?;
            if vendored_package(&slash, lang) {
                omitted.push(FileIssue {
                    path: slash.clone(),
                    reason: "file is in vendor directory".into(),
                });
                if meta.is_dir() {
                    walk(&path, &slash, lang, files, omitted)?;
                }
                continue;
            }
            if meta.is_dir() {
                if matches!(base.as_str(), ".bzr" | ".git" | ".hg" | ".svn") {
                    omitted.push(FileIssue {
                        path: slash,
                        reason: "directory is a version control repository".into(),
                    });
                    continue;
                }
                if std::fs::symlink_metadata(path.join("go.mod")).is_ok_and(|m| !m.is_dir()) {
                    omitted.push(FileIssue {
                        path: slash,
                        reason: "directory is in another module".into(),
                    });
                    continue;
                }
                walk(&path, &slash, lang, files, omitted)?;
                continue;
            }
            let ft = meta.file_type();
            if !ft.is_file() {
                omitted.push(FileIssue {
                    path: slash,
                    reason: "not a regular file".into(),
                });
                continue;
            }
            files.push(DirFile {
                path,
                rel: slash,
                size: meta.len(),
                regular: true,
                symlink: ft.is_symlink(),
            });
        }
        Ok(())
    }
    walk(dir, "", lang, files, omitted)
}

/// Creates the module zip for `module@version` from the files in `dir`,
/// leaving out what Go's `zip.CreateFromDir` leaves out (symlinks and other
/// irregular files, nested modules, vendored packages, `vendor/modules.txt`
/// for go >= 1.24, `.hg_archival.txt`, VCS directories) and failing on files
/// that cannot be in a module zip.
pub fn create_zip_from_dir(
    dir: &Path,
    module: &str,
    version: &str,
    w: impl Write,
) -> Result<CreateReport, ZipError> {
    check_module_version(module, version)?;
    let lang = std::fs::read(dir.join("go.mod"))
        .ok()
        .and_then(|d| go_lang_version(&d));
    let mut files = Vec::new();
    let mut omitted = Vec::new();
    list_files_in_dir(dir, lang, &mut files, &mut omitted)?;

    // Go's checkFiles.
    let mut have_gomod: BTreeSet<String> = BTreeSet::new();
    for f in &files {
        let (d, base) = match f.rel.rfind('/') {
            Some(i) => (&f.rel[..=i], &f.rel[i + 1..]),
            None => ("", f.rel.as_str()),
        };
        if equal_fold(base, "go.mod") && f.regular {
            have_gomod.insert(d.to_string());
        }
    }
    let in_submodule = |p: &str| {
        let mut p = p;
        while let Some(i) = p.rfind('/') {
            let d = &p[..=i];
            if have_gomod.contains(d) {
                return true;
            }
            p = &p[..i];
        }
        false
    };
    let mut collisions = Collisions::default();
    let mut invalid = Vec::new();
    let mut valid = Vec::new();
    let mut budget = MAX_ZIP_FILE;
    let mut too_large = false;
    for f in &files {
        let p = f.rel.as_str();
        let mut bad = |reason: String| {
            invalid.push(FileIssue {
                path: p.to_string(),
                reason,
            })
        };
        if clean_path(p) != p {
            bad("file path is not clean".into());
            continue;
        }
        if p.starts_with('/') {
            bad("file path is not relative".into());
            continue;
        }
        if vendored_package(p, lang) {
            omitted.push(FileIssue {
                path: p.into(),
                reason: "file is in vendor directory".into(),
            });
            continue;
        }
        if in_submodule(p) {
            omitted.push(FileIssue {
                path: p.into(),
                reason: "file is in another module".into(),
            });
            continue;
        }
        if p == ".hg_archival.txt" {
            omitted.push(FileIssue {
                path: p.into(),
                reason: "file is inserted by 'hg archive' and is always omitted".into(),
            });
            continue;
        }
        if let Err(e) = module::check_file_path(p) {
            bad(e.to_string());
            continue;
        }
        if p.to_lowercase() == "go.mod" && p != "go.mod" {
            bad("go.mod files must have lowercase names".into());
            continue;
        }
        if let Err(c) = collisions.check(p, false) {
            bad(c.message());
            continue;
        }
        if f.symlink {
            omitted.push(FileIssue {
                path: p.into(),
                reason: "file is a symbolic link".into(),
            });
            continue;
        }
        if f.size <= budget {
            budget -= f.size;
        } else {
            too_large = true;
        }
        if p == "go.mod" && f.size > MAX_GO_MOD {
            bad(format!(
                "go.mod file too large (max size is {MAX_GO_MOD} bytes)"
            ));
            continue;
        }
        if p == "LICENSE" && f.size > MAX_LICENSE {
            bad(format!(
                "LICENSE file too large (max size is {MAX_LICENSE} bytes)"
            ));
            continue;
        }
        valid.push(f);
    }
    if too_large {
        return Err(ZipError::TreeTooLarge {
            dir: dir.to_path_buf(),
        });
    }
    if !invalid.is_empty() {
        return Err(ZipError::InvalidFiles {
            dir: dir.to_path_buf(),
            invalid,
        });
    }

    let prefix = format!("{module}@{version}/");
    let mut zb = ZipBuilder::new(w);
    let mut report = CreateReport {
        omitted,
        ..CreateReport::default()
    };
    let werr = |source| ZipError::Io {
        path: PathBuf::from("<zip output>"),
        source,
    };
    for f in valid {
        let ioerr = |source| ZipError::Io {
            path: f.path.clone(),
            source,
        };
        let file = File::open(&f.path).map_err(ioerr)?;
        // Like Go: the file must not have grown since it was listed.
        let mut limited = file.take(f.size + 1);
        let n = zb
            .add_reader(&format!("{prefix}{}", f.rel), &mut limited)
            .map_err(werr)?;
        if n > f.size {
            return Err(ZipError::Io {
                path: f.path.clone(),
                source: io::Error::other(format!("file {:?} is larger than declared size", f.rel)),
            });
        }
        report.bytes += n;
        report.files.push(f.rel.clone());
    }
    zb.finish().map_err(werr)?;
    Ok(report)
}

// ---------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------

/// Which rule a zip breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViolationKind {
    /// The zip file itself is larger than 500 MiB.
    ZipTooLarge,
    /// The declared uncompressed sizes add up to more than 500 MiB.
    TotalTooLarge,
    /// An entry does not start with `module@version/`.
    Prefix,
    /// An entry's path is not clean (`a//b`, `a/./b`, `a/../b`, trailing slash).
    NotClean,
    /// An entry's path fails `module.CheckFilePath` (bad character, element of
    /// dots or ending in a dot, Windows reserved name, invalid UTF-8...).
    FilePath,
    /// Two names are equal under Unicode case folding.
    CaseCollision,
    /// A name is used both as a file and as a directory.
    FileAndDirectory,
    /// The same file name appears twice.
    DuplicateFile,
    /// A go.mod file (any case) outside the module root.
    GoModNotAtRoot,
    /// The root go.mod is not spelled exactly `go.mod`.
    GoModCase,
    /// go.mod larger than 16 MiB.
    GoModTooLarge,
    /// LICENSE larger than 16 MiB.
    LicenseTooLarge,
    /// An entry decompresses to more or fewer bytes than declared.
    SizeMismatch,
    /// An entry's CRC-32 does not match.
    Checksum,
    /// An entry's data cannot be read (unsupported method, corrupt deflate,
    /// bad local header, directory with data).
    Unreadable,
}

/// One rule broken by one entry (or by the whole zip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub kind: ViolationKind,
    /// The entry name as stored in the zip, if the violation is about one entry.
    pub entry: Option<String>,
    /// The message, in the go command's wording where it has one.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(e) => write!(f, "{e}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The result of checking a module zip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZipCheckReport {
    /// Every rule broken, in zip order (zip-wide ones first).
    pub violations: Vec<Violation>,
    /// Entries that passed every check (full zip names).
    pub valid: Vec<String>,
    /// Number of entries in the zip.
    pub entries: usize,
    /// Size of the zip file in bytes.
    pub zip_size: u64,
    /// Sum of the declared uncompressed sizes.
    pub total_uncompressed: u64,
    /// The zip's `h1:` hash, when every entry could be read.
    pub h1: Option<String>,
}

impl ZipCheckReport {
    /// True if no rule is broken.
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks the module zip at `path` for `module@version` against every rule
/// of a module zip, reading (and decompressing) every entry once.
pub fn check_zip_file(
    path: &Path,
    module: &str,
    version: &str,
) -> Result<ZipCheckReport, ZipError> {
    let f = File::open(path).map_err(|source| ZipError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    check_zip_inner(f, path, module, version)
}

/// Like [`check_zip_file`] for an open zip (a temp file, a cursor); errors
/// name `label` as the file.
pub fn check_zip_reader<R: Read + Seek>(
    r: R,
    label: &Path,
    module: &str,
    version: &str,
) -> Result<ZipCheckReport, ZipError> {
    check_zip_inner(r, label, module, version)
}

fn check_zip_inner<R: Read + Seek>(
    r: R,
    path: &Path,
    module: &str,
    version: &str,
) -> Result<ZipCheckReport, ZipError> {
    check_module_version(module, version)?;
    let ferr = |source| ZipError::Format {
        path: path.to_path_buf(),
        source,
    };
    let mut z = ZipArchive::new(r).map_err(ferr)?;
    let mut report = ZipCheckReport {
        zip_size: z.size(),
        entries: z.entries().len(),
        ..ZipCheckReport::default()
    };
    if z.size() > MAX_ZIP_FILE {
        report.violations.push(Violation {
            kind: ViolationKind::ZipTooLarge,
            entry: None,
            message: format!(
                "module zip file is too large ({} bytes; limit is {MAX_ZIP_FILE} bytes)",
                z.size()
            ),
        });
    }

    // Name and declared-size rules, as in Go's checkZip.
    let prefix = format!("{module}@{version}/");
    let mut collisions = Collisions::default();
    let mut total: u64 = 0;
    let mut total_reported = false;
    let mut name_ok = vec![false; z.entries().len()];
    let mut per_entry: Vec<Violation> = Vec::new();
    for (i, e) in z.entries().iter().enumerate() {
        let full = e.name_lossy();
        let mut bad = |kind, message: String| {
            per_entry.push(Violation {
                kind,
                entry: Some(full.clone()),
                message,
            })
        };
        let Some(rest) = e.name.strip_prefix(prefix.as_bytes()) else {
            bad(
                ViolationKind::Prefix,
                format!(
                    "zip for {module}@{version} has unexpected file {full} (path does not have prefix {prefix:?})"
                ),
            );
            continue;
        };
        if rest.is_empty() {
            name_ok[i] = true;
            continue;
        }
        let Ok(rest) = std::str::from_utf8(rest) else {
            bad(
                ViolationKind::FilePath,
                format!(
                    "malformed file path {:?}: invalid UTF-8",
                    String::from_utf8_lossy(rest)
                ),
            );
            continue;
        };
        let is_dir = rest.ends_with('/');
        let name = if is_dir {
            &rest[..rest.len() - 1]
        } else {
            rest
        };
        if clean_path(name) != name {
            bad(ViolationKind::NotClean, "file path is not clean".into());
            continue;
        }
        if let Err(err) = module::check_file_path(name) {
            bad(ViolationKind::FilePath, err.to_string());
            continue;
        }
        if let Err(c) = collisions.check(name, is_dir) {
            bad(c.kind(), c.message());
            continue;
        }
        if is_dir {
            name_ok[i] = true;
            continue;
        }
        let base = name.rsplit('/').next().unwrap_or(name);
        if equal_fold(base, "go.mod") {
            if base != name {
                bad(
                    ViolationKind::GoModNotAtRoot,
                    "go.mod file not in module root directory".into(),
                );
                continue;
            }
            if name != "go.mod" {
                bad(
                    ViolationKind::GoModCase,
                    "go.mod files must have lowercase names".into(),
                );
                continue;
            }
        }
        let sz = e.uncompressed_size;
        if MAX_ZIP_FILE.saturating_sub(total) >= sz {
            total += sz;
        } else if !total_reported {
            total_reported = true;
            total = total.saturating_add(sz);
            report.violations.push(Violation {
                kind: ViolationKind::TotalTooLarge,
                entry: None,
                message: format!(
                    "total uncompressed size of module contents too large (max size is {MAX_ZIP_FILE} bytes)"
                ),
            });
        } else {
            total = total.saturating_add(sz);
        }
        if name == "go.mod" && sz > MAX_GO_MOD {
            bad(
                ViolationKind::GoModTooLarge,
                format!("go.mod file too large (max size is {MAX_GO_MOD} bytes)"),
            );
            continue;
        }
        if name == "LICENSE" && sz > MAX_LICENSE {
            bad(
                ViolationKind::LicenseTooLarge,
                format!("LICENSE file too large (max size is {MAX_LICENSE} bytes)"),
            );
            continue;
        }
        name_ok[i] = true;
    }
    report.total_uncompressed = total;

    // Content: decompress every entry, comparing real and declared sizes and
    // CRCs, and hash it for h1 on the way.
    let n = z.entries().len();
    let mut digests: Vec<Option<[u8; 32]>> = vec![None; n];
    let mut content_ok = vec![true; n];
    let mut content_violations: Vec<(usize, Violation)> = Vec::new();
    // Bound the work: once the declared sizes pass the limit (already
    // reported as TotalTooLarge), entries that would take the decompressed
    // total past it are not read, so a zip bomb costs at most ~500 MiB of
    // inflation.
    let mut inflated: u64 = 0;
    for (i, slot) in digests.iter_mut().enumerate() {
        let declared = z.entries()[i].uncompressed_size;
        if total_reported && inflated.saturating_add(declared) > MAX_ZIP_FILE {
            content_ok[i] = false;
            continue;
        }
        inflated = inflated.saturating_add(declared);
        let mut h = Sha256::new();
        match z.read_entry(i, |chunk| h.update(chunk)) {
            Ok(_) => *slot = Some(h.finalize().into()),
            Err(err) => {
                content_ok[i] = false;
                let entry = z.entries()[i].name_lossy();
                let (kind, message) = match &err {
                    ZipFormatError::SizeMismatch {
                        declared, larger, ..
                    } => (
                        ViolationKind::SizeMismatch,
                        if *larger {
                            format!(
                                "uncompressed size of file {entry} is larger than declared size ({declared} bytes): zip: not a valid zip file"
                            )
                        } else {
                            format!(
                                "uncompressed size of file {entry} is smaller than declared size ({declared} bytes): unexpected EOF"
                            )
                        },
                    ),
                    ZipFormatError::Checksum { .. } => {
                        (ViolationKind::Checksum, "zip: checksum error".to_string())
                    }
                    ZipFormatError::Io(e) => {
                        return Err(ZipError::Io {
                            path: path.to_path_buf(),
                            source: io::Error::new(e.kind(), e.to_string()),
                        });
                    }
                    other => (ViolationKind::Unreadable, other.to_string()),
                };
                content_violations.push((
                    i,
                    Violation {
                        kind,
                        entry: Some(entry),
                        message,
                    },
                ));
            }
        }
    }

    // Merge per-entry violations in zip order.
    let mut by_entry: HashMap<String, Vec<Violation>> = HashMap::new();
    for v in per_entry {
        by_entry
            .entry(v.entry.clone().unwrap_or_default())
            .or_default()
            .push(v);
    }
    let mut content_iter = content_violations.into_iter().peekable();
    for (i, e) in z.entries().iter().enumerate() {
        let name = e.name_lossy();
        if let Some(vs) = by_entry.remove(&name) {
            report.violations.extend(vs);
        }
        while let Some((j, _)) = content_iter.peek() {
            if *j != i {
                break;
            }
            if let Some((_, v)) = content_iter.next() {
                report.violations.push(v);
            }
        }
        if name_ok[i] && content_ok[i] {
            report.valid.push(name);
        }
    }

    if content_ok.iter().all(|&ok| ok) {
        let mut last: HashMap<&[u8], usize> = HashMap::new();
        for (i, e) in z.entries().iter().enumerate() {
            last.insert(&e.name, i);
        }
        let mut b = Hash1Builder::new();
        let mut hash_ok = true;
        for e in z.entries() {
            let idx = last.get(e.name.as_slice()).copied().unwrap_or(0);
            match digests.get(idx).copied().flatten() {
                Some(d) if b.add(e.name.clone(), d).is_ok() => {}
                _ => hash_ok = false,
            }
        }
        if hash_ok {
            report.h1 = Some(b.finish());
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn clean_matches_go() {
        for (i, o) in [
            ("", "."),
            ("a/b", "a/b"),
            ("a//b", "a/b"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("..", ".."),
            ("/../a", "/a"),
            ("a/", "a"),
            ("./", "."),
        ] {
            assert_eq!(clean_path(i), o, "{i}");
        }
    }

    #[test]
    fn fold_matches_go_equal_fold() {
        assert!(equal_fold("Go.Mod", "go.mod"));
        assert!(equal_fold("\u{212A}", "k")); // Kelvin sign
        assert!(equal_fold("ſ", "S"));
        assert!(equal_fold("Σ", "ς"));
        assert!(!equal_fold("ı", "i"));
        assert!(!equal_fold("ß", "ss"));
    }

    #[test]
    fn vendored_rules() {
        assert!(vendored_package("vendor/a/b.go", None));
        assert!(!vendored_package("vendor/a.go", None));
        assert!(!vendored_package("vendor/modules.txt", Some((1, 23))));
        assert!(vendored_package("vendor/modules.txt", Some((1, 24))));
        assert!(vendored_package("x/vendor/a/b.go", None));
        // Go < 1.24 bug kept for old modules: pkg/vendor/vendor.go counted as vendored.
        assert!(vendored_package("pkg/vendor/vendor.go", None));
        assert!(!vendored_package("pkg/vendor/vendor.go", Some((1, 24))));
    }

    #[test]
    fn builder_round_trip_and_check() {
        let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
        zb.add_file("example.com/m@v1.0.0/go.mod", b"module example.com/m\n")
            .unwrap();
        zb.add_reader("example.com/m@v1.0.0/a.go", &b"package m\n"[..])
            .unwrap();
        let bytes = zb.finish().unwrap().into_inner();
        let r = check_zip_reader(
            Cursor::new(bytes.clone()),
            Path::new("t.zip"),
            "example.com/m",
            "v1.0.0",
        )
        .unwrap();
        assert!(r.is_valid(), "{:?}", r.violations);
        assert_eq!(
            r.h1.as_deref(),
            Some(
                crate::dirhash::hash_zip(Cursor::new(bytes))
                    .unwrap()
                    .as_str()
            )
        );
    }
}

#[cfg(test)]
mod create_tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn create_from_dir_leaves_out_what_go_leaves_out() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let w = |rel: &str, data: &str| {
            let f = p.join(rel);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, data).unwrap();
        };
        w("go.mod", "module example.com/m\n\ngo 1.24\n");
        w("a.go", "package m\n");
        w("a/b.go", "package a\n");
        w("vendor/modules.txt", "# x\n");
        w("vendor/example.com/x/x.go", "package x\n");
        w("vendor/keep.go", "package vendor\n");
        w(".git/config", "[core]\n");
        w(".hg_archival.txt", "repo: x\n");
        w("sub/go.mod", "module example.com/m/sub\n");
        w("sub/s.go", "package sub\n");
        #[cfg(unix)]
        std::os::unix::fs::symlink("a.go", p.join("link.go")).unwrap();
        let mut out = Cursor::new(Vec::new());
        let rep = create_zip_from_dir(p, "example.com/m", "v1.0.0", &mut out).unwrap();
        assert_eq!(rep.files, ["a/b.go", "a.go", "go.mod", "vendor/keep.go"]);
        let omitted: Vec<_> = rep.omitted.iter().map(|o| o.path.as_str()).collect();
        for o in [
            ".git",
            ".hg_archival.txt",
            "sub",
            "vendor/modules.txt",
            "vendor/example.com/x/x.go",
        ] {
            assert!(omitted.contains(&o), "{o} not in {omitted:?}");
        }
        let bytes = out.into_inner();
        let r = check_zip_reader(
            Cursor::new(bytes),
            Path::new("x.zip"),
            "example.com/m",
            "v1.0.0",
        )
        .unwrap();
        assert!(r.is_valid(), "{:?}", r.violations);
        assert_eq!(r.entries, 4);
    }

    #[test]
    fn create_rejects_bad_names_and_noncanonical_versions() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a\"b.go"), "x").unwrap();
        let err = create_zip_from_dir(d.path(), "example.com/m", "v1.0.0", Vec::new()).unwrap_err();
        assert!(err.to_string().contains("a\"b.go"), "{err}");
        let err = create_zip_from_dir(d.path(), "example.com/m", "v1.0", Vec::new()).unwrap_err();
        assert!(err.to_string().contains("not canonical"), "{err}");
    }
}
