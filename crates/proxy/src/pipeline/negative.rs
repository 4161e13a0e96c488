//! The negative cache: "not found" answers remembered for a while, in
//! memory and (with Redis) across instances, so that the go command's
//! path-prefix probes are not repeated upstream.
//!
//! Past its TTL an answer is no longer served as fresh, but it is kept for
//! `stale_if_error` more: while every upstream fails, the last known "not
//! found" is still the answer (a warm `go mod tidy` during an outage needs
//! the 404s of its path-prefix probes as much as the files it has), so being
//! online with the upstream down never does worse than `--offline`.

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
    status: u16,
    message: String,
    /// When the entry stops being fresh (by the pipeline's clock; moka's own
    /// expiry only reclaims memory).
    expires: OffsetDateTime,
    /// Until when it may answer while every upstream fails.
    stale_until: OffsetDateTime,
    /// How long moka keeps it.
    keep_for: Duration,
}

struct EntryExpiry;

impl moka::Expiry<FetchKey, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &FetchKey,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }
}

/// Remembered "not found" answers.
pub(crate) struct NegativeCache {
    entries: moka::sync::Cache<FetchKey, Entry>,
    clock: Arc<dyn Clock>,
    coord: Option<Coordinator>,
    metrics: Arc<Metrics>,
    stale_if_error: Duration,
}

impl NegativeCache {
    pub(crate) fn new(
        clock: Arc<dyn Clock>,
        coord: Option<Coordinator>,
        metrics: Arc<Metrics>,
        stale_if_error: Duration,
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
            stale_if_error,
        }
    }

    /// The fresh remembered answer for `key`, here or from another instance.
    pub(crate) async fn get(&self, key: &FetchKey) -> Option<ServeError> {
        if let Some(neg) = self.entries.get(key) {
            let now = self.clock.now();
            if now < neg.expires {
                self.metrics.negative_hit();
                return Some(remembered(neg.status, neg.message));
            }
            if now >= neg.stale_until {
                self.entries.invalidate(key);
            }
        }
        let (status, message) = self.coord.as_ref()?.get_negative(key).await?;
        self.metrics.negative_hit();
        Some(remembered(status, message))
    }

    /// The last known answer for `key` past its TTL, within `stale_if_error`:
    /// for when every upstream fails.
    pub(crate) fn get_stale(&self, key: &FetchKey) -> Option<ServeError> {
        let neg = self.entries.get(key)?;
        if self.clock.now() >= neg.stale_until {
            return None;
        }
        self.metrics.stale("error");
        Some(remembered(neg.status, neg.message))
    }

    /// Remembers `e` (a not-found answer) for about `base`.
    pub(crate) async fn remember(&self, key: FetchKey, e: &ServeError, base: Duration) {
        debug_assert!(e.kind.is_not_found());
        let status = e.status();
        let now = self.clock.now();
        let ttl = jittered(base, &key.to_string(), now.unix_timestamp_nanos());
        if let Some(c) = &self.coord {
            c.set_negative(&key, e.status(), &e.message, ttl).await;
        }
        self.entries.insert(
            key,
            Entry {
                status,
                message: e.message.clone(),
                expires: now + ttl,
                stale_until: now + ttl + self.stale_if_error,
                keep_for: ttl.saturating_add(self.stale_if_error),
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

fn remembered(status: u16, message: String) -> ServeError {
    ServeError::new(ErrorKind::remembered(status), message)
}
