//! Module paths, import paths and file paths with Go's exact validity rules
//! (`golang.org/x/mod/module`): `CheckPath`, `CheckImportPath`,
//! `CheckFilePath`, `SplitPathVersion`, `CheckPathMajor`, and the
//! case-escaping used in proxy URLs and the module cache
//! (`EscapePath`/`UnescapePath`, `EscapeVersion`/`UnescapeVersion`).
//!
//! ```
//! use gomod::module::{self, ModulePath};
//! let p: ModulePath = "github.com/Azure/azure-sdk-for-go".parse().unwrap();
//! assert_eq!(p.escaped(), "github.com/!azure/azure-sdk-for-go");
//! assert_eq!(
//!     module::check_path("x").unwrap_err().to_string(),
//!     r#"malformed module path "x": missing dot in first path element"#
//! );
//! ```
//!
//! Errors print the way the go command prints them, so a user who pastes a
//! message into a search engine finds Go's own discussions of it.

use std::fmt;
use std::str::FromStr;

use crate::quote::{go_quote, go_quote_rune};
use crate::semver::{self, Version, VersionError, VersionErrorReason};

/// Which rule set a path was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathKind {
    /// A module path (`CheckPath`): the strictest.
    Module,
    /// A package import path (`CheckImportPath`).
    Import,
    /// A slash-separated file path inside a module (`CheckFilePath`).
    File,
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathKind::Module => "module",
            PathKind::Import => "import",
            PathKind::File => "file",
        })
    }
}

/// Why a path, an escaped path or version, or a percent-encoded request
/// segment was rejected. `Display` follows the go command's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// `malformed module path "x": missing dot in first path element`
    /// (Go's `InvalidPathError`).
    #[error("malformed {kind} path {}: {reason}", go_quote(.path))]
    Malformed {
        /// Which rules were applied.
        kind: PathKind,
        /// The offending path.
        path: String,
        /// What was wrong (Go's inner error text).
        reason: String,
    },
    /// An escaped module path that does not un-escape to a valid path
    /// (`invalid escaped module path "x"` with, when the un-escaping itself
    /// worked, `: <why the path is invalid>`).
    #[error("invalid escaped module path {}{}", go_quote(.escaped), suffix(.reason))]
    EscapedPath {
        /// The escaped input.
        escaped: String,
        /// Why the un-escaped path is invalid, if un-escaping succeeded.
        reason: Option<String>,
    },
    /// An escaped version that does not un-escape to a valid one. As in Go,
    /// the quoted string is the escaped input when un-escaping failed and the
    /// un-escaped version when that version is not a valid file name.
    #[error("invalid escaped version {}{}", go_quote(.version), suffix(.reason))]
    EscapedVersion {
        /// See the variant's doc.
        version: String,
        /// Why the version is not a valid file-name element, if un-escaping
        /// succeeded.
        reason: Option<String>,
    },
    /// `rsc.io/quote@v17.0.0: invalid version: should be v0 or v1, not v17`
    /// (Go's `ModuleError` around an `InvalidVersionError`).
    #[error("{path}@{}: invalid {}: {}", .source.version, if .source.pseudo { "pseudo-version" } else { "version" }, .source.reason)]
    ModuleVersion {
        /// The module path.
        path: String,
        /// The version problem.
        source: VersionError,
    },
    /// A version on its own is invalid (`version "x" invalid: ...`).
    #[error(transparent)]
    Version(#[from] VersionError),
    /// A request path segment whose percent-encoding is broken or decodes to
    /// something a module path or version can never contain.
    #[error("invalid percent-encoding in {}: {reason}", go_quote(.input))]
    PercentEncoding {
        /// The raw segment.
        input: String,
        /// What was wrong.
        reason: &'static str,
    },
}

fn suffix(reason: &Option<String>) -> String {
    match reason {
        Some(r) => format!(": {r}"),
        None => String::new(),
    }
}

fn malformed(kind: PathKind, path: &str, reason: String) -> PathError {
    PathError::Malformed {
        kind,
        path: path.to_string(),
        reason,
    }
}

/// `r` may appear in the first element of a module path: a lower-case LDH
/// domain name.
fn first_path_ok(c: char) -> bool {
    c == '-' || c == '.' || c.is_ascii_digit() || c.is_ascii_lowercase()
}

fn mod_path_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn import_path_ok(c: char) -> bool {
    mod_path_ok(c) || c == '+'
}

fn file_name_ok(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c)
    } else {
        is_go_letter(c)
    }
}

