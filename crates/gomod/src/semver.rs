//! Go's flavour of semantic versioning (`golang.org/x/mod/semver`) plus the
//! go command's pseudo-versions (`golang.org/x/mod/module/pseudo.go`) and
//! `+incompatible` handling.
//!
//! The free functions mirror Go's API one to one and keep its conventions: a
//! function asked about an invalid version returns the empty string (or
//! [`Ordering::Less`] in comparisons), exactly as Go does, so that code ported
//! from the go command behaves the same. [`Version`] is the validated type for
//! new code.
//!
//! Differences from strict SemVer 2.0.0 that Go has and we keep: the leading
//! `v` is required; `v1` and `v1.2` are accepted as shorthands for `v1.0.0`
//! and `v1.2.0` (but cannot carry a prerelease or build suffix); build
//! metadata is ignored by comparisons.
//!
//! ```
//! use gomod::semver;
//! assert_eq!(semver::canonical("v1.2"), "v1.2.0");
//! assert!(semver::compare("v1.0.0-rc.1", "v1.0.0").is_lt());
//! assert!(semver::is_pseudo_version("v0.0.0-20191109021931-daa7c04131f5"));
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a version was rejected. `Display` matches Go's
/// `module.InvalidVersionError`: `version "v1.x" invalid: not a semantic version`
/// or `pseudo-version "..." invalid: syntax error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {} invalid: {reason}", noun(*.pseudo), crate::quote::go_quote(.version))]
pub struct VersionError {
    /// The offending version string.
    pub version: String,
    /// Whether the version was being treated as a pseudo-version.
    pub pseudo: bool,
    /// What was wrong with it.
    pub reason: VersionErrorReason,
}

fn noun(pseudo: bool) -> &'static str {
    if pseudo { "pseudo-version" } else { "version" }
}

/// The specific problem inside a [`VersionError`]. `Display` gives Go's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionErrorReason {
    /// Not valid Go semver at all.
    #[error("not a semantic version")]
    NotSemver,
    /// Not a pseudo-version (Go's `errPseudoSyntax`).
    #[error("syntax error")]
    PseudoSyntax,
    /// The pseudo-version's 14-digit timestamp is not a real date and time.
    #[error("malformed time {}", crate::quote::go_quote(.0))]
    MalformedTime(String),
    /// `vX.0.0-yyyymmddhhmmss-abcdef123456+meta`: no base, yet build metadata.
    #[error("lacks base version, but has build metadata {}", crate::quote::go_quote(.0))]
    BuildWithoutBase(String),
    /// `vX.Y.0-0.yyyymmddhhmmss-...`: the base would have patch number -1.
    #[error("version before {0} would have negative patch number")]
    NegativePatch(String),
    /// The major version does not match the module path's major suffix.
    #[error("should be {want}, not {got}")]
    WrongMajor {
        /// What the path allows (`v2`, `v0 or v1`, ...).
        want: String,
        /// The version's major (empty if the version is not valid semver).
        got: String,
    },
    /// Not usable as a version in a file name or URL (Go's `EscapeVersion`).
    #[error("disallowed version string")]
    Disallowed,
}

impl VersionError {
    pub(crate) fn new(version: &str, pseudo: bool, reason: VersionErrorReason) -> Self {
        VersionError {
            version: version.to_string(),
            pseudo,
            reason,
        }
    }
}

/// The pieces of a valid version, as slices of the input (or of the
/// shorthand's implied zeros).
#[derive(Debug, Clone, Copy)]
struct Parsed<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    short: &'static str,
    prerelease: &'a str,
    build: &'a str,
}

/// Parses `v`. All slicing below happens at positions of ASCII bytes, so it
/// cannot split a multi-byte character.
fn parse(v: &str) -> Option<Parsed<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = parse_int(rest)?;
    if rest.is_empty() {
        return Some(Parsed {
            major,
            minor: "0",
            patch: "0",
            short: ".0.0",
            prerelease: "",
            build: "",
        });
    }
    let rest = rest.strip_prefix('.')?;
    let (minor, rest) = parse_int(rest)?;
    if rest.is_empty() {
        return Some(Parsed {
            major,
            minor,
            patch: "0",
            short: ".0",
            prerelease: "",
            build: "",
        });
    }
    let rest = rest.strip_prefix('.')?;
    let (patch, mut rest) = parse_int(rest)?;
    let mut prerelease = "";
    let mut build = "";
    if rest.starts_with('-') {
        let (p, r) = parse_prerelease(rest)?;
        prerelease = p;
        rest = r;
    }
    if rest.starts_with('+') {
        let (b, r) = parse_build(rest)?;
        build = b;
        rest = r;
    }
    if !rest.is_empty() {
        return None;
    }
    Some(Parsed {
        major,
        minor,
        patch,
        short: "",
        prerelease,
        build,
    })
}

