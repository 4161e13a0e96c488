//! Fixture module versions built in memory: `.info`, `.mod`, `.zip` bytes and
//! their `h1:` hashes.
//!
//! Zips are written with `gomod::zip::ZipBuilder` the way the go command
//! writes them (one deflated entry per file, `module@version/` prefix, no
//! directory entries); hashes come from `gomod::dirhash`.

use std::collections::BTreeMap;
use std::io::Cursor;

use sumdb::server::TreeBuilder;

/// One module version as a proxy serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleVersion {
    /// Module path (unescaped).
    pub path: String,
    /// Version (unescaped, canonical).
    pub version: String,
    /// RFC 3339 time in `.info`.
    pub time: String,
    /// The `.info` body.
    pub info_json: Vec<u8>,
    /// The `.mod` body.
    pub gomod: Vec<u8>,
    /// The `.zip` body.
    pub zip: Vec<u8>,
    /// `h1:` of the zip.
    pub zip_h1: String,
    /// `h1:` of the go.mod.
    pub gomod_h1: String,
}

impl ModuleVersion {
    /// Builds a module version from files relative to the module root. The
    /// `.mod` is the `go.mod` file if given, else `module <path>\n` (as the
    /// go command synthesizes for modules without one, e.g. `+incompatible`).
    pub fn from_files(path: &str, version: &str, files: &[(&str, &[u8])]) -> Self {
        let time = "2024-01-01T00:00:00Z".to_string();
        Self::with_time(path, version, &time, files)
    }

    /// Like [`ModuleVersion::from_files`] with an explicit `.info` time.
    pub fn with_time(path: &str, version: &str, time: &str, files: &[(&str, &[u8])]) -> Self {
        let mut sorted: BTreeMap<&str, &[u8]> = BTreeMap::new();
        for (name, data) in files {
            sorted.insert(name, data);
        }
        let gomod = sorted
            .get("go.mod")
            .map(|d| d.to_vec())
            .unwrap_or_else(|| format!("module {path}\n").into_bytes());

        let mut w = gomod::zip::ZipBuilder::new(Vec::new());
        for (name, data) in &sorted {
            w.add_file(&format!("{path}@{version}/{name}"), data)
                .expect("zip entry");
        }
        let zip = w.finish().expect("zip finish");
        let zip_h1 = gomod::dirhash::hash_zip(Cursor::new(&zip)).expect("hash fixture zip");
        let gomod_h1 = gomod::dirhash::hash_gomod(&gomod);
        let info_json = serde_json::json!({ "Version": version, "Time": time })
            .to_string()
            .into_bytes();
        ModuleVersion {
            path: path.to_string(),
            version: version.to_string(),
            time: time.to_string(),
            info_json,
            gomod,
            zip,
            zip_h1,
            gomod_h1,
        }
    }

    /// A small module: go.mod, one Go file and a README.
    pub fn simple(path: &str, version: &str) -> Self {
        let pkg = path
            .rsplit('/')
            .find(|e| !is_major_suffix(e))
            .unwrap_or("m")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let pkg = if pkg.is_empty() || pkg.starts_with(|c: char| c.is_ascii_digit()) {
            format!("p{pkg}")
        } else {
            pkg
        };
        let gomod = format!("module {path}\n\ngo 1.21\n");
        let src = format!(
            "package {pkg}\n\n// Version is the fixture version.\nconst Version = \"{version}\"\n"
        );
        let readme = format!("{path} {version}\n");
        Self::from_files(
            path,
            version,
            &[
                ("go.mod", gomod.as_bytes()),
                (&format!("{pkg}.go"), src.as_bytes()),
                ("README.md", readme.as_bytes()),
            ],
        )
    }

    /// `module@version`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.path, self.version)
    }
}

