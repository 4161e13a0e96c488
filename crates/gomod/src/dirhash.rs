//! `h1:` hashes, exactly as Go's `golang.org/x/mod/sumdb/dirhash` computes them.
//!
//! Hash1: sort the file names bytewise; for each, the line
//! `hex(sha256(content)) + "  " + name + "\n"`; SHA-256 of all the lines;
//! `"h1:" + base64`. Names containing a newline are rejected.
//!
//! ```
//! assert_eq!(
//!     gomod::dirhash::hash_gomod(b""),
//!     "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY="
//! );
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::rawzip::{ZipArchive, ZipFormatError};

const BUF: usize = 256 * 1024;

/// Why a hash could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// A file name contains a newline, which the `h1:` format cannot represent.
    #[error(
        "dirhash: file name {name:?} contains a newline; filenames with newlines are not supported"
    )]
    NewlineInName {
        /// The offending name.
        name: String,
    },
    /// Reading a file failed.
    #[error("hashing {path}: {source}", path = path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Opening or reading one named input failed (for [`hash1`]).
    #[error("hashing {name:?}: {source}")]
    Open {
        /// The logical file name.
        name: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The zip could not be read (broken container, size or CRC mismatch).
    #[error("hashing zip {path}: {source}", path = path.display())]
    Zip {
        /// The zip file (empty when hashing a reader).
        path: PathBuf,
        /// What was wrong.
        source: ZipFormatError,
    },
    /// [`hash_dir`] was given something that is not a directory.
    #[error("{path} is not a directory", path = path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
}

/// Accumulates `(name, sha256(content))` pairs and produces the `h1:` summary.
#[derive(Debug, Default, Clone)]
pub struct Hash1Builder {
    files: Vec<(Vec<u8>, [u8; 32])>,
}

impl Hash1Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one file by name and the SHA-256 of its content.
    pub fn add(&mut self, name: impl Into<Vec<u8>>, digest: [u8; 32]) -> Result<(), HashError> {
        let name = name.into();
        if name.contains(&b'\n') {
            return Err(HashError::NewlineInName {
                name: String::from_utf8_lossy(&name).into_owned(),
            });
        }
        self.files.push((name, digest));
        Ok(())
    }

    /// Sorts the names bytewise and returns `h1:<base64>`.
    pub fn finish(mut self) -> String {
        // A stable sort keeps equal names in insertion order; their lines are
        // identical anyway only if their digests are, which callers arrange.
        self.files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut h = Sha256::new();
        let mut line = Vec::with_capacity(128);
        for (name, digest) in &self.files {
            line.clear();
            line.extend_from_slice(hex32(digest).as_bytes());
            line.extend_from_slice(b"  ");
            line.extend_from_slice(name);
            line.push(b'\n');
            h.update(&line);
        }
        format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(h.finalize())
        )
    }
}

