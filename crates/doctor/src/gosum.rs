//! The current module's go.sum, read from disk. Parsing is
//! [`gomod::gosum`]'s (Go's rules, including dropping the known-bad empty
//! go.mod hash); this only adds the file it came from.

use std::path::{Path, PathBuf};

use gomod::gosum::GoSum;

/// A go.sum and the file it was read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoSumFile {
    /// The file it was read from.
    pub path: PathBuf,
    /// What it records.
    pub sums: GoSum,
}

impl GoSumFile {
    /// Reads and parses a go.sum file; a missing file is `Ok(None)`. A
    /// malformed line is an [`std::io::ErrorKind::InvalidData`] error with
    /// the go command's message.
    pub fn read(path: &Path) -> Result<Option<GoSumFile>, std::io::Error> {
        match std::fs::read(path) {
            Ok(data) => GoSum::parse(&path.display().to_string(), &data)
                .map(|sums| {
                    Some(GoSumFile {
                        path: path.to_path_buf(),
                        sums,
                    })
                })
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(std::io::Error::new(
                e.kind(),
                format!("reading {}: {e}", path.display()),
            )),
        }
    }

    /// The zip hashes recorded for `module@version` (usually one).
    pub fn zip_hashes(&self, module: &str, version: &str) -> &[String] {
        self.sums.zip_hashes(module, version)
    }

    /// The go.mod hashes recorded for `module@version`.
    pub fn gomod_hashes(&self, module: &str, version: &str) -> &[String] {
        self.sums.gomod_hashes(module, version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zip_and_gomod_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("go.sum");
        std::fs::write(
            &p,
            "example.com/m v1.0.0 h1:abc=\nexample.com/m v1.0.0/go.mod h1:def=\n\n",
        )
        .unwrap();
        let s = GoSumFile::read(&p).unwrap().unwrap();
        assert_eq!(s.path, p);
        assert_eq!(s.zip_hashes("example.com/m", "v1.0.0"), ["h1:abc="]);
        assert_eq!(s.gomod_hashes("example.com/m", "v1.0.0"), ["h1:def="]);
        assert!(s.zip_hashes("example.com/m", "v1.0.1").is_empty());
        assert!(GoSumFile::read(&dir.path().join("none")).unwrap().is_none());
    }

    #[test]
    fn wrong_field_count_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("go.sum");
        std::fs::write(&p, "a v1 h1:x\nb v1\n").unwrap();
        let e = GoSumFile::read(&p).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            format!(
                "malformed go.sum:\n{}:2: wrong number of fields 2",
                p.display()
            )
        );
    }
}
