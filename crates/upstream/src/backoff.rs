//! Retry delays: exponential backoff with full jitter, and `Retry-After`.
//!
//! Full jitter (a delay drawn uniformly from zero to the exponential cap)
//! spreads the retries of many clients that failed together, so a recovering
//! upstream is not hit by synchronized waves.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// Retry tuning for one request to one upstream.
#[derive(Debug, Clone, Copy)]
pub struct RetryConfig {
    /// Attempts in total, the first included. 1 disables retries.
    pub max_attempts: u32,
    /// The cap of the first retry's delay; doubled each retry.
    pub base: Duration,
    /// No delay is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// The delays between attempts, as a `backon` backoff: an iterator that
/// yields `max_attempts - 1` delays.
#[derive(Debug, Clone)]
pub struct FullJitter {
    config: RetryConfig,
    retry: u32,
}

impl FullJitter {
    /// A fresh sequence of delays.
    pub fn new(config: RetryConfig) -> Self {
        FullJitter { config, retry: 0 }
    }

    /// The upper bound of the delay before retry number `retry` (0-based).
    pub fn cap(config: &RetryConfig, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(30)).unwrap_or(u32::MAX);
        config
            .base
            .checked_mul(factor)
            .unwrap_or(config.max_delay)
            .min(config.max_delay)
    }
}

impl Iterator for FullJitter {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.retry + 1 >= self.config.max_attempts {
            return None;
        }
        let cap = Self::cap(&self.config, self.retry);
        self.retry += 1;
        let nanos = cap.as_nanos().min(u64::MAX as u128) as u64;
        Some(Duration::from_nanos(
            rand::thread_rng().gen_range(0..=nanos),
        ))
    }
}

/// The delay before the next attempt: the backoff's `proposed` delay (`None`
/// when attempts are used up), replaced by the upstream's `Retry-After` when
/// it sent one (it knows better than our guess, but it buys no attempts
/// beyond our limit), and `None` when sleeping would pass the deadline:
/// then it is better to give up now than to fail later.
pub fn next_delay(
    retry_after: Option<Duration>,
    proposed: Option<Duration>,
    now: tokio::time::Instant,
    deadline: tokio::time::Instant,
) -> Option<Duration> {
    let delay = match (retry_after, proposed) {
        (Some(ra), Some(_)) => Some(ra),
        (_, d) => d,
    };
    delay.filter(|d| now + *d < deadline)
}

/// Parses a `Retry-After` header value: delay-seconds or an HTTP date.
/// Returns `None` for anything else (then the normal backoff applies).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_under_the_exponential_cap() {
        let config = RetryConfig {
            max_attempts: 8,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        for _ in 0..200 {
            let delays: Vec<_> = FullJitter::new(config).collect();
            assert_eq!(delays.len(), 7, "max_attempts - 1 delays");
            for (i, d) in delays.iter().enumerate() {
                assert!(*d <= FullJitter::cap(&config, i as u32), "{i}: {d:?}");
            }
        }
        assert_eq!(FullJitter::cap(&config, 0), Duration::from_millis(100));
        assert_eq!(FullJitter::cap(&config, 3), Duration::from_millis(800));
        assert_eq!(FullJitter::cap(&config, 5), Duration::from_secs(2));
        assert_eq!(FullJitter::cap(&config, 40), Duration::from_secs(2));
    }

    #[test]
    fn full_jitter_actually_varies() {
        let config = RetryConfig {
            max_attempts: 2,
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(1),
        };
        let firsts: std::collections::HashSet<_> = (0..50)
            .map(|_| FullJitter::new(config).next().unwrap())
            .collect();
        assert!(firsts.len() > 10);
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let config = RetryConfig {
            max_attempts: 1,
            ..RetryConfig::default()
        };
        assert_eq!(FullJitter::new(config).next(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_replaces_the_backoff_but_never_passes_the_deadline() {
        use tokio::time::Instant;
        let deadline = Instant::now() + Duration::from_secs(10);
        let ms = Duration::from_millis;
        // Our own backoff when the upstream said nothing.
        assert_eq!(
            next_delay(None, Some(ms(80)), Instant::now(), deadline),
            Some(ms(80))
        );
        // Retry-After wins over the guess...
        assert_eq!(
            next_delay(Some(ms(3000)), Some(ms(80)), Instant::now(), deadline),
            Some(ms(3000))
        );
        // ...but buys no extra attempt.
        assert_eq!(
            next_delay(Some(ms(3000)), None, Instant::now(), deadline),
            None
        );
        // Time passes: the same Retry-After would now end past the deadline.
        tokio::time::advance(Duration::from_secs(8)).await;
        assert_eq!(
            next_delay(Some(ms(3000)), Some(ms(80)), Instant::now(), deadline),
            None
        );
        assert_eq!(
            next_delay(None, Some(ms(80)), Instant::now(), deadline),
            Some(ms(80))
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            next_delay(None, Some(ms(1)), Instant::now(), deadline),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_sequence_with_retry_after_under_a_paused_clock() {
        // Drive backon with our backoff and a Retry-After of 2 s against a
        // paused clock: the attempts happen at the expected virtual times.
        use backon::Retryable;
        use std::sync::Mutex;
        let start = tokio::time::Instant::now();
        let times = Mutex::new(Vec::new());
        let deadline = start + Duration::from_secs(60);
        let config = RetryConfig {
            max_attempts: 4,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let result: Result<(), &str> = (|| async {
            times.lock().unwrap().push(start.elapsed());
            Err("429")
        })
        .retry(FullJitter::new(config))
        .sleep(tokio::time::sleep)
        .adjust(|_e: &&str, d| {
            next_delay(
                Some(Duration::from_secs(2)),
                d,
                tokio::time::Instant::now(),
                deadline,
            )
        })
        .await;
        assert!(result.is_err());
        let times = times.into_inner().unwrap();
        assert_eq!(times.len(), 4, "{times:?}");
        for (i, t) in times.iter().enumerate() {
            let want = Duration::from_secs(2 * i as u64);
            assert!(
                *t >= want && *t < want + Duration::from_millis(50),
                "{i}: {t:?}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