/// Go's `unicode.IsLetter`: general category L (Lu, Ll, Lt, Lm, Lo). Rust's
/// `char::is_alphabetic` is wider (it admits Nl and combining marks), so the
/// category is looked up instead. Our table may follow a newer Unicode
/// version than the go command's, which only matters for letters assigned
/// in the newest Unicode release.
fn is_go_letter(c: char) -> bool {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
    )
}

/// Reserved file names on Windows, compared case-insensitively against the
/// part of an element before its first dot.
const BAD_WINDOWS_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Go's `checkPath`: the rules shared by all three kinds. Returns the inner
/// reason text.
fn check_general(path: &str, kind: PathKind) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty string".into());
    }
    if path.starts_with('-') && kind != PathKind::File {
        return Err("leading dash".into());
    }
    if path.contains("//") {
        return Err("double slash".into());
    }
    if path.ends_with('/') {
        return Err("trailing slash".into());
    }
    for elem in path.split('/') {
        check_elem(elem, kind)?;
    }
    Ok(())
}

/// Go's `checkElem`.
fn check_elem(elem: &str, kind: PathKind) -> Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {}", go_quote(elem)));
    }
    if elem.starts_with('.') && kind == PathKind::Module {
        return Err("leading dot in path element".into());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".into());
    }
    for c in elem.chars() {
        let ok = match kind {
            PathKind::Module => mod_path_ok(c),
            PathKind::Import => import_path_ok(c),
            PathKind::File => file_name_ok(c),
        };
        if !ok {
            return Err(format!("invalid char {}", go_quote_rune(c)));
        }
    }
    // '.' is ASCII, so splitting there respects character boundaries.
    let short = elem.split('.').next().unwrap_or(elem);
    if BAD_WINDOWS_NAMES
        .iter()
        .any(|bad| bad.eq_ignore_ascii_case(short))
    {
        return Err(format!(
            "{} disallowed as path element component on Windows",
            go_quote(short)
        ));
    }
    if kind == PathKind::File {
        // Windows short names only matter for import paths.
        return Ok(());
    }
    if let Some(tilde) = short.rfind('~')
        && tilde < short.len() - 1
        && short[tilde + 1..].bytes().all(|b| b.is_ascii_digit())
    {
        return Err("trailing tilde and digits in path element".into());
    }
    Ok(())
}

/// Checks a module path (`module.CheckPath`): a valid import path whose first
/// element is a lower-case domain name with a dot (not starting with a
/// dash), whose elements do not start with a dot, and whose major-version
/// suffix is well formed (`/vN` with N >= 2 and no leading zero, or
/// `gopkg.in/x.vN`).
pub fn check_path(path: &str) -> Result<(), PathError> {
    check_path_reason(path).map_err(|r| malformed(PathKind::Module, path, r))
}

fn check_path_reason(path: &str) -> Result<(), String> {
    check_general(path, PathKind::Module)?;
    let first = path.split('/').next().unwrap_or(path);
    if first.is_empty() {
        return Err("leading slash".into());
    }
    if !first.contains('.') {
        return Err("missing dot in first path element".into());
    }
    if path.starts_with('-') {
        return Err("leading dash in first path element".into());
    }
    if let Some(c) = first.chars().find(|&c| !first_path_ok(c)) {
        return Err(format!(
            "invalid char {} in first path element",
            go_quote_rune(c)
        ));
    }
    if !split_path_version(path).2 {
        return Err("invalid version".into());
    }
    Ok(())
}

/// Checks a package import path (`module.CheckImportPath`): non-empty
/// elements of ASCII letters, digits and `-._~+`, no leading dash, no
/// element of only dots or ending in a dot, no Windows reserved names, no
/// Windows short-name look-alikes (`x~1`).
pub fn check_import_path(path: &str) -> Result<(), PathError> {
    check_general(path, PathKind::Import).map_err(|r| malformed(PathKind::Import, path, r))
}

/// Checks a slash-separated file path inside a module
/// (`module.CheckFilePath`): like an import path, but with Unicode letters,
/// space and `!#$%&()+,-.=@[]^_{}~` allowed, and leading dashes and `~N`
/// suffixes permitted.
pub fn check_file_path(path: &str) -> Result<(), PathError> {
    check_general(path, PathKind::File).map_err(|r| malformed(PathKind::File, path, r))
}

/// Checks a module path and version pair (`module.Check`): the path is valid,
/// the version is valid semver, and the version's major matches the path's
/// major-version suffix.
pub fn check(path: &str, version: &str) -> Result<(), PathError> {
    check_path(path)?;
    if !semver::is_valid(version) {
        return Err(PathError::ModuleVersion {
            path: path.to_string(),
            source: VersionError::new(version, false, VersionErrorReason::NotSemver),
        });
    }
    let (_, path_major, _) = split_path_version(path);
    check_path_major(version, path_major).map_err(|source| PathError::ModuleVersion {
        path: path.to_string(),
        source,
    })
}

