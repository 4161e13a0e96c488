//! GOPRIVATE / GONOPROXY / GONOSUMDB / GOINSECURE patterns
//! (`module.MatchPrefixPatterns`) and Go's `path.Match` underneath them.
//!
//! A pattern list is comma-separated; empty entries are ignored, one trailing
//! `/` per entry is ignored, and a glob with N slashes is matched against the
//! first N+1 `/`-separated elements of the module path, so `*.corp.example`
//! matches `git.corp.example/team/x` and `*` never crosses a `/`.
//!
//! ```
//! use gomod::pattern::{Patterns, match_prefix_patterns};
//! assert!(match_prefix_patterns("*.corp.example,rsc.io/private", "git.corp.example/x/y"));
//! let p = Patterns::parse("rsc.io/private,,*/internal/");
//! assert!(p.matches("rsc.io/private/v2"));
//! assert!(p.matches("example.com/internal/x"));
//! assert!(!p.matches("example.com/public"));
//! ```

use std::fmt;

/// A malformed `path.Match` pattern (Go's `path.ErrBadPattern`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {}", crate::quote::go_quote(.pattern))]
pub struct BadPattern {
    /// The offending pattern.
    pub pattern: String,
}

/// Decodes one UTF-8 character at the start of `b` the way Go's
/// `utf8.DecodeRune` does: invalid or truncated input yields U+FFFD with
/// width 1. Returns (char value, width); width 0 for empty input.
fn decode_rune(b: &[u8]) -> (u32, usize) {
    let Some(&first) = b.first() else {
        return (0xFFFD, 0);
    };
    let len = match first {
        0x00..=0x7F => return (u32::from(first), 1),
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (0xFFFD, 1),
    };
    match b.get(..len).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next().map_or(0xFFFD, u32::from), len),
        _ => (0xFFFD, 1),
    }
}

/// Splits off the next chunk: leading stars (collapsed), then the non-star
/// text up to the next star outside a `[...]` class (Go's `scanChunk`).
fn scan_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut p = pattern;
    let mut star = false;
    while let [b'*', rest @ ..] = p {
        p = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'\\' if i + 1 < p.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => return (star, &p[..i], &p[i..]),
            _ => {}
        }
        i += 1;
    }
    (star, p, &[])
}

/// A possibly escaped character inside a class (Go's `getEsc`).
fn get_esc(chunk: &[u8]) -> Result<(u32, &[u8]), ()> {
    let mut c = chunk;
    match c.first() {
        None | Some(b'-') | Some(b']') => return Err(()),
        Some(b'\\') => {
            c = &c[1..];
            if c.is_empty() {
                return Err(());
            }
        }
        _ => {}
    }
    let (r, n) = decode_rune(c);
    if r == 0xFFFD && n == 1 {
        return Err(());
    }
    let rest = &c[n..];
    if rest.is_empty() {
        return Err(());
    }
    Ok((r, rest))
}

/// Whether `chunk` (no stars) matches a prefix of `s`; returns the rest of
/// `s` (Go's `matchChunk`). The error depends only on the chunk.
fn match_chunk<'s>(chunk: &[u8], s: &'s [u8]) -> Result<Option<&'s [u8]>, ()> {
    let mut chunk = chunk;
    let mut s = s;
    let mut failed = false;
    while let Some(&c0) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c0 {
            b'[' => {
                let mut r = 0;
                if !failed {
                    let (rr, n) = decode_rune(s);
                    r = rr;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                let lit = if c0 == b'\\' {
                    chunk = &chunk[1..];
                    match chunk.first() {
                        Some(&c) => c,
                        None => return Err(()),
                    }
                } else {
                    c0
                };
                if !failed {
                    if lit != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

fn match_bytes(pattern: &[u8], name: &[u8]) -> Result<bool, ()> {
    let mut pattern = pattern;
    let mut name = name;
    'outer: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star matches the rest unless it has a '/'.
            return Ok(!name.contains(&b'/'));
        }
        let res = match_chunk(chunk, name);
        if let Ok(Some(t)) = res
            && (t.is_empty() || !pattern.is_empty())
        {
            name = t;
            continue;
        }
        res?;
        if star {
            // Try skipping i+1 bytes of name, never across a '/'.
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'outer;
                }
                i += 1;
            }
        }
        // No match; report a syntax error in the rest of the pattern if any.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Go's `path.Match`: whether `name` matches the shell pattern. `*` matches
/// any run of non-`/` characters, `?` one non-`/` character, `[...]` a class
/// (with `^` negation and `a-z` ranges), `\` escapes. Fails with
/// [`BadPattern`] on a malformed pattern, though, like Go, only once the
/// match gets far enough to notice.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    match_bytes(pattern.as_bytes(), name.as_bytes()).map_err(|()| BadPattern {
        pattern: pattern.to_string(),
    })
}

/// Whether `path.Match` would ever report `pattern` as malformed. A
/// malformed glob never matches anything.
fn glob_is_valid(pattern: &[u8]) -> bool {
    let mut p = pattern;
    while !p.is_empty() {
        let (_, chunk, rest) = scan_chunk(p);
        p = rest;
        if match_chunk(chunk, b"").is_err() {
            return false;
        }
    }
    true
}

