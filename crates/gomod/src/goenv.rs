//! GOPROXY and GOSUMDB values, parsed with the go command's rules
//! (`cmd/go/internal/modfetch/proxy.go` `proxyList`,
//! `cmd/go/internal/modfetch/sumdb.go` `dbDial`, `golang.org/x/mod/sumdb/note`
//! `NewVerifier`).
//!
//! ```
//! use gomod::goenv::{Fallback, ProxyKind, ProxyList, SumdbSpec};
//! let list: ProxyList = "corp.example:8443|https://mirror.example,direct".parse().unwrap();
//! assert_eq!(list.entries.len(), 3);
//! assert_eq!(list.entries[0].fallback, Fallback::OnAnyError);
//! assert_eq!(list.to_string(), "https://corp.example:8443/|https://mirror.example/,direct");
//!
//! let db: SumdbSpec = "sum.golang.org".parse().unwrap();
//! assert_eq!(db.name(), Some("sum.golang.org"));
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Go's default GOSUMDB, used when the variable is unset or empty.
pub const DEFAULT_GOSUMDB: &str = "sum.golang.org";

/// The built-in verifier key of the public checksum database (Go's
/// `knownGOSUMDB`).
pub const SUM_GOLANG_ORG_KEY: &str =
    "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

/// Why a GOPROXY or GOSUMDB value was rejected. Messages follow the go
/// command's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GoEnvError {
    /// `invalid proxy URL missing scheme: foo` (a single word that is not
    /// `direct`/`off`, or an absolute file path).
    #[error("invalid proxy URL missing scheme: {0}")]
    ProxyMissingScheme(String),
    /// `invalid proxy URL scheme (must be https, http, file): ftp://x`
    #[error("invalid proxy URL scheme (must be https, http, file): {0}")]
    ProxyBadScheme(String),
    /// `invalid file:// proxy URL with non-path elements: file://host/x`
    #[error("invalid file:// proxy URL with non-path elements: {0}")]
    ProxyFileNotPath(String),
    /// The URL does not parse. (Go prints its `net/url` error; ours comes from
    /// the `url` crate, whose wording differs.)
    #[error("invalid proxy URL {url}: {reason}")]
    ProxyUrl {
        /// The entry, with any password redacted.
        url: String,
        /// The parser's complaint.
        reason: String,
    },
    /// GOSUMDB is empty or only spaces (`missing GOSUMDB`).
    #[error("missing GOSUMDB")]
    SumdbMissing,
    /// More than `key url` (`invalid GOSUMDB: too many fields`).
    #[error("invalid GOSUMDB: too many fields")]
    SumdbTooManyFields,
    /// A bad verifier key (`invalid GOSUMDB: malformed verifier id`,
    /// `... invalid verifier hash`, `... unknown verifier algorithm`).
    #[error("invalid GOSUMDB: {0}")]
    SumdbKey(&'static str),
    /// The key's name is not `host[/path]`.
    #[error("invalid sumdb name (must be host[/path]): {0}")]
    SumdbName(String),
    /// The URL field does not parse.
    #[error("invalid GOSUMDB URL: {0}")]
    SumdbUrl(String),
}

// ---------------------------------------------------------------------------
// GOPROXY

/// When a request may move on to the next entry of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Fallback {
    /// The entry was followed by `,` (or is last): move on only after a 404
    /// or 410.
    #[default]
    OnNotFound,
    /// The entry was followed by `|`: move on after any error, timeouts
    /// included.
    OnAnyError,
}

/// What one GOPROXY entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// A proxy base URL (scheme https, http or file).
    Url(url::Url),
    /// `direct`: fetch from the version control system. Ends the list.
    Direct,
    /// `off`: fail with "module lookup disabled by GOPROXY=off". Ends the
    /// list.
    Off,
}

/// One GOPROXY entry and what the separator after it says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProxyEntry {
    /// The proxy.
    pub kind: ProxyKind,
    /// How errors from it fall through to the next entry.
    pub fallback: Fallback,
}

