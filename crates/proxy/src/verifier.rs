//! The checksum databases this proxy verifies against: each a verifying
//! client over `upstream::SumdbTransport` (the doctor's transport too). A leaf used by the fetch pipeline
//! (lookups that prove a version before it is stored) and by the
//! `/sumdb/` proxy (answers passed on only once proved).

use std::path::PathBuf;
use std::sync::Arc;

use store::{DocKey, Store};
use sumdb::client::{Client, LookupResult, TransportError};
use upstream::{SumdbTransport, UpstreamList};

use crate::clock::Clock;
use crate::error::{ErrorKind, ServeError};

/// One configured checksum database.
pub struct SumdbHandle {
    /// Its name.
    pub name: String,
    /// Where it is reached, for messages.
    pub url: String,
    pub(crate) client: Client,
    /// Held while `latest` is fetched: requests arriving meanwhile wait and
    /// then serve what it brought, instead of each fetching it again.
    pub(crate) latest_gate: tokio::sync::Mutex<()>,
}

impl SumdbHandle {
    /// A handle reading the database at `list`, verifying with `vkey`,
    /// persisting its latest tree under `state_dir`.
    pub fn new(
        name: &str,
        vkey: &str,
        list: UpstreamList,
        state_dir: Option<PathBuf>,
    ) -> Result<SumdbHandle, sumdb::Error> {
        let url = list.labels().first().cloned().unwrap_or_default();
        let client = Client::new(vkey, Arc::new(SumdbTransport::new(list)), state_dir)?;
        Ok(SumdbHandle {
            name: name.to_string(),
            url,
            client,
            latest_gate: tokio::sync::Mutex::new(()),
        })
    }

    /// A proved lookup, mapped to an HTTP answer on failure.
    pub async fn lookup(&self, module: &str, version: &str) -> Result<LookupResult, ServeError> {
        self.client
            .lookup(module, version)
            .await
            .map_err(|e| sumdb_error(&self.name, &format!("{module}@{version}"), e))
    }
}

/// Maps a checksum-database failure to the answer for our client.
pub(crate) fn sumdb_error(name: &str, what: &str, e: sumdb::Error) -> ServeError {
    match e {
        sumdb::Error::NotFound { .. }
        | sumdb::Error::Transport {
            source: TransportError::NotFound,
            ..
        } => ServeError::new(
            ErrorKind::NotFound,
            format!("{what}: not found in checksum database {name}; nothing was cached"),
        ),
        sumdb::Error::Transport { path, source } => ServeError::new(
            ErrorKind::UpstreamUnavailable,
            format!("checksum database {name} unreachable reading {path}: {source}"),
        ),
        e @ sumdb::Error::Security { .. } => {
            ServeError::verification(format!("checksum database {name}: {e}"))
        }
        e => ServeError::verification(format!(
            "checksum database {name} answer for {what} failed verification: {e}; nothing was cached"
        )),
    }
}

/// The configured checksum databases; the first verifies modules.
pub struct Verifiers {
    dbs: Vec<Arc<SumdbHandle>>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Verifiers {
    /// The databases `dbs`, keeping proved lookups in `store`.
    pub fn new(dbs: Vec<Arc<SumdbHandle>>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Verifiers { dbs, store, clock }
    }

    /// The database that verifies modules, if any.
    pub fn primary(&self) -> Option<&Arc<SumdbHandle>> {
        self.dbs.first()
    }

    /// The database named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Arc<SumdbHandle>> {
        self.dbs.iter().find(|s| s.name == name)
    }

    /// A proved lookup in the verifying database, to verify a version
    /// being fetched. The answer is also kept as the `/sumdb/` lookup
    /// document: the go command asks for the same lookup right after it gets
    /// the `.mod`, and would otherwise wait for a second upstream round trip
    /// (bench/run's cold benchmark: ~55 ms of upstream latency per module).
    pub(crate) async fn verification_lookup(
        &self,
        module: &str,
        version: &str,
    ) -> Result<LookupResult, ServeError> {
        let Some(db) = self.primary() else {
            return Err(ServeError::internal(
                "internal error: verification asked for without a checksum database",
            ));
        };
        let r = db.lookup(module, version).await?;
        let store = self.store.clone();
        let key = lookup_key(&db.name, module, version);
        let (body, now) = (r.body.clone(), self.clock.now());
        tokio::spawn(async move {
            if let Err(e) = store.put_doc(&key, body, now).await {
                tracing::warn!(error = %e, "could not keep a checksum database lookup");
            }
        });
        Ok(r)
    }
}

/// The store key of a proved lookup answer, shared by the `/sumdb/` proxy and
/// the pipeline's own verification lookups.
pub(crate) fn lookup_key(db: &str, module: &str, version: &str) -> DocKey {
    DocKey::SumdbLookup {
        db: db.to_string(),
        module: module.to_string(),
        version: version.to_string(),
    }
}
