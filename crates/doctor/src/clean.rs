//! `clean`: remove module versions by pattern, version, age of last use, a
//! size budget (least recently used first), toolchains only, or everything.
//!
//! "Last use": the go command keeps no access log, so an entry's last use is
//! the latest modification time of its `.mod`, `.zip`, `.info` and extracted
//! directory and the latest access time of its `.mod` and `.info` (go reads
//! the `.mod` of every module in the build list on each build). Access times
//! of the zip and the directory are left out: any directory listing or hash
//! (a backup, an indexer, this doctor's own scan) bumps them. The doctor
//! reads `.mod`/`.info` with `O_NOATIME` on Linux for the same reason. With
//! `noatime` mounts last use degrades to the download time; with `relatime`
//! (the Linux default) atime moves at most once a day, fine-grained enough
//! for an LRU budget.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::Reporter;
use crate::cache::{Entry, ScanError, list_entries};
use crate::fsutil::{last_touch, remove_within, tree_size};

/// What to remove. Filters combine (all must match); `max_size` then removes
/// the least recently used of the matching entries until the whole cache
/// fits.
#[derive(Debug, Clone, Default)]
pub struct CleanOptions {
    /// GOMODCACHE.
    pub modcache: PathBuf,
    /// Only modules matching these GOPRIVATE-style patterns.
    pub modules: Option<gomod::pattern::Patterns>,
    /// Only this version.
    pub version: Option<String>,
    /// Only entries not used for this long.
    pub older_than: Option<Duration>,
    /// Remove LRU entries until the cache is at most this many bytes.
    pub max_size: Option<u64>,
    /// Only downloaded toolchains (`golang.org/toolchain@...`).
    pub toolchains: bool,
    /// Everything, like `go clean -modcache` (read-only trees included).
    pub all: bool,
    /// List, remove nothing.
    pub dry_run: bool,
    /// How long to wait for go's per-version lock.
    pub lock_wait: Duration,
    /// "Now", for ages (tests pass a fixed time).
    pub now: Option<SystemTime>,
}

/// One module version removed (or that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanItem {
    /// `module@version`, or the path for `--all`.
    pub id: String,
    /// Bytes.
    pub bytes: u64,
    /// Last use, seconds since the Unix epoch.
    pub last_used: u64,
}

/// What `clean` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanReport {
    /// Nothing was removed.
    pub dry_run: bool,
    /// Cache size before, bytes.
    pub bytes_before: u64,
    /// Bytes freed (or that would be).
    pub bytes_freed: u64,
    /// Module versions removed, least recently used first.
    pub removed: Vec<CleanItem>,
    /// Module versions kept.
    pub kept: u64,
    /// What could not be removed, and why.
    pub failed: Vec<String>,
}

struct Sized {
    entry: Entry,
    bytes: u64,
    last_used: SystemTime,
}

fn entry_files(e: &Entry) -> Vec<PathBuf> {
    ["zip", "ziphash", "mod", "info", "partial"]
        .iter()
        .map(|x| e.file(x))
        .chain(std::iter::once(e.dir.clone()))
        .collect()
}

