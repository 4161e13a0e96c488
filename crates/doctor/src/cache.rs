//! Scanning a GOMODCACHE for every way an entry breaks (docs/protocol.md §5-6).
//!
//! The layout (Go's `cmd/go/internal/modfetch`):
//! `cache/download/<esc mod>/@v/<esc v>.{info,mod,zip,ziphash,partial,lock}`,
//! the extracted tree `<esc mod>@<esc v>/`, the checksum-database cache
//! `cache/download/sumdb/<name>/{lookup,tile}/...`, and (outside the module
//! cache) `$GOPATH/pkg/sumdb/<name>/latest`.
//!
//! Each module version is checked while holding Go's own `<v>.lock`, so a
//! scan is safe beside a running go command. Hashing runs on every core
//! (rayon).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use rayon::prelude::*;
use serde::Serialize;

use crate::Reporter;
use crate::fsutil::VersionLock;
use crate::gosum::GoSumFile;

/// What is wrong (or notable) about a cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Kind {
    /// A `*.tmp` file (an interrupted `.zip`/`.mod`/`.info` or checksum-DB
    /// write) or a `<mod>@<v>.tmp-*` directory (an interrupted extraction by
    /// go before 1.16).
    TempLeftover,
    /// `<v>.partial` exists: an extraction was interrupted; go treats the
    /// directory as missing.
    PartialExtraction,
    /// The zip is not a zip at all.
    ZipInvalid,
    /// The zip starts like a zip but is cut short or its contents are broken.
    ZipTruncated,
    /// A zip entry lies outside `module@version/` (go: "zip for M@V has
    /// unexpected file F").
    ZipUnexpectedFile,
    /// A zip without `<v>.ziphash` (`go mod verify`: "missing ziphash").
    ZiphashMissing,
    /// `<v>.ziphash` is not an `h1:` hash (go: "unexpected ziphash").
    ZiphashTorn,
    /// The zip does not hash to `<v>.ziphash` (`go mod verify`: "zip has
    /// been modified").
    ZiphashMismatch,
    /// `<v>.info` cannot be read as JSON with a `Version`.
    InfoUnreadable,
    /// `<v>.info` names another version.
    InfoWrongVersion,
    /// `<v>.mod` cannot be read.
    ModUnreadable,
    /// `<v>.mod` does not match the `/go.mod` line of the current module's go.sum.
    GoSumModMismatch,
    /// The zip (and its ziphash) do not match the current module's go.sum.
    GoSumZipMismatch,
    /// The extracted directory does not hash to the ziphash (`go mod
    /// verify`: "dir has been modified").
    DirModified,
    /// An extracted directory with neither a zip nor a ziphash: go treats it
    /// as missing.
    DirWithoutZiphash,
    /// An empty file in the checksum-database cache.
    SumdbCacheEmpty,
    /// A checksum-database cache file of the wrong shape (a lookup without
    /// its record, a tile of the wrong size).
    SumdbCacheCorrupt,
    /// `$GOPATH/pkg/sumdb/<name>/latest` is not a signed tree note (go:
    /// "reading tree note: malformed note").
    SumdbLatestMalformed,
    /// A running go command held the entry's lock for the whole wait: not
    /// checked.
    LockBusy,
}