/// Reports whether any path prefix of `target` matches one of the
/// comma-separated globs (`module.MatchPrefixPatterns`). Empty and malformed
/// globs are ignored; one trailing `/` on a glob is ignored.
pub fn match_prefix_patterns(globs: &str, target: &str) -> bool {
    globs
        .split(',')
        .map(|g| g.strip_suffix('/').unwrap_or(g))
        .filter(|g| !g.is_empty())
        .any(|g| glob_matches_prefix(g, target))
}

/// The first `slashes + 1` elements of `target`, or `None` if it has fewer.
fn prefix_elements(target: &str, slashes: usize) -> Option<&str> {
    let mut n = slashes;
    for (i, b) in target.bytes().enumerate() {
        if b == b'/' {
            if n == 0 {
                return Some(&target[..i]);
            }
            n -= 1;
        }
    }
    if n > 0 { None } else { Some(target) }
}

fn glob_matches_prefix(glob: &str, target: &str) -> bool {
    let n = glob.bytes().filter(|&b| b == b'/').count();
    match prefix_elements(target, n) {
        Some(prefix) => path_match(glob, prefix).unwrap_or(false),
        None => false,
    }
}

/// One glob of a [`Patterns`] list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob {
    text: String,
    slashes: usize,
}

/// A GOPRIVATE-style pattern list parsed once for repeated matching. Matches
/// exactly like [`match_prefix_patterns`] on the original string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Patterns {
    source: String,
    globs: Vec<Glob>,
    invalid: Vec<String>,
}

impl Patterns {
    /// Parses a comma-separated list. Never fails, as in Go; malformed
    /// globs are kept aside in [`Patterns::invalid`] so a caller (the
    /// doctor) can warn about them, and never match.
    pub fn parse(globs: &str) -> Self {
        let mut out = Patterns {
            source: globs.to_string(),
            ..Default::default()
        };
        for g in globs.split(',') {
            let g = g.strip_suffix('/').unwrap_or(g);
            if g.is_empty() {
                continue;
            }
            if glob_is_valid(g.as_bytes()) {
                out.globs.push(Glob {
                    text: g.to_string(),
                    slashes: g.bytes().filter(|&b| b == b'/').count(),
                });
            } else {
                out.invalid.push(g.to_string());
            }
        }
        out
    }

    /// Whether some prefix of `target` matches one of the globs.
    pub fn matches(&self, target: &str) -> bool {
        self.globs.iter().any(|g| {
            prefix_elements(target, g.slashes)
                .is_some_and(|p| match_bytes(g.text.as_bytes(), p.as_bytes()) == Ok(true))
        })
    }

    /// Whether no usable glob is present (an unset variable, or only empty
    /// or malformed entries).
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// The usable globs (trailing `/` removed).
    pub fn globs(&self) -> impl Iterator<Item = &str> {
        self.globs.iter().map(|g| g.text.as_str())
    }

    /// Globs Go silently ignores because they are malformed (`a[`, `x\`).
    pub fn invalid(&self) -> &[String] {
        &self.invalid
    }

    /// Whether the list certainly matches every module path: some glob
    /// without a `/` consists only of `*` (`*`, `**`, `*/` after trimming).
    /// Such a setting (e.g. `GOPRIVATE=*` or `GONOSUMDB=*`) turns the proxy
    /// or the checksum database off for everything, which the doctor flags.
    /// Globs like `*/*` only cover paths with two or more elements and are
    /// not counted; other exotic globs that happen to match everything
    /// (`?*`, `[!-~]*`...) are not detected either.
    pub fn matches_everything(&self) -> bool {
        self.globs
            .iter()
            .any(|g| g.slashes == 0 && g.text.bytes().all(|b| b == b'*'))
    }

    /// The text this was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for Patterns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Patterns {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Patterns::parse(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // golang.org/x/mod/module MatchPrefixPatterns vectors.
    const PREFIX: &[(&str, &str, bool)] = &[
        ("", "rsc.io/quote", false),
        ("/", "rsc.io/quote", false),
        ("*/quote", "rsc.io/quote", true),
        ("*/quo", "rsc.io/quote", false),
        ("*/quo??", "rsc.io/quote", true),
        ("*/quo*", "rsc.io/quote", true),
        ("*quo*", "rsc.io/quote", false),
        ("rsc.io", "rsc.io/quote", true),
        ("*.io", "rsc.io/quote", true),
        ("rsc.io/", "rsc.io/quote", true),
        ("rsc", "rsc.io/quote", false),
        ("rsc*", "rsc.io/quote", true),
        ("rsc.io", "rsc.io/quote/v3", true),
        ("*/quote", "rsc.io/quote/v3", true),
        ("*/quote/", "rsc.io/quote/v3", true),
        ("*/quote/*", "rsc.io/quote/v3", true),
        ("*/quote/*/", "rsc.io/quote/v3", true),
        ("*/v3", "rsc.io/quote/v3", false),
        ("*/*/v3", "rsc.io/quote/v3", true),
        ("*/*/*", "rsc.io/quote/v3", true),
        ("*/*/*/", "rsc.io/quote/v3", true),
        ("*/*/*", "rsc.io/quote", false),
        ("*/*/*/", "rsc.io/quote", false),
        ("*/*/*,,", "rsc.io/quote", false),
        ("*/*/*,,*/quote", "rsc.io/quote", true),
        (",,*/quote", "rsc.io/quote", true),
    ];

