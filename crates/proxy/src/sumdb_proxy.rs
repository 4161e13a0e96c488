//! The checksum database, proxied: `/sumdb/<name>/supported`, `lookup`,
//! `tile` and `latest`, each answer proved by our own verifying client before
//! it is cached or served.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use store::DocKey;
use sumdb::client::{Client, LookupResult, Transport, TransportError};
use upstream::UpstreamList;

use crate::error::ServeError;
use crate::pipeline::{Pipeline, jittered};

/// Reads database files through an upstream list (the database's own URL).
struct UpstreamTransport {
    list: UpstreamList,
}

#[async_trait]
impl Transport for UpstreamTransport {
    async fn read_remote(&self, path: &str) -> Result<Bytes, TransportError> {
        match self.list.fetch_bytes(path, 16 << 20).await {
            Ok(f) => Ok(f.body),
            Err(e) if e.is_not_found() => Err(TransportError::NotFound),
            Err(e) => Err(TransportError::Other(e.to_string())),
        }
    }
}

/// One configured checksum database.
pub struct SumdbHandle {
    /// Its name.
    pub name: String,
    /// Where it is reached, for messages.
    pub url: String,
    client: Client,
    /// Held while `latest` is fetched: requests arriving meanwhile wait and
    /// then serve what it brought, instead of each fetching it again.
    latest_gate: tokio::sync::Mutex<()>,
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
        let client = Client::new(vkey, Arc::new(UpstreamTransport { list }), state_dir)?;
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

fn sumdb_error(name: &str, what: &str, e: sumdb::Error) -> ServeError {
    match e {
        sumdb::Error::NotFound { .. }
        | sumdb::Error::Transport {
            source: TransportError::NotFound,
            ..
        } => ServeError::new(
            404,
            format!("{what}: not found in checksum database {name}; nothing was cached"),
            "not-found",
        ),
        sumdb::Error::Transport { path, source } => ServeError::new(
            502,
            format!("checksum database {name} unreachable reading {path}: {source}"),
            "upstream-error",
        ),
        e @ sumdb::Error::Security { .. } => {
            ServeError::verification(format!("checksum database {name}: {e}"))
        }
        e => ServeError::verification(format!(
            "checksum database {name} answer for {what} failed verification: {e}; nothing was cached"
        )),
    }
}

/// How long a fetched `latest` is served before asking the database again.
const LATEST_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// An answer from the database proxy.
pub struct SumdbAnswer {
    /// Content-Type.
    pub content_type: &'static str,
    /// Body.
    pub body: Bytes,
    /// Whether it never changes (tiles, lookups).
    pub immutable: bool,
    /// Cache outcome.
    pub outcome: &'static str,
}

/// The store key of a proved lookup answer, shared by the `/sumdb/` proxy and
/// the pipeline's own verification lookups.
fn lookup_doc_key(db: &str, module: &str, version: &str) -> DocKey {
    DocKey::Query(module.to_string(), format!("sumdb-lookup:{db}@{version}"))
}

impl Pipeline {
    /// A proved lookup in the first checksum database, to verify a version
    /// being fetched. The answer is also kept as the `/sumdb/` lookup
    /// document: the go command asks for the same lookup right after it gets
    /// the `.mod`, and would otherwise wait for a second upstream round trip
    /// (bench/run's cold benchmark: ~55 ms of upstream latency per module).
    pub(crate) async fn verification_lookup(
        &self,
        module: &str,
        version: &str,
    ) -> Result<LookupResult, ServeError> {
        let db = &self.sumdbs[0];
        let r = db.lookup(module, version).await?;
        let store = self.store.clone();
        let key = lookup_doc_key(&db.name, module, version);
        let (body, now) = (r.body.clone(), self.now());
        tokio::spawn(async move {
            if let Err(e) = store.put_doc(&key, body, now).await {
                tracing::warn!(error = %e, "could not keep a checksum database lookup");
            }
        });
        Ok(r)
    }

    fn sumdb(&self, name: &str) -> Option<&Arc<SumdbHandle>> {
        self.sumdbs.iter().find(|s| s.name == name)
    }

    /// Answers `/sumdb/<name>/<rest>`.
    pub async fn sumdb_request(
        self: &Arc<Self>,
        name: &str,
        rest: &str,
        offline: bool,
    ) -> Result<SumdbAnswer, ServeError> {
        let Some(db) = self.sumdb(name) else {
            return Err(ServeError::not_found(format!(
                "checksum database {name} is not proxied here"
            )));
        };
        let offline = offline || self.offline;
        if rest == "supported" {
            return Ok(SumdbAnswer {
                content_type: "text/plain; charset=utf-8",
                body: Bytes::new(),
                immutable: false,
                outcome: "hit",
            });
        }
        if rest == "latest" {
            return self.sumdb_latest(db, offline).await;
        }
        if let Some(mv) = rest.strip_prefix("lookup/") {
            return self.sumdb_lookup(db, mv, offline).await;
        }
        if rest.starts_with("tile/") {
            return self.sumdb_tile(db, rest, offline).await;
        }
        Err(ServeError::not_found(format!(
            "unknown checksum database endpoint /sumdb/{name}/{rest}"
        )))
    }

