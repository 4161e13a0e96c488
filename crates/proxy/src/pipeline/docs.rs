//! Mutable documents: `list`, `@latest` and queries. Fresh for the TTL
//! (jittered), then served stale while one background refresh runs, and past
//! that stale only when every upstream fails (bounded by `stale_if_error`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use store::DocKey;

use super::Pipeline;
use super::fetch::source_error;
use super::store_error;
use super::verify::info_version;
use crate::clock::jittered;
use crate::error::{CacheOutcome, ServeError};
use crate::keys::{FetchKey, Mutable};

/// What a flight of [`Pipeline::fetch_doc_once`] does besides fetching. Both
/// checks run inside the flight, so no request slips in between the end of
/// one flight and the start of the next.
struct DocFlight {
    /// Remember a "not found" for about this long.
    negative_ttl: Option<Duration>,
    /// A background refresh: skip the source when the stored copy was
    /// refreshed (by an earlier flight) within this long.
    unless_fresh: Option<Duration>,
}

fn doc_key(module: &str, what: &Mutable) -> DocKey {
    match what {
        Mutable::List => DocKey::List(module.to_string()),
        Mutable::Latest => DocKey::Latest(module.to_string()),
        Mutable::Query(q) => DocKey::Query(module.to_string(), q.clone()),
    }
}

impl Pipeline {
    /// A mutable answer: fresh from the store, else fetched (single-flight),
    /// else stale within bounds.
    pub async fn mutable(
        self: &Arc<Self>,
        module: &str,
        what: &Mutable,
        offline: bool,
    ) -> Result<(Bytes, CacheOutcome), ServeError> {
        let key = FetchKey::doc(module, what);
        let label = key.to_string();
        let cached = match self.store.get_doc(&doc_key(module, what)).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(doc = %label, error = %e, "store read failed; treating as a miss");
                None
            }
        };
        let ttl = self.timing.list_ttl;
        if let Some(doc) = &cached {
            let age = self.age_of(doc.fetched_at);
            let fresh_for = jittered(ttl, &label, doc.fetched_at.unix_timestamp_nanos());
            if age < fresh_for {
                return Ok((doc.bytes.clone(), CacheOutcome::Hit));
            }
            if offline || self.offline {
                self.metrics.stale("offline");
                return Ok((doc.bytes.clone(), CacheOutcome::Stale));
            }
            if age < fresh_for * 2 {
                // Stale-while-revalidate: answer now, refresh once in the background.
                self.metrics.stale("revalidate");
                let this = self.clone();
                let (m, w) = (module.to_string(), what.clone());
                tokio::spawn(async move {
                    let flight = DocFlight {
                        negative_ttl: None,
                        unless_fresh: Some(this.timing.list_ttl / 2),
                    };
                    if let Err(e) = this.fetch_doc_once(&m, &w, flight).await {
                        tracing::info!(doc = %FetchKey::doc(&m, &w), error = %e, "background refresh failed; keeping the stale copy");
                    }
                });
                return Ok((doc.bytes.clone(), CacheOutcome::Stale));
            }
        }
        if let Some(e) = self.negative.get(&key).await {
            return Err(e);
        }
        if offline || self.offline {
            return Err(self.offline_error(&label));
        }
        let negative_ttl = match what {
            Mutable::Query(_) => self.timing.negative_ttl,
            _ => self.timing.probe_negative_ttl,
        };
        let flight = DocFlight {
            negative_ttl: Some(negative_ttl),
            unless_fresh: None,
        };
        match self.fetch_doc_once(module, what, flight).await {
            Ok(bytes) => Ok((bytes, CacheOutcome::Miss)),
            Err(e) if e.kind.is_not_found() => Err(e),
            Err(e) => match cached {
                Some(doc) if self.age_of(doc.fetched_at) < ttl + self.timing.stale_if_error => {
                    self.metrics.stale("error");
                    tracing::warn!(doc = %label, error = %e, "every upstream failed; serving the stale copy");
                    Ok((doc.bytes, CacheOutcome::Stale))
                }
                _ => Err(self.stale_not_found(&key, e)),
            },
        }
    }

    async fn fetch_doc_once(
        self: &Arc<Self>,
        module: &str,
        what: &Mutable,
        flight: DocFlight,
    ) -> Result<Bytes, ServeError> {
        let this = self.clone();
        let key = FetchKey::doc(module, what);
        let (m, w, k) = (module.to_string(), what.clone(), key.clone());
        self.doc_flights
            .run(&self.pool, key, move || {
                async move {
                    let dk = doc_key(&m, &w);
                    if let Some(fresh) = flight.unless_fresh
                        && let Ok(Some(doc)) = this.store.get_doc(&dk).await
                        && this.age_of(doc.fetched_at) < fresh
                    {
                        return Ok(doc.bytes);
                    }
                    let r = this.fetch_doc(&m, &w, &dk, &k).await;
                    if let (Err(e), Some(ttl)) = (&r, flight.negative_ttl)
                        && e.kind.is_not_found()
                    {
                        this.negative.remember(k, e, ttl).await;
                    }
                    r
                }
                .boxed()
            })
            .await
    }

    async fn fetch_doc(
        &self,
        module: &str,
        what: &Mutable,
        doc_key: &DocKey,
        key: &FetchKey,
    ) -> Result<Bytes, ServeError> {
        let label = key.to_string();
        let source = self.source_of(module)?;
        let fetched = source
            .doc(module, what)
            .await
            .map_err(|e| source_error(&label, e))?;
        let checked = match what {
            Mutable::List => check_list(&fetched.body, &label, &fetched.upstream),
            _ => check_query_info(&fetched.body, &label, &fetched.upstream),
        };
        if let Err(e) = checked {
            self.metrics.verification_failure(match what {
                Mutable::List => "list-text",
                _ => "info-json",
            });
            return Err(e);
        }
        if let Err(e) = self
            .store
            .put_doc(doc_key, fetched.body.clone(), self.now())
            .await
        {
            tracing::warn!(doc = %label, error = %e, "could not cache; serving anyway");
        }
        Ok(fetched.body)
    }

    /// Forgets the stored `list` and `@latest` of a module.
    pub(super) async fn purge_docs(&self, module: &str) -> Result<u64, ServeError> {
        let mut purged = 0;
        for what in [Mutable::List, Mutable::Latest] {
            let key = doc_key(module, &what);
            if let Ok(Some(_)) = self.store.get_doc(&key).await {
                self.store.delete_doc(&key).await.map_err(store_error)?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}

fn check_query_info(body: &[u8], label: &str, upstream: &str) -> Result<(), ServeError> {
    let version = info_version(body).map_err(|e| {
        ServeError::verification(format!("{label} from {upstream} is not valid JSON: {e}"))
    })?;
    if !gomod::semver::is_valid(&version) {
        return Err(ServeError::verification(format!(
            "{label} from {upstream} names {version:?}, which is not a valid version"
        )));
    }
    Ok(())
}

fn check_list(body: &[u8], label: &str, upstream: &str) -> Result<(), ServeError> {
    std::str::from_utf8(body).map_err(|_| {
        ServeError::verification(format!("{label} from {upstream} is not UTF-8 text"))
    })?;
    Ok(())
}