fn parse_int(v: &str) -> Option<(&str, &str)> {
    let b = v.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return None;
    }
    let mut i = 1;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if b[0] == b'0' && i != 1 {
        return None;
    }
    Some((&v[..i], &v[i..]))
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn is_bad_num(v: &[u8]) -> bool {
    v.len() > 1 && v[0] == b'0' && v.iter().all(u8::is_ascii_digit)
}

fn is_num(v: &[u8]) -> bool {
    v.iter().all(u8::is_ascii_digit)
}

fn parse_prerelease(v: &str) -> Option<(&str, &str)> {
    let b = v.as_bytes();
    if b.first() != Some(&b'-') {
        return None;
    }
    let mut i = 1;
    let mut start = 1;
    while i < b.len() && b[i] != b'+' {
        if !is_ident_char(b[i]) && b[i] != b'.' {
            return None;
        }
        if b[i] == b'.' {
            if start == i || is_bad_num(&b[start..i]) {
                return None;
            }
            start = i + 1;
        }
        i += 1;
    }
    if start == i || is_bad_num(&b[start..i]) {
        return None;
    }
    Some((&v[..i], &v[i..]))
}

fn parse_build(v: &str) -> Option<(&str, &str)> {
    let b = v.as_bytes();
    if b.first() != Some(&b'+') {
        return None;
    }
    let mut i = 1;
    let mut start = 1;
    while i < b.len() {
        if !is_ident_char(b[i]) && b[i] != b'.' {
            return None;
        }
        if b[i] == b'.' {
            if start == i {
                return None;
            }
            start = i + 1;
        }
        i += 1;
    }
    if start == i {
        return None;
    }
    Some((&v[..i], &v[i..]))
}

/// Reports whether `v` is a valid Go semantic version (`semver.IsValid`).
pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

/// The canonical form of `v` (`semver.Canonical`): shorthands are expanded and
/// build metadata is dropped (`v1.2+x` is invalid; `v1.2.3+x` -> `v1.2.3`).
/// Returns the empty string for an invalid version, like Go.
pub fn canonical(v: &str) -> String {
    match parse(v) {
        None => String::new(),
        Some(p) if !p.build.is_empty() => v[..v.len() - p.build.len()].to_string(),
        Some(p) => format!("{v}{}", p.short),
    }
}

/// Like [`canonical`] but keeps a `+incompatible` suffix
/// (`module.CanonicalVersion`).
pub fn canonical_version(v: &str) -> String {
    let mut cv = canonical(v);
    if build(v) == "+incompatible" {
        cv.push_str("+incompatible");
    }
    cv
}

/// The major version prefix (`v2` for `v2.1.0`), or `""` if invalid
/// (`semver.Major`).
pub fn major(v: &str) -> &str {
    match parse(v) {
        Some(p) => &v[..1 + p.major.len()],
        None => "",
    }
}

/// The `vMAJOR.MINOR` prefix (`v2.1` for `v2.1.0`, `v1.0` for `v1`), or `""`
/// if invalid (`semver.MajorMinor`).
pub fn major_minor(v: &str) -> String {
    let Some(p) = parse(v) else {
        return String::new();
    };
    let i = 1 + p.major.len();
    let j = i + 1 + p.minor.len();
    let b = v.as_bytes();
    if j <= b.len() && b[i] == b'.' && &v[i + 1..j] == p.minor {
        return v[..j].to_string();
    }
    format!("{}.{}", &v[..i], p.minor)
}

/// The prerelease suffix including its `-` (`-rc.1`), or `""` (`semver.Prerelease`).
pub fn prerelease(v: &str) -> &str {
    parse(v).map_or("", |p| p.prerelease)
}

/// The build suffix including its `+` (`+incompatible`), or `""` (`semver.Build`).
pub fn build(v: &str) -> &str {
    parse(v).map_or("", |p| p.build)
}

fn compare_int(x: &str, y: &str) -> Ordering {
    // Both are digit strings without leading zeros, so length decides first.
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

fn compare_prerelease(x: &str, y: &str) -> Ordering {
    if x == y {
        return Ordering::Equal;
    }
    if x.is_empty() {
        return Ordering::Greater;
    }
    if y.is_empty() {
        return Ordering::Less;
    }
    // Both start with '-'; identifiers are separated by '.'. Skipping the
    // first byte of each is what Go does (it skips the '-' or '.').
    let mut xi = x[1..].split('.');
    let mut yi = y[1..].split('.');
    loop {
        match (xi.next(), yi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(dx), Some(dy)) => {
                if dx == dy {
                    continue;
                }
                let ix = is_num(dx.as_bytes());
                let iy = is_num(dy.as_bytes());
                if ix != iy {
                    return if ix {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                }
                if ix && dx.len() != dy.len() {
                    return dx.len().cmp(&dy.len());
                }
                return dx.cmp(dy);
            }
        }
    }
}

/// Compares two versions by precedence (`semver.Compare`). An invalid version
/// is less than any valid one, and two invalid versions compare equal. Build
/// metadata is ignored, so `v1.0.0+a` and `v1.0.0+b` are equal.
pub fn compare(v: &str, w: &str) -> Ordering {
    match (parse(v), parse(w)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(pv), Some(pw)) => compare_int(pv.major, pw.major)
            .then_with(|| compare_int(pv.minor, pw.minor))
            .then_with(|| compare_int(pv.patch, pw.patch))
            .then_with(|| compare_prerelease(pv.prerelease, pw.prerelease)),
    }
}

