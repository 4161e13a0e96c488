//! The negative cache: "not found" answers remembered for a while, in
//! memory and (with Redis) across instances, so that the go command's
//! path-prefix probes are not repeated upstream.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::clock::{Clock, jittered};
use crate::coord::Coordinator;
use crate::error::{ErrorKind, ServeError};
use crate::keys::FetchKey;
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
struct Entry {
    gone: bool,
    message: String,
    /// When the entry stops counting (by the pipeline's clock; moka's own
    /// expiry only reclaims memory).
    expires: OffsetDateTime,
    ttl: Duration,
}

struct EntryExpiry;

impl moka::Expiry<FetchKey, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &FetchKey,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Remembered "not found" answers.
pub(crate) struct NegativeCache {
    entries: moka::sync::Cache<FetchKey, Entry>,
    clock: Arc<dyn Clock>,
    coord: Option<Coordinator>,
    metrics: Arc<Metrics>,
}

impl NegativeCache {
    pub(crate) fn new(
        clock: Arc<dyn Clock>,
        coord: Option<Coordinator>,
        metrics: Arc<Metrics>,
    ) -> NegativeCache {
        NegativeCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .expire_after(EntryExpiry)
                .support_invalidation_closures()
                .build(),
            clock,
            coord,
            metrics,
        }
    }

    /// The remembered answer for `key`, here or from another instance.
    pub(crate) async fn get(&self, key: &FetchKey) -> Option<ServeError> {
        if let Some(neg) = self.entries.get(key) {
            if self.clock.now() < neg.expires {
                self.metrics.negative_hit();
                return Some(remembered(neg.gone, neg.message));
            }
            self.entries.invalidate(key);
        }
        let (status, message) = self.coord.as_ref()?.get_negative(key).await?;
        self.metrics.negative_hit();
        Some(remembered(status == 410, message))
    }

    /// Remembers `e` (a not-found answer) for about `base`.
    pub(crate) async fn remember(&self, key: FetchKey, e: &ServeError, base: Duration) {
        debug_assert!(e.kind.is_not_found());
        let gone = e.status() == 410;
        let now = self.clock.now();
        let ttl = jittered(base, &key.to_string(), now.unix_timestamp_nanos());
        if let Some(c) = &self.coord {
            c.set_negative(&key, e.status(), &e.message, ttl).await;
        }
        self.entries.insert(
            key,
            Entry {
                gone,
                message: e.message.clone(),
                expires: now + ttl,
                ttl,
            },
        );
    }

    /// Forgets every entry of `module`; returns how many were forgotten here.
    pub(crate) async fn purge(&self, module: &str) -> Result<u64, ServeError> {
        let before = self.entries.entry_count();
        let m = module.to_string();
        self.entries
            .invalidate_entries_if(move |k, _| k.module() == m)
            .map_err(|e| ServeError::internal(format!("purge failed: {e}")))?;
        self.entries.run_pending_tasks();
        if let Some(c) = &self.coord {
            c.purge_negative(module).await;
        }
        Ok(before.saturating_sub(self.entries.entry_count()))
    }
}

fn remembered(gone: bool, message: String) -> ServeError {
    ServeError::new(ErrorKind::RememberedNotFound { gone }, message)
}
