//! Last-access tracking without a disk write per request.
//!
//! [`AccessTracker::touch`] only updates a map in memory. [`AccessTracker::flush`]
//! (called periodically, e.g. every minute, and at shutdown) merges the
//! touched entries into one document, [`DocKey::Access`]: a JSON object
//! `{"module@version": unix_seconds}`. GC reads it to order records by last
//! use; a record never touched counts as used when it was fetched.
//!
//! Several instances sharing a bucket each merge (read, take the max, write)
//! into the same document. Two flushes at the same instant can lose one
//! flush's updates; the cost is a slightly older access time for a few
//! records, which GC tolerates (it only orders by it).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use time::OffsetDateTime;

use crate::{DocKey, Error, RecordKey, Result, Store};

/// Batches last-access times in memory; see the module docs.
pub struct AccessTracker {
    store: Arc<dyn Store>,
    dirty: Mutex<HashMap<RecordKey, i64>>,
}

impl std::fmt::Debug for AccessTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTracker").finish_non_exhaustive()
    }
}

pub(crate) fn table_key(k: &RecordKey) -> String {
    format!("{}@{}", k.module, k.version)
}

impl AccessTracker {
    /// A tracker writing into `store`.
    pub fn new(store: Arc<dyn Store>) -> AccessTracker {
        AccessTracker {
            store,
            dirty: Mutex::new(HashMap::new()),
        }
    }

    /// Notes that `key` was served now. Memory only.
    pub fn touch(&self, key: &RecordKey) {
        self.touch_at(key, OffsetDateTime::now_utc());
    }

    /// Notes that `key` was served at `at`. Memory only.
    pub fn touch_at(&self, key: &RecordKey, at: OffsetDateTime) {
        let t = at.unix_timestamp();
        let mut m = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(key.clone()).or_insert(t);
        *e = (*e).max(t);
    }

    /// Number of entries waiting for the next flush.
    pub fn pending(&self) -> usize {
        self.dirty.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Merges the touched entries into the stored table. Does nothing (no
    /// write) when nothing was touched since the last flush.
    pub async fn flush(&self) -> Result<()> {
        let batch = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return Ok(());
        }
        let r = async {
            let mut table = load_table(self.store.as_ref()).await?;
            for (k, t) in &batch {
                let e = table.entry(table_key(k)).or_insert(*t);
                *e = (*e).max(*t);
            }
            save_table(self.store.as_ref(), &table).await
        }
        .await;
        if r.is_err() {
            // Keep the batch for the next attempt.
            let mut m = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
            for (k, t) in batch {
                let e = m.entry(k).or_insert(t);
                *e = (*e).max(t);
            }
        }
        r
    }

    /// Flushes every `every` until the returned handle is aborted or dropped
    /// with the runtime. Errors are logged, not fatal.
    pub fn spawn_flusher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = me.flush().await {
                    tracing::warn!(error = %e, "could not flush access times");
                }
            }
        })
    }
}

pub(crate) async fn load_table(store: &dyn Store) -> Result<BTreeMap<String, i64>> {
    match store.get_doc(&DocKey::Access).await? {
        None => Ok(BTreeMap::new()),
        Some(d) => serde_json::from_slice(&d.bytes).map_err(|e| Error::Malformed {
            path: "docs/access.json".into(),
            reason: e.to_string(),
        }),
    }
}

pub(crate) async fn save_table(store: &dyn Store, table: &BTreeMap<String, i64>) -> Result<()> {
    let json = serde_json::to_vec(table).map_err(|e| Error::Malformed {
        path: "docs/access.json".into(),
        reason: e.to_string(),
    })?;
    store
        .put_doc(
            &DocKey::Access,
            Bytes::from(json),
            OffsetDateTime::now_utc(),
        )
        .await
}

/// Last access of each record, as stored by [`AccessTracker::flush`].
pub async fn load(store: &dyn Store) -> Result<HashMap<RecordKey, OffsetDateTime>> {
    let t = load_table(store).await?;
    let mut out = HashMap::new();
    for (k, secs) in t {
        let Some((m, v)) = k.rsplit_once('@') else {
            continue;
        };
        if let Ok(at) = OffsetDateTime::from_unix_timestamp(secs) {
            out.insert(RecordKey::new(m, v), at);
        }
    }
    Ok(out)
}