/// The larger of two versions, in canonical form (`semver.Max`). For two
/// invalid versions the result is `""`.
pub fn max(v: &str, w: &str) -> String {
    let v = canonical(v);
    let w = canonical(w);
    if compare(&v, &w) == Ordering::Greater {
        v
    } else {
        w
    }
}

/// [`compare`] with ties broken by plain string comparison: the total order
/// used by `semver.Sort` and the go command's `SortVersions`.
pub fn compare_for_sort(a: &str, b: &str) -> Ordering {
    compare(a, b).then_with(|| a.cmp(b))
}

/// Sorts like Go's `semver.Sort`: by precedence, ties by string; invalid
/// versions first (ordered by string among themselves).
pub fn sort<S: AsRef<str>>(list: &mut [S]) {
    list.sort_by(|a, b| compare_for_sort(a.as_ref(), b.as_ref()));
}

/// Orders a version list the way `go list -m -versions` and the proxy client
/// order `@v/list` (`modfetch.SortVersions`: precedence, ties by string). That
/// is the same order as [`sort`]. The go command also drops invalid and
/// pseudo-versions from a proxy's list first: see [`go_list_versions`].
pub fn sort_versions_like_go_list(list: &mut [String]) {
    sort(list);
}

/// Turns the body of a proxy's `@v/list` response into the versions the go
/// command uses (`proxyRepo.Versions`): the first whitespace-separated field
/// of each line, kept if it is valid semver, starts with `prefix` and is not a
/// pseudo-version; then sorted with [`sort_versions_like_go_list`]. Duplicates
/// are kept, as in Go.
pub fn go_list_versions(body: &str, prefix: &str) -> Vec<String> {
    let mut list: Vec<String> = body
        .split('\n')
        .filter_map(|line| line.split_whitespace().next())
        .filter(|f| is_valid(f) && f.starts_with(prefix) && !is_pseudo_version(f))
        .map(str::to_string)
        .collect();
    sort_versions_like_go_list(&mut list);
    list
}

/// Reports whether `v` carries the `+incompatible` build suffix (a v2+ tag of
/// a repository without a go.mod-declared major suffix).
pub fn is_incompatible(v: &str) -> bool {
    build(v) == "+incompatible"
}

/// Removes a trailing `+incompatible` (only that build suffix) from `v`.
pub fn strip_incompatible(v: &str) -> &str {
    if is_incompatible(v) {
        &v[..v.len() - "+incompatible".len()]
    } else {
        v
    }
}

// ---------------------------------------------------------------------------
// Pseudo-versions

/// Length of the `yyyymmddhhmmss` timestamp inside a pseudo-version (Go's
/// `PseudoVersionTimestampFormat`, `20060102150405`); always UTC.
pub const PSEUDO_VERSION_TIMESTAMP_LEN: usize = 14;

/// Matches `\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`.
fn pseudo_tail_ok(t: &[u8]) -> bool {
    if t.len() < 16 || !t[..14].iter().all(u8::is_ascii_digit) || t[14] != b'-' {
        return false;
    }
    let t = &t[15..];
    let rev_len = t.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    if rev_len == 0 {
        return false;
    }
    let t = &t[rev_len..];
    if t.is_empty() {
        return true;
    }
    if t[0] != b'+' {
        return false;
    }
    let build = &t[1..];
    build
        .split(|&c| c == b'.')
        .all(|part| !part.is_empty() && part.iter().all(|&c| is_ident_char(c)))
}

/// Go's `pseudoVersionRE`, written out by hand:
/// `^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`
fn pseudo_re_matches(v: &[u8]) -> bool {
    fn digits(b: &[u8]) -> usize {
        b.iter().take_while(|c| c.is_ascii_digit()).count()
    }
    if v.first() != Some(&b'v') {
        return false;
    }
    let n = digits(&v[1..]);
    if n == 0 || v.get(1 + n) != Some(&b'.') {
        return false;
    }
    let rest = &v[2 + n..];
    // Alternative 1: 0.0-
    if rest.starts_with(b"0.0-") && pseudo_tail_ok(&rest[4..]) {
        return true;
    }
    // Alternative 2: \d+\.\d+- ([^+]*\.)? 0\.
    let a = digits(rest);
    if a == 0 || rest.get(a) != Some(&b'.') {
        return false;
    }
    let rest = &rest[a + 1..];
    let b = digits(rest);
    if b == 0 || rest.get(b) != Some(&b'-') {
        return false;
    }
    let r = &rest[b + 1..];
    // Try every place the "0." could start. Before it comes either nothing or
    // a '+'-free run ending in '.'; once a '+' has been passed, no later start
    // can qualify.
    for p in 0..r.len() {
        if p > 0 {
            match r[p - 1] {
                b'+' => break,
                b'.' => {}
                _ => continue,
            }
        }
        if r[p..].starts_with(b"0.") && pseudo_tail_ok(&r[p + 2..]) {
            return true;
        }
    }
    false
}

