//! go.sum files: `<module> <version>[/go.mod] h1:<base64>` per line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The hashes a go.sum records, by (module, version).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GoSum {
    /// The file it was read from.
    pub path: PathBuf,
    /// Zip hashes: `module version h1:...`.
    pub zip: BTreeMap<(String, String), Vec<String>>,
    /// go.mod hashes: `module version/go.mod h1:...`.
    pub gomod: BTreeMap<(String, String), Vec<String>>,
}

/// A go.sum line that does not have the three fields the go command wants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed go.sum:\n{path}:{line}: wrong number of fields {fields}", path = path.display())]
pub struct GoSumError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// How many fields the line had.
    pub fields: usize,
}

impl GoSum {
    /// Parses go.sum text (`path` is only used in errors). Blank lines are
    /// skipped, like the go command does; any other line must have exactly
    /// three fields.
    pub fn parse(path: &Path, text: &str) -> Result<GoSum, GoSumError> {
        let mut out = GoSum {
            path: path.to_path_buf(),
            ..GoSum::default()
        };
        for (i, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.is_empty() {
                continue;
            }
            if f.len() != 3 {
                return Err(GoSumError {
                    path: path.to_path_buf(),
                    line: i + 1,
                    fields: f.len(),
                });
            }
            let (m, v, h) = (f[0].to_string(), f[1], f[2].to_string());
            if let Some(v) = v.strip_suffix("/go.mod") {
                out.gomod.entry((m, v.to_string())).or_default().push(h);
            } else {
                out.zip.entry((m, v.to_string())).or_default().push(h);
            }
        }
        Ok(out)
    }

    /// Reads and parses a go.sum file; a missing file is `Ok(None)`.
    pub fn read(path: &Path) -> Result<Option<GoSum>, std::io::Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => GoSum::parse(path, &text)
                .map(Some)
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
        self.zip
            .get(&(module.to_string(), version.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The go.mod hashes recorded for `module@version`.
    pub fn gomod_hashes(&self, module: &str, version: &str) -> &[String] {
        self.gomod
            .get(&(module.to_string(), version.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zip_and_gomod_lines() {
        let s = GoSum::parse(
            Path::new("go.sum"),
            "example.com/m v1.0.0 h1:abc=\nexample.com/m v1.0.0/go.mod h1:def=\n\n",
        )
        .unwrap();
        assert_eq!(s.zip_hashes("example.com/m", "v1.0.0"), ["h1:abc="]);
        assert_eq!(s.gomod_hashes("example.com/m", "v1.0.0"), ["h1:def="]);
        assert!(s.zip_hashes("example.com/m", "v1.0.1").is_empty());
    }

    #[test]
    fn wrong_field_count_names_the_line() {
        let e = GoSum::parse(Path::new("/x/go.sum"), "a v1 h1:x\nb v1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed go.sum:\n/x/go.sum:2: wrong number of fields 2"
        );
    }
}
