//! Where the pipeline reads the time: TTLs, staleness and negative entries
//! are all judged by a [`Clock`], so tests can move time without sleeping.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

/// The source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that runs with the system clock plus an offset tests advance.
#[derive(Debug, Default)]
pub struct ManualClock {
    offset_ms: AtomicI64,
}

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// How long ago `t` was by `clock` (zero for a time in the future).
pub(crate) fn age(clock: &dyn Clock, t: OffsetDateTime) -> Duration {
    (clock.now() - t).try_into().unwrap_or(Duration::ZERO)
}

/// Deterministic jitter in [0.9, 1.0) of `base`, from a key and its fetch
/// time: entries fetched together expire apart, and every instance computes
/// the same expiry for the same entry.
pub fn jittered(base: Duration, key: &str, salt: i128) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    salt.hash(&mut h);
    let frac = (h.finish() % 1000) as f64 / 10_000.0; // 0 .. 0.0999
    base.mul_f64(1.0 - frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_jitter_spreads_entries_within_ten_percent() {
        let base = Duration::from_secs(300);
        let mut seen = std::collections::HashSet::new();
        for i in 0..500 {
            let key = format!("example.com/m{i}/@v/list");
            let t = jittered(base, &key, 1_700_000_000_000_000_000);
            assert!(t <= base && t > base.mul_f64(0.9), "{t:?}");
            seen.insert(t.as_millis());
            // Deterministic: every instance computes the same expiry.
            assert_eq!(t, jittered(base, &key, 1_700_000_000_000_000_000));
        }
        assert!(
            seen.len() > 100,
            "entries fetched together would expire together"
        );
    }

    #[test]
    fn manual_clock_moves_forward() {
        let c = ManualClock::default();
        let t0 = c.now();
        c.advance(Duration::from_secs(3600));
        assert!(age(&c, t0) >= Duration::from_secs(3600));
        assert_eq!(age(&SystemClock, c.now()), Duration::ZERO);
    }
}