/// Reports whether `v` is a pseudo-version (`module.IsPseudoVersion`), in any
/// of the three forms `vX.0.0-yyyymmddhhmmss-abcdef123456`,
/// `vX.Y.Z-pre.0.yyyymmddhhmmss-abcdef123456` and
/// `vX.Y.(Z+1)-0.yyyymmddhhmmss-abcdef123456` (each optionally with
/// `+incompatible` or other build metadata).
pub fn is_pseudo_version(v: &str) -> bool {
    v.matches('-').count() >= 2 && is_valid(v) && pseudo_re_matches(v.as_bytes())
}

/// The parts of a pseudo-version: (base, timestamp, rev, build).
fn parse_pseudo(v: &str) -> Result<(&str, &str, &str, &str), VersionError> {
    let syntax = || VersionError::new(v, true, VersionErrorReason::PseudoSyntax);
    if !is_pseudo_version(v) {
        return Err(syntax());
    }
    let build = build(v);
    let rest = &v[..v.len() - build.len()];
    let j = rest.rfind('-').ok_or_else(syntax)?;
    let (rest, rev) = (&rest[..j], &rest[j + 1..]);
    let i = rest.rfind('-').ok_or_else(syntax)?;
    let (base, timestamp) = match rest.rfind('.') {
        Some(d) if d > i => (&rest[..d], &rest[d + 1..]),
        _ => (&rest[..i], &rest[i + 1..]),
    };
    Ok((base, timestamp, rev, build))
}

/// The 14-digit `yyyymmddhhmmss` timestamp of a pseudo-version, unchecked as
/// a date.
pub fn pseudo_version_timestamp(v: &str) -> Result<&str, VersionError> {
    parse_pseudo(v).map(|(_, ts, _, _)| ts)
}

/// The time stamp of a pseudo-version, in UTC (`module.PseudoVersionTime`).
/// Fails if `v` is not a pseudo-version or the stamp is not a real time
/// (month 13, February 30, hour 24, ...), like Go's `time.Parse`.
pub fn pseudo_version_time(v: &str) -> Result<time::OffsetDateTime, VersionError> {
    let ts = pseudo_version_timestamp(v)?;
    parse_timestamp(ts)
        .ok_or_else(|| VersionError::new(v, true, VersionErrorReason::MalformedTime(ts.into())))
}

fn parse_timestamp(ts: &str) -> Option<time::OffsetDateTime> {
    let b = ts.as_bytes();
    if b.len() != 14 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        b[r].iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'))
    };
    let year = i32::try_from(num(0..4)).ok()?;
    let month = time::Month::try_from(u8::try_from(num(4..6)).ok()?).ok()?;
    let day = u8::try_from(num(6..8)).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(
        u8::try_from(num(8..10)).ok()?,
        u8::try_from(num(10..12)).ok()?,
        u8::try_from(num(12..14)).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc())
}

/// The revision identifier (usually a 12-character commit hash prefix) of a
/// pseudo-version (`module.PseudoVersionRev`).
pub fn pseudo_version_rev(v: &str) -> Result<&str, VersionError> {
    parse_pseudo(v).map(|(_, _, rev, _)| rev)
}

/// The canonical tagged version a pseudo-version is based on
/// (`module.PseudoVersionBase`): `""` for `vX.0.0-...` (no base),
/// `vX.Y.Z` for `vX.Y.(Z+1)-0.…`, `vX.Y.Z-pre` for `vX.Y.Z-pre.0.…`; build
/// metadata such as `+incompatible` is carried over.
pub fn pseudo_version_base(v: &str) -> Result<String, VersionError> {
    let (base, _, _, build) = parse_pseudo(v)?;
    let pre = prerelease(base);
    let err = |reason| VersionError::new(v, true, reason);
    match pre {
        "" => {
            if !build.is_empty() {
                return Err(err(VersionErrorReason::BuildWithoutBase(build.into())));
            }
            Ok(String::new())
        }
        "-0" => {
            let base = &base[..base.len() - pre.len()];
            let i = base
                .rfind('.')
                .ok_or_else(|| err(VersionErrorReason::PseudoSyntax))?;
            let patch = dec_decimal(&base[i + 1..]);
            if patch.is_empty() {
                return Err(err(VersionErrorReason::NegativePatch(base.to_string())));
            }
            Ok(format!("{}{patch}{build}", &base[..i + 1]))
        }
        _ => match base.strip_suffix(".0") {
            Some(b) => Ok(format!("{b}{build}")),
            None => Err(err(VersionErrorReason::PseudoSyntax)),
        },
    }
}

