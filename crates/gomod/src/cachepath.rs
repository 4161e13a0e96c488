//! Inferring `module@version` from where a file sits: a GOMODCACHE download
//! path (`.../cache/download/<esc mod>/@v/<esc ver>.zip`), an extracted module
//! directory (`<GOMODCACHE>/<esc mod>@<esc ver>`), or the common
//! `module@version/` prefix of a zip's entries.

use std::path::{Component, Path};

use crate::module;
use crate::rawzip::{ZipArchive, ZipFormatError};

/// A module path and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModVer {
    /// Module path (un-escaped).
    pub module: String,
    /// Version (un-escaped).
    pub version: String,
}

fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// For `.../cache/download/<esc mod>/@v/<esc ver>.<ext>`, the module, version
/// and extension (`zip`, `mod`, `info`, `ziphash`).
pub fn from_download_path(path: &Path) -> Option<(ModVer, String)> {
    let c = components(path);
    let n = c.len();
    if n < 5 || c[n - 2] != "@v" {
        return None;
    }
    let file = &c[n - 1];
    let (stem, ext) = file.rsplit_once('.')?;
    // The module path lies between ".../cache/download/" and "/@v/".
    let start = (0..n.saturating_sub(3))
        .rev()
        .find(|&i| c[i] == "cache" && c.get(i + 1).is_some_and(|d| d == "download"))?;
    let esc_mod = c[start + 2..n - 2].join("/");
    let module = module::unescape_path(&esc_mod).ok()?;
    let version = module::unescape_version(stem).ok()?;
    Some((ModVer { module, version }, ext.to_string()))
}

/// For an extracted module directory `<GOMODCACHE>/<esc mod>@<esc ver>`, the
/// module and version. The cache root is recognised by its `cache/download`
/// directory; without one, the shortest trailing run of path elements that
/// un-escapes to a valid module path is taken.
pub fn from_extracted_dir(dir: &Path) -> Option<ModVer> {
    let abs = std::path::absolute(dir).ok()?;
    let c = components(&abs);
    let last = c.last()?;
    let (last_mod, esc_ver) = last.rsplit_once('@')?;
    let version = module::unescape_version(esc_ver).ok()?;
    let n = c.len();
    let build = |start: usize| -> Option<String> {
        let mut parts: Vec<&str> = c[start..n - 1].iter().map(String::as_str).collect();
        parts.push(last_mod);
        module::unescape_path(&parts.join("/")).ok()
    };
    // A GOMODCACHE root among the ancestors.
    let mut anc = abs.parent();
    let mut depth = 1usize;
    while let Some(a) = anc {
        if a.join("cache").join("download").is_dir() {
            let start = n - depth;
            if let Some(module) = build(start) {
                return Some(ModVer { module, version });
            }
            break;
        }
        anc = a.parent();
        depth += 1;
    }
    (0..n).rev().find_map(|start| {
        build(start).map(|module| ModVer {
            module,
            version: version.clone(),
        })
    })
}

/// The `module@version/` prefix shared by every entry of a zip, if there is
/// one and it names a valid module and version.
pub fn from_zip_prefix(path: &Path) -> Result<Option<ModVer>, ZipFormatError> {
    let f = std::fs::File::open(path)?;
    let z = ZipArchive::new(f)?;
    let mut prefix: Option<&[u8]> = None;
    for e in z.entries() {
        let name = e.name.as_slice();
        let Some(at) = name.iter().position(|&b| b == b'@') else {
            return Ok(None);
        };
        let Some(slash) = name[at..].iter().position(|&b| b == b'/') else {
            return Ok(None);
        };
        let p = &name[..at + slash + 1];
        match prefix {
            None => prefix = Some(p),
            Some(q) if q == p => {}
            Some(_) => return Ok(None),
        }
    }
    let Some(p) = prefix else { return Ok(None) };
    let Ok(p) = std::str::from_utf8(&p[..p.len() - 1]) else {
        return Ok(None);
    };
    let Some((m, v)) = p.split_once('@') else {
        return Ok(None);
    };
    if module::check(m, v).is_err() {
        return Ok(None);
    }
    Ok(Some(ModVer {
        module: m.to_string(),
        version: v.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_paths() {
        let (mv, ext) = from_download_path(Path::new(
            "/home/u/go/pkg/mod/cache/download/github.com/!azure/x/v2/@v/v2.0.0-!r!c1.zip",
        ))
        .unwrap();
        assert_eq!(mv.module, "github.com/Azure/x/v2");
        assert_eq!(mv.version, "v2.0.0-RC1");
        assert_eq!(ext, "zip");
        assert!(from_download_path(Path::new("/tmp/x/@v/v1.0.0.zip")).is_none());
    }

    #[test]
    fn extracted_dirs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("x.y");
        std::fs::create_dir_all(root.join("cache/download")).unwrap();
        let m = root.join("github.com/!azure/foo@v1.2.3");
        std::fs::create_dir_all(&m).unwrap();
        let mv = from_extracted_dir(&m).unwrap();
        assert_eq!(mv.module, "github.com/Azure/foo");
        assert_eq!(mv.version, "v1.2.3");
        // Without a cache root: the shortest valid module path.
        let m2 = d.path().join("a/example.com/m@v1.0.0");
        std::fs::create_dir_all(&m2).unwrap();
        assert_eq!(from_extracted_dir(&m2).unwrap().module, "example.com/m");
    }
}