/// Splits `path` into `(prefix, path_major, ok)` with
/// `prefix + path_major == path` (`module.SplitPathVersion`). `path_major` is
/// `""` or `/vN` (N >= 2); for `gopkg.in/` paths it is `.vN` for any N
/// (including `.v0`), optionally followed by `-unstable`. `ok` is false when
/// the last element looks like a version but is not a valid one
/// (`x/v1`, `x/v0`, `x/v2.0`, `x/v02`, or a `gopkg.in` path without `.vN`).
pub fn split_path_version(path: &str) -> (&str, &str, bool) {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let b = path.as_bytes();
    let mut i = b.len();
    let mut dot = false;
    while i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
        if b[i - 1] == b'.' {
            dot = true;
        }
        i -= 1;
    }
    if i <= 1 || i == b.len() || b[i - 1] != b'v' || b[i - 2] != b'/' {
        return (path, "", true);
    }
    let (prefix, path_major) = path.split_at(i - 2);
    let pm = path_major.as_bytes();
    if dot || pm.len() <= 2 || pm[2] == b'0' || path_major == "/v1" {
        return (path, "", false);
    }
    (prefix, path_major, true)
}

fn split_gopkg_in(path: &str) -> (&str, &str, bool) {
    if !path.starts_with("gopkg.in/") {
        return (path, "", false);
    }
    let b = path.as_bytes();
    let mut i = b.len();
    if path.ends_with("-unstable") {
        i -= "-unstable".len();
    }
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i <= 1 || b[i - 1] != b'v' || b[i - 2] != b'.' {
        return (path, "", false);
    }
    let (prefix, path_major) = path.split_at(i - 2);
    let pm = path_major.as_bytes();
    if pm.len() <= 2 || (pm[2] == b'0' && path_major != ".v0") {
        return (path, "", false);
    }
    (prefix, path_major, true)
}

/// Checks that version `v` fits the path's major suffix `path_major`
/// (`module.CheckPathMajor`): `""` allows v0, v1 and `+incompatible`; `/vN`
/// and `.vN` require major vN; `gopkg.in/x.v1` also accepts old `v0.0.0-`
/// pseudo-versions.
pub fn check_path_major(v: &str, path_major: &str) -> Result<(), VersionError> {
    let mut pm = path_major;
    if pm.starts_with(".v") {
        pm = pm.strip_suffix("-unstable").unwrap_or(pm);
    }
    if v.starts_with("v0.0.0-") && pm == ".v1" {
        // An old bug generated v0.0.0- pseudo-versions for gopkg.in .v1.
        return Ok(());
    }
    let m = semver::major(v);
    let want = if pm.is_empty() {
        if m == "v0" || m == "v1" || semver::build(v) == "+incompatible" {
            return Ok(());
        }
        "v0 or v1"
    } else if pm.starts_with('/') || pm.starts_with('.') {
        if m == &pm[1..] {
            return Ok(());
        }
        &pm[1..]
    } else {
        pm
    };
    Err(VersionError::new(
        v,
        false,
        VersionErrorReason::WrongMajor {
            want: want.to_string(),
            got: m.to_string(),
        },
    ))
}

/// Reports whether [`check_path_major`] accepts the pair (`module.MatchPathMajor`).
pub fn match_path_major(v: &str, path_major: &str) -> bool {
    check_path_major(v, path_major).is_ok()
}

/// Go's `escapeString`: only for input already known to be ASCII without `!`.
fn escape_ascii(s: &str) -> Option<String> {
    if s.chars().any(|c| c == '!' || !c.is_ascii()) {
        return None;
    }
    Some(crate::escape::escape_string(s))
}

/// Go's `unescapeString`: rejects non-ASCII, upper case, `!` not followed by a
/// lower-case letter, and a trailing `!`.
fn unescape_ascii(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut bang = false;
    for c in escaped.chars() {
        if !c.is_ascii() {
            return None;
        }
        if bang {
            bang = false;
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            continue;
        }
        if c == '!' {
            bang = true;
            continue;
        }
        if c.is_ascii_uppercase() {
            return None;
        }
        out.push(c);
    }
    if bang { None } else { Some(out) }
}

/// The case-escaped form of a module path (`module.EscapePath`):
/// `github.com/Azure` -> `github.com/!azure`. Fails if the path is invalid.
pub fn escape_path(path: &str) -> Result<String, PathError> {
    check_path(path)?;
    escape_ascii(path).ok_or_else(|| {
        malformed(
            PathKind::Module,
            path,
            "internal error: inconsistency in EscapePath".into(),
        )
    })
}