/// Builds a pseudo-version (`module.PseudoVersion`) from the major version
/// (`"v1"`, or `""` for v0), the closest older tag (`""`, `"v1.2.3"` or
/// `"v1.2.3-pre"`, possibly `+incompatible`), the commit time and revision.
pub fn pseudo_version(major: &str, older: &str, t: time::OffsetDateTime, rev: &str) -> String {
    let major = if major.is_empty() { "v0" } else { major };
    let t = t.to_offset(time::UtcOffset::UTC);
    let segment = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}-{rev}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let build = build(older);
    let older = canonical(older);
    if older.is_empty() {
        return format!("{major}.0.0-{segment}");
    }
    if !prerelease(&older).is_empty() {
        return format!("{older}.0.{segment}{build}");
    }
    let i = older.rfind('.').map_or(0, |i| i + 1);
    let (v, patch) = older.split_at(i);
    format!("{v}{}-0.{segment}{build}", inc_decimal(patch))
}

/// Reports whether `v` is the placeholder `vX.0.0-00010101000000-000000000000`
/// (`module.IsZeroPseudoVersion`).
pub fn is_zero_pseudo_version(v: &str) -> bool {
    let m = major(v);
    let m = if m.is_empty() { "v0" } else { m };
    v == format!("{m}.0.0-00010101000000-000000000000")
}

/// The decimal string plus one (`"99"` -> `"100"`).
fn inc_decimal(decimal: &str) -> String {
    let mut digits = decimal.as_bytes().to_vec();
    let mut i = digits.len();
    while i > 0 && digits[i - 1] == b'9' {
        digits[i - 1] = b'0';
        i -= 1;
    }
    if i > 0 {
        digits[i - 1] += 1;
    } else if digits.is_empty() {
        digits.push(b'1');
    } else {
        digits[0] = b'1';
        digits.push(b'0');
    }
    String::from_utf8(digits).unwrap_or_default()
}

/// The decimal string minus one, or `""` if it is all zeros.
fn dec_decimal(decimal: &str) -> String {
    let mut digits = decimal.as_bytes().to_vec();
    let mut i = digits.len();
    while i > 0 && digits[i - 1] == b'0' {
        digits[i - 1] = b'9';
        i -= 1;
    }
    if i == 0 {
        return String::new();
    }
    if i == 1 && digits[0] == b'1' && digits.len() > 1 {
        digits.remove(0);
    } else {
        digits[i - 1] -= 1;
    }
    String::from_utf8(digits).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Version newtype

/// A valid Go semantic version (not necessarily canonical: `v1.2` and
/// `v1.2.3+meta` are valid too; see [`Version::is_canonical`]).
///
/// `Ord` is Go's precedence ([`compare`]) with ties broken by the string, so
/// it is a total order consistent with `Eq` (which compares strings):
/// `v1.0.0+a < v1.0.0+b`, and `v1.2 < v1.2.0` although they have equal
/// precedence. Serialized as a plain string.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Version(String);

impl Version {
    /// Validates `v`.
    pub fn new(v: impl Into<String>) -> Result<Self, VersionError> {
        let v = v.into();
        if is_valid(&v) {
            Ok(Version(v))
        } else {
            Err(VersionError {
                version: v,
                pseudo: false,
                reason: VersionErrorReason::NotSemver,
            })
        }
    }

    /// The version text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the version, returning its text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The canonical form ([`canonical_version`]: keeps `+incompatible`).
    pub fn canonical(&self) -> Version {
        Version(canonical_version(&self.0))
    }

    /// Whether the text is already in the form [`Version::canonical`] gives,
    /// i.e. what proxies must serve (`vX.Y.Z[-pre][+incompatible]`).
    pub fn is_canonical(&self) -> bool {
        canonical_version(&self.0) == self.0
    }

    /// The major version prefix, like `v2`.
    pub fn major(&self) -> &str {
        major(&self.0)
    }

    /// The prerelease suffix, with its `-`, or `""`.
    pub fn prerelease(&self) -> &str {
        prerelease(&self.0)
    }

    /// The build suffix, with its `+`, or `""`.
    pub fn build(&self) -> &str {
        build(&self.0)
    }

    /// Whether this is a pseudo-version.
    pub fn is_pseudo(&self) -> bool {
        is_pseudo_version(&self.0)
    }

    /// Whether it carries `+incompatible`.
    pub fn is_incompatible(&self) -> bool {
        is_incompatible(&self.0)
    }

    /// Whether it is a prerelease (including pseudo-versions).
    pub fn is_prerelease(&self) -> bool {
        !self.prerelease().is_empty()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_for_sort(&self.0, &other.0)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({:?})", self.0)
    }
}

impl AsRef<str> for Version {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::new(s)
    }
}

