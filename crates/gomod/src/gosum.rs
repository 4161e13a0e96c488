//! go.sum files: parsing (Go's `modfetch.readGoSum`), lookup, and writing in
//! the order Go's `modfetch.WriteGoSum` uses.
//!
//! ```
//! let mut s = gomod::gosum::GoSum::parse("go.sum", b"example.com/m v1.0.0 h1:abc=\n").unwrap();
//! s.insert("example.com/m", "v1.0.0/go.mod", "h1:def=");
//! assert_eq!(s.zip_hashes("example.com/m", "v1.0.0"), ["h1:abc="]);
//! assert_eq!(
//!     String::from_utf8(s.to_bytes()).unwrap(),
//!     "example.com/m v1.0.0 h1:abc=\nexample.com/m v1.0.0/go.mod h1:def=\n"
//! );
//! ```

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::semver;

/// The hash Go once wrote by mistake for non-modules; Go drops such lines on read.
pub const EMPTY_GOMOD_HASH: &str = "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY=";

/// A malformed go.sum line (Go: `malformed go.sum:\nFILE:LINE: wrong number of fields N`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed go.sum:\n{file}:{line}: wrong number of fields {fields}")]
pub struct GoSumError {
    /// The file name given to the parser.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// How many fields the line had.
    pub fields: usize,
}

/// What a go.sum says about one hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SumCheck {
    /// The hash is recorded.
    Match,
    /// No `h1:` hash is recorded for this module version.
    Missing,
    /// A different `h1:` hash is recorded (Go: `checksum mismatch`).
    Mismatch {
        /// The recorded hash.
        recorded: String,
    },
}

/// The contents of a go.sum: for each (module, version) (where the version
/// may end in `/go.mod`), its hashes in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoSum {
    map: HashMap<(String, String), Vec<String>>,
}