/// The module path for an escaped path (`module.UnescapePath`). Fails if the
/// escaping is invalid or the result is not a valid module path.
pub fn unescape_path(escaped: &str) -> Result<String, PathError> {
    let Some(path) = unescape_ascii(escaped) else {
        return Err(PathError::EscapedPath {
            escaped: escaped.to_string(),
            reason: None,
        });
    };
    if let Err(e) = check_path(&path) {
        return Err(PathError::EscapedPath {
            escaped: escaped.to_string(),
            reason: Some(e.to_string()),
        });
    }
    Ok(path)
}

/// The case-escaped form of a version (`module.EscapeVersion`). Versions may
/// be non-semver (a branch or commit query) but must be a valid file-name
/// element without `!`, and, since escaping is ASCII-only, ASCII. (Go
/// reports a non-ASCII letter here as "internal error: inconsistency in
/// EscapePath"; we report it as a disallowed version string.)
pub fn escape_version(v: &str) -> Result<String, PathError> {
    let disallowed = || VersionError::new(v, false, VersionErrorReason::Disallowed);
    if check_elem(v, PathKind::File).is_err() || v.contains('!') {
        return Err(disallowed().into());
    }
    escape_ascii(v).ok_or_else(|| disallowed().into())
}

/// The version for an escaped version (`module.UnescapeVersion`).
pub fn unescape_version(escaped: &str) -> Result<String, PathError> {
    let Some(v) = unescape_ascii(escaped) else {
        return Err(PathError::EscapedVersion {
            version: escaped.to_string(),
            reason: None,
        });
    };
    if let Err(reason) = check_elem(&v, PathKind::File) {
        return Err(PathError::EscapedVersion {
            version: v,
            reason: Some(reason),
        });
    }
    Ok(v)
}

/// Percent-decodes one request path (or segment of one) as received by the
/// proxy, before [`unescape_path`]/[`unescape_version`] (the go client
/// percent-encodes escaped paths, so `!` may arrive as `%21`).
///
/// Rejected, because no valid module path or version can contain them or
/// because they would let one request mean two things:
/// - `%` not followed by two hex digits;
/// - a decoded byte sequence that is not UTF-8;
/// - a NUL, raw or decoded (`%00`);
/// - a decoded `/` (`%2F`): a slash must arrive literally, as the segment
///   separator it is, or the same module could be named by two URLs.
///
/// `+` stays `+` (this is a path, not a query string).
pub fn percent_decode(segment: &str) -> Result<String, PathError> {
    let err = |reason| PathError::PercentEncoding {
        input: segment.to_string(),
        reason,
    };
    if segment.contains('\0') {
        return Err(err("contains a NUL byte"));
    }
    if !segment.contains('%') {
        return Ok(segment.to_string());
    }
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (Some(hi), Some(lo)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(err("'%' must be followed by two hex digits"));
            };
            let byte = (hi * 16 + lo) as u8;
            match byte {
                0 => return Err(err("decodes to a NUL byte")),
                b'/' => return Err(err("decodes to '/' (%2F); send '/' unencoded")),
                _ => out.push(byte),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| err("decodes to invalid UTF-8"))
}

// ---------------------------------------------------------------------------
// Validated types

/// A module path that passed [`check_path`]. Serialized as a plain string;
/// deserializing validates.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModulePath(String);

impl ModulePath {
    /// Validates `path` with [`check_path`].
    pub fn new(path: impl Into<String>) -> Result<Self, PathError> {
        let path = path.into();
        check_path(&path)?;
        Ok(ModulePath(path))
    }

    /// Parses the case-escaped form used in URLs and the module cache.
    pub fn from_escaped(escaped: &str) -> Result<Self, PathError> {
        unescape_path(escaped).map(ModulePath)
    }

    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the path, returning its text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The case-escaped form (`github.com/!azure/...`).
    pub fn escaped(&self) -> String {
        // Validity was checked on construction, so the path is ASCII without
        // '!' and escaping cannot fail.
        crate::escape::escape_string(&self.0)
    }

    /// `(prefix, path_major)` as in [`split_path_version`].
    pub fn split_version(&self) -> (&str, &str) {
        let (prefix, major, _) = split_path_version(&self.0);
        (prefix, major)
    }

    /// The major-version suffix (`/v2`, `.v1`, or `""`).
    pub fn path_major(&self) -> &str {
        self.split_version().1
    }
}

impl fmt::Display for ModulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ModulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModulePath({:?})", self.0)
    }
}

