//! The keys that name one fetch: shared by the single-flight maps, the
//! negative cache, the Redis coordination and purge, so that each is
//! formatted in one place.

use std::fmt;

/// A mutable answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mutable {
    /// `@v/list`
    List,
    /// `@latest`
    Latest,
    /// `@v/<query>.info` for a non-canonical version (branch, commit, prefix).
    Query(String),
}

/// Which file of a module version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `.info`
    Info,
    /// `.mod`
    Mod,
    /// `.zip`
    Zip,
}

impl FileKind {
    /// The file extension, with its dot.
    pub fn ext(self) -> &'static str {
        match self {
            FileKind::Info => ".info",
            FileKind::Mod => ".mod",
            FileKind::Zip => ".zip",
        }
    }
}

/// One fetch from a source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchKey {
    /// A version's record: `.info` and `.mod` (`zip: false`), or all three.
    Version {
        /// Module path.
        module: String,
        /// Canonical version.
        version: String,
        /// Whether the zip is part of the fetch.
        zip: bool,
    },
    /// A mutable document of a module.
    Doc {
        /// Module path.
        module: String,
        /// Which document.
        what: Mutable,
    },
}

impl FetchKey {
    /// The fetch of `module@version` for the file `kind`.
    pub fn version(module: &str, version: &str, kind: FileKind) -> FetchKey {
        FetchKey::Version {
            module: module.to_string(),
            version: version.to_string(),
            zip: kind == FileKind::Zip,
        }
    }

    /// The fetch of a mutable document.
    pub fn doc(module: &str, what: &Mutable) -> FetchKey {
        FetchKey::Doc {
            module: module.to_string(),
            what: what.clone(),
        }
    }

    /// The module this fetch is about.
    pub fn module(&self) -> &str {
        match self {
            FetchKey::Version { module, .. } | FetchKey::Doc { module, .. } => module,
        }
    }

    /// The prefixes of the string form of every key of `module` (Redis purges
    /// by prefix). A module path never contains `@`, so the prefixes cannot
    /// match another module.
    pub fn module_prefixes(module: &str) -> [String; 2] {
        [format!("{module}@"), format!("{module}/@")]
    }
}

/// The string form, used as the Redis key and in messages:
/// `module@version:mod`, `module@version:zip`, `module/@v/list`,
/// `module/@latest`, `module/@v/<query>.info`.
impl fmt::Display for FetchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchKey::Version {
                module,
                version,
                zip,
            } => write!(f, "{module}@{version}:{}", if *zip { "zip" } else { "mod" }),
            FetchKey::Doc { module, what } => match what {
                Mutable::List => write!(f, "{module}/@v/list"),
                Mutable::Latest => write!(f, "{module}/@latest"),
                Mutable::Query(q) => write!(f, "{module}/@v/{q}.info"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_module_starts_with_one_of_its_prefixes() {
        let m = "example.com/m";
        let keys = [
            FetchKey::version(m, "v1.0.0", FileKind::Zip),
            FetchKey::version(m, "v1.0.0", FileKind::Mod),
            FetchKey::doc(m, &Mutable::List),
            FetchKey::doc(m, &Mutable::Latest),
            FetchKey::doc(m, &Mutable::Query("master".into())),
        ];
        let prefixes = FetchKey::module_prefixes(m);
        for k in &keys {
            let s = k.to_string();
            assert!(prefixes.iter().any(|p| s.starts_with(p)), "{s}");
            assert_eq!(k.module(), m);
        }
        // A module whose path extends this one's is not purged with it.
        let other = FetchKey::doc("example.com/m/sub", &Mutable::List).to_string();
        assert!(!prefixes.iter().any(|p| other.starts_with(p)), "{other}");
        assert_ne!(keys[0].to_string(), keys[1].to_string());
    }
}