    /// The latest signed tree: fresh for a minute (jittered); then fetched
    /// again by one request while the others wait for it; when the database
    /// cannot be reached, the last one is served for `--stale-if-error`.
    async fn sumdb_latest(
        &self,
        db: &SumdbHandle,
        offline: bool,
    ) -> Result<SumdbAnswer, ServeError> {
        let key = DocKey::SumdbLatest(db.name.clone());
        let cached = self.store.get_doc(&key).await.ok().flatten();
        if let Some(a) = self.fresh_latest(db, cached.as_ref(), offline) {
            return a;
        }
        let _gate = db.latest_gate.lock().await;
        // Someone else may have fetched it while this request waited.
        let cached = self.store.get_doc(&key).await.ok().flatten();
        if let Some(a) = self.fresh_latest(db, cached.as_ref(), offline) {
            return a;
        }
        let answer = |body: Bytes, outcome| SumdbAnswer {
            content_type: "text/plain; charset=utf-8",
            body,
            immutable: false,
            outcome,
        };
        match db.client.refresh_latest().await {
            Ok(_) => {
                let note = Bytes::from(db.client.latest_note());
                let _ = self.store.put_doc(&key, note.clone(), self.now()).await;
                Ok(answer(note, "miss"))
            }
            Err(e) => match cached {
                Some(doc)
                    if self.age_of(doc.fetched_at) < LATEST_TTL + self.timing.stale_if_error =>
                {
                    self.metrics.stale("error");
                    tracing::warn!(db = %db.name, error = %e, "checksum database unreachable; serving the last latest tree");
                    Ok(answer(doc.bytes, "stale"))
                }
                _ => Err(sumdb_error(&db.name, "latest", e)),
            },
        }
    }

    /// The cached latest tree if it may be served without asking the
    /// database (fresh, or offline), or the offline error.
    fn fresh_latest(
        &self,
        db: &SumdbHandle,
        cached: Option<&store::Doc>,
        offline: bool,
    ) -> Option<Result<SumdbAnswer, ServeError>> {
        let answer = |body: Bytes, outcome| SumdbAnswer {
            content_type: "text/plain; charset=utf-8",
            body,
            immutable: false,
            outcome,
        };
        match cached {
            Some(doc) => {
                let age = self.age_of(doc.fetched_at);
                let ttl = jittered(LATEST_TTL, &db.name, doc.fetched_at.unix_timestamp_nanos());
                (age < ttl || offline).then(|| {
                    Ok(answer(
                        doc.bytes.clone(),
                        if age < ttl { "hit" } else { "stale" },
                    ))
                })
            }
            None if offline => Some(Err(ServeError::new(
                404,
                format!(
                    "modwarden is offline and has no cached latest tree of {}",
                    db.name
                ),
                "offline",
            ))),
            None => None,
        }
    }

    async fn sumdb_lookup(
        &self,
        db: &SumdbHandle,
        mv: &str,
        offline: bool,
    ) -> Result<SumdbAnswer, ServeError> {
        let Some((esc_mod, esc_ver)) = mv.rsplit_once('@') else {
            return Err(ServeError::bad_request(format!(
                "malformed lookup {mv:?}: want module@version"
            )));
        };
        let module = gomod::module::unescape_path(esc_mod)
            .map_err(|e| ServeError::bad_request(format!("malformed lookup {mv:?}: {e}")))?;
        let version = gomod::module::unescape_version(esc_ver)
            .map_err(|e| ServeError::bad_request(format!("malformed lookup {mv:?}: {e}")))?;
        if self.is_private(&module) {
            return Err(ServeError::not_found(format!(
                "{module} matches modwarden's --private patterns: it is never looked up in a public checksum database; add it to GONOSUMDB in your go env (GOPRIVATE would also bypass this proxy)"
            )));
        }
        // Lookups are immutable: the record never changes, and an older
        // signed tree is still one the go command can prove against.
        let key = lookup_doc_key(&db.name, &module, &version);
        let what = format!("checksum database lookup of {module}@{version}");
        self.immutable_doc(key, "text/plain; charset=utf-8", &what, offline, async {
            // The database's own bytes, passed on once proved.
            Ok(db.lookup(&module, &version).await?.body)
        })
        .await
    }

    /// An immutable, proved answer: from the store, else fetched (unless
    /// offline) and kept forever.
    async fn immutable_doc(
        &self,
        key: DocKey,
        content_type: &'static str,
        what: &str,
        offline: bool,
        fetch: impl std::future::Future<Output = Result<Bytes, ServeError>>,
    ) -> Result<SumdbAnswer, ServeError> {
        let answer = |body, outcome| SumdbAnswer {
            content_type,
            body,
            immutable: true,
            outcome,
        };
        if let Ok(Some(doc)) = self.store.get_doc(&key).await {
            return Ok(answer(doc.bytes, "hit"));
        }
        if offline {
            return Err(ServeError::new(
                404,
                format!("modwarden is offline and has no cached {what}"),
                "offline",
            ));
        }
        let body = fetch.await?;
        let _ = self.store.put_doc(&key, body.clone(), self.now()).await;
        Ok(answer(body, "miss"))
    }

    async fn sumdb_tile(
        &self,
        db: &SumdbHandle,
        path: &str,
        offline: bool,
    ) -> Result<SumdbAnswer, ServeError> {
        let key = DocKey::SumdbTile(db.name.clone(), path.to_string());
        let what = format!("{path} of {}", db.name);
        self.immutable_doc(key, "application/octet-stream", &what, offline, async {
            db.client
                .verified_tile(path)
                .await
                .map_err(|e| sumdb_error(&db.name, path, e))
        })
        .await
    }
}