impl AsRef<str> for ModulePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for ModulePath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModulePath::new(s)
    }
}

impl TryFrom<String> for ModulePath {
    type Error = PathError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ModulePath::new(s)
    }
}

impl From<ModulePath> for String {
    fn from(p: ModulePath) -> String {
        p.0
    }
}

impl serde::Serialize for ModulePath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ModulePath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ModulePath::new(s).map_err(serde::de::Error::custom)
    }
}

/// A module path and a (semver) version: Go's `module.Version` for the
/// common case where the version is known. `Display` is `path@version`.
///
/// Each half is validated by its type. [`ModuleVersion::new`] also checks
/// that they agree (Go's `module.Check`: `/v2` paths need v2 versions); a
/// struct literal skips that check.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ModuleVersion {
    /// The module path.
    pub path: ModulePath,
    /// The version.
    pub version: Version,
}

impl ModuleVersion {
    /// Pairs a path and version after checking they agree ([`check`]).
    pub fn new(path: ModulePath, version: Version) -> Result<Self, PathError> {
        let (_, pm) = path.split_version();
        check_path_major(version.as_str(), pm).map_err(|source| PathError::ModuleVersion {
            path: path.to_string(),
            source,
        })?;
        Ok(ModuleVersion { path, version })
    }

    /// Parses and checks both halves ([`check`]).
    pub fn parse(path: &str, version: &str) -> Result<Self, PathError> {
        check(path, version)?;
        Ok(ModuleVersion {
            path: ModulePath(path.to_string()),
            version: Version::new(version)?,
        })
    }

    /// `escaped_path@escaped_version`, the directory name in GOMODCACHE.
    pub fn escaped(&self) -> String {
        format!(
            "{}@{}",
            self.path.escaped(),
            crate::escape::escape_string(self.version.as_str())
        )
    }
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.path, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // golang.org/x/mod/module's check vectors: (path, version, ok).
    const CHECK: &[(&str, &str, bool)] = &[
        ("rsc.io/quote", "0.1.0", false),
        ("rsc io/quote", "v1.0.0", false),
        ("github.com/go-yaml/yaml", "v0.8.0", true),
        ("github.com/go-yaml/yaml", "v1.0.0", true),
        ("github.com/go-yaml/yaml", "v2.0.0", false),
        ("github.com/go-yaml/yaml", "v2.1.5", false),
        ("github.com/go-yaml/yaml", "v3.0.0", false),
        ("github.com/go-yaml/yaml/v2", "v1.0.0", false),
        ("github.com/go-yaml/yaml/v2", "v2.0.0", true),
        ("github.com/go-yaml/yaml/v2", "v2.1.5", true),
        ("github.com/go-yaml/yaml/v2", "v3.0.0", false),
        ("gopkg.in/yaml.v0", "v0.8.0", true),
        ("gopkg.in/yaml.v0", "v1.0.0", false),
        ("gopkg.in/yaml.v0", "v2.0.0", false),
        ("gopkg.in/yaml.v0", "v2.1.5", false),
        ("gopkg.in/yaml.v0", "v3.0.0", false),
        ("gopkg.in/yaml.v1", "v0.8.0", false),
        ("gopkg.in/yaml.v1", "v1.0.0", true),
        ("gopkg.in/yaml.v1", "v2.0.0", false),
        ("gopkg.in/yaml.v1", "v2.1.5", false),
        ("gopkg.in/yaml.v1", "v3.0.0", false),
        ("gopkg.in/check.v1", "v0.0.0", false),
        (
            "gopkg.in/check.v1",
            "v0.0.0-20160102150405-abcdef123456",
            true,
        ),
        ("gopkg.in/yaml.v2", "v1.0.0", false),
        ("gopkg.in/yaml.v2", "v2.0.0", true),
        ("gopkg.in/yaml.v2", "v2.1.5", true),
        ("gopkg.in/yaml.v2", "v3.0.0", false),
        ("rsc.io/quote", "v17.0.0", false),
        ("rsc.io/quote", "v17.0.0+incompatible", true),
    ];

    #[test]
    fn check_table() {
        for (path, version, ok) in CHECK {
            assert_eq!(
                check(path, version).is_ok(),
                *ok,
                "check({path}, {version})"
            );
            assert_eq!(ModuleVersion::parse(path, version).is_ok(), *ok);
        }
        assert_eq!(
            check("rsc.io/quote", "v17.0.0").unwrap_err().to_string(),
            "rsc.io/quote@v17.0.0: invalid version: should be v0 or v1, not v17"
        );
        assert_eq!(
            check("rsc.io/quote", "0.1.0").unwrap_err().to_string(),
            "rsc.io/quote@0.1.0: invalid version: not a semantic version"
        );
    }

