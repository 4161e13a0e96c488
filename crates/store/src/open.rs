//! One way to open a store by where it is: a directory or an object store
//! URL, creating a missing store ([`Mode::Create`], what `serve` does) or
//! only opening an existing one ([`Mode::Existing`], what `verify` and `gc`
//! do: they must never create a store).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;

use crate::local::{DEFAULT_REVERIFY_AFTER, LocalOptions, LocalStore};
use crate::object::ObjectStoreBackend;
use crate::{Error, Result, Store, keys};

/// URL schemes a store location may have; anything else without `://` is a
/// directory.
pub const OBJECT_SCHEMES: [&str; 6] = ["s3", "s3a", "gs", "az", "azure", "memory"];

/// Where a store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Dir(PathBuf),
    /// An object store URL: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix`, `memory:///`. For S3 the endpoint and
    /// credentials come from the usual `AWS_*` variables.
    Url(String),
}

impl Location {
    /// Reads a location: text with `scheme://` is an object store URL (the
    /// scheme one of [`OBJECT_SCHEMES`], a bucket named where one is
    /// needed), anything else a directory.
    pub fn parse(text: &str) -> Result<Location> {
        let bad = |reason: String| Error::InvalidLocation {
            location: text.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(bad("empty: give a directory or an object store URL".into()));
        }
        let Some((scheme, _)) = text.split_once("://") else {
            return Ok(Location::Dir(PathBuf::from(text)));
        };
        if !OBJECT_SCHEMES.contains(&scheme) {
            return Err(bad(format!(
                "unknown store scheme {scheme:?}: use a directory or one of {}",
                OBJECT_SCHEMES.join(", ")
            )));
        }
        let url = url::Url::parse(text).map_err(|e| bad(format!("not a valid URL: {e}")))?;
        if scheme != "memory" && url.host_str().is_none_or(str::is_empty) {
            return Err(bad(format!(
                "no bucket named: write {scheme}://BUCKET/PREFIX"
            )));
        }
        Ok(Location::Url(text.to_string()))
    }

    /// The directory of a local store.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Location::Dir(d) => Some(d),
            Location::Url(_) => None,
        }
    }
}

impl FromStr for Location {
    type Err = Error;
    fn from_str(s: &str) -> Result<Location> {
        Location::parse(s)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Dir(d) => write!(f, "{}", d.display()),
            Location::Url(u) => f.write_str(u),
        }
    }
}

/// Whether [`open`] may create a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create the store when it is missing (`serve`).
    Create,
    /// Open only a store that is there; a missing one is
    /// [`Error::NoStore`] and nothing is written (`verify`, `gc`).
    Existing,
}

/// How [`open`] opens a store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Whether a missing store is created.
    pub mode: Mode,
    /// See [`LocalOptions::reverify_after`] (local stores only).
    pub reverify_after: Duration,
}

impl OpenOptions {
    /// Create a missing store.
    pub fn create() -> OpenOptions {
        OpenOptions {
            mode: Mode::Create,
            reverify_after: DEFAULT_REVERIFY_AFTER,
        }
    }

    /// Open only an existing store.
    pub fn existing() -> OpenOptions {
        OpenOptions {
            mode: Mode::Existing,
            ..OpenOptions::create()
        }
    }

    /// With [`OpenOptions::reverify_after`] set.
    pub fn reverify_after(mut self, d: Duration) -> OpenOptions {
        self.reverify_after = d;
        self
    }
}

/// Why [`Mode::Existing`] found no store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoStore {
    /// The directory does not exist.
    Missing,
    /// The path is not a directory.
    NotADirectory,
    /// The directory or prefix has no `meta.toml`.
    NoMeta,
}

pub(crate) fn no_store_message(location: &str, why: &NoStore) -> String {
    let meta = keys::META;
    match why {
        NoStore::Missing => format!(
            "the store directory {location} does not exist (nothing was created; \
             `modwarden serve --store {location}` creates a store)"
        ),
        NoStore::NotADirectory => format!(
            "the store {location} is not a directory: point --store at a store directory or URL"
        ),
        NoStore::NoMeta => format!(
            "{location} is not a modwarden store (no {meta} in it); nothing was changed. \
             Point --store at a store, or let `modwarden serve --store {location}` \
             create one (in an empty directory or bucket prefix)"
        ),
    }
}