impl TryFrom<String> for Version {
    type Error = VersionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Version::new(s)
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.0
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // (input, canonical form or "" if invalid), in increasing order: the
    // vectors of golang.org/x/mod/semver's tests.
    const TESTS: &[(&str, &str)] = &[
        ("bad", ""),
        ("v1-alpha.beta.gamma", ""),
        ("v1-pre", ""),
        ("v1+meta", ""),
        ("v1-pre+meta", ""),
        ("v1.2-pre", ""),
        ("v1.2+meta", ""),
        ("v1.2-pre+meta", ""),
        ("v1.0.0-alpha", "v1.0.0-alpha"),
        ("v1.0.0-alpha.1", "v1.0.0-alpha.1"),
        ("v1.0.0-alpha.beta", "v1.0.0-alpha.beta"),
        ("v1.0.0-beta", "v1.0.0-beta"),
        ("v1.0.0-beta.2", "v1.0.0-beta.2"),
        ("v1.0.0-beta.11", "v1.0.0-beta.11"),
        ("v1.0.0-rc.1", "v1.0.0-rc.1"),
        ("v1", "v1.0.0"),
        ("v1.0", "v1.0.0"),
        ("v1.0.0", "v1.0.0"),
        ("v1.2", "v1.2.0"),
        ("v1.2.0", "v1.2.0"),
        ("v1.2.3-456", "v1.2.3-456"),
        ("v1.2.3-456.789", "v1.2.3-456.789"),
        ("v1.2.3-456-789", "v1.2.3-456-789"),
        ("v1.2.3-456a", "v1.2.3-456a"),
        ("v1.2.3-pre", "v1.2.3-pre"),
        ("v1.2.3-pre+meta", "v1.2.3-pre"),
        ("v1.2.3-pre.1", "v1.2.3-pre.1"),
        ("v1.2.3-zzz", "v1.2.3-zzz"),
        ("v1.2.3", "v1.2.3"),
        ("v1.2.3+meta", "v1.2.3"),
        ("v1.2.3+meta-pre", "v1.2.3"),
        ("v1.2.3+meta-pre.sha.256a", "v1.2.3"),
    ];

    #[test]
    fn is_valid_table() {
        for (input, out) in TESTS {
            assert_eq!(is_valid(input), !out.is_empty(), "{input}");
        }
    }

    #[test]
    fn canonical_table() {
        for (input, out) in TESTS {
            assert_eq!(canonical(input), *out, "{input}");
        }
    }

    #[test]
    fn major_table() {
        for (input, out) in TESTS {
            let want = out.split_once('.').map_or("", |(m, _)| m);
            assert_eq!(major(input), want, "{input}");
        }
    }

    #[test]
    fn major_minor_table() {
        for (input, out) in TESTS {
            let mut want = String::new();
            if !out.is_empty() {
                want = input.to_string();
                if let Some(i) = want.find('+') {
                    want.truncate(i);
                }
                if let Some(i) = want.find('-') {
                    want.truncate(i);
                }
                match want.matches('.').count() {
                    0 => want.push_str(".0"),
                    1 => {}
                    _ => {
                        let i = want.rfind('.').unwrap();
                        want.truncate(i);
                    }
                }
            }
            assert_eq!(major_minor(input), want, "{input}");
        }
    }

    #[test]
    fn prerelease_and_build_tables() {
        for (input, out) in TESTS {
            let want_pre = if out.is_empty() {
                ""
            } else {
                out.find('-').map_or("", |i| &out[i..])
            };
            assert_eq!(prerelease(input), want_pre, "{input}");
            let want_build = if out.is_empty() {
                ""
            } else {
                input.find('+').map_or("", |i| &input[i..])
            };
            assert_eq!(build(input), want_build, "{input}");
        }
    }

    #[test]
    fn compare_table() {
        for (i, (vi, oi)) in TESTS.iter().enumerate() {
            for (j, (vj, oj)) in TESTS.iter().enumerate() {
                let want = if oi == oj { Ordering::Equal } else { i.cmp(&j) };
                assert_eq!(compare(vi, vj), want, "compare({vi}, {vj})");
            }
        }
    }

    #[test]
    fn max_table() {
        for (i, (vi, _)) in TESTS.iter().enumerate() {
            for (j, (vj, _)) in TESTS.iter().enumerate() {
                let want = if i < j { canonical(vj) } else { canonical(vi) };
                assert_eq!(max(vi, vj), want, "max({vi}, {vj})");
            }
        }
    }

