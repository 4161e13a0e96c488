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

/// One line of a go.sum, as written: `module version[/go.mod] hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumLine {
    /// 1-based line number.
    pub line: usize,
    /// The module path.
    pub module: String,
    /// The version, ending in `/go.mod` for a go.mod hash.
    pub version: String,
    /// The hash (`h1:...`).
    pub hash: String,
}

impl SumLine {
    /// The version without `/go.mod`, and whether the line is a go.mod hash
    /// (`false`: the hash of the module zip).
    pub fn module_version(&self) -> (&str, bool) {
        match self.version.strip_suffix("/go.mod") {
            Some(v) => (v, true),
            None => (&self.version, false),
        }
    }
}

/// The lines of a go.sum in file order, split as Go's `modfetch.readGoSum`
/// does: fields separated by white space, blank lines skipped, any other
/// line must have exactly three fields (the first that does not is an
/// error, and ends the iteration). Nothing is dropped or checked further:
/// [`GoSum::parse`] builds the lookup table from these.
pub fn parse_lines<'a>(
    file: &'a str,
    data: &'a [u8],
) -> impl Iterator<Item = Result<SumLine, GoSumError>> + 'a {
    let mut failed = false;
    data.split(|&b| b == b'\n')
        .enumerate()
        .filter_map(move |(i, line)| {
            if failed {
                return None;
            }
            let text = String::from_utf8_lossy(line);
            let f: Vec<&str> = text.split_whitespace().collect();
            if f.is_empty() {
                return None;
            }
            if f.len() != 3 {
                failed = true;
                return Some(Err(GoSumError {
                    file: file.to_string(),
                    line: i + 1,
                    fields: f.len(),
                }));
            }
            Some(Ok(SumLine {
                line: i + 1,
                module: f[0].to_string(),
                version: f[1].to_string(),
                hash: f[2].to_string(),
            }))
        })
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

    /// Parses go.sum bytes ([`parse_lines`]). Lines carrying the known-bad
    /// empty go.mod hash are dropped, as Go does.
    pub fn parse(file: &str, data: &[u8]) -> Result<Self, GoSumError> {
        let mut s = GoSum::new();
        for l in parse_lines(file, data) {
            let l = l?;
            if l.hash == EMPTY_GOMOD_HASH {
                continue;
            }
            s.insert(&l.module, &l.version, &l.hash);
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
    fn lines_in_file_order_with_numbers() {
        let src = b"b v1.0.0 h1:x=\n\n  a   v0.1.0/go.mod\th1:y=  \r\nc v1 h1:z\nd\n";
        let got: Vec<_> = parse_lines("go.sum", src).collect();
        assert_eq!(got.len(), 4, "{got:?}");
        let l = got[1].as_ref().unwrap();
        assert_eq!(
            (
                l.line,
                l.module.as_str(),
                l.version.as_str(),
                l.hash.as_str()
            ),
            (3, "a", "v0.1.0/go.mod", "h1:y=")
        );
        assert_eq!(l.module_version(), ("v0.1.0", true));
        assert_eq!(got[0].as_ref().unwrap().module_version(), ("v1.0.0", false));
        assert_eq!(
            got[3],
            Err(GoSumError {
                file: "go.sum".into(),
                line: 5,
                fields: 1
            })
        );
        // The first bad line ends the iteration.
        assert_eq!(parse_lines("go.sum", b"x\na b c\n").count(), 1);
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