    // (path, module ok, import ok, file ok).
    const CHECK_PATH: &[(&str, bool, bool, bool)] = &[
        ("x.y/z", true, true, true),
        ("x.y", true, true, true),
        ("", false, false, false),
        ("/x.y/z", false, false, false),
        ("x./z", false, false, false),
        (".x/z", false, true, true),
        ("-x/z", false, false, true),
        ("x..y/z", true, true, true),
        ("x.y/z/../../w", false, false, false),
        ("x.y//z", false, false, false),
        ("x.y/z//w", false, false, false),
        ("x.y/z/", false, false, false),
        ("x.y/z/v0", false, true, true),
        ("x.y/z/v1", false, true, true),
        ("x.y/z/v2", true, true, true),
        ("x.y/z/v2.0", false, true, true),
        ("X.y/z", false, true, true),
        ("!x.y/z", false, false, true),
        ("_x.y/z", false, true, true),
        ("x.y!/z", false, false, true),
        ("x.y\"/z", false, false, false),
        ("x.y#/z", false, false, true),
        ("x.y$/z", false, false, true),
        ("x.y%/z", false, false, true),
        ("x.y&/z", false, false, true),
        ("x.y'/z", false, false, false),
        ("x.y(/z", false, false, true),
        ("x.y)/z", false, false, true),
        ("x.y*/z", false, false, false),
        ("x.y+/z", false, true, true),
        ("x.y,/z", false, false, true),
        ("x.y-/z", true, true, true),
        ("x.y./zt", false, false, false),
        ("x.y:/z", false, false, false),
        ("x.y;/z", false, false, false),
        ("x.y</z", false, false, false),
        ("x.y=/z", false, false, true),
        ("x.y>/z", false, false, false),
        ("x.y?/z", false, false, false),
        ("x.y@/z", false, false, true),
        ("x.y[/z", false, false, true),
        ("x.y\\/z", false, false, false),
        ("x.y]/z", false, false, true),
        ("x.y^/z", false, false, true),
        ("x.y_/z", false, true, true),
        ("x.y`/z", false, false, false),
        ("x.y{/z", false, false, true),
        ("x.y}/z", false, false, true),
        ("x.y~/z", false, true, true),
        ("x.y/z!", false, false, true),
        ("x.y/z\"", false, false, false),
        ("x.y/z#", false, false, true),
        ("x.y/z$", false, false, true),
        ("x.y/z%", false, false, true),
        ("x.y/z&", false, false, true),
        ("x.y/z'", false, false, false),
        ("x.y/z(", false, false, true),
        ("x.y/z)", false, false, true),
        ("x.y/z*", false, false, false),
        ("x.y/z++", false, true, true),
        ("x.y/z,", false, false, true),
        ("x.y/z-", true, true, true),
        ("x.y/z.t", true, true, true),
        ("x.y/z/t", true, true, true),
        ("x.y/z:", false, false, false),
        ("x.y/z;", false, false, false),
        ("x.y/z<", false, false, false),
        ("x.y/z=", false, false, true),
        ("x.y/z>", false, false, false),
        ("x.y/z?", false, false, false),
        ("x.y/z@", false, false, true),
        ("x.y/z[", false, false, true),
        ("x.y/z\\", false, false, false),
        ("x.y/z]", false, false, true),
        ("x.y/z^", false, false, true),
        ("x.y/z_", true, true, true),
        ("x.y/z`", false, false, false),
        ("x.y/z{", false, false, true),
        ("x.y/z}", false, false, true),
        ("x.y/z~", true, true, true),
        ("x.y/x.foo", true, true, true),
        ("x.y/aux.foo", false, false, false),
        ("x.y/prn", false, false, false),
        ("x.y/prn2", true, true, true),
        ("x.y/com", true, true, true),
        ("x.y/com1", false, false, false),
        ("x.y/com1.txt", false, false, false),
        ("x.y/calm1", true, true, true),
        ("x.y/z~", true, true, true),
        ("x.y/z~0", false, false, true),
        ("x.y/z~09", false, false, true),
        ("x.y/z09", true, true, true),
        ("x.y/z09~", true, true, true),
        ("x.y/z09~09z", true, true, true),
        ("x.y/z09~09z~09", false, false, true),
        ("github.com/!123/logrus", false, false, true),
        ("github.com/user/unicode/испытание", false, false, true),
        ("../x", false, false, false),
        ("./y", false, false, false),
        ("x:y", false, false, false),
        ("\\temp\\foo", false, false, false),
        (".gitignore", false, true, true),
        (".github/ISSUE_TEMPLATE", false, true, true),
        ("x☺y", false, false, false),
    ];

