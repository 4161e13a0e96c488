//! The relative keys every backend uses (see the crate docs for the layout).
//!
//! Keys are `/`-separated and never contain `.` or `..` elements, a leading
//! `/`, a backslash or control characters, whatever the caller passes.

use gomod::escape::{escape_string, unescape_string};

use crate::{Digest, DocKey, Error, RecordKey, Result};

/// Key of the layout file.
pub const META: &str = "meta.toml";
/// Prefix of blobs.
pub const DATA_PREFIX: &str = "data/sha256";
/// Prefix of records.
pub const INDEX_PREFIX: &str = "index";
/// Prefix of documents.
pub const DOCS_PREFIX: &str = "docs";
/// Prefix of quarantined blobs.
pub const QUARANTINE_PREFIX: &str = "quarantine/sha256";

/// `data/sha256/ab/abcdef...`.
pub fn blob(d: &Digest) -> String {
    let h = d.hex();
    format!("{DATA_PREFIX}/{}/{h}", &h[..2])
}

/// `quarantine/sha256/<hex>.<unix nanos>`.
pub fn quarantine(d: &Digest, nanos: i128) -> String {
    format!("{QUARANTINE_PREFIX}/{}.{nanos}", d.hex())
}

/// `quarantine/index/<record key below index/>.<unix nanos>`: an unreadable
/// record moved aside when a verified one replaces it.
pub fn quarantine_record(record_key: &str, nanos: i128) -> String {
    let below = record_key
        .strip_prefix(INDEX_PREFIX)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(record_key);
    format!("quarantine/{INDEX_PREFIX}/{below}.{nanos}")
}

/// Parses the last two elements of a blob key (`ab`, `abcdef...`).
pub fn parse_blob(dir: &str, name: &str) -> Option<Digest> {
    let d = Digest::parse(name).ok()?;
    (name.len() == 64 && dir == &name[..2]).then_some(d)
}

fn invalid(input: &str, reason: &str) -> Error {
    Error::InvalidKey {
        input: input.to_string(),
        reason: reason.to_string(),
    }
}

fn check_element(input: &str, el: &str, what: &str) -> Result<()> {
    if el.is_empty() {
        return Err(invalid(input, &format!("{what} has an empty path element")));
    }
    if el == "." || el == ".." {
        return Err(invalid(input, &format!("{what} has a {el:?} path element")));
    }
    if el.starts_with('.') && what == "module path" {
        return Err(invalid(
            input,
            &format!("{what} element {el:?} starts with a dot"),
        ));
    }
    if let Some(c) = el
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '\\' | '@' | ':' | '%' | '!'))
    {
        return Err(invalid(
            input,
            &format!("{what} contains the character {c:?}"),
        ));
    }
    Ok(())
}

/// Escaped module path, checked to be a safe relative path.
pub fn module_path(module: &str) -> Result<String> {
    if module.is_empty() {
        return Err(invalid(module, "empty module path"));
    }
    for el in module.split('/') {
        check_element(module, el, "module path")?;
    }
    Ok(escape_string(module))
}

fn version(v: &str) -> Result<String> {
    if v.contains('/') {
        return Err(invalid(v, "version contains '/'"));
    }
    check_element(v, v, "version")?;
    Ok(escape_string(v))
}

/// `index/<escaped module>/@v/<escaped version>.json`.
pub fn record(k: &RecordKey) -> Result<String> {
    Ok(format!(
        "{INDEX_PREFIX}/{}/@v/{}.json",
        module_path(&k.module)?,
        version(&k.version)?
    ))
}

/// Parses the part of a record key after `index/`.
pub fn parse_record(rel: &str) -> Option<RecordKey> {
    let (m, v) = rel.rsplit_once("/@v/")?;
    let v = v.strip_suffix(".json")?;
    let module = unescape_string(m).ok()?;
    let version = unescape_string(v).ok()?;
    let k = RecordKey { module, version };
    // Only keys we could have written.
    (record(&k).ok()? == format!("{INDEX_PREFIX}/{rel}")).then_some(k)
}