    #[test]
    fn prefix_patterns_table() {
        for (globs, target, want) in PREFIX {
            assert_eq!(
                match_prefix_patterns(globs, target),
                *want,
                "({globs}, {target})"
            );
            assert_eq!(
                Patterns::parse(globs).matches(target),
                *want,
                "({globs}, {target})"
            );
        }
    }

    // Go's path.Match vectors (path/match_test.go): (pattern, name, match, bad).
    const MATCH: &[(&str, &str, bool, bool)] = &[
        ("abc", "abc", true, false),
        ("*", "abc", true, false),
        ("*c", "abc", true, false),
        ("a*", "a", true, false),
        ("a*", "abc", true, false),
        ("a*", "ab/c", false, false),
        ("a*/b", "abc/b", true, false),
        ("a*/b", "a/c/b", false, false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true, false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true, false),
        ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
        ("ab[c]", "abc", true, false),
        ("ab[b-d]", "abc", true, false),
        ("ab[e-g]", "abc", false, false),
        ("ab[^c]", "abc", false, false),
        ("ab[^b-d]", "abc", false, false),
        ("ab[^e-g]", "abc", true, false),
        ("a\\*b", "a*b", true, false),
        ("a\\*b", "ab", false, false),
        ("a?b", "a☺b", true, false),
        ("a[^a]b", "a☺b", true, false),
        ("a???b", "a☺b", false, false),
        ("a[^a][^a][^a]b", "a☺b", false, false),
        ("[a-ζ]*", "α", true, false),
        ("*[a-ζ]", "A", false, false),
        ("a?b", "a/b", false, false),
        ("a*b", "a/b", false, false),
        ("[\\]a]", "]", true, false),
        ("[\\-]", "-", true, false),
        ("[x\\-]", "x", true, false),
        ("[x\\-]", "-", true, false),
        ("[x\\-]", "z", false, false),
        ("[\\-x]", "x", true, false),
        ("[\\-x]", "-", true, false),
        ("[\\-x]", "a", false, false),
        ("[]a]", "]", false, true),
        ("[-]", "-", false, true),
        ("[x-]", "x", false, true),
        ("[x-]", "-", false, true),
        ("[x-]", "z", false, true),
        ("[-x]", "x", false, true),
        ("[-x]", "-", false, true),
        ("[-x]", "a", false, true),
        ("\\", "a", false, true),
        ("[a-b-c]", "a", false, true),
        ("[", "a", false, true),
        ("[^", "a", false, true),
        ("[^bc", "a", false, true),
        ("a[", "a", false, true),
        ("a[", "ab", false, true),
        ("a[", "x", false, true),
        ("a/b[", "x", false, true),
        ("*x", "xxx", true, false),
    ];

    #[test]
    fn path_match_table() {
        for (pattern, name, want, bad) in MATCH {
            let got = path_match(pattern, name);
            if *bad {
                assert!(
                    got.is_err(),
                    "Match({pattern:?}, {name:?}) = {got:?}, want error"
                );
            } else {
                assert_eq!(got, Ok(*want), "Match({pattern:?}, {name:?})");
            }
        }
    }

    #[test]
    fn invalid_globs_are_set_aside() {
        let p = Patterns::parse("a[,rsc.io,x\\");
        assert_eq!(p.invalid(), ["a[", "x\\"]);
        assert_eq!(p.globs().collect::<Vec<_>>(), ["rsc.io"]);
        assert!(p.matches("rsc.io/quote"));
        assert!(!p.matches("a/b"));
        assert_eq!(p.to_string(), "a[,rsc.io,x\\");
    }

    #[test]
    fn matches_everything_rules() {
        for (globs, want) in [
            ("*", true),
            ("**/", true),
            ("example.com,*", true),
            ("*/*", false),
            ("*.com", false),
            ("", false),
            (",", false),
        ] {
            assert_eq!(Patterns::parse(globs).matches_everything(), want, "{globs}");
        }
        assert!(Patterns::parse(",,").is_empty());
    }

    #[test]
    fn multibyte_never_panics() {
        for (p, n) in [
            ("é", "é"),
            ("\\é", "é"),
            ("[é]", "é"),
            ("?", "é"),
            ("é?", "éé"),
            ("[^a]x", "éx"),
            ("*é", "aé"),
            ("a", "é"),
        ] {
            let _ = path_match(p, n);
        }
        assert_eq!(path_match("[é]", "é"), Ok(true));
        assert_eq!(path_match("?", "é"), Ok(true));
        assert_eq!(path_match("\\é", "é"), Ok(true));
    }
}