    #[test]
    fn check_path_table() {
        for (path, ok, import_ok, file_ok) in CHECK_PATH {
            assert_eq!(check_path(path).is_ok(), *ok, "check_path({path:?})");
            assert_eq!(
                check_import_path(path).is_ok(),
                *import_ok,
                "check_import_path({path:?})"
            );
            assert_eq!(
                check_file_path(path).is_ok(),
                *file_ok,
                "check_file_path({path:?})"
            );
        }
    }

    #[test]
    fn error_messages_match_go() {
        let cases = [
            (
                "x",
                "malformed module path \"x\": missing dot in first path element",
            ),
            ("", "malformed module path \"\": empty string"),
            ("/x.y", "malformed module path \"/x.y\": empty path element"),
            ("-x.y", "malformed module path \"-x.y\": leading dash"),
            ("x.y//z", "malformed module path \"x.y//z\": double slash"),
            ("x.y/", "malformed module path \"x.y/\": trailing slash"),
            (
                "x.y/..",
                "malformed module path \"x.y/..\": invalid path element \"..\"",
            ),
            (
                "x.y/.z",
                "malformed module path \"x.y/.z\": leading dot in path element",
            ),
            (
                "x.y/z.",
                "malformed module path \"x.y/z.\": trailing dot in path element",
            ),
            (
                "x.y/z☺",
                "malformed module path \"x.y/z☺\": invalid char '☺'",
            ),
            (
                "X.y/z",
                "malformed module path \"X.y/z\": invalid char 'X' in first path element",
            ),
            (
                "x.y/com1.txt",
                "malformed module path \"x.y/com1.txt\": \"com1\" disallowed as path element component on Windows",
            ),
            (
                "x.y/z~1",
                "malformed module path \"x.y/z~1\": trailing tilde and digits in path element",
            ),
            (
                "x.y/z/v1",
                "malformed module path \"x.y/z/v1\": invalid version",
            ),
        ];
        for (path, want) in cases {
            assert_eq!(check_path(path).unwrap_err().to_string(), want);
        }
        assert_eq!(
            check_import_path("a b").unwrap_err().to_string(),
            "malformed import path \"a b\": invalid char ' '"
        );
        assert_eq!(
            check_file_path("a\0b").unwrap_err().to_string(),
            "malformed file path \"a\\x00b\": invalid char '\\x00'"
        );
    }

    #[test]
    fn split_path_version_table() {
        for (prefix, major) in [
            ("x.y/z", ""),
            ("x.y/z", "/v2"),
            ("x.y/z", "/v3"),
            ("x.y/v", ""),
            ("gopkg.in/yaml", ".v0"),
            ("gopkg.in/yaml", ".v1"),
            ("gopkg.in/yaml", ".v2"),
            ("gopkg.in/yaml", ".v3"),
        ] {
            let path = format!("{prefix}{major}");
            assert_eq!(split_path_version(&path), (prefix, major, true), "{path}");
        }
        for (path, ..) in CHECK_PATH {
            let (p, m, _) = split_path_version(path);
            assert_eq!(format!("{p}{m}"), *path);
        }
        assert_eq!(
            split_path_version("gopkg.in/yaml.v2-unstable"),
            ("gopkg.in/yaml", ".v2-unstable", true)
        );
        assert_eq!(
            split_path_version("gopkg.in/yaml"),
            ("gopkg.in/yaml", "", false)
        );
        assert_eq!(
            split_path_version("gopkg.in/yaml.v01"),
            ("gopkg.in/yaml.v01", "", false)
        );
        assert_eq!(split_path_version("x.y/z/v02"), ("x.y/z/v02", "", false));
    }

    const ESCAPES: &[(&str, &str)] = &[
        (
            "ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789",
            "ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789",
        ),
        (
            "github.com/GoogleCloudPlatform/omega",
            "github.com/!google!cloud!platform/omega",
        ),
    ];

    #[test]
    fn escape_path_table() {
        for (path, ok, ..) in CHECK_PATH {
            if !ok {
                assert!(escape_path(path).is_err(), "{path}");
            }
        }
        for (path, esc) in ESCAPES {
            assert_eq!(escape_path(path).unwrap(), *esc);
        }
    }