impl Kind {
    /// The kebab-case name used in `--json` and human output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TempLeftover => "temp-leftover",
            Kind::PartialExtraction => "partial-extraction",
            Kind::ZipInvalid => "zip-invalid",
            Kind::ZipTruncated => "zip-truncated",
            Kind::ZipUnexpectedFile => "zip-unexpected-file",
            Kind::ZiphashMissing => "ziphash-missing",
            Kind::ZiphashTorn => "ziphash-torn",
            Kind::ZiphashMismatch => "ziphash-mismatch",
            Kind::InfoUnreadable => "info-unreadable",
            Kind::InfoWrongVersion => "info-wrong-version",
            Kind::ModUnreadable => "mod-unreadable",
            Kind::GoSumModMismatch => "go-sum-mod-mismatch",
            Kind::GoSumZipMismatch => "go-sum-zip-mismatch",
            Kind::DirModified => "dir-modified",
            Kind::DirWithoutZiphash => "dir-without-ziphash",
            Kind::SumdbCacheEmpty => "sumdb-cache-empty",
            Kind::SumdbCacheCorrupt => "sumdb-cache-corrupt",
            Kind::SumdbLatestMalformed => "sumdb-latest-malformed",
            Kind::LockBusy => "lock-busy",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a finding counts as a problem (exit code 1, repaired by `--fix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Broken: go will fail or re-download; `--fix` removes it.
    Problem,
    /// Worth knowing, not broken.
    Note,
}

/// One thing found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is.
    pub kind: Kind,
    /// Problem or note.
    pub severity: Severity,
    /// The module, when the file belongs to one.
    pub module: Option<String>,
    /// The version, when known.
    pub version: Option<String>,
    /// The file or directory at fault.
    pub path: PathBuf,
    /// What exactly is wrong, in a sentence.
    pub detail: String,
}

impl Finding {
    fn problem(kind: Kind, e: Option<&Entry>, path: &Path, detail: impl Into<String>) -> Finding {
        Finding {
            kind,
            severity: Severity::Problem,
            module: e.map(|e| e.module.clone()),
            version: e.map(|e| e.version.clone()),
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }

    /// `module@version`, when both are known.
    pub fn id(&self) -> Option<String> {
        Some(format!(
            "{}@{}",
            self.module.as_ref()?,
            self.version.as_ref()?
        ))
    }
}

/// What a scan found.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// The GOMODCACHE scanned.
    pub modcache: PathBuf,
    /// The go.sum compared against, if any.
    pub gosum: Option<PathBuf>,
    /// Module versions examined.
    pub versions: u64,
    /// Zips hashed.
    pub zips: u64,
    /// Extracted directories hashed.
    pub dirs: u64,
    /// Bytes read while hashing.
    pub bytes_hashed: u64,
    /// Everything found, sorted by path.
    pub findings: Vec<Finding>,
}

impl ScanReport {
    /// The findings that are problems.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Problem)
    }

    /// Whether anything is broken.
    pub fn has_problems(&self) -> bool {
        self.problems().next().is_some()
    }
}

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The module cache directory does not exist or is not a directory.
    #[error("module cache {path} does not exist or is not a directory", path = path.display())]
    NoCache {
        /// GOMODCACHE.
        path: PathBuf,
    },
    /// A directory could not be listed.
    #[error("listing {path}: {source}", path = path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// GOMODCACHE.
    pub modcache: PathBuf,
    /// `$GOPATH/pkg/sumdb` (holds `<name>/latest`), if known.
    pub sumdb_state: Option<PathBuf>,
    /// The current module's go.sum, to compare `.mod` and zip hashes with.
    pub gosum: Option<GoSumFile>,
    /// How long to wait for a go command holding an entry's lock.
    pub lock_wait: Duration,
    /// Only these module versions (`module@version`); empty means all.
    pub only: Vec<String>,
}

impl ScanOptions {
    /// Scan all of `modcache`, no go.sum, no `latest` check, 10 s lock wait.
    pub fn new(modcache: PathBuf) -> ScanOptions {
        ScanOptions {
            modcache,
            sumdb_state: None,
            gosum: None,
            lock_wait: Duration::from_secs(10),
            only: Vec::new(),
        }
    }
}

/// One module version in the cache: where its files are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Module path.
    pub module: String,
    /// Version.
    pub version: String,
    /// `cache/download/<esc mod>/@v`.
    pub vdir: PathBuf,
    /// The escaped version (file stem).
    pub esc_version: String,
    /// `<GOMODCACHE>/<esc mod>@<esc v>`.
    pub dir: PathBuf,
}

impl Entry {
    /// The entry for `module@version` under `modcache` (whether or not it
    /// exists), or `None` if the path or version cannot be escaped.
    pub fn new(modcache: &Path, module: &str, version: &str) -> Option<Entry> {
        let esc_mod = gomod::module::escape_path(module).ok()?;
        let esc_version = gomod::module::escape_version(version).ok()?;
        Some(Entry {
            module: module.to_string(),
            version: version.to_string(),
            vdir: modcache.join("cache/download").join(&esc_mod).join("@v"),
            dir: modcache.join(format!("{esc_mod}@{esc_version}")),
            esc_version,
        })
    }

    /// `<vdir>/<esc v>.<ext>`.
    pub fn file(&self, ext: &str) -> PathBuf {
        self.vdir.join(format!("{}.{ext}", self.esc_version))
    }

    /// `module@version`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.module, self.version)
    }

    /// Takes Go's lock for this version (if its `@v` directory exists).
    pub fn lock(&self, wait: Duration) -> std::io::Result<Option<VersionLock>> {
        if !self.vdir.is_dir() {
            // Nothing of go's is in flight for a version with no download dir.
            return Ok(None);
        }
        VersionLock::acquire(&self.file("lock"), wait)
    }
}

/// Every module version present in the cache, and the temp leftovers seen
/// while listing.
pub fn list_entries(modcache: &Path) -> Result<(Vec<Entry>, Vec<Finding>), ScanError> {
    if !modcache.is_dir() {
        return Err(ScanError::NoCache {
            path: modcache.to_path_buf(),
        });
    }
    let mut map: BTreeMap<(String, String), Entry> = BTreeMap::new();
    let mut leftovers = Vec::new();
    let download = modcache.join("cache/download");
    if download.is_dir() {
        walk_download(modcache, &download, "", &mut map, &mut leftovers)?;
    }
    walk_extracted(modcache, modcache, "", &mut map, &mut leftovers)?;
    Ok((map.into_values().collect(), leftovers))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<fs::DirEntry>, ScanError> {
    let ioe = |source| ScanError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut v = fs::read_dir(dir)
        .map_err(ioe)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(ioe)?;
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

fn walk_download(
    modcache: &Path,
    dir: &Path,
    rel: &str,
    map: &mut BTreeMap<(String, String), Entry>,
    leftovers: &mut Vec<Finding>,
) -> Result<(), ScanError> {
    for e in read_dir_sorted(dir)? {
        let Ok(ft) = e.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if rel.is_empty() && name == "sumdb" {
            continue;
        }
        if name == "@v" {
            let Ok(module) = gomod::module::unescape_path(rel) else {
                continue;
            };
            scan_vdir(modcache, &e.path(), &module, map, leftovers)?;
        } else {
            walk_download(modcache, &e.path(), &join_rel(rel, &name), map, leftovers)?;
        }
    }
    Ok(())
}

const EXTS: [&str; 6] = ["info", "mod", "zip", "ziphash", "partial", "lock"];

fn scan_vdir(
    modcache: &Path,
    vdir: &Path,
    module: &str,
    map: &mut BTreeMap<(String, String), Entry>,
    leftovers: &mut Vec<Finding>,
) -> Result<(), ScanError> {
    for e in read_dir_sorted(vdir)? {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            let stem = EXTS
                .iter()
                .filter_map(|x| name.find(&format!(".{x}")))
                .min()
                .map(|i| &name[..i]);
            let version = stem.and_then(|s| gomod::module::unescape_version(s).ok());
            leftovers.push(Finding {
                kind: Kind::TempLeftover,
                severity: Severity::Problem,
                module: Some(module.to_string()),
                version,
                path: e.path(),
                detail: "temporary file left by an interrupted download".into(),
            });
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        // A bare `.lock` is harmless and says nothing about what is cached.
        if !EXTS.contains(&ext) || ext == "lock" {
            continue;
        }
        let Ok(version) = gomod::module::unescape_version(stem) else {
            continue;
        };
        if let Some(entry) = Entry::new(modcache, module, &version) {
            map.entry((module.to_string(), version)).or_insert(entry);
        }
    }
    Ok(())
}

fn walk_extracted(
    modcache: &Path,
    dir: &Path,
    rel: &str,
    map: &mut BTreeMap<(String, String), Entry>,
    leftovers: &mut Vec<Finding>,
) -> Result<(), ScanError> {
    for e in read_dir_sorted(dir)? {
        let Ok(ft) = e.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if rel.is_empty() && name == "cache" {
            continue;
        }
        if let Some((m, v)) = name.rsplit_once('@') {
            let esc_mod = join_rel(rel, m);
            if v.contains(".tmp-") {
                leftovers.push(Finding {
                    kind: Kind::TempLeftover,
                    severity: Severity::Problem,
                    module: gomod::module::unescape_path(&esc_mod).ok(),
                    version: v
                        .split(".tmp-")
                        .next()
                        .and_then(|s| gomod::module::unescape_version(s).ok()),
                    path: e.path(),
                    detail: "temporary directory left by an interrupted extraction".into(),
                });
                continue;
            }
            let (Ok(module), Ok(version)) = (
                gomod::module::unescape_path(&esc_mod),
                gomod::module::unescape_version(v),
            ) else {
                continue;
            };
            if let Some(entry) = Entry::new(modcache, &module, &version) {
                map.entry((module, version)).or_insert(entry);
            }
        } else {
            walk_extracted(modcache, &e.path(), &join_rel(rel, &name), map, leftovers)?;
        }
    }
    Ok(())
}

/// Scans the whole cache (or `opts.only`).
pub fn scan(opts: &ScanOptions, reporter: &dyn Reporter) -> Result<ScanReport, ScanError> {
    let (mut entries, mut findings) = list_entries(&opts.modcache)?;
    if !opts.only.is_empty() {
        entries.retain(|e| opts.only.contains(&e.id()));
        findings.retain(|f| f.id().is_some_and(|id| opts.only.contains(&id)));
    }
    let zips = AtomicU64::new(0);
    let dirs = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let counters = Counters {
        zips: &zips,
        dirs: &dirs,
        bytes: &bytes,
    };
    reporter.start("hashing", Some(entries.len() as u64));
    let per_entry: Vec<Vec<Finding>> = entries
        .par_iter()
        .map(|e| {
            let f = check_entry(e, opts, &counters);
            reporter.advance(1);
            f
        })
        .collect();
    reporter.finish();
    findings.extend(per_entry.into_iter().flatten());
    if opts.only.is_empty() {
        let sumdb = opts.modcache.join("cache/download/sumdb");
        if sumdb.is_dir() {
            scan_sumdb_cache(&sumdb, &sumdb, &mut findings);
        }
        if let Some(state) = &opts.sumdb_state {
            scan_latest(state, &mut findings);
        }
    }
    findings.sort_by(|a, b| a.path.cmp(&b.path).then(a.kind.cmp(&b.kind)));
    Ok(ScanReport {
        modcache: opts.modcache.clone(),
        gosum: opts.gosum.as_ref().map(|g| g.path.clone()),
        versions: entries.len() as u64,
        zips: zips.into_inner(),
        dirs: dirs.into_inner(),
        bytes_hashed: bytes.into_inner(),
        findings,
    })
}

struct Counters<'a> {
    zips: &'a AtomicU64,
    dirs: &'a AtomicU64,
    bytes: &'a AtomicU64,
}

/// The ziphash file's content: missing, an `h1:` hash, or torn (the text).
enum Ziphash {
    Missing,
    Ok(String),
    Torn(String),
}

fn read_ziphash(path: &Path) -> Ziphash {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ziphash::Missing,
        Err(e) => return Ziphash::Torn(format!("cannot be read: {e}")),
    };
    let text = String::from_utf8_lossy(&data);
    let h = text.trim();
    if is_h1(h) {
        Ziphash::Ok(h.to_string())
    } else {
        Ziphash::Torn(format!("{h:?}"))
    }
}

/// Whether `h` is `h1:` followed by the base64 of 32 bytes.
pub fn is_h1(h: &str) -> bool {
    h.strip_prefix("h1:")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|d| d.len() == 32)
}

struct ZipCheck {
    h1: String,
    has_dir_entries: bool,
}

fn check_zip(
    e: &Entry,
    zip: &Path,
    out: &mut Vec<Finding>,
    counters: &Counters<'_>,
) -> Option<ZipCheck> {
    let size = fs::metadata(zip).map(|m| m.len()).unwrap_or(0);
    let starts_like_zip = fs::File::open(zip)
        .and_then(|mut f| {
            let mut sig = [0u8; 4];
            f.read_exact(&mut sig).map(|()| sig == *b"PK\x03\x04")
        })
        .unwrap_or(false);
    let broken = |detail: String, out: &mut Vec<Finding>| {
        let kind = if starts_like_zip {
            Kind::ZipTruncated
        } else {
            Kind::ZipInvalid
        };
        out.push(Finding::problem(kind, Some(e), zip, detail));
    };
    let archive = match fs::File::open(zip)
        .map_err(gomod::rawzip::ZipFormatError::Io)
        .and_then(gomod::rawzip::ZipArchive::new)
    {
        Ok(a) => a,
        Err(err) => {
            broken(format!("{err} ({size} bytes)"), out);
            return None;
        }
    };
    let prefix = format!("{}@{}/", e.module, e.version);
    let mut has_dir_entries = false;
    for entry in archive.entries() {
        if !entry.name.starts_with(prefix.as_bytes()) {
            out.push(Finding::problem(
                Kind::ZipUnexpectedFile,
                Some(e),
                zip,
                format!(
                    "zip for {} has unexpected file {}",
                    e.id(),
                    entry.name_lossy()
                ),
            ));
            return None;
        }
        has_dir_entries |= entry.is_dir();
    }
    drop(archive);
    counters.zips.fetch_add(1, Ordering::Relaxed);
    counters.bytes.fetch_add(size, Ordering::Relaxed);
    match gomod::dirhash::hash_zip_file(zip) {
        Ok(h1) => Some(ZipCheck {
            h1,
            has_dir_entries,
        }),
        Err(err) => {
            broken(err.to_string(), out);
            None
        }
    }
}

fn check_entry(e: &Entry, opts: &ScanOptions, counters: &Counters<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let _lock = match e.lock(opts.lock_wait) {
        Ok(Some(l)) => Some(l),
        Ok(None) if e.vdir.is_dir() => {
            out.push(Finding {
                kind: Kind::LockBusy,
                severity: Severity::Note,
                module: Some(e.module.clone()),
                version: Some(e.version.clone()),
                path: e.file("lock"),
                detail: format!(
                    "a go command held the lock for more than {:?}; not checked",
                    opts.lock_wait
                ),
            });
            return out;
        }
        // No download dir, or the lock file cannot be created (read-only
        // cache): scan without it.
        _ => None,
    };
    let zip = e.file("zip");
    let zh_path = e.file("ziphash");
    let ziphash = read_ziphash(&zh_path);
    let gosum_zip = opts
        .gosum
        .as_ref()
        .map(|g| g.zip_hashes(&e.module, &e.version))
        .unwrap_or(&[]);
    let mut zip_ok = None;
    if zip.is_file() {
        if let Some(z) = check_zip(e, &zip, &mut out, counters) {
            match &ziphash {
                Ziphash::Missing => out.push(Finding::problem(
                    Kind::ZiphashMissing,
                    Some(e),
                    &zh_path,
                    format!("{}: missing ziphash (the zip hashes to {})", e.id(), z.h1),
                )),
                Ziphash::Torn(t) => out.push(Finding::problem(
                    Kind::ZiphashTorn,
                    Some(e),
                    &zh_path,
                    format!("verifying {}: unexpected ziphash: {t}", e.id()),
                )),
                Ziphash::Ok(h) if *h != z.h1 => out.push(Finding::problem(
                    Kind::ZiphashMismatch,
                    Some(e),
                    &zip,
                    format!(
                        "{} {}: zip has been modified (zip hashes to {}, ziphash says {h})",
                        e.module, e.version, z.h1
                    ),
                )),
                Ziphash::Ok(_) => {
                    if !gosum_zip.is_empty() && !gosum_zip.contains(&z.h1) {
                        out.push(Finding::problem(
                            Kind::GoSumZipMismatch,
                            Some(e),
                            &zip,
                            format!(
                                "verifying {}: checksum mismatch: cached zip {}, go.sum {}",
                                e.id(),
                                z.h1,
                                gosum_zip.join(", ")
                            ),
                        ));
                    }
                }
            }
            zip_ok = Some(z);
        }
    } else {
        match &ziphash {
            Ziphash::Torn(t) => out.push(Finding::problem(
                Kind::ZiphashTorn,
                Some(e),
                &zh_path,
                format!("verifying {}: unexpected ziphash: {t}", e.id()),
            )),
            Ziphash::Ok(h) if !gosum_zip.is_empty() && !gosum_zip.contains(h) => {
                out.push(Finding::problem(
                    Kind::GoSumZipMismatch,
                    Some(e),
                    &zh_path,
                    format!(
                        "verifying {}: checksum mismatch: cached ziphash {h}, go.sum {}",
                        e.id(),
                        gosum_zip.join(", ")
                    ),
                ))
            }
            _ => {}
        }
    }

    check_info(e, &mut out);
    check_mod(e, opts, &mut out);

    let partial = e.file("partial");
    // The hash the extracted directory must have: the ziphash, when it
    // agrees with the zip (or there is no zip to disagree with).
    let trusted = match (&zip_ok, &ziphash, zip.exists()) {
        (Some(z), Ziphash::Ok(h), true) if *h == z.h1 => Some(h.clone()),
        (None, Ziphash::Ok(h), false) => Some(h.clone()),
        _ => None,
    };
    if partial.exists() {
        out.push(Finding::problem(
            Kind::PartialExtraction,
            Some(e),
            &partial,
            format!(
                "{}: extraction was interrupted ({} exists); go treats the directory as missing",
                e.id(),
                partial
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        ));
    } else if e.dir.is_dir() {
        if let Some(h) = trusted {
            counters.dirs.fetch_add(1, Ordering::Relaxed);
            counters
                .bytes
                .fetch_add(crate::fsutil::tree_size(&e.dir), Ordering::Relaxed);
            match gomod::dirhash::hash_dir(&e.dir, &e.id()) {
                Ok(d) if d == h => {}
                Ok(d) => {
                    let dir_entries = zip_ok.as_ref().is_some_and(|z| z.has_dir_entries);
                    let mut f = Finding::problem(
                        Kind::DirModified,
                        Some(e),
                        &e.dir,
                        format!(
                            "{} {}: dir has been modified (dir hashes to {d}, ziphash says {h})",
                            e.module, e.version
                        ),
                    );
                    if dir_entries {
                        // docs/protocol.md §4.1: the zip's h1 counts directory
                        // entries, the directory's h1 cannot.
                        f.severity = Severity::Note;
                        f.detail.push_str(
                            "; the zip has directory entries, which the zip's hash counts \
                             and a directory's cannot: go mod verify reports this too, \
                             the cache is not at fault",
                        );
                    }
                    out.push(f);
                }
                Err(err) => out.push(Finding::problem(
                    Kind::DirModified,
                    Some(e),
                    &e.dir,
                    format!("{}: cannot hash the extracted directory: {err}", e.id()),
                )),
            }
        } else if !zip.exists() && matches!(ziphash, Ziphash::Missing) {
            out.push(Finding::problem(
                Kind::DirWithoutZiphash,
                Some(e),
                &e.dir,
                format!(
                    "{}: extracted directory has no zip and no ziphash; go treats it as missing",
                    e.id()
                ),
            ));
        }
    }
    out
}

fn check_info(e: &Entry, out: &mut Vec<Finding>) {
    let info = e.file("info");
    let data = match crate::fsutil::read_noatime(&info) {
        Ok(d) => d,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
        Err(err) => {
            out.push(Finding::problem(
                Kind::InfoUnreadable,
                Some(e),
                &info,
                format!("cannot read: {err}"),
            ));
            return;
        }
    };
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Version")]
        version: String,
    }
    match serde_json::from_slice::<Info>(&data) {
        Ok(i) if i.version == e.version => {}
        Ok(i) => out.push(Finding::problem(
            Kind::InfoWrongVersion,
            Some(e),
            &info,
            format!(
                "{}: info names version {:?} instead of {}",
                e.id(),
                i.version,
                e.version
            ),
        )),
        Err(err) => out.push(Finding::problem(
            Kind::InfoUnreadable,
            Some(e),
            &info,
            format!("{}: info is not valid JSON with a Version: {err}", e.id()),
        )),
    }
}

fn check_mod(e: &Entry, opts: &ScanOptions, out: &mut Vec<Finding>) {
    let path = e.file("mod");
    let data = match crate::fsutil::read_noatime(&path) {
        Ok(d) => d,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
        Err(err) => {
            out.push(Finding::problem(
                Kind::ModUnreadable,
                Some(e),
                &path,
                format!("cannot read: {err}"),
            ));
            return;
        }
    };
    let Some(gosum) = &opts.gosum else { return };
    let want = gosum.gomod_hashes(&e.module, &e.version);
    if want.is_empty() {
        return;
    }
    let h = gomod::dirhash::hash_gomod(&data);
    if !want.contains(&h) {
        out.push(Finding::problem(
            Kind::GoSumModMismatch,
            Some(e),
            &path,
            format!(
                "verifying {}/go.mod: checksum mismatch: cached {h}, go.sum {}",
                e.id(),
                want.join(", ")
            ),
        ));
    }
}

fn scan_sumdb_cache(root: &Path, dir: &Path, out: &mut Vec<Finding>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            scan_sumdb_cache(root, &path, out);
            continue;
        }
        if !ft.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let finding = |kind, detail: String| Finding {
            kind,
            severity: Severity::Problem,
            module: None,
            version: None,
            path: path.clone(),
            detail,
        };
        if name.ends_with(".tmp") {
            out.push(finding(
                Kind::TempLeftover,
                "temporary file left by an interrupted checksum-database cache write".into(),
            ));
            continue;
        }
        if name.ends_with(".lock") {
            continue;
        }
        let Ok(data) = fs::read(&path) else { continue };
        if data.is_empty() {
            out.push(finding(
                Kind::SumdbCacheEmpty,
                format!("empty checksum-database cache file {rel}"),
            ));
            continue;
        }
        if let Some(reason) = sumdb_cache_shape(&rel, &data) {
            out.push(finding(
                Kind::SumdbCacheCorrupt,
                format!("checksum-database cache file {rel}: {reason}"),
            ));
        }
    }
}

/// What is wrong with a cached `lookup/...` or `tile/...` file, if anything.
fn sumdb_cache_shape(rel: &str, data: &[u8]) -> Option<String> {
    let parts: Vec<&str> = rel.split('/').collect();
    if let Some(i) = parts.iter().position(|p| *p == "lookup") {
        if i == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(data);
        let mut lines = text.split('\n');
        let id_ok = lines
            .next()
            .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
        let rec1 = lines
            .next()
            .map(|l| l.split(' ').count() == 3 && l.contains(" h1:"));
        let rec2 = lines
            .next()
            .map(|l| l.split(' ').count() == 3 && l.contains("/go.mod h1:"));
        if !id_ok || rec1 != Some(true) || rec2 != Some(true) {
            return Some("not a lookup record (id, zip hash and go.mod hash lines)".into());
        }
        if !text.contains("\n\ngo.sum database tree\n") {
            return Some("the lookup has no signed tree note".into());
        }
        return None;
    }
    if let Some(i) = parts.iter().position(|p| *p == "tile") {
        // tile/<H>/<L>/<NNN>[.p/<W>]
        let level = parts.get(i + 2)?;
        if *level == "data" {
            return None;
        }
        level.parse::<u32>().ok()?;
        let height: u32 = parts.get(i + 1)?.parse().ok()?;
        let full = 32u64 << height.min(30);
        let width = match parts.iter().position(|p| p.ends_with(".p")) {
            Some(j) => parts.get(j + 1)?.parse::<u64>().ok()? * 32,
            None => full,
        };
        if data.len() as u64 != width {
            return Some(format!(
                "hash tile is {} bytes, expected {width}",
                data.len()
            ));
        }
    }
    None
}

fn scan_latest(state: &Path, out: &mut Vec<Finding>) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.filter_map(Result::ok) {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                walk(&e.path(), out);
            } else if ft.is_file() && e.file_name() == "latest" {
                out.push(e.path());
            }
        }
    }
    let mut files = Vec::new();
    walk(state, &mut files);
    files.sort();
    for path in files {
        let Ok(data) = fs::read(&path) else { continue };
        // go accepts an empty file as "no tree seen yet".
        if data.is_empty() {
            continue;
        }
        if let Err(reason) = check_tree_note(&data) {
            out.push(Finding {
                kind: Kind::SumdbLatestMalformed,
                severity: Severity::Problem,
                module: None,
                version: None,
                path,
                detail: format!("reading tree note: malformed note ({reason})"),
            });
        }
    }
}

/// Checks the shape of a signed tree note (text, blank line, signature
/// lines) without verifying the signature (the key is the go command's).
pub fn check_tree_note(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|_| "not UTF-8".to_string())?;
    let Some(split) = text.rfind("\n\n") else {
        return Err("no blank line before the signatures".into());
    };
    let (body, sigs) = (&text[..split + 1], &text[split + 2..]);
    sumdb::tlog::parse_tree(body.as_bytes()).map_err(|e| e.to_string())?;
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err("no signature lines".into());
    }
    for line in sigs.lines() {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| format!("signature line {line:?} does not start with an em dash"))?;
        let (_, sig) = rest
            .split_once(' ')
            .ok_or_else(|| format!("signature line {line:?} has no signature"))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .map_err(|_| format!("signature {sig:?} is not base64"))?;
        if raw.len() < 5 {
            return Err(format!("signature {sig:?} is too short"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_gos_lock_and_reports_busy() {
        let t = tempfile::tempdir().unwrap();
        let mc = t.path();
        let e = Entry::new(mc, "example.com/m", "v1.0.0").unwrap();
        fs::create_dir_all(&e.vdir).unwrap();
        fs::write(e.file("mod"), "module example.com/m\n").unwrap();
        fs::write(e.file("info"), "{").unwrap();
        let held = VersionLock::acquire(&e.file("lock"), Duration::ZERO)
            .unwrap()
            .unwrap();
        let mut opts = ScanOptions::new(mc.to_path_buf());
        opts.lock_wait = Duration::from_millis(100);
        let r = scan(&opts, &crate::NoReporter).unwrap();
        assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
        assert_eq!(r.findings[0].kind, Kind::LockBusy);
        assert!(!r.has_problems());
        drop(held);
        let r = scan(&opts, &crate::NoReporter).unwrap();
        assert_eq!(r.findings[0].kind, Kind::InfoUnreadable);
    }

    /// docs/protocol.md §4.1 and §8.3: a zip with directory entries verifies,
    /// but its extracted tree cannot hash the same; that is not the cache's fault.
    #[test]
    fn zip_with_directory_entries_is_a_note_not_a_problem() {
        let t = tempfile::tempdir().unwrap();
        let mc = t.path();
        let e = Entry::new(mc, "example.com/d", "v1.0.0").unwrap();
        fs::create_dir_all(&e.vdir).unwrap();
        let mut b = gomod::zip::ZipBuilder::new(std::io::Cursor::new(Vec::new()));
        b.add_dir("example.com/d@v1.0.0/sub/").unwrap();
        b.add_file("example.com/d@v1.0.0/go.mod", b"module example.com/d\n")
            .unwrap();
        b.add_file("example.com/d@v1.0.0/sub/x.go", b"package sub\n")
            .unwrap();
        let zip = b.finish().unwrap().into_inner();
        fs::write(e.file("zip"), &zip).unwrap();
        let h1 = gomod::dirhash::hash_zip(std::io::Cursor::new(&zip)).unwrap();
        fs::write(e.file("ziphash"), &h1).unwrap();
        fs::create_dir_all(e.dir.join("sub")).unwrap();
        fs::write(e.dir.join("go.mod"), "module example.com/d\n").unwrap();
        fs::write(e.dir.join("sub/x.go"), "package sub\n").unwrap();
        let r = scan(&ScanOptions::new(mc.to_path_buf()), &crate::NoReporter).unwrap();
        assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
        assert_eq!(r.findings[0].kind, Kind::DirModified);
        assert_eq!(r.findings[0].severity, Severity::Note);
        assert!(!r.has_problems());
    }

    #[test]
    fn tile_sizes() {
        assert_eq!(sumdb_cache_shape("sum.x/tile/8/0/000.p/5", &[0; 160]), None);
        assert!(sumdb_cache_shape("sum.x/tile/8/0/000.p/5", &[0; 100]).is_some());
        assert_eq!(sumdb_cache_shape("sum.x/tile/8/1/000", &[0; 8192]), None);
        assert!(sumdb_cache_shape("sum.x/tile/8/1/000", &[0; 8191]).is_some());
        assert_eq!(sumdb_cache_shape("sum.x/tile/8/data/000.p/3", b"x"), None);
    }

    #[test]
    fn lookup_shape() {
        let good = b"12\nexample.com/m v1.0.0 h1:a=\nexample.com/m v1.0.0/go.mod h1:b=\n\ngo.sum database tree\n13\nxx=\n\n\xe2\x80\x94 s sig\n";
        assert_eq!(
            sumdb_cache_shape("s/lookup/example.com/m@v1.0.0", good),
            None
        );
        assert!(sumdb_cache_shape("s/lookup/example.com/m@v1.0.0", b"garbage").is_some());
    }

    #[test]
    fn tree_note_shape() {
        let hash = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let sig = base64::engine::general_purpose::STANDARD.encode([1u8; 68]);
        let good = format!("go.sum database tree\n5\n{hash}\n\n\u{2014} sum.x {sig}\n");
        check_tree_note(good.as_bytes()).unwrap();
        assert!(check_tree_note(b"go.sum database tree\n5\n").is_err());
        assert!(check_tree_note(&good.as_bytes()[..good.len() - 30]).is_err());
    }
}
