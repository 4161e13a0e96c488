//! A circuit breaker per upstream: closed, open, half-open with a single probe.
//!
//! While an upstream is failing, every request would otherwise wait for its own
//! timeout. The breaker counts consecutive failures; past a threshold it opens
//! and requests skip that upstream at once (falling through `|` or failing
//! fast). After a cool-down one request is let through as a probe: success
//! closes the breaker, failure opens it again for another cool-down.
//!
//! Time comes from `tokio::time::Instant`, so tests drive it with a paused clock.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Breaker tuning.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long the breaker stays open before it lets one probe through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// The state a breaker is in, as reported to metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow normally.
    Closed,
    /// Requests are refused without contacting the upstream.
    Open,
    /// One probe request is in flight; others are refused.
    HalfOpen,
}

impl BreakerState {
    /// A number for a Prometheus gauge: 0 closed, 1 open, 2 half-open.
    pub fn as_gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// Permission to send one request; report its outcome with
/// [`Permit::record`]. Dropping a probe permit without recording counts as a
/// failure so a cancelled probe cannot wedge the breaker half-open.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl Permit<'_> {
    /// Whether this request is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Records the outcome of the request this permit allowed.
    pub fn record(mut self, success: bool) -> Option<BreakerState> {
        self.recorded = true;
        self.breaker.record(success)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.recorded && self.probe {
            self.breaker.record(false);
        }
    }
}

/// A circuit breaker. Cheap to consult: one uncontended mutex.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update; the
        // state is still a valid enum value, so keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state (an open breaker whose cool-down has passed reports
    /// `Open` until a request takes the probe).
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen => BreakerState::HalfOpen,
        }
    }

    /// Asks to send a request. `None` means the breaker is open (or a probe is
    /// already in flight): skip this upstream.
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Some(Permit {
                breaker: self,
                probe: false,
                recorded: false,
            }),
            Inner::Open { until } if Instant::now() >= until => {
                *inner = Inner::HalfOpen;
                Some(Permit {
                    breaker: self,
                    probe: true,
                    recorded: false,
                })
            }
            Inner::Open { .. } | Inner::HalfOpen => None,
        }
    }

    /// Records an outcome; returns the new state if it changed.
    fn record(&self, success: bool) -> Option<BreakerState> {
        let mut inner = self.lock();
        let before = state_of(&inner);
        *inner = match (&*inner, success) {
            (_, true) => Inner::Closed { failures: 0 },
            (Inner::Closed { failures }, false) => {
                let failures = failures + 1;
                if failures >= self.config.failure_threshold {
                    Inner::Open {
                        until: Instant::now() + self.config.open_for,
                    }
                } else {
                    Inner::Closed { failures }
                }
            }
            (Inner::HalfOpen, false) | (Inner::Open { .. }, false) => Inner::Open {
                until: Instant::now() + self.config.open_for,
            },
        };
        let after = state_of(&inner);
        (before != after).then_some(after)
    }
}

fn state_of(inner: &Inner) -> BreakerState {
    match inner {
        Inner::Closed { .. } => BreakerState::Closed,
        Inner::Open { .. } => BreakerState::Open,
        Inner::HalfOpen => BreakerState::HalfOpen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(10),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_and_probes_after_cool_down() {
        let b = breaker();
        for _ in 0..2 {
            assert_eq!(b.try_acquire().unwrap().record(false), None);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(
            b.try_acquire().unwrap().record(false),
            Some(BreakerState::Open)
        );
        assert!(b.try_acquire().is_none(), "open breaker must refuse");

        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(b.try_acquire().is_none(), "still cooling down");

        tokio::time::advance(Duration::from_secs(2)).await;
        let probe = b.try_acquire().expect("probe allowed after cool-down");
        assert!(probe.is_probe());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_acquire().is_none(), "only one probe at a time");
        assert_eq!(probe.record(true), Some(BreakerState::Closed));
        assert!(b.try_acquire().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_for_a_full_cool_down() {
        let b = breaker();
        for _ in 0..3 {
            b.try_acquire().unwrap().record(false);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        let probe = b.try_acquire().unwrap();
        assert_eq!(probe.record(false), Some(BreakerState::Open));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.try_acquire().is_none());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.try_acquire().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_probe_counts_as_failure() {
        let b = breaker();
        for _ in 0..3 {
            b.try_acquire().unwrap().record(false);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        drop(b.try_acquire().unwrap());
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_failure_count() {
        let b = breaker();
        b.try_acquire().unwrap().record(false);
        b.try_acquire().unwrap().record(false);
        b.try_acquire().unwrap().record(true);
        b.try_acquire().unwrap().record(false);
        b.try_acquire().unwrap().record(false);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