impl GoSum {
    /// An empty go.sum.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses go.sum bytes. Blank lines are skipped; lines carrying the
    /// known-bad empty go.mod hash are dropped, as Go does.
    pub fn parse(file: &str, data: &[u8]) -> Result<Self, GoSumError> {
        let mut s = GoSum::new();
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            let text = String::from_utf8_lossy(line);
            let f: Vec<&str> = text.split_whitespace().collect();
            if f.is_empty() {
                continue;
            }
            if f.len() != 3 {
                return Err(GoSumError {
                    file: file.to_string(),
                    line: i + 1,
                    fields: f.len(),
                });
            }
            if f[2] == EMPTY_GOMOD_HASH {
                continue;
            }
            s.insert(f[0], f[1], f[2]);
        }
        Ok(s)
    }

    /// Adds a hash (no-op if already present).
    pub fn insert(&mut self, module: &str, version: &str, hash: &str) {
        let v = self
            .map
            .entry((module.to_string(), version.to_string()))
            .or_default();
        if !v.iter().any(|h| h == hash) {
            v.push(hash.to_string());
        }
    }

    /// Hashes recorded for `module version` (the zip).
    pub fn zip_hashes(&self, module: &str, version: &str) -> &[String] {
        self.hashes(module, version)
    }

    /// Hashes recorded for `module version/go.mod`.
    pub fn gomod_hashes(&self, module: &str, version: &str) -> &[String] {
        self.hashes(module, &format!("{version}/go.mod"))
    }

    fn hashes(&self, module: &str, version: &str) -> &[String] {
        self.map
            .get(&(module.to_string(), version.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Checks `hash` against what is recorded for `module version` (use a
    /// version ending in `/go.mod` for go.mod hashes), like Go's `checkOneSum`:
    /// any recorded `h1:` hash other than `hash` is a mismatch.
    pub fn check(&self, module: &str, version: &str, hash: &str) -> SumCheck {
        let list = self.hashes(module, version);
        for h in list {
            if h == hash {
                return SumCheck::Match;
            }
        }
        match list.iter().find(|h| h.starts_with("h1:")) {
            Some(h) => SumCheck::Mismatch {
                recorded: h.clone(),
            },
            None => SumCheck::Missing,
        }
    }

    /// Number of (module, version) keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every line as (module, version, hash), in Go's `WriteGoSum` order.
    pub fn lines(&self) -> Vec<(&str, &str, &str)> {
        let mut keys: Vec<&(String, String)> = self.map.keys().collect();
        keys.sort_by(|a, b| module_sort(&a.0, &a.1, &b.0, &b.1));
        let mut out = Vec::new();
        for k in keys {
            let mut hs: Vec<&String> = self.map[k].iter().collect();
            hs.sort();
            for h in hs {
                out.push((k.0.as_str(), k.1.as_str(), h.as_str()));
            }
        }
        out
    }

    /// The file contents Go would write.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        for (m, v, h) in self.lines() {
            s.push_str(m);
            s.push(' ');
            s.push_str(v);
            s.push(' ');
            s.push_str(h);
            s.push('\n');
        }
        s.into_bytes()
    }
}

/// Go's `module.Sort` order: by path, then by semver of the version with any
/// `/go.mod`-style suffix removed, then by that suffix (none first).
pub fn module_sort(pi: &str, vi: &str, pj: &str, vj: &str) -> Ordering {
    if pi != pj {
        return pi.cmp(pj);
    }
    let split = |v: &'_ str| -> (String, String) {
        match v.find('/') {
            Some(k) => (v[..k].to_string(), v[k..].to_string()),
            None => (v.to_string(), String::new()),
        }
    };
    let (a, fa) = split(vi);
    let (b, fb) = split(vj);
    if a != b {
        // Go leaves versions that compare equal (invalid ones, or ones that
        // differ only in build metadata) in map order; break the tie bytewise
        // so the output is deterministic.
        return semver::compare(&a, &b).then_with(|| a.cmp(&b));
    }
    fa.cmp(&fb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write_sorted_like_go() {
        let src = b"example.com/b v1.10.0 h1:x=\n\nexample.com/b v1.9.0/go.mod h1:y=\nexample.com/b v1.9.0 h1:z=\nexample.com/a v0.1.0 h1:w=\nexample.com/a v0.1.0/go.mod h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY=\n";
        let s = GoSum::parse("go.sum", src).unwrap();
        assert_eq!(
            String::from_utf8(s.to_bytes()).unwrap(),
            "example.com/a v0.1.0 h1:w=\nexample.com/b v1.9.0 h1:z=\nexample.com/b v1.9.0/go.mod h1:y=\nexample.com/b v1.10.0 h1:x=\n"
        );
        assert_eq!(s.gomod_hashes("example.com/b", "v1.9.0"), ["h1:y="]);
    }

    #[test]
    fn versions_that_compare_equal_sort_bytewise() {
        let src = b"example.com/a vIIIII1.0.0 h0:abc=\nexample.com/a vgo.mod h0:def=\n";
        let s = GoSum::parse("go.sum", src).unwrap();
        let out = s.to_bytes();
        assert_eq!(out, src);
        assert_eq!(GoSum::parse("go.sum", &out).unwrap().to_bytes(), out);
    }

    #[test]
    fn malformed_lines_are_reported_like_go() {
        let e = GoSum::parse("/p/go.sum", b"a v1 h1:x\nb v1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed go.sum:\n/p/go.sum:2: wrong number of fields 2"
        );
    }

    #[test]
    fn check_reports_match_missing_mismatch() {
        let s = GoSum::parse("go.sum", b"m v1.0.0 h1:a=\n").unwrap();
        assert_eq!(s.check("m", "v1.0.0", "h1:a="), SumCheck::Match);
        assert_eq!(s.check("m", "v1.0.1", "h1:a="), SumCheck::Missing);
        assert_eq!(
            s.check("m", "v1.0.0", "h1:b="),
            SumCheck::Mismatch {
                recorded: "h1:a=".into()
            }
        );
    }
}
