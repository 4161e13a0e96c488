//! Where module versions come from: the [`ModuleSource`] seam.
//!
//! The pipeline asks a source for a version's `.info`, `.mod` and `.zip`, and
//! for a module's `list`, `@latest` and queries; it never knows whether the
//! answer came from a GOPROXY-list upstream ([`ProxyListSource`]) or, later,
//! from version control. [`Sources`] picks the source of a module by pattern
//! (private patterns first, then the public source).
//!
//! A source reports failures as [`FetchError`]s: `NotFound` for "this does
//! not exist" (remembered by the negative cache), any other variant for a
//! failure worth retrying later.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use gomod::pattern::Patterns;
use upstream::{FetchError, Fetched, FileBody, UpstreamList};

use crate::keys::{FileKind, Mutable};

/// Size limits, from the go command's own.
pub(crate) const MAX_INFO: u64 = 1 << 20;
pub(crate) const MAX_GOMOD: u64 = 16 << 20;
pub(crate) const MAX_ZIP: u64 = 500 << 20;
pub(crate) const MAX_LIST: u64 = 16 << 20;

/// A place module versions are fetched from.
#[async_trait]
pub trait ModuleSource: Send + Sync {
    /// The version's `.info` (`FileKind::Info`) or `.mod` (`FileKind::Mod`).
    async fn file(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
    ) -> Result<Fetched<Bytes>, FetchError>;

    /// The version's zip, downloaded to a new file in `staging` and hashed
    /// while written.
    async fn zip(
        &self,
        module: &str,
        version: &str,
        staging: &Path,
    ) -> Result<Fetched<FileBody>, FetchError>;

    /// A mutable document: `list`, `@latest` or a query's `.info`.
    async fn doc(&self, module: &str, what: &Mutable) -> Result<Fetched<Bytes>, FetchError>;

    /// The source to try when the answer `origin` sent failed verification,
    /// if there is one (a GOPROXY list behind `|`).
    fn after_failed(&self, _origin: &str) -> Option<Arc<dyn ModuleSource>> {
        None
    }

    /// What the status page shows of this source.
    fn labels(&self) -> Vec<String>;
}

/// A GOPROXY-style list of upstream proxies.
pub struct ProxyListSource {
    list: UpstreamList,
}

impl ProxyListSource {
    /// A source reading from `list`.
    pub fn new(list: UpstreamList) -> ProxyListSource {
        ProxyListSource { list }
    }
}

fn version_path(module: &str, version: &str, ext: &str) -> String {
    format!(
        "{}/@v/{}{ext}",
        gomod::escape::escape_string(module),
        gomod::escape::escape_string(version)
    )
}

#[async_trait]
impl ModuleSource for ProxyListSource {
    async fn file(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
    ) -> Result<Fetched<Bytes>, FetchError> {
        let limit = match kind {
            FileKind::Info => MAX_INFO,
            FileKind::Mod => MAX_GOMOD,
            FileKind::Zip => MAX_ZIP,
        };
        self.list
            .fetch_bytes(&version_path(module, version, kind.ext()), limit)
            .await
    }

    async fn zip(
        &self,
        module: &str,
        version: &str,
        staging: &Path,
    ) -> Result<Fetched<FileBody>, FetchError> {
        self.list
            .fetch_to_file(&version_path(module, version, ".zip"), staging, MAX_ZIP)
            .await
    }

    async fn doc(&self, module: &str, what: &Mutable) -> Result<Fetched<Bytes>, FetchError> {
        let esc = gomod::escape::escape_string(module);
        let path = match what {
            Mutable::List => format!("{esc}/@v/list"),
            Mutable::Latest => format!("{esc}/@latest"),
            Mutable::Query(q) => format!("{esc}/@v/{}.info", gomod::escape::escape_string(q)),
        };
        self.list.fetch_bytes(&path, MAX_LIST).await
    }

    fn after_failed(&self, origin: &str) -> Option<Arc<dyn ModuleSource>> {
        let rest = self.list.after_failed(origin)?;
        Some(Arc::new(ProxyListSource { list: rest }))
    }

    fn labels(&self) -> Vec<String> {
        self.list.labels()
    }
}

/// How a module is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Public, verified against the checksum database.
    Verify,
    /// Public, GONOSUMDB: stored as unverified by policy.
    NoSumdb,
    /// Private: its own source, never a public checksum database.
    Private,
}

impl Policy {
    /// What a record stored under this policy names as its verifier
    /// (`db` is the verifying checksum database).
    pub fn verified_by(self, db: Option<&str>) -> String {
        match (self, db) {
            (Policy::Verify, Some(db)) => db.to_string(),
            (Policy::Private, _) => "policy:private".to_string(),
            _ => "policy:nosumdb".to_string(),
        }
    }
}

/// Which source and policy each module gets.
pub struct Sources {
    public: Arc<dyn ModuleSource>,
    private: Option<Arc<dyn ModuleSource>>,
    private_patterns: Patterns,
    nosumdb: Patterns,
    has_sumdb: bool,
}

impl Sources {
    /// Public modules from `public`; modules matching `private_patterns` from
    /// `private` (none: they are refused with a message saying so); modules
    /// matching `nosumdb`, or every module without a checksum database
    /// (`has_sumdb` false), stored unverified by policy.
    pub fn new(
        public: Arc<dyn ModuleSource>,
        private: Option<Arc<dyn ModuleSource>>,
        private_patterns: Patterns,
        nosumdb: Patterns,
        has_sumdb: bool,
    ) -> Sources {
        Sources {
            public,
            private,
            private_patterns,
            nosumdb,
            has_sumdb,
        }
    }

    /// How `module` is treated.
    pub fn policy(&self, module: &str) -> Policy {
        if self.private_patterns.matches(module) {
            Policy::Private
        } else if self.nosumdb.matches(module) || !self.has_sumdb {
            Policy::NoSumdb
        } else {
            Policy::Verify
        }
    }

    /// The source of `module`, or `None` for a private module without a
    /// private source.
    pub fn for_module(&self, module: &str) -> Option<&Arc<dyn ModuleSource>> {
        match self.policy(module) {
            Policy::Private => self.private.as_ref(),
            _ => Some(&self.public),
        }
    }

    /// The public source's labels.
    pub fn public_labels(&self) -> Vec<String> {
        self.public.labels()
    }

    /// The private source's labels.
    pub fn private_labels(&self) -> Vec<String> {
        self.private
            .as_ref()
            .map(|s| s.labels())
            .unwrap_or_default()
    }
}