/// Opens the store at `location`.
///
/// With [`Mode::Existing`] a missing directory, a file, or a directory or
/// bucket prefix without `meta.toml` is [`Error::NoStore`], checked before
/// anything is written. With [`Mode::Create`] a new store is set up (a
/// non-empty directory that is not a store is still refused,
/// [`Error::NotAStore`]). A layout newer than this code is refused either
/// way ([`Error::LayoutTooNew`]).
pub async fn open(location: &Location, options: &OpenOptions) -> Result<Arc<dyn Store>> {
    match location {
        Location::Dir(root) => {
            if options.mode == Mode::Existing {
                check_dir(root, &location.to_string())?;
            }
            let opts = LocalOptions {
                reverify_after: options.reverify_after,
                ..LocalOptions::default()
            };
            Ok(Arc::new(LocalStore::open_with(root, opts).await?))
        }
        Location::Url(url) => {
            let (store, prefix) = object_store_of(url)?;
            if options.mode == Mode::Existing {
                check_meta(store.as_ref(), &prefix, url).await?;
            }
            Ok(Arc::new(ObjectStoreBackend::new(store, &prefix).await?))
        }
    }
}

fn check_dir(root: &Path, location: &str) -> Result<()> {
    let no = |why| Error::NoStore {
        location: location.to_string(),
        why,
    };
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(no(NoStore::NotADirectory)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no(NoStore::Missing)),
        Err(e) => return Err(Error::io(root, e)),
    }
    let meta = root.join(keys::META);
    match std::fs::metadata(&meta) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(no(NoStore::NoMeta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no(NoStore::NoMeta)),
        Err(e) => Err(Error::io(meta, e)),
    }
}

/// The object store of `url` and the key prefix under it; a URL the backend
/// cannot use is an [`Error::InvalidLocation`].
fn object_store_of(url: &str) -> Result<(Arc<dyn ObjectStore>, String)> {
    let bad = |reason: String| Error::InvalidLocation {
        location: url.to_string(),
        reason,
    };
    crate::object::store_of_url(url, Vec::<(String, String)>::new()).map_err(|e| match e {
        Error::InvalidKey { reason, .. } => bad(reason),
        Error::Backend { source, .. } => bad(source.to_string()),
        e => e,
    })
}

/// Whether the prefix has a `meta.toml`, checked before opening, since
/// opening writes one for a new store.
async fn check_meta(store: &dyn ObjectStore, prefix: &str, url: &str) -> Result<()> {
    let prefix = prefix.trim_matches('/');
    let key = if prefix.is_empty() {
        object_store::path::Path::from(keys::META)
    } else {
        object_store::path::Path::from(format!("{prefix}/{}", keys::META))
    };
    match store.head(&key).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::NotFound { .. }) => Err(Error::NoStore {
            location: url.to_string(),
            why: NoStore::NoMeta,
        }),
        Err(e) => Err(Error::backend(format!("{url}/{}", keys::META), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new");
        let loc = Location::parse(root.to_str().unwrap()).unwrap();
        assert_eq!(loc.dir(), Some(root.as_path()));
        open(&loc, &OpenOptions::create()).await.unwrap();
        assert!(root.join(keys::META).is_file());
        // ... and then opens as an existing store.
        open(&loc, &OpenOptions::existing()).await.unwrap();
    }

    #[tokio::test]
    async fn existing_only_refuses_what_is_not_a_store_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = open(&Location::Dir(missing.clone()), &OpenOptions::existing())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                Error::NoStore {
                    why: NoStore::Missing,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(missing.to_str().unwrap()), "{msg}");
        assert!(msg.contains("does not exist"), "{msg}");
        assert!(!missing.exists(), "created the store");

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let err = open(&Location::Dir(empty.clone()), &OpenOptions::existing())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                Error::NoStore {
                    why: NoStore::NoMeta,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("not a modwarden store"), "{err}");
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = open(&Location::Dir(file), &OpenOptions::existing())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[tokio::test]
    async fn memory_url_existing_only_is_refused_and_created_otherwise() {
        let loc = Location::parse("memory:///").unwrap();
        assert_eq!(loc, Location::Url("memory:///".into()));
        let err = open(&loc, &OpenOptions::existing()).await.err().unwrap();
        assert!(
            matches!(
                err,
                Error::NoStore {
                    why: NoStore::NoMeta,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("memory:///"), "{err}");
        open(&loc, &OpenOptions::create()).await.unwrap();
    }

    #[test]
    fn bad_urls_are_clear_errors() {
        for (text, want) in [
            ("ftp://host/x", "unknown store scheme \"ftp\""),
            ("s3://", "no bucket named: write s3://BUCKET/PREFIX"),
            ("gs:///prefix", "no bucket named"),
            ("", "empty"),
        ] {
            let err = Location::parse(text).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, Error::InvalidLocation { .. }),
                "{text}: {msg}"
            );
            assert!(msg.contains(want), "{text}: {msg}");
            assert!(msg.contains(&format!("{text:?}")), "{text}: {msg}");
        }
        assert_eq!(
            Location::parse("/srv/mw").unwrap(),
            Location::Dir("/srv/mw".into())
        );
        assert_eq!(
            Location::parse("s3://bucket/mw").unwrap().to_string(),
            "s3://bucket/mw"
        );
    }
}
