//! The checksum database, proxied: `/sumdb/<name>/supported`, `lookup`,
//! `tile` and `latest`, each answer proved by our own verifying client
//! ([`crate::verifier`]) before it is cached or served.

use std::sync::Arc;

use bytes::Bytes;
use store::{DocKey, Store};

use crate::clock::{self, Clock, jittered};
use crate::error::{CacheOutcome, ErrorKind, ServeError};
use crate::metrics::Metrics;
use crate::source::{Policy, Sources};
use crate::verifier::{SumdbHandle, Verifiers, lookup_key, sumdb_error};

/// The `/sumdb/` endpoints.
pub struct SumdbProxy {
    verifiers: Arc<Verifiers>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// For the private patterns: private modules are never looked up.
    sources: Arc<Sources>,
    offline: bool,
    stale_if_error: std::time::Duration,
}

/// Everything [`SumdbProxy::new`] needs.
pub struct SumdbProxyParts {
    /// The databases.
    pub verifiers: Arc<Verifiers>,
    /// Where proved answers are kept.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Which modules are private.
    pub sources: Arc<Sources>,
    /// Serve only what is stored.
    pub offline: bool,
    /// How long past its TTL `latest` is served while the database is unreachable.
    pub stale_if_error: std::time::Duration,
}

impl SumdbProxy {
    /// The proxy of `parts.verifiers`.
    pub fn new(parts: SumdbProxyParts) -> SumdbProxy {
        SumdbProxy {
            verifiers: parts.verifiers,
            store: parts.store,
            clock: parts.clock,
            metrics: parts.metrics,
            sources: parts.sources,
            offline: parts.offline,
            stale_if_error: parts.stale_if_error,
        }
    }

    fn age_of(&self, t: time::OffsetDateTime) -> std::time::Duration {
        clock::age(&*self.clock, t)
    }

    fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
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
    pub outcome: CacheOutcome,
}

impl SumdbProxy {
    /// Answers `/sumdb/<name>/<rest>`.
    pub async fn request(
        &self,
        name: &str,
        rest: &str,
        offline: bool,
    ) -> Result<SumdbAnswer, ServeError> {
        let Some(db) = self.verifiers.by_name(name) else {
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
                outcome: CacheOutcome::Hit,
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
                Ok(answer(note, CacheOutcome::Miss))
            }
            Err(e) => match cached {
                Some(doc) if self.age_of(doc.fetched_at) < LATEST_TTL + self.stale_if_error => {
                    self.metrics.stale("error");
                    tracing::warn!(db = %db.name, error = %e, "checksum database unreachable; serving the last latest tree");
                    Ok(answer(doc.bytes, CacheOutcome::Stale))
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
                        if age < ttl {
                            CacheOutcome::Hit
                        } else {
                            CacheOutcome::Stale
                        },
                    ))
                })
            }
            None if offline => Some(Err(ServeError::new(
                ErrorKind::Offline,
                format!(
                    "modwarden is offline and has no cached latest tree of {}",
                    db.name
                ),
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
            return Err(ServeError::invalid(format!(
                "malformed lookup {mv:?}: want module@version"
            )));
        };
        let module = gomod::module::unescape_path(esc_mod)
            .map_err(|e| ServeError::invalid(format!("malformed lookup {mv:?}: {e}")))?;
        let version = gomod::module::unescape_version(esc_ver)
            .map_err(|e| ServeError::invalid(format!("malformed lookup {mv:?}: {e}")))?;
        if self.sources.policy(&module) == Policy::Private {
            return Err(ServeError::not_found(format!(
                "{module} matches modwarden's --private patterns: it is never looked up in a public checksum database; add it to GONOSUMDB in your go env (GOPRIVATE would also bypass this proxy)"
            )));
        }
        // Lookups are immutable: the record never changes, and an older
        // signed tree is still one the go command can prove against.
        let key = lookup_key(&db.name, &module, &version);
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
            return Ok(answer(doc.bytes, CacheOutcome::Hit));
        }
        if offline {
            return Err(ServeError::new(
                ErrorKind::Offline,
                format!("modwarden is offline and has no cached {what}"),
            ));
        }
        let body = fetch.await?;
        let _ = self.store.put_doc(&key, body.clone(), self.now()).await;
        Ok(answer(body, CacheOutcome::Miss))
    }

    async fn sumdb_tile(
        &self,
        db: &SumdbHandle,
        path: &str,
        offline: bool,
    ) -> Result<SumdbAnswer, ServeError> {
        // A path that is no tile is the client's error, not the database's.
        if let Err(e) = sumdb::tlog::Tile::from_path(path) {
            return Err(ServeError::invalid(format!(
                "malformed checksum database tile path /sumdb/{}/{path}: {e}",
                db.name
            )));
        }
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
