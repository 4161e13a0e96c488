//! File-system helpers shared by scan, repair and clean: Go's per-version
//! lock, removal that never leaves the cache and copes with Go's read-only
//! trees, sizes and last-use times.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use fs4::fs_std::FileExt as _;

/// Go's own per-version mutex, `cache/download/<esc mod>/@v/<esc v>.lock`,
/// held (an exclusive `flock`, as `cmd/go/internal/lockedfile` takes it on
/// Linux and the BSDs) for as long as this value lives.
#[derive(Debug)]
pub struct VersionLock {
    file: File,
}

impl VersionLock {
    /// Takes the lock at `path`, creating the (empty) lock file like the go
    /// command does, waiting up to `wait` for a running go command to let
    /// go. `Ok(None)` means it stayed busy.
    pub fn acquire(path: &Path, wait: Duration) -> io::Result<Option<VersionLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock_exclusive() {
                Ok(true) => return Ok(Some(VersionLock { file })),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for VersionLock {
    fn drop(&mut self) {
        let _ = fs4::fs_std::FileExt::unlock(&self.file);
    }
}

/// Why something could not be removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoveError {
    /// The path is not inside the cache root (or reaches outside it through
    /// a symlinked directory): refused.
    #[error("refusing to remove {path}: it is not inside {root}", path = path.display(), root = root.display())]
    Outside {
        /// The path.
        path: PathBuf,
        /// The cache root.
        root: PathBuf,
    },
    /// An I/O error on a named file.
    #[error("removing {path}: {source}", path = path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RemoveError + '_ {
    move |source| RemoveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `path` lies lexically under `root` and that no directory
/// between them is a symlink, so removing it cannot touch anything outside.
pub(crate) fn check_inside(root: &Path, path: &Path) -> Result<(), RemoveError> {
    let outside = || RemoveError::Outside {
        path: path.to_path_buf(),
        root: root.to_path_buf(),
    };
    let rel = path.strip_prefix(root).map_err(|_| outside())?;
    let mut cur = root.to_path_buf();
    let comps: Vec<Component<'_>> = rel.components().collect();
    if comps.is_empty() {
        return Err(outside());
    }
    for (i, c) in comps.iter().enumerate() {
        match c {
            Component::Normal(s) => cur.push(s),
            _ => return Err(outside()),
        }
        if i + 1 < comps.len() {
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => return Err(outside()),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Removes `path` (a file, a symlink or a whole tree) if it exists, after
/// checking it lies inside `root`. Read-only directories (Go extracts
/// modules 0555) are made writable first; symlinks are removed, never
/// followed. Returns the bytes freed.
pub(crate) fn remove_within(root: &Path, path: &Path) -> Result<u64, RemoveError> {
    check_inside(root, path)?;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(path)(e)),
    };
    if meta.is_dir() {
        remove_tree(path)
    } else {
        fs::remove_file(path).map_err(io_err(path))?;
        Ok(meta.len())
    }
}

fn make_writable(dir: &Path) -> Result<(), RemoveError> {
    let meta = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    let mut perm = meta.permissions();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = perm.mode();
        if mode & 0o700 != 0o700 {
            perm.set_mode(mode | 0o700);
            fs::set_permissions(dir, perm).map_err(io_err(dir))?;
        }
    }
    #[cfg(not(unix))]
    if perm.readonly() {
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        fs::set_permissions(dir, perm).map_err(io_err(dir))?;
    }
    Ok(())
}

fn remove_tree(dir: &Path) -> Result<u64, RemoveError> {
    make_writable(dir)?;
    let mut freed = 0;
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        let ft = e.file_type().map_err(io_err(&p))?;
        if ft.is_dir() {
            freed += remove_tree(&p)?;
        } else {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&p).map_err(io_err(&p))?;
            freed += len;
        }
    }
    fs::remove_dir(dir).map_err(io_err(dir))?;
    Ok(freed)
}

/// Bytes under `path` (a file or a tree; symlinks count as themselves).
pub(crate) fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(rd) = fs::read_dir(path) else { return 0 };
    rd.filter_map(Result::ok)
        .map(|e| tree_size(&e.path()))
        .sum()
}

/// A path's modification time, or the later of its access and modification
/// times with `atime`, if it exists.
pub(crate) fn last_touch(path: &Path, atime: bool) -> Option<SystemTime> {
    let m = fs::symlink_metadata(path).ok()?;
    let mt = m.modified().ok();
    let at = if atime { m.accessed().ok() } else { None };
    match (mt, at) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Reads a whole file without updating its access time where the OS
/// allows (Linux `O_NOATIME`, owner only; falls back to a plain read), so a
/// doctor scan does not make every entry look recently used to `clean`.
pub(crate) fn read_noatime(path: &Path) -> io::Result<Vec<u8>> {
    #[cfg(target_os = "linux")]
    {
        use std::io::Read as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        if let Ok(mut f) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOATIME)
            .open(path)
        {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            return Ok(buf);
        }
    }
    fs::read(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_read_only_tree_and_not_outside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("mc");
        let d = root.join("example.com/m@v1.0.0/sub");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("f.go"), "package m").unwrap();
        let outside = t.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep"), "x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, root.join("example.com/m@v1.0.0/link")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&d, fs::Permissions::from_mode(0o555)).unwrap();
            fs::set_permissions(d.parent().unwrap(), fs::Permissions::from_mode(0o555)).unwrap();
        }
        let freed = remove_within(&root, &root.join("example.com/m@v1.0.0")).unwrap();
        assert!(freed >= 9, "{freed}");
        assert!(!root.join("example.com/m@v1.0.0").exists());
        assert!(outside.join("keep").exists());
        assert!(matches!(
            remove_within(&root, &outside),
            Err(RemoveError::Outside { .. })
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, root.join("ln")).unwrap();
            assert!(matches!(
                remove_within(&root, &root.join("ln/keep")),
                Err(RemoveError::Outside { .. })
            ));
            assert!(outside.join("keep").exists());
        }
    }
}