fn measure(e: Entry) -> Sized {
    let files = entry_files(&e);
    let bytes = files.iter().map(|p| tree_size(p)).sum();
    let last_used = [("mod", true), ("info", true), ("zip", false)]
        .iter()
        .filter_map(|(x, atime)| last_touch(&e.file(x), *atime))
        .chain(last_touch(&e.dir, false))
        .max()
        .unwrap_or(UNIX_EPOCH);
    Sized {
        entry: e,
        bytes,
        last_used,
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs a clean.
pub fn clean(opts: &CleanOptions, reporter: &dyn Reporter) -> Result<CleanReport, ScanError> {
    let root = &opts.modcache;
    if !root.is_dir() {
        return Err(ScanError::NoCache { path: root.clone() });
    }
    let mut report = CleanReport {
        dry_run: opts.dry_run,
        bytes_before: tree_size(root),
        ..CleanReport::default()
    };
    if opts.all {
        return Ok(clean_all(root, opts.dry_run, report));
    }
    let now = opts.now.unwrap_or_else(SystemTime::now);
    let (entries, _) = list_entries(root)?;
    let mut all: Vec<Sized> = entries.into_iter().map(measure).collect();
    all.sort_by(|a, b| {
        a.last_used
            .cmp(&b.last_used)
            .then_with(|| a.entry.id().cmp(&b.entry.id()))
    });
    let matches = |s: &Sized| {
        opts.modules
            .as_ref()
            .is_none_or(|p| p.matches(&s.entry.module))
            && opts.version.as_ref().is_none_or(|v| *v == s.entry.version)
            && (!opts.toolchains || s.entry.module == "golang.org/toolchain")
            && opts
                .older_than
                .is_none_or(|d| now.duration_since(s.last_used).unwrap_or_default() >= d)
    };
    let mut total = report.bytes_before;
    let mut chosen = Vec::new();
    for s in &all {
        if !matches(s) {
            continue;
        }
        if let Some(budget) = opts.max_size
            && total <= budget
        {
            break;
        }
        total = total.saturating_sub(s.bytes);
        chosen.push(s);
    }
    report.kept = (all.len() - chosen.len()) as u64;
    reporter.start("removing", Some(chosen.len() as u64));
    for s in chosen {
        let item = CleanItem {
            id: s.entry.id(),
            bytes: s.bytes,
            last_used: secs(s.last_used),
        };
        if !opts.dry_run {
            match remove_entry(root, &s.entry, opts.lock_wait) {
                Ok(freed) => report.bytes_freed += freed,
                Err(err) => {
                    report.failed.push(err.to_string());
                    reporter.advance(1);
                    continue;
                }
            }
        } else {
            report.bytes_freed += s.bytes;
        }
        report.removed.push(item);
        reporter.advance(1);
    }
    reporter.finish();
    Ok(report)
}

/// Removes one module version (all its files and its extracted tree, not
/// its `.lock`) under go's lock, then rewrites `@v/list` as go would.
pub fn remove_entry(root: &Path, e: &Entry, lock_wait: Duration) -> Result<u64, CleanError> {
    let _lock = match e.lock(lock_wait) {
        Ok(Some(l)) => Some(l),
        Ok(None) if e.vdir.is_dir() => return Err(CleanError::Busy { id: e.id() }),
        Ok(None) => None,
        Err(source) => return Err(CleanError::Lock { id: e.id(), source }),
    };
    let mut freed = 0;
    // The extracted tree first: without its zip go could not restore it.
    let mut files = entry_files(e);
    files.rotate_right(1);
    for p in files {
        freed += remove_within(root, &p)?;
    }
    if e.vdir.is_dir() {
        crate::repair::rewrite_list(&e.vdir).map_err(|source| CleanError::List {
            path: e.vdir.join("list"),
            source,
        })?;
    }
    Ok(freed)
}

fn clean_all(root: &Path, dry_run: bool, mut report: CleanReport) -> CleanReport {
    let Ok(rd) = std::fs::read_dir(root) else {
        return report;
    };
    let mut children: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    children.sort();
    for p in children {
        let bytes = tree_size(&p);
        let id = p.display().to_string();
        if dry_run {
            report.bytes_freed += bytes;
        } else {
            match remove_within(root, &p) {
                Ok(b) => report.bytes_freed += b,
                Err(err) => {
                    report.failed.push(err.to_string());
                    continue;
                }
            }
        }
        report.removed.push(CleanItem {
            id,
            bytes,
            last_used: last_touch(&p, false).map(secs).unwrap_or(0),
        });
    }
    report
}

/// Why one module version could not be removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CleanError {
    /// A go command held the version's lock for the whole wait.
    #[error("{id}: a go command holds its lock; skipped")]
    Busy {
        /// `module@version`.
        id: String,
    },
    /// The lock file could not be opened.
    #[error("{id}: cannot take go's lock: {source}")]
    Lock {
        /// `module@version`.
        id: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file or tree could not be removed.
    #[error(transparent)]
    Remove(#[from] crate::fsutil::RemoveError),
    /// `@v/list` could not be rewritten.
    #[error("rewriting {path}: {source}", path = path.display())]
    List {
        /// The list file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_cache(mc: &Path, entries: &[(&str, &str, u64)], now: SystemTime) {
        for (m, v, days_ago) in entries {
            let e = Entry::new(mc, m, v).unwrap();
            std::fs::create_dir_all(&e.vdir).unwrap();
            std::fs::create_dir_all(&e.dir).unwrap();
            std::fs::write(e.dir.join("a.go"), "package a\n").unwrap();
            let t = now - Duration::from_secs(days_ago * 86400);
            for x in ["mod", "zip", "info", "ziphash"] {
                std::fs::write(e.file(x), format!("{m}{v}{x}")).unwrap();
                let f = std::fs::File::open(e.file(x)).unwrap();
                f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
                    .unwrap();
            }
            let d = std::fs::File::open(&e.dir).unwrap();
            d.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
                .unwrap();
        }
    }

    #[test]
    fn filters_pattern_version_age_toolchains() {
        let t = tempfile::tempdir().unwrap();
        let mc = t.path();
        let now = SystemTime::now();
        fake_cache(
            mc,
            &[
                ("example.com/a", "v1.0.0", 40),
                ("example.com/a", "v1.1.0", 1),
                ("corp.example/x/y", "v0.1.0", 10),
                ("golang.org/toolchain", "v0.0.1-go1.22.0.linux-amd64", 5),
            ],
            now,
        );
        let run = |o: CleanOptions| {
            let r = clean(
                &CleanOptions {
                    modcache: mc.to_path_buf(),
                    dry_run: true,
                    now: Some(now),
                    ..o
                },
                &crate::NoReporter,
            )
            .unwrap();
            r.removed.into_iter().map(|i| i.id).collect::<Vec<_>>()
        };
        assert_eq!(
            run(CleanOptions {
                modules: Some(gomod::pattern::Patterns::parse("*.example")),
                ..Default::default()
            }),
            ["corp.example/x/y@v0.1.0"]
        );
        assert_eq!(
            run(CleanOptions {
                version: Some("v1.0.0".into()),
                ..Default::default()
            }),
            ["example.com/a@v1.0.0"]
        );
        assert_eq!(
            run(CleanOptions {
                older_than: Some(Duration::from_secs(7 * 86400)),
                ..Default::default()
            }),
            ["example.com/a@v1.0.0", "corp.example/x/y@v0.1.0"]
        );
        assert_eq!(
            run(CleanOptions {
                toolchains: true,
                ..Default::default()
            }),
            ["golang.org/toolchain@v0.0.1-go1.22.0.linux-amd64"]
        );
        // For real, with a read-only extracted tree.
        let e = Entry::new(mc, "example.com/a", "v1.0.0").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(e.dir.join("a.go"), std::fs::Permissions::from_mode(0o444))
                .unwrap();
            std::fs::set_permissions(&e.dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        let r = clean(
            &CleanOptions {
                modcache: mc.to_path_buf(),
                version: Some("v1.0.0".into()),
                now: Some(now),
                ..Default::default()
            },
            &crate::NoReporter,
        )
        .unwrap();
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        assert!(!e.dir.exists() && !e.file("zip").exists());
        assert!(
            e.file("lock").exists(),
            "go's lock file stays, as go leaves it"
        );
        assert_eq!(
            std::fs::read_to_string(e.vdir.join("list")).unwrap(),
            "v1.1.0\n"
        );
    }
}