    #[test]
    fn unescape_path_table() {
        for bad in [
            "github.com/GoogleCloudPlatform/omega",
            "github.com/!google!cloud!platform!/omega",
            "github.com/!0google!cloud!platform/omega",
            "github.com/!_google!cloud!platform/omega",
            "github.com/!!google!cloud!platform/omega",
            "",
        ] {
            assert!(unescape_path(bad).is_err(), "{bad}");
        }
        for (path, ok, ..) in CHECK_PATH {
            if !ok {
                assert!(unescape_path(path).is_err(), "{path}");
            }
        }
        for (path, esc) in ESCAPES {
            assert_eq!(unescape_path(esc).unwrap(), *path);
        }
        assert_eq!(
            unescape_path("Github.com/x").unwrap_err().to_string(),
            "invalid escaped module path \"Github.com/x\""
        );
        assert_eq!(
            unescape_path("x").unwrap_err().to_string(),
            "invalid escaped module path \"x\": malformed module path \"x\": missing dot in first path element"
        );
    }

    #[test]
    fn escape_version_table() {
        assert_eq!(escape_version("v1.0.0-RC1").unwrap(), "v1.0.0-!r!c1");
        assert_eq!(escape_version("master").unwrap(), "master");
        assert_eq!(unescape_version("v1.0.0-!r!c1").unwrap(), "v1.0.0-RC1");
        for bad in ["", "v1!", "v1/x", "v1.", "..", "vé", "con", "a*b"] {
            assert!(escape_version(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            escape_version("v1!").unwrap_err().to_string(),
            "version \"v1!\" invalid: disallowed version string"
        );
        assert_eq!(
            unescape_version("V1").unwrap_err().to_string(),
            "invalid escaped version \"V1\""
        );
        assert_eq!(
            unescape_version("!v1.").unwrap_err().to_string(),
            "invalid escaped version \"V1.\": trailing dot in path element"
        );
    }

    #[test]
    fn match_path_major_table() {
        for (v, pm, want) in [
            ("v0.0.0", "", true),
            ("v0.0.0", "/v2", false),
            ("v0.0.0", ".v0", true),
            ("v0.0.0-20190510104115-cbcb75029529", ".v1", true),
            ("v1.0.0", "/v2", false),
            ("v1.0.0", ".v1", true),
            ("v1.0.0", ".v1-unstable", true),
            ("v2.0.0+incompatible", "", true),
            ("v2.0.0", "", false),
            ("v2.0.0", "/v2", true),
            ("v2.0.0", ".v2", true),
        ] {
            assert_eq!(match_path_major(v, pm), want, "({v}, {pm})");
        }
        assert_eq!(
            check_path_major("v1.0.0", "/v2").unwrap_err().to_string(),
            "version \"v1.0.0\" invalid: should be v2, not v1"
        );
    }

    #[test]
    fn percent_decode_rules() {
        assert_eq!(
            percent_decode("github.com/%21azure").unwrap(),
            "github.com/!azure"
        );
        assert_eq!(percent_decode("a+b").unwrap(), "a+b");
        assert_eq!(percent_decode("%e2%98%BA").unwrap(), "☺");
        for bad in [
            "%", "%2", "%zz", "a%2Fb", "a%2fb", "%00", "a\0", "%ff", "%é1",
        ] {
            assert!(percent_decode(bad).is_err(), "{bad}");
        }
        assert_eq!(
            percent_decode("%zz").unwrap_err().to_string(),
            "invalid percent-encoding in \"%zz\": '%' must be followed by two hex digits"
        );
    }

    #[test]
    fn typed_values() {
        let p: ModulePath = "github.com/Azure/go/v3".parse().unwrap();
        assert_eq!(p.escaped(), "github.com/!azure/go/v3");
        assert_eq!(p.split_version(), ("github.com/Azure/go", "/v3"));
        assert_eq!(
            ModulePath::from_escaped("github.com/!azure/go/v3").unwrap(),
            p
        );
        assert!("x".parse::<ModulePath>().is_err());
        let mv = ModuleVersion::new(p.clone(), "v3.1.0-RC1".parse().unwrap()).unwrap();
        assert_eq!(mv.to_string(), "github.com/Azure/go/v3@v3.1.0-RC1");
        assert_eq!(mv.escaped(), "github.com/!azure/go/v3@v3.1.0-!r!c1");
        assert!(ModuleVersion::new(p, "v2.0.0".parse().unwrap()).is_err());
        let json = serde_json::to_string(&mv).unwrap();
        assert_eq!(
            json,
            r#"{"path":"github.com/Azure/go/v3","version":"v3.1.0-RC1"}"#
        );
        let back: ModuleVersion = serde_json::from_str(&json).unwrap();
        assert_eq!(back, mv);
        assert!(serde_json::from_str::<ModulePath>(r#""nodot""#).is_err());
    }
}