    #[test]
    fn sort_golden() {
        let mut versions: Vec<&str> = TESTS.iter().map(|(v, _)| *v).collect();
        versions.reverse();
        versions.swap(3, 17);
        sort(&mut versions);
        let golden = [
            "bad",
            "v1+meta",
            "v1-alpha.beta.gamma",
            "v1-pre",
            "v1-pre+meta",
            "v1.2+meta",
            "v1.2-pre",
            "v1.2-pre+meta",
            "v1.0.0-alpha",
            "v1.0.0-alpha.1",
            "v1.0.0-alpha.beta",
            "v1.0.0-beta",
            "v1.0.0-beta.2",
            "v1.0.0-beta.11",
            "v1.0.0-rc.1",
            "v1",
            "v1.0",
            "v1.0.0",
            "v1.2",
            "v1.2.0",
            "v1.2.3-456",
            "v1.2.3-456.789",
            "v1.2.3-456-789",
            "v1.2.3-456a",
            "v1.2.3-pre",
            "v1.2.3-pre+meta",
            "v1.2.3-pre.1",
            "v1.2.3-zzz",
            "v1.2.3",
            "v1.2.3+meta",
            "v1.2.3+meta-pre",
            "v1.2.3+meta-pre.sha.256a",
        ];
        assert_eq!(versions, golden);
    }

    #[test]
    fn go_list_filters_and_sorts() {
        let body = "v1.10.0\nv1.2.0 2019-01-01T00:00:00Z\n\n  v1.9.0-rc.1  \nbad\n\
                    v1.0.0-20190101000000-abcdefabcdef\nv2.0.0+incompatible\nv1.2.0\n";
        assert_eq!(
            go_list_versions(body, ""),
            [
                "v1.2.0",
                "v1.2.0",
                "v1.9.0-rc.1",
                "v1.10.0",
                "v2.0.0+incompatible"
            ]
        );
        assert_eq!(go_list_versions(body, "v1.1"), ["v1.10.0"]);
    }

    #[test]
    fn incompatible_helpers() {
        assert!(is_incompatible("v2.0.0+incompatible"));
        assert!(!is_incompatible("v2.0.0+incompatible.x"));
        assert!(!is_incompatible("v2+incompatible"));
        assert_eq!(strip_incompatible("v2.0.0+incompatible"), "v2.0.0");
        assert_eq!(strip_incompatible("v2.0.0+meta"), "v2.0.0+meta");
        assert_eq!(
            canonical_version("v2.0.0+incompatible"),
            "v2.0.0+incompatible"
        );
        assert_eq!(canonical_version("v2.0.0+meta"), "v2.0.0");
        assert_eq!(canonical_version("v2"), "v2.0.0");
        assert_eq!(canonical_version("x"), "");
    }

    // golang.org/x/mod/module pseudo-version vectors: (major, older, version).
    const PSEUDO: &[(&str, &str, &str)] = &[
        ("", "", "v0.0.0-20060102150405-hash"),
        ("v0", "", "v0.0.0-20060102150405-hash"),
        ("v1", "", "v1.0.0-20060102150405-hash"),
        ("v2", "", "v2.0.0-20060102150405-hash"),
        ("unused", "v0.0.0", "v0.0.1-0.20060102150405-hash"),
        ("unused", "v1.2.3", "v1.2.4-0.20060102150405-hash"),
        (
            "unused",
            "v1.2.99999999999999999",
            "v1.2.100000000000000000-0.20060102150405-hash",
        ),
        ("unused", "v1.2.3-pre", "v1.2.3-pre.0.20060102150405-hash"),
        ("unused", "v1.3.0-pre", "v1.3.0-pre.0.20060102150405-hash"),
        ("unused", "v0.0.0--", "v0.0.0--.0.20060102150405-hash"),
        (
            "unused",
            "v1.0.0+metadata",
            "v1.0.1-0.20060102150405-hash+metadata",
        ),
        (
            "unused",
            "v2.0.0+incompatible",
            "v2.0.1-0.20060102150405-hash+incompatible",
        ),
        (
            "unused",
            "v2.3.0-pre+incompatible",
            "v2.3.0-pre.0.20060102150405-hash+incompatible",
        ),
    ];

    fn pseudo_time() -> time::OffsetDateTime {
        time::macros::datetime!(2006-01-02 15:04:05 UTC)
    }

    #[test]
    fn pseudo_version_builds() {
        for (major, older, want) in PSEUDO {
            assert_eq!(pseudo_version(major, older, pseudo_time(), "hash"), *want);
        }
    }

    #[test]
    fn is_pseudo_version_table() {
        for (_, older, v) in PSEUDO {
            assert!(is_pseudo_version(v), "{v}");
            assert!(!is_pseudo_version(older), "{older}");
        }
        assert!(is_pseudo_version("v0.0.0-20191109021931-daa7c04131f5"));
        assert!(!is_pseudo_version("v1.2.3-20191109021931-daa7c04131f5"));
        assert!(!is_pseudo_version("v1.0.0-0.2019110902193-daa7c04131f5"));
        assert!(!is_pseudo_version("v1.0.0-0.20191109021931-"));
        assert!(!is_pseudo_version("v1.0.0-pre+x.0.20191109021931-abc"));
    }