fn hex32(d: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// SHA-256 of everything `r` yields, read in large chunks.
pub fn sha256_reader(mut r: impl Read) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Go's `dirhash.Hash1` over named inputs: each item is a name and a function
/// that opens that file's content.
pub fn hash1<N, F, R>(files: impl IntoIterator<Item = (N, F)>) -> Result<String, HashError>
where
    N: Into<Vec<u8>>,
    F: FnOnce() -> io::Result<R>,
    R: Read,
{
    let mut b = Hash1Builder::new();
    let mut pending = Vec::new();
    for (name, open) in files {
        let name: Vec<u8> = name.into();
        if name.contains(&b'\n') {
            return Err(HashError::NewlineInName {
                name: String::from_utf8_lossy(&name).into_owned(),
            });
        }
        pending.push((name, open));
    }
    for (name, open) in pending {
        let err = |source| HashError::Open {
            name: String::from_utf8_lossy(&name).into_owned(),
            source,
        };
        let r = open().map_err(err)?;
        let digest = sha256_reader(r).map_err(err)?;
        b.add(name, digest)?;
    }
    Ok(b.finish())
}

/// The `h1:` hash of a go.mod file: the single name is literally `go.mod`.
pub fn hash_gomod(bytes: &[u8]) -> String {
    let mut b = Hash1Builder::new();
    // The name has no newline, so this cannot fail.
    let _ = b.add("go.mod", Sha256::digest(bytes).into());
    b.finish()
}

/// The `h1:` hash of a module zip file (Go's `dirhash.HashZip`), streamed
/// entry by entry. Every entry counts, directory entries included (they hash
/// as empty files). As in Go, when two entries share a name both lines use the
/// content of the last one.
pub fn hash_zip_file(path: &Path) -> Result<String, HashError> {
    let f = File::open(path).map_err(|source| HashError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    hash_zip_inner(f).map_err(|e| match e {
        HashError::Zip { source, .. } => HashError::Zip {
            path: path.to_path_buf(),
            source,
        },
        other => other,
    })
}

/// Like [`hash_zip_file`], for an already-open zip (a temp file, a cursor).
pub fn hash_zip<R: Read + Seek>(r: R) -> Result<String, HashError> {
    hash_zip_inner(r)
}

fn hash_zip_inner<R: Read + Seek>(r: R) -> Result<String, HashError> {
    let zerr = |source| HashError::Zip {
        path: PathBuf::new(),
        source,
    };
    let mut z = ZipArchive::new(r).map_err(zerr)?;
    let n = z.entries().len();
    for e in z.entries() {
        if e.name.contains(&b'\n') {
            return Err(HashError::NewlineInName {
                name: e.name_lossy(),
            });
        }
    }
    // Go hashes each listed name with the content of the last entry of that name.
    let mut last: HashMap<Vec<u8>, usize> = HashMap::with_capacity(n);
    for (i, e) in z.entries().iter().enumerate() {
        last.insert(e.name.clone(), i);
    }
    let mut digests: Vec<Option<[u8; 32]>> = vec![None; n];
    for (i, slot) in digests.iter_mut().enumerate() {
        let name = &z.entries()[i].name;
        if last.get(name) != Some(&i) {
            continue;
        }
        let mut h = Sha256::new();
        z.read_entry(i, |chunk| h.update(chunk)).map_err(zerr)?;
        *slot = Some(h.finalize().into());
    }
    let mut b = Hash1Builder::new();
    for e in z.entries() {
        let idx = last.get(&e.name).copied().unwrap_or_default();
        let digest = digests.get(idx).copied().flatten().unwrap_or_default();
        b.add(e.name.clone(), digest)?;
    }
    Ok(b.finish())
}

/// The files under `dir` as Go's `dirhash.DirFiles` lists them: every
/// non-directory (symlinks included, not followed while walking), named
/// `prefix/relative/path` with forward slashes. Returns (name, file path).
pub fn dir_files(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>, HashError> {
    let meta = std::fs::symlink_metadata(dir).map_err(|source| HashError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(HashError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    let prefix = prefix.trim_end_matches('/');
    walk(dir, prefix, &mut out)?;
    Ok(out)
}

/// The entries of `dir`, sorted by file name (bytewise, as Go sorts them).
pub(crate) fn read_dir_sorted(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn walk(dir: &Path, name_prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), HashError> {
    let ioerr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HashError::Io { path, source }
    };
    for e in read_dir_sorted(dir).map_err(ioerr(dir))? {
        let path = e.path();
        let file_name = e.file_name();
        let base = file_name.to_string_lossy();
        let name = if name_prefix.is_empty() {
            base.into_owned()
        } else {
            format!("{name_prefix}/{base}")
        };
        let ft = e.file_type().map_err(ioerr(&path))?;
        if ft.is_dir() {
            walk(&path, &name, out)?;
        } else {
            out.push((name, path));
        }
    }
    Ok(())
}

/// The `h1:` hash of a directory tree (Go's `dirhash.HashDir`), with file
/// names `prefix/relpath`. Directories themselves are not hashed; a symlink is
/// hashed as the file it points to.
pub fn hash_dir(dir: &Path, prefix: &str) -> Result<String, HashError> {
    let files = dir_files(dir, prefix)?;
    let mut b = Hash1Builder::new();
    for (name, path) in files {
        if name.contains('\n') {
            return Err(HashError::NewlineInName { name });
        }
        let f = File::open(&path).map_err(|source| HashError::Io {
            path: path.clone(),
            source,
        })?;
        let digest = sha256_reader(f).map_err(|source| HashError::Io {
            path: path.clone(),
            source,
        })?;
        b.add(name, digest)?;
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(data: &'static [u8]) -> impl FnOnce() -> io::Result<&'static [u8]> {
        move || Ok(data)
    }

    #[test]
    fn empty_gomod_matches_go() {
        assert_eq!(
            hash_gomod(b""),
            "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY="
        );
    }

    #[test]
    fn hash1_matches_sha256sum_pipeline() {
        // sha256sum of "a\n" and "b\n", sorted by name, then hashed.
        let h = hash1([("z", mem(b"b\n")), ("a", mem(b"a\n"))]).unwrap();
        let mut lines = String::new();
        lines.push_str(&format!("{}  a\n", hex32(&Sha256::digest(b"a\n").into())));
        lines.push_str(&format!("{}  z\n", hex32(&Sha256::digest(b"b\n").into())));
        let want = format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(lines.as_bytes()))
        );
        assert_eq!(h, want);
    }

    #[test]
    fn newline_names_are_rejected() {
        let err = hash1([("a\nb", mem(b""))]).unwrap_err();
        assert!(matches!(err, HashError::NewlineInName { .. }), "{err}");
    }

    #[test]
    fn hash_dir_skips_directories_and_uses_prefix() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("sub/empty")).unwrap();
        std::fs::write(d.path().join("go.mod"), b"module x\n").unwrap();
        std::fs::write(d.path().join("sub/a.go"), b"package a\n").unwrap();
        let got = hash_dir(d.path(), "x@v1.0.0").unwrap();
        let want = hash1([
            ("x@v1.0.0/go.mod", mem(b"module x\n")),
            ("x@v1.0.0/sub/a.go", mem(b"package a\n")),
        ])
        .unwrap();
        assert_eq!(got, want);
    }
}