/// Escapes a free-form query into one safe path element: case-escaped, then
/// every byte outside `[a-z0-9_!-]` as `%XX`.
fn query(q: &str) -> Result<String> {
    if q.is_empty() {
        return Err(invalid(q, "empty query"));
    }
    let mut out = String::new();
    for b in escape_string(q).bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'!' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

fn sumdb_name(n: &str) -> Result<String> {
    if n.contains('/') {
        return Err(invalid(n, "checksum database name contains '/'"));
    }
    check_element(n, n, "checksum database name")?;
    Ok(escape_string(n))
}

fn tile_path(p: &str) -> Result<String> {
    if !p.starts_with("tile/") {
        return Err(invalid(p, "tile path does not start with \"tile/\""));
    }
    for el in p.split('/') {
        check_element(p, el, "tile path")?;
    }
    Ok(escape_string(p))
}

/// The key of a document.
pub fn doc(k: &DocKey) -> Result<String> {
    Ok(match k {
        DocKey::List(m) => format!("{DOCS_PREFIX}/mod/{}/@v/list", module_path(m)?),
        DocKey::Latest(m) => format!("{DOCS_PREFIX}/mod/{}/@latest", module_path(m)?),
        DocKey::Query(m, q) => {
            format!("{DOCS_PREFIX}/mod/{}/@query/{}", module_path(m)?, query(q)?)
        }
        DocKey::SumdbLookup {
            db,
            module,
            version,
        } => format!(
            "{DOCS_PREFIX}/mod/{}/@query/{}",
            module_path(module)?,
            query(&format!("sumdb-lookup:{db}@{version}"))?
        ),
        DocKey::SumdbLatest(n) => format!("{DOCS_PREFIX}/sumdb/{}/latest", sumdb_name(n)?),
        DocKey::SumdbTile(n, p) => {
            format!("{DOCS_PREFIX}/sumdb/{}/{}", sumdb_name(n)?, tile_path(p)?)
        }
        DocKey::Access => format!("{DOCS_PREFIX}/access.json"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_round_trip_and_escape_capitals() {
        let k = RecordKey::new("github.com/Azure/go-sdk~x", "v1.2.3-RC.1");
        let key = record(&k).unwrap();
        assert_eq!(
            key,
            "index/github.com/!azure/go-sdk~x/@v/v1.2.3-!r!c.1.json"
        );
        let rel = key.strip_prefix("index/").unwrap();
        assert_eq!(parse_record(rel), Some(k));
    }

    #[test]
    fn unsafe_keys_are_refused() {
        for m in [
            "",
            "/abs",
            "a//b",
            "a/../b",
            "a/./b",
            "a\\b",
            "a/b@v",
            "a/.hidden",
            "a\nb",
        ] {
            assert!(module_path(m).is_err(), "{m:?}");
        }
        for v in ["", "..", "v1/2", "v1\0", "v1 2"] {
            assert!(
                record(&RecordKey::new("example.com/m", v)).is_err(),
                "{v:?}"
            );
        }
        assert!(doc(&DocKey::SumdbTile("sum".into(), "tile/../x".into())).is_err());
        assert!(doc(&DocKey::SumdbTile("sum".into(), "x/8".into())).is_err());
    }

    #[test]
    fn sumdb_lookups_stay_where_earlier_layouts_kept_them() {
        let typed = DocKey::SumdbLookup {
            db: "sum.golang.org".into(),
            module: "github.com/Foo/bar".into(),
            version: "v1.0.0".into(),
        };
        let old = DocKey::Query(
            "github.com/Foo/bar".into(),
            "sumdb-lookup:sum.golang.org@v1.0.0".into(),
        );
        assert_eq!(doc(&typed).unwrap(), doc(&old).unwrap());
    }

    #[test]
    fn queries_become_one_safe_element() {
        let k = doc(&DocKey::Query(
            "example.com/m".into(),
            "../Master>=v1 x".into(),
        ))
        .unwrap();
        assert_eq!(
            k,
            "docs/mod/example.com/m/@query/%2E%2E%2F!master%3E%3Dv1%20x"
        );
    }

    #[test]
    fn blob_keys_parse_back() {
        let d = Digest::of(b"x");
        let k = blob(&d);
        let mut parts = k.rsplit('/');
        let name = parts.next().unwrap();
        let dir = parts.next().unwrap();
        assert_eq!(parse_blob(dir, name), Some(d));
        assert_eq!(parse_blob("00", name), None);
    }
}