/// A parsed GOPROXY list.
///
/// Go's rules: entries are split at `,` and `|`; each is trimmed of spaces
/// and empty ones are skipped; `direct` and `off` end the list (the rest is
/// ignored); a word containing `.`, `:` or `/` but neither `:/` nor a
/// leading `/` gets `https://` in front; then the scheme must be https, http
/// or file, and a file URL may have nothing but a path.
///
/// URLs are parsed with the `url` crate (WHATWG rules), not Go's `net/url`.
/// To stay on Go's side, entries Go rejects for a malformed `%`-escape, a
/// `%` or `\` in the host, or an ASCII control character are rejected here
/// too. Known remaining differences, all on inputs that cannot work as a
/// proxy anyway: we reject an empty host (`https://`, `:8080`), hosts the
/// WHATWG rules refuse (spaces, bad IPv4 forms), and control characters in a
/// fragment, all of which Go accepts at parse time and fails on at request
/// time; we accept some odd user-info characters (`[`, non-ASCII) that Go
/// refuses. Checked against Go's logic on ~50,000 generated values: the
/// entry kinds and separators agree whenever both accept.
///
/// An empty value parses to an empty list. The go command treats an unset
/// or empty GOPROXY as its built-in default (`$GOROOT/go.env`), and a value with no entries
/// (`","`) like `off`; [`ProxyList::is_empty`] lets the caller decide.
///
/// `Display` writes the list back in normal form: URLs as the `url` crate
/// serializes them (`https://host` -> `https://host/`), each entry followed
/// by the separator its [`Fallback`] stands for (a `,` after the last entry
/// is left out; a `|` there is kept, although nothing follows it). Parsing
/// that text gives an equal list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ProxyList {
    /// The entries in order.
    pub entries: Vec<ProxyEntry>,
}

impl ProxyList {
    /// Parses a GOPROXY value.
    pub fn parse(value: &str) -> Result<Self, GoEnvError> {
        let mut entries = Vec::new();
        let mut rest = value;
        while !rest.is_empty() {
            let (raw, fallback) = match rest.find([',', '|']) {
                Some(i) => {
                    let fb = if rest.as_bytes()[i] == b'|' {
                        Fallback::OnAnyError
                    } else {
                        Fallback::OnNotFound
                    };
                    let raw = &rest[..i];
                    rest = &rest[i + 1..];
                    (raw, fb)
                }
                None => {
                    let raw = rest;
                    rest = "";
                    (raw, Fallback::OnNotFound)
                }
            };
            // Go trims with strings.TrimSpace (Unicode White_Space).
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            if raw == "off" {
                entries.push(ProxyEntry {
                    kind: ProxyKind::Off,
                    fallback: Fallback::OnNotFound,
                });
                break;
            }
            if raw == "direct" {
                entries.push(ProxyEntry {
                    kind: ProxyKind::Direct,
                    fallback: Fallback::OnNotFound,
                });
                break;
            }
            let url = parse_proxy_url(raw)?;
            entries.push(ProxyEntry {
                kind: ProxyKind::Url(url),
                fallback,
            });
        }
        Ok(ProxyList { entries })
    }

    /// Whether the list has no entries (see the type's docs).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the first entry is `off`: every lookup fails.
    pub fn is_off(&self) -> bool {
        matches!(
            self.entries.first(),
            Some(ProxyEntry {
                kind: ProxyKind::Off,
                ..
            })
        )
    }

    /// The proxy URLs in order (without `direct`/`off`).
    pub fn urls(&self) -> impl Iterator<Item = &url::Url> {
        self.entries.iter().filter_map(|e| match &e.kind {
            ProxyKind::Url(u) => Some(u),
            _ => None,
        })
    }
}