    #[test]
    fn pseudo_version_time_table() {
        for (_, older, v) in PSEUDO {
            assert_eq!(pseudo_version_time(v).unwrap(), pseudo_time(), "{v}");
            assert!(pseudo_version_time(older).is_err(), "{older}");
        }
        assert!(pseudo_version_time("---").is_err());
        let e = pseudo_version_time("v0.0.0-20061302150405-hash").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"pseudo-version "v0.0.0-20061302150405-hash" invalid: malformed time "20061302150405""#
        );
        assert!(pseudo_version_time("v0.0.0-20060230150405-hash").is_err());
        assert!(pseudo_version_time("v0.0.0-20040229240000-hash").is_err());
        assert!(pseudo_version_time("v0.0.0-20040229235959-hash").is_ok());
        assert_eq!(
            pseudo_version_timestamp("v1.2.4-0.20060102150405-hash").unwrap(),
            "20060102150405"
        );
    }

    #[test]
    fn pseudo_version_rev_table() {
        for (_, older, v) in PSEUDO {
            assert_eq!(pseudo_version_rev(v).unwrap(), "hash");
            assert!(pseudo_version_rev(older).is_err());
        }
    }

    #[test]
    fn pseudo_version_base_table() {
        for (_, older, v) in PSEUDO {
            assert_eq!(pseudo_version_base(v).unwrap(), *older, "{v}");
        }
        for bad in [
            "v0.0.0",
            "v0.0.0-",
            "v0.0.0-0.20060102150405-hash",
            "v0.1.0-0.20060102150405-hash",
            "v1.0.0-0.20060102150405-hash",
            "v0.0.0-20060102150405-hash+incompatible",
            "v0.0.0-20060102150405-hash+metadata",
        ] {
            assert!(pseudo_version_base(bad).is_err(), "{bad}");
        }
        assert_eq!(
            pseudo_version_base("v0.0.0-20060102150405-hash+incompatible")
                .unwrap_err()
                .to_string(),
            r#"pseudo-version "v0.0.0-20060102150405-hash+incompatible" invalid: lacks base version, but has build metadata "+incompatible""#
        );
        assert_eq!(
            pseudo_version_base("v1.0.0-0.20060102150405-hash")
                .unwrap_err()
                .to_string(),
            r#"pseudo-version "v1.0.0-0.20060102150405-hash" invalid: version before v1.0.0 would have negative patch number"#
        );
    }

    #[test]
    fn decimal_helpers() {
        for (i, o) in [
            ("0", "1"),
            ("1", "2"),
            ("99", "100"),
            ("100", "101"),
            ("101", "102"),
        ] {
            assert_eq!(inc_decimal(i), o);
        }
        for (i, o) in [
            ("", ""),
            ("0", ""),
            ("00", ""),
            ("1", "0"),
            ("2", "1"),
            ("99", "98"),
            ("100", "99"),
            ("101", "100"),
        ] {
            assert_eq!(dec_decimal(i), o);
        }
    }

    #[test]
    fn zero_pseudo_version() {
        assert!(is_zero_pseudo_version("v0.0.0-00010101000000-000000000000"));
        assert!(is_zero_pseudo_version("v2.0.0-00010101000000-000000000000"));
        assert!(!is_zero_pseudo_version(
            "v2.0.0-00010101000000-000000000001"
        ));
    }

    #[test]
    fn version_newtype() {
        let v: Version = "v1.2".parse().unwrap();
        assert_eq!(v.canonical().as_str(), "v1.2.0");
        assert!(!v.is_canonical());
        assert!(Version::new("v2.0.0+incompatible").unwrap().is_canonical());
        assert!(!Version::new("v2.0.0+meta").unwrap().is_canonical());
        let e = Version::new("1.0.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"version "1.0.0" invalid: not a semantic version"#
        );
        let mut vs: Vec<Version> = ["v1.0.0+b", "v1.0.0", "v1.0.0+a", "v0.9.0", "v1.0.0-rc.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        vs.sort();
        let got: Vec<&str> = vs.iter().map(Version::as_str).collect();
        assert_eq!(
            got,
            ["v0.9.0", "v1.0.0-rc.1", "v1.0.0", "v1.0.0+a", "v1.0.0+b"]
        );
        let json = serde_json::to_string(&vs[0]).unwrap();
        assert_eq!(json, r#""v0.9.0""#);
        assert!(serde_json::from_str::<Version>(r#""v0.9""#).is_ok());
        assert!(serde_json::from_str::<Version>(r#""0.9""#).is_err());
    }

    #[test]
    fn no_panic_on_multibyte() {
        for s in [
            "vé",
            "v1.é",
            "v1.2.3-é",
            "v1.2.3+é",
            "v1.0.0-0.é",
            "é",
            "v١",
        ] {
            assert!(!is_valid(s));
            assert!(!is_pseudo_version(s));
            let _ = major_minor(s);
        }
    }
}
