//! Coordination between instances that share a store: a Redis lock per
//! module version so that N instances behind a load balancer fetch a missing
//! version from upstream once, not N times, and a shared negative cache so
//! that a probe answered "not found" on one instance is not repeated upstream
//! by the others.
//!
//! Redis is an optimisation, never a dependency of correctness: every Redis
//! error is logged and treated as "no coordination" (the instance then
//! fetches on its own, which the create-only store makes safe).

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::keys::FetchKey;

/// A connection to the coordinating Redis.
#[derive(Clone)]
pub struct Coordinator {
    redis: ConnectionManager,
    instance: String,
    prefix: String,
}

/// The outcome of asking for the fetch lock of a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Lock {
    /// This instance holds it: fetch, then release.
    Acquired,
    /// Another instance is fetching.
    Busy,
    /// Redis did not answer: fetch without coordination.
    Unavailable,
}

impl Coordinator {
    /// Connects to `url` (`redis://host:port/db`). Keys are namespaced by
    /// `prefix` so several proxies can share one Redis.
    pub async fn connect(
        url: &str,
        instance: &str,
        prefix: &str,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let redis = tokio::time::timeout(Duration::from_secs(5), client.get_connection_manager())
            .await
            .map_err(|_| {
                redis::RedisError::from((
                    redis::ErrorKind::IoError,
                    "timed out connecting to redis",
                ))
            })??;
        Ok(Coordinator {
            redis,
            instance: instance.to_string(),
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, kind: &str, key: &dyn std::fmt::Display) -> String {
        format!("{}:{kind}:{key}", self.prefix)
    }

    /// Tries to take the fetch lock of `key` for `ttl` (the lock expires by
    /// itself if this instance dies mid-fetch).
    pub async fn try_lock(&self, key: &FetchKey, ttl: Duration) -> Lock {
        let mut con = self.redis.clone();
        let r: Result<Option<String>, _> = redis::cmd("SET")
            .arg(self.key("lock", key))
            .arg(&self.instance)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut con)
            .await;
        match r {
            Ok(Some(_)) => Lock::Acquired,
            Ok(None) => Lock::Busy,
            Err(e) => {
                tracing::warn!(error = %e, "redis lock failed; fetching without coordination");
                Lock::Unavailable
            }
        }
    }

    /// Releases the fetch lock of `key` if this instance still holds it.
    pub async fn unlock(&self, key: &FetchKey) {
        let mut con = self.redis.clone();
        let script = redis::Script::new(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
        );
        let r: Result<i64, _> = script
            .key(self.key("lock", key))
            .arg(&self.instance)
            .invoke_async(&mut con)
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "redis unlock failed; the lock will expire");
        }
    }

    /// Shares a "not found" answer for `ttl`.
    pub async fn set_negative(&self, key: &FetchKey, status: u16, message: &str, ttl: Duration) {
        let mut con = self.redis.clone();
        let r: Result<(), _> = redis::cmd("SET")
            .arg(self.key("neg", key))
            .arg(format!("{status} {message}"))
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut con)
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "redis: could not share a not-found answer");
        }
    }

    /// A "not found" answer another instance shared, if any.
    pub async fn get_negative(&self, key: &FetchKey) -> Option<(u16, String)> {
        let mut con = self.redis.clone();
        let r: Result<Option<String>, _> = redis::cmd("GET")
            .arg(self.key("neg", key))
            .query_async(&mut con)
            .await;
        let v = r.ok().flatten()?;
        let (status, message) = v.split_once(' ')?;
        Some((status.parse().ok()?, message.to_string()))
    }

    /// Forgets the shared "not found" answers of `module` (after a release).
    pub async fn purge_negative(&self, module: &str) {
        let mut con = self.redis.clone();
        for p in FetchKey::module_prefixes(module) {
            let pattern = format!("{}*", self.key("neg", &escape_glob(&p)));
            // SCAN in batches, not KEYS: KEYS blocks a shared Redis for
            // as long as it walks every key of every user.
            let mut cursor: u64 = 0;
            loop {
                let r: Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut con)
                    .await;
                let Ok((next, keys)) = r else {
                    tracing::warn!(pattern = %pattern, "redis SCAN failed; shared not-found answers expire by themselves");
                    break;
                };
                if !keys.is_empty() {
                    let _: Result<i64, _> =
                        redis::cmd("DEL").arg(&keys).query_async(&mut con).await;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
    }
}

/// Escapes Redis glob characters in a literal.
fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