fn is_major_suffix(e: &str) -> bool {
    e.len() >= 2 && e.starts_with('v') && e[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A set of module versions served by the fixture server.
#[derive(Debug, Clone, Default)]
pub struct FixtureSet {
    modules: BTreeMap<String, BTreeMap<String, ModuleVersion>>,
}

impl FixtureSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a module version.
    pub fn add(&mut self, mv: ModuleVersion) -> &mut Self {
        self.modules
            .entry(mv.path.clone())
            .or_default()
            .insert(mv.version.clone(), mv);
        self
    }

    /// A varied set: plain, upper-case path and version, `/v2`,
    /// `+incompatible` (no go.mod), a pseudo-version.
    pub fn standard() -> Self {
        let mut s = Self::new();
        s.add(ModuleVersion::simple("example.com/simple", "v1.0.0"));
        s.add(ModuleVersion::simple("example.com/simple", "v1.1.0"));
        s.add(ModuleVersion::simple("example.com/Upper/CaseMod", "v1.0.0"));
        s.add(ModuleVersion::simple(
            "example.com/Upper/CaseMod",
            "v1.0.1-Beta.2",
        ));
        s.add(ModuleVersion::simple("example.com/major/v2", "v2.0.0"));
        s.add(ModuleVersion::simple("example.com/major/v2", "v2.1.0"));
        s.add(ModuleVersion::from_files(
            "example.com/incompat",
            "v2.0.0+incompatible",
            &[(
                "incompat.go",
                b"package incompat\n\nconst X = 1\n".as_slice(),
            )],
        ));
        s.add(ModuleVersion::with_time(
            "example.com/pseudo",
            "v0.0.0-20240101120000-abcdefabcdef",
            "2024-01-01T12:00:00Z",
            &[
                (
                    "go.mod",
                    b"module example.com/pseudo\n\ngo 1.21\n".as_slice(),
                ),
                ("pseudo.go", b"package pseudo\n".as_slice()),
            ],
        ));
        s
    }

    /// Adds `n` filler modules `example.com/filler/fNNNNN` at `v1.0.0`
    /// (to grow the checksum database past tile boundaries).
    pub fn add_fillers(&mut self, n: usize) -> &mut Self {
        for i in 0..n {
            self.add(ModuleVersion::simple(
                &format!("example.com/filler/f{i:05}"),
                "v1.0.0",
            ));
        }
        self
    }

    /// The version of `path`, if present.
    pub fn get(&self, path: &str, version: &str) -> Option<&ModuleVersion> {
        self.modules.get(path)?.get(version)
    }

    /// Mutable access to a version (e.g. to corrupt its zip).
    pub fn get_mut(&mut self, path: &str, version: &str) -> Option<&mut ModuleVersion> {
        self.modules.get_mut(path)?.get_mut(version)
    }

    /// Whether `path` has any version.
    pub fn has_module(&self, path: &str) -> bool {
        self.modules.contains_key(path)
    }

    /// The `@v/list` versions of `path` (pseudo-versions excluded), in
    /// semver order.
    pub fn list(&self, path: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .modules
            .get(path)
            .map(|m| {
                m.keys()
                    .filter(|v| !gomod::semver::is_pseudo_version(v))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| gomod::semver::compare(a, b));
        v
    }

    /// The `@latest` version: highest release, else highest of any.
    pub fn latest(&self, path: &str) -> Option<&ModuleVersion> {
        let m = self.modules.get(path)?;
        let best = |pre: bool| {
            m.values()
                .filter(|v| pre || gomod::semver::prerelease(&v.version).is_empty())
                .max_by(|a, b| gomod::semver::compare(&a.version, &b.version))
        };
        best(false).or_else(|| best(true))
    }

    /// Every module version, by path then version.
    pub fn iter(&self) -> impl Iterator<Item = &ModuleVersion> {
        self.modules.values().flat_map(|m| m.values())
    }

    /// Number of module versions.
    pub fn len(&self) -> usize {
        self.modules.values().map(BTreeMap::len).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds every version's true hashes to `db` (skipping ones it has).
    pub fn add_to_sumdb(&self, db: &mut TreeBuilder) {
        for mv in self.iter() {
            if db.lookup_id(&mv.path, &mv.version).is_none() {
                db.add(&mv.path, &mv.version, &mv.zip_h1, &mv.gomod_h1)
                    .expect("fixture record is valid");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_zips_are_valid_module_zips() {
        for mv in FixtureSet::standard().iter() {
            let r = gomod::zip::check_zip_reader(
                Cursor::new(&mv.zip),
                std::path::Path::new("fixture.zip"),
                &mv.path,
                &mv.version,
            )
            .unwrap();
            assert!(r.is_valid(), "{}: {:?}", mv.id(), r.violations);
            assert_eq!(r.h1.as_deref(), Some(mv.zip_h1.as_str()));
            assert_eq!(mv.gomod_h1, gomod::dirhash::hash_gomod(&mv.gomod));
        }
    }

    #[test]
    fn standard_set_lists_and_latest() {
        let s = FixtureSet::standard();
        assert_eq!(s.list("example.com/simple"), ["v1.0.0", "v1.1.0"]);
        assert_eq!(s.latest("example.com/simple").unwrap().version, "v1.1.0");
        assert!(s.list("example.com/pseudo").is_empty());
        assert_eq!(
            s.get("example.com/incompat", "v2.0.0+incompatible")
                .unwrap()
                .gomod,
            b"module example.com/incompat\n"
        );
    }
}