/// A URL with any password replaced by `xxxxx`, as Go's `URL.Redacted`.
fn redacted(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("xxxxx"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

fn parse_proxy_url(raw: &str) -> Result<url::Url, GoEnvError> {
    // Single words are reserved for built-in behaviours; anything with ":/"
    // or an absolute path must be a complete URL; the rest gets https://.
    // (Go also honours Windows absolute paths there; we follow Unix.)
    let text = if raw.contains(['.', ':', '/']) && !raw.contains(":/") && !raw.starts_with('/') {
        format!("https://{raw}")
    } else {
        raw.to_string()
    };
    // net/url refuses ASCII control characters; the url crate would quietly
    // drop tabs and newlines instead, changing what the text means.
    if text.chars().any(|c| c.is_ascii_control()) {
        return Err(GoEnvError::ProxyUrl {
            url: redacted(&text),
            reason: "invalid control character in URL".into(),
        });
    }
    let scheme = go_url_scheme(&text);
    match scheme.as_deref() {
        None => return Err(GoEnvError::ProxyMissingScheme(redacted(&text))),
        Some("http" | "https" | "file") => {}
        Some(_) => return Err(GoEnvError::ProxyBadScheme(redacted(&text))),
    }
    let bad = |reason: &str| GoEnvError::ProxyUrl {
        url: redacted(&text),
        reason: reason.to_string(),
    };
    // net/url rejects a malformed %-escape everywhere but in the query.
    if !valid_escapes_outside_query(&text) {
        return Err(bad("invalid URL escape"));
    }
    // net/url allows %-escapes in a host only for non-ASCII bytes (and %25 in
    // IPv6 zones); the url crate would decode any, so "a%2Cb" could turn
    // into a host with a list separator in it. Refuse them all.
    if let Some(rest) = text.split_once("//").map(|(_, r)| r) {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        if host.contains('%') {
            return Err(bad("invalid URL escape in host"));
        }
        if host.contains('\\') {
            return Err(bad("invalid character \"\\\\\" in host name"));
        }
    }
    let url = url::Url::parse(&text).map_err(|e| bad(&e.to_string()))?;
    // The list is written back with ',' and '|' as separators.
    if url.as_str().contains([',', '|']) {
        return Err(bad("URL contains a list separator"));
    }
    if url.scheme() == "file" {
        // Go requires url.URL{Scheme, Path, RawPath} and nothing else: no
        // host (even "localhost", which the url crate would drop), no user,
        // query or fragment, and not the opaque form "file:x".
        let after = &text[text.find(':').map_or(0, |i| i + 1)..];
        let authority_empty = match after.strip_prefix("//") {
            Some(a) => a.is_empty() || a.starts_with('/'),
            None => after.starts_with('/'),
        };
        let no_host = url.host_str().is_none_or(str::is_empty);
        if !authority_empty || !no_host || text.contains(['?', '#']) {
            return Err(GoEnvError::ProxyFileNotPath(redacted(&text)));
        }
    }
    Ok(url)
}

/// Whether every `%` outside the query (`?...` up to `#`) starts a valid
/// `%XX` escape.
fn valid_escapes_outside_query(text: &str) -> bool {
    let b = text.as_bytes();
    let mut in_query = false;
    let mut in_fragment = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'?' if !in_fragment => in_query = true,
            b'#' if !in_fragment => {
                in_query = false;
                in_fragment = true;
            }
            b'%' if !in_query => {
                let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
                if !ok {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    true
}

/// The scheme as Go's `url.Parse` sees it: letters, digits, `+-.` starting
/// with a letter, before the first `:`; lower-cased. `None` if there is no
/// scheme. (Go rejects a leading digit or ':' with "missing protocol
/// scheme"; either way the entry is unusable.)
fn go_url_scheme(text: &str) -> Option<String> {
    let i = text.find(':')?;
    let s = &text[..i];
    let mut chars = s.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return None;
    }
    Some(s.to_ascii_lowercase())
}

impl FromStr for ProxyList {
    type Err = GoEnvError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProxyList::parse(s)
    }
}

impl fmt::Display for ProxyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.entries.len().saturating_sub(1);
        for (i, e) in self.entries.iter().enumerate() {
            match &e.kind {
                ProxyKind::Url(u) => f.write_str(u.as_str())?,
                ProxyKind::Direct => f.write_str("direct")?,
                ProxyKind::Off => f.write_str("off")?,
            }
            match e.fallback {
                Fallback::OnAnyError => f.write_str("|")?,
                Fallback::OnNotFound if i < last => f.write_str(",")?,
                Fallback::OnNotFound => {}
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// GOSUMDB

/// A parsed GOSUMDB value.
///
/// Forms: `off`; `name` (only for a database with a built-in key:
/// `sum.golang.org`); `name+hash+key`; either of those followed by a URL,
/// which is then used directly, bypassing proxies. `sum.golang.google.cn` is
/// Go's alias for `sum.golang.org https://sum.golang.google.cn`.
///
/// The URL field must be an absolute URL (the `url` crate's rules); Go's
/// `net/url` also accepts relative references there, which then fail when
/// used.
///
/// The go command treats an unset or empty GOSUMDB as [`DEFAULT_GOSUMDB`];
/// [`SumdbSpec::parse`] itself reports an empty value as
/// [`GoEnvError::SumdbMissing`], as `dbDial` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SumdbSpec {
    /// `off`: no checksum database.
    Off,
    /// A checksum database.
    Db {
        /// The database name (`sum.golang.org`), the `host[/path]` it is
        /// reached at unless `url` says otherwise.
        name: String,
        /// The full verifier key `name+hash+key`, checked for form and hash.
        /// Always present after parsing: a bare name is resolved to its
        /// built-in key, and a name without one is an error, as in Go.
        key: String,
        /// An explicit URL to reach it at, bypassing proxies.
        url: Option<url::Url>,
    },
}

impl SumdbSpec {
    /// Parses a GOSUMDB value.
    pub fn parse(value: &str) -> Result<Self, GoEnvError> {
        let value = if value == "sum.golang.google.cn" {
            "sum.golang.org https://sum.golang.google.cn"
        } else {
            value
        };
        if value == "off" {
            return Ok(SumdbSpec::Off);
        }
        let fields: Vec<&str> = value.split_whitespace().collect();
        let Some(&first) = fields.first() else {
            return Err(GoEnvError::SumdbMissing);
        };
        if fields.len() > 2 {
            return Err(GoEnvError::SumdbTooManyFields);
        }
        let key = if first == "sum.golang.org" {
            SUM_GOLANG_ORG_KEY
        } else {
            first
        };
        let name = check_verifier_key(key).map_err(GoEnvError::SumdbKey)?;
        check_sumdb_name(name)?;
        let url = match fields.get(1) {
            Some(u) => {
                Some(url::Url::parse(u).map_err(|e| GoEnvError::SumdbUrl(format!("{e}: {u}")))?)
            }
            None => None,
        };
        Ok(SumdbSpec::Db {
            name: name.to_string(),
            key: key.to_string(),
            url,
        })
    }

    /// The database name, or `None` for `off`.
    pub fn name(&self) -> Option<&str> {
        match self {
            SumdbSpec::Off => None,
            SumdbSpec::Db { name, .. } => Some(name),
        }
    }

    /// Whether this is the public database (by name).
    pub fn is_public_default(&self) -> bool {
        self.name() == Some("sum.golang.org")
    }
}

impl FromStr for SumdbSpec {
    type Err = GoEnvError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SumdbSpec::parse(s)
    }
}

impl fmt::Display for SumdbSpec {
    /// Writes a value that parses back to an equal spec: `off`, or the key
    /// (the bare name for `sum.golang.org` with its built-in key), then the
    /// URL if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SumdbSpec::Off => f.write_str("off"),
            SumdbSpec::Db { name, key, url } => {
                if name == "sum.golang.org" && key == SUM_GOLANG_ORG_KEY {
                    f.write_str(name)?;
                } else {
                    f.write_str(key)?;
                }
                if let Some(u) = url {
                    write!(f, " {u}")?;
                }
                Ok(())
            }
        }
    }
}

/// Checks a verifier key `name+hash+key` as `note.NewVerifier` does and
/// returns the name. The error strings are Go's.
pub fn check_verifier_key(vkey: &str) -> Result<&str, &'static str> {
    const ID: &str = "malformed verifier id";
    let (name, rest) = vkey.split_once('+').unwrap_or((vkey, ""));
    let (hash16, key64) = rest.split_once('+').unwrap_or((rest, ""));
    let name_ok = !name.is_empty() && !name.chars().any(char::is_whitespace) && !name.contains('+');
    if hash16.len() != 8 || !hash16.bytes().all(|b| b.is_ascii_hexdigit()) || !name_ok {
        return Err(ID);
    }
    let hash = u32::from_str_radix(hash16, 16).map_err(|_| ID)?;
    // Go's StdEncoding: padded, and lenient about non-zero trailing bits.
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    let key = engine.decode(key64).map_err(|_| ID)?;
    if key.is_empty() {
        return Err(ID);
    }
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(&key);
    let sum = h.finalize();
    if u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]]) != hash {
        return Err("invalid verifier hash");
    }
    match key[0] {
        1 if key.len() == 33 => Ok(name),
        1 => Err(ID),
        _ => Err("unknown verifier algorithm"),
    }
}

/// Go accepts a sumdb name only if `https://<name>` parses to nothing but a
/// host and an unescaped path, and the name does not end in `/`.
fn check_sumdb_name(name: &str) -> Result<(), GoEnvError> {
    let bad = || GoEnvError::SumdbName(name.to_string());
    if name.ends_with('/') || name.starts_with('/') {
        return Err(bad());
    }
    // Characters that would make net/url see a user, query, fragment or
    // escaped path, or that it refuses in a host.
    if name.contains(['@', '?', '#', '%', '\\']) || name.chars().any(|c| c.is_control()) {
        return Err(bad());
    }
    let u = url::Url::parse(&format!("https://{name}")).map_err(|_| bad())?;
    if u.host_str().is_none_or(str::is_empty) || !u.username().is_empty() || u.password().is_some()
    {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(list: &ProxyList) -> Vec<String> {
        list.entries
            .iter()
            .map(|e| {
                let k = match &e.kind {
                    ProxyKind::Url(u) => u.to_string(),
                    ProxyKind::Direct => "direct".into(),
                    ProxyKind::Off => "off".into(),
                };
                match e.fallback {
                    Fallback::OnNotFound => k,
                    Fallback::OnAnyError => format!("{k}|"),
                }
            })
            .collect()
    }

    #[test]
    fn goproxy_lists() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            (",", &[]),
            (" , |", &[]),
            ("direct", &["direct"]),
            ("off", &["off"]),
            ("off,https://a.example", &["off"]),
            ("direct|https://a.example", &["direct"]),
            (
                "https://proxy.example.com,direct",
                &["https://proxy.example.com/", "direct"],
            ),
            ("proxy.example", &["https://proxy.example/"]),
            ("localhost:8080", &["https://localhost:8080/"]),
            (
                "http://127.0.0.1:3000/x/|file:///srv/mods, direct ,ignored",
                &["http://127.0.0.1:3000/x/|", "file:///srv/mods", "direct"],
            ),
            (
                "a.example|b.example|",
                &["https://a.example/|", "https://b.example/|"],
            ),
        ];
        for (value, want) in cases {
            let got = ProxyList::parse(value).unwrap();
            assert_eq!(kinds(&got), *want, "{value:?}");
        }
        assert!(ProxyList::parse("off").unwrap().is_off());
        assert!(ProxyList::parse("").unwrap().is_empty());
        let d = ProxyList::parse("https://proxy.example.com,direct").unwrap();
        assert_eq!(d.to_string(), "https://proxy.example.com/,direct");
    }

    #[test]
    fn goproxy_errors() {
        let cases = [
            ("noproxy", "invalid proxy URL missing scheme: noproxy"),
            ("/srv/mods", "invalid proxy URL missing scheme: /srv/mods"),
            (
                "ftp://mirror.example",
                "invalid proxy URL scheme (must be https, http, file): ftp://mirror.example",
            ),
            (
                "gopher://u:secret@h.example",
                "invalid proxy URL scheme (must be https, http, file): gopher://u:xxxxx@h.example",
            ),
            (
                "file://host/srv",
                "invalid file:// proxy URL with non-path elements: file://host/srv",
            ),
            (
                "file:///srv?x=1",
                "invalid file:// proxy URL with non-path elements: file:///srv?x=1",
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                ProxyList::parse(value).unwrap_err().to_string(),
                want,
                "{value}"
            );
        }
        assert!(matches!(
            ProxyList::parse("https://exa mple.com"),
            Err(GoEnvError::ProxyUrl { .. })
        ));
        // No ":/", so Go prefixes https:// and then the port is bad.
        assert!(matches!(
            ProxyList::parse("file:srv"),
            Err(GoEnvError::ProxyUrl { .. })
        ));
        assert!(matches!(
            ProxyList::parse("file:/\n/host/x"),
            Err(GoEnvError::ProxyUrl { .. })
        ));
        // Errors come from the first bad entry even after good ones.
        assert!(ProxyList::parse("https://ok.example,bad").is_err());
        // ... but not after direct/off, which end the list.
        assert!(ProxyList::parse("direct,bad").is_ok());
    }

    #[test]
    fn goproxy_display_round_trips() {
        for v in [
            "https://a.example|http://b.example:81/p,file:///x,off",
            "a.example,b.example|direct",
            "",
        ] {
            let l = ProxyList::parse(v).unwrap();
            assert_eq!(ProxyList::parse(&l.to_string()).unwrap(), l, "{v}");
        }
    }

    /// Inputs the fuzzer found where `Display` did not parse back.
    #[test]
    fn fuzz_found_goproxy_cases() {
        // A trailing '|' must survive Display.
        let l = ProxyList::parse("Qx../1mycotx|").unwrap();
        assert_eq!(l.to_string(), "https://qx../1mycotx|");
        assert_eq!(ProxyList::parse(&l.to_string()).unwrap(), l);
        // The url crate drops newlines; net/url refuses control characters.
        assert!(ProxyList::parse("file:/\n\n/o\n-.1F/o").is_err());
        // The url crate decodes %2C in a host into a list separator.
        assert!(ProxyList::parse("!om0.%2C.ttt").is_err());
        // net/url refuses bad %-escapes outside the query, and '\\' in hosts.
        assert!(ProxyList::parse("a.example/%zz").is_err());
        assert!(ProxyList::parse("a.example#%zz").is_err());
        assert!(ProxyList::parse("https://a.example/?q=%zz").is_ok());
        assert!(ProxyList::parse("https://a\\b.example/").is_err());
        // ... but a %-escape in the user name is fine.
        let l = ProxyList::parse("ex.0****-a^[@****X").unwrap();
        assert_eq!(ProxyList::parse(&l.to_string()).unwrap(), l);
    }

    #[test]
    fn gosumdb_forms() {
        assert_eq!(SumdbSpec::parse("off").unwrap(), SumdbSpec::Off);
        let d = SumdbSpec::parse("sum.golang.org").unwrap();
        assert_eq!(
            d,
            SumdbSpec::Db {
                name: "sum.golang.org".into(),
                key: SUM_GOLANG_ORG_KEY.into(),
                url: None
            }
        );
        assert_eq!(d.to_string(), "sum.golang.org");
        assert!(d.is_public_default());
        let full = SumdbSpec::parse(SUM_GOLANG_ORG_KEY).unwrap();
        assert_eq!(full, d);
        let cn = SumdbSpec::parse("sum.golang.google.cn").unwrap();
        assert_eq!(cn.name(), Some("sum.golang.org"));
        match &cn {
            SumdbSpec::Db { url: Some(u), .. } => {
                assert_eq!(u.as_str(), "https://sum.golang.google.cn/")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(SumdbSpec::parse(&cn.to_string()).unwrap(), cn);
        let with_url =
            SumdbSpec::parse(&format!("  {SUM_GOLANG_ORG_KEY}\thttp://127.0.0.1:9/ ")).unwrap();
        assert_eq!(SumdbSpec::parse(&with_url.to_string()).unwrap(), with_url);
    }

    #[test]
    fn gosumdb_errors() {
        let cases = [
            ("", "missing GOSUMDB"),
            ("  ", "missing GOSUMDB"),
            ("a b c", "invalid GOSUMDB: too many fields"),
            ("sumdb.example", "invalid GOSUMDB: malformed verifier id"),
            (
                "sum.golang.org+033de0af+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
                "invalid GOSUMDB: invalid verifier hash",
            ),
            (
                "other.example+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
                "invalid GOSUMDB: invalid verifier hash",
            ),
            (
                "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8 ::bad",
                "invalid GOSUMDB URL: relative URL without a base: ::bad",
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                SumdbSpec::parse(value).unwrap_err().to_string(),
                want,
                "{value:?}"
            );
        }
    }

    /// A key made here for a name of our choosing, to test names and the
    /// algorithm byte without a network.
    fn make_key(name: &str, alg: u8, len: usize) -> String {
        let mut key = vec![alg];
        key.extend(std::iter::repeat_n(7u8, len));
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update(&key);
        let sum = h.finalize();
        let hash = u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
        format!("{name}+{hash:08x}+{b64}")
    }

    #[test]
    fn verifier_keys() {
        let k = make_key("sumdb.test.example/sub", 1, 32);
        let spec = SumdbSpec::parse(&k).unwrap();
        assert_eq!(spec.name(), Some("sumdb.test.example/sub"));
        assert_eq!(spec.to_string(), k);
        assert_eq!(
            check_verifier_key(&make_key("x.example", 2, 32)),
            Err("unknown verifier algorithm")
        );
        assert_eq!(
            check_verifier_key(&make_key("x.example", 1, 31)),
            Err("malformed verifier id")
        );
        for name in [
            "x.example/",
            "u@x.example",
            "x.example?q",
            "x.example#f",
            "x.example/%41",
        ] {
            let e = SumdbSpec::parse(&make_key(name, 1, 32)).unwrap_err();
            assert!(matches!(e, GoEnvError::SumdbName(_)), "{name}: {e}");
        }
    }
}
