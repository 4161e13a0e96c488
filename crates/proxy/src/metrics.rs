//! Prometheus metrics, kept in a small registry of labelled counters, gauges
//! and histograms and rendered in the text exposition format.
//!
//! Written by hand rather than with a metrics crate: the set is small and
//! fixed, and a label map behind one mutex per family is cheaper than the
//! request it describes.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

struct Family<T> {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    /// Few series per family: a vector searched without allocating beats a
    /// map that needs an owned key for every lookup on the request path.
    series: Mutex<Vec<(Labels, T)>>,
}

impl<T: Default> Family<T> {
    fn new(name: &'static str, help: &'static str, kind: &'static str) -> Self {
        Family {
            name,
            help,
            kind,
            series: Mutex::new(Vec::new()),
        }
    }

    fn with<R>(&self, labels: &[(&'static str, &str)], f: impl FnOnce(&mut T) -> R) -> R {
        let same = |have: &Labels| {
            have.len() == labels.len()
                && have
                    .iter()
                    .zip(labels)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && v1 == v2)
        };
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let i = match series.iter().position(|(have, _)| same(have)) {
            Some(i) => i,
            None => {
                let key: Labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
                series.push((key, T::default()));
                series.len() - 1
            }
        };
        f(&mut series[i].1)
    }

    /// The series, sorted by labels, for rendering.
    fn sorted(&self) -> Vec<(Labels, T)>
    where
        T: Clone,
    {
        let mut v = self
            .series
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[derive(Default, Clone)]
struct Hist {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// Every metric modwarden exports.
pub struct Metrics {
    requests: Family<u64>,
    cache: Family<u64>,
    upstream_requests: Family<u64>,
    upstream_errors: Family<u64>,
    upstream_latency: Family<Hist>,
    request_latency: Family<Hist>,
    verification_failures: Family<u64>,
    retries: Family<u64>,
    breaker_state: Family<i64>,
    stale_serves: Family<u64>,
    singleflight_joins: AtomicU64,
    negative_hits: AtomicU64,
    bytes_served: AtomicU64,
    store_bytes: AtomicI64,
    store_records: AtomicI64,
    upstream_in_flight: AtomicI64,
    overloaded: AtomicU64,
    pool_waits: AtomicU64,
}

/// How one upstream attempt ended. A definite "no" (404/410, a refusing
/// 4xx) is an answer, not a failure of the upstream: counted apart, so
/// dashboards show no outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// 200.
    Ok,
    /// 404 or 410.
    NotFound,
    /// Another 4xx but 429.
    Refused,
    /// A failure, by kind (`timeout`, `connect`, `status`, ...).
    Failed(&'static str),
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::new(
                "modwarden_requests_total",
                "HTTP requests by endpoint and status.",
                "counter",
            ),
            cache: Family::new(
                "modwarden_cache_total",
                "Answers by endpoint and cache outcome (hit, miss, stale, negative, offline).",
                "counter",
            ),
            upstream_requests: Family::new(
                "modwarden_upstream_requests_total",
                "Requests sent to each upstream, by outcome.",
                "counter",
            ),
            upstream_errors: Family::new(
                "modwarden_upstream_errors_total",
                "Failed upstream requests by upstream and kind.",
                "counter",
            ),
            upstream_latency: Family::new(
                "modwarden_upstream_latency_seconds",
                "Latency of upstream requests by upstream.",
                "histogram",
            ),
            request_latency: Family::new(
                "modwarden_request_duration_seconds",
                "Latency of answers by endpoint.",
                "histogram",
            ),
            verification_failures: Family::new(
                "modwarden_verification_failures_total",
                "Upstream answers refused by verification, by reason.",
                "counter",
            ),
            retries: Family::new(
                "modwarden_upstream_retries_total",
                "Retried upstream requests by upstream.",
                "counter",
            ),
            breaker_state: Family::new(
                "modwarden_upstream_breaker_state",
                "Circuit breaker per upstream: 0 closed, 1 open, 2 half-open.",
                "gauge",
            ),
            stale_serves: Family::new(
                "modwarden_stale_serves_total",
                "Mutable answers served past their TTL, by reason.",
                "counter",
            ),
            singleflight_joins: AtomicU64::new(0),
            negative_hits: AtomicU64::new(0),
            bytes_served: AtomicU64::new(0),
            store_bytes: AtomicI64::new(0),
            store_records: AtomicI64::new(0),
            upstream_in_flight: AtomicI64::new(0),
            overloaded: AtomicU64::new(0),
            pool_waits: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// One answered request.
    pub fn request(&self, endpoint: &str, status: u16, elapsed: Duration) {
        let mut digits = [0u8; 5];
        self.requests.with(
            &[
                ("endpoint", endpoint),
                ("status", status_text(status, &mut digits)),
            ],
            |c| *c += 1,
        );
        self.request_latency
            .with(&[("endpoint", endpoint)], |h| observe(h, elapsed));
    }

    /// The cache outcome of an answer.
    pub fn cache(&self, endpoint: &str, outcome: &str) {
        self.cache
            .with(&[("endpoint", endpoint), ("outcome", outcome)], |c| *c += 1);
    }

    /// One upstream attempt and how it ended.
    pub fn upstream(&self, upstream: &str, attempt: Attempt, elapsed: Duration) {
        let outcome = match attempt {
            Attempt::Ok => "ok",
            Attempt::NotFound => "not_found",
            Attempt::Refused => "refused",
            Attempt::Failed(_) => "error",
        };
        self.upstream_requests
            .with(&[("upstream", upstream), ("outcome", outcome)], |c| *c += 1);
        if let Attempt::Failed(kind) = attempt {
            self.upstream_errors
                .with(&[("upstream", upstream), ("kind", kind)], |c| *c += 1);
        }
        self.upstream_latency
            .with(&[("upstream", upstream)], |h| observe(h, elapsed));
    }

    /// A retry of an upstream request.
    pub fn retry(&self, upstream: &str) {
        self.retries.with(&[("upstream", upstream)], |c| *c += 1);
    }

    /// A breaker's new state.
    pub fn breaker(&self, upstream: &str, state: i64) {
        self.breaker_state
            .with(&[("upstream", upstream)], |g| *g = state);
    }

    /// An upstream answer refused by verification.
    pub fn verification_failure(&self, reason: &str) {
        self.verification_failures
            .with(&[("reason", reason)], |c| *c += 1);
    }

    /// A mutable answer served past its TTL.
    pub fn stale(&self, reason: &str) {
        self.stale_serves.with(&[("reason", reason)], |c| *c += 1);
    }

    /// A request that joined a fetch already in flight.
    pub fn singleflight_join(&self) {
        self.singleflight_joins.fetch_add(1, Ordering::Relaxed);
    }

    /// A "not found" answered from the negative cache.
    pub fn negative_hit(&self) {
        self.negative_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Body bytes sent to clients.
    pub fn bytes_served(&self, n: u64) {
        self.bytes_served.fetch_add(n, Ordering::Relaxed);
    }

    /// A request refused because the upstream pool was full.
    pub fn overloaded(&self) {
        self.overloaded.fetch_add(1, Ordering::Relaxed);
    }

    /// A fetch that had to wait for a free upstream slot.
    pub fn pool_wait(&self) {
        self.pool_waits.fetch_add(1, Ordering::Relaxed);
    }

    /// Upstream fetches in flight, +1 or -1.
    pub fn upstream_in_flight(&self, delta: i64) {
        self.upstream_in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// Adds `n` bytes (and `records` records) to the store gauges.
    pub fn store_added(&self, records: i64, bytes: i64) {
        self.store_records.fetch_add(records, Ordering::Relaxed);
        self.store_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The value of a counter series, for tests.
    pub fn counter(&self, name: &str, labels: &[(&'static str, &str)]) -> u64 {
        let fam = match name {
            "requests" => &self.requests,
            "cache" => &self.cache,
            "upstream_requests" => &self.upstream_requests,
            "verification_failures" => &self.verification_failures,
            "retries" => &self.retries,
            "stale" => &self.stale_serves,
            "singleflight_joins" => return self.singleflight_joins.load(Ordering::Relaxed),
            "negative_hits" => return self.negative_hits.load(Ordering::Relaxed),
            "upstream_pool_waits" => return self.pool_waits.load(Ordering::Relaxed),
            "overloaded" => return self.overloaded.load(Ordering::Relaxed),
            _ => return 0,
        };
        fam.with(labels, |c| *c)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        render_family(&mut out, &self.requests, |v| v.to_string());
        render_family(&mut out, &self.cache, |v| v.to_string());
        render_family(&mut out, &self.upstream_requests, |v| v.to_string());
        render_family(&mut out, &self.upstream_errors, |v| v.to_string());
        render_family(&mut out, &self.verification_failures, |v| v.to_string());
        render_family(&mut out, &self.retries, |v| v.to_string());
        render_family(&mut out, &self.stale_serves, |v| v.to_string());
        render_family(&mut out, &self.breaker_state, |v| v.to_string());
        render_hist(&mut out, &self.upstream_latency);
        render_hist(&mut out, &self.request_latency);
        let scalars: [(&str, &str, &str, i64); 8] = [
            (
                "modwarden_singleflight_joins_total",
                "Requests that joined a fetch already in flight.",
                "counter",
                self.singleflight_joins.load(Ordering::Relaxed) as i64,
            ),
            (
                "modwarden_negative_cache_hits_total",
                "Not-found answers served from the negative cache.",
                "counter",
                self.negative_hits.load(Ordering::Relaxed) as i64,
            ),
            (
                "modwarden_bytes_served_total",
                "Body bytes sent to clients.",
                "counter",
                self.bytes_served.load(Ordering::Relaxed) as i64,
            ),
            (
                "modwarden_overloaded_total",
                "Requests refused with 503 because the upstream pool was full.",
                "counter",
                self.overloaded.load(Ordering::Relaxed) as i64,
            ),
            (
                "modwarden_upstream_pool_waits_total",
                "Fetches that waited for a free upstream slot.",
                "counter",
                self.pool_waits.load(Ordering::Relaxed) as i64,
            ),
            (
                "modwarden_upstream_in_flight",
                "Upstream fetches in flight.",
                "gauge",
                self.upstream_in_flight.load(Ordering::Relaxed),
            ),
            (
                "modwarden_store_bytes",
                "Bytes of blobs in the store (approximate, since start-up scan).",
                "gauge",
                self.store_bytes.load(Ordering::Relaxed),
            ),
            (
                "modwarden_store_records",
                "Module version records in the store (approximate).",
                "gauge",
                self.store_records.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, kind, v) in scalars {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        out
    }
}

/// A status code as text without allocating.
fn status_text(status: u16, buf: &mut [u8; 5]) -> &str {
    let mut n = status;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

fn observe(h: &mut Hist, elapsed: Duration) {
    if h.buckets.is_empty() {
        h.buckets = vec![0; BUCKETS.len()];
    }
    let s = elapsed.as_secs_f64();
    for (i, b) in BUCKETS.iter().enumerate() {
        if s <= *b {
            h.buckets[i] += 1;
        }
    }
    h.sum += s;
    h.count += 1;
}

fn label_text(labels: &Labels, extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render_family<T: Clone + Default>(
    out: &mut String,
    fam: &Family<T>,
    fmt: impl Fn(&T) -> String,
) {
    let _ = writeln!(
        out,
        "# HELP {} {}\n# TYPE {} {}",
        fam.name, fam.help, fam.name, fam.kind
    );
    for (labels, v) in fam.sorted().iter() {
        let _ = writeln!(out, "{}{} {}", fam.name, label_text(labels, None), fmt(v));
    }
}

fn render_hist(out: &mut String, fam: &Family<Hist>) {
    let _ = writeln!(
        out,
        "# HELP {} {}\n# TYPE {} histogram",
        fam.name, fam.help, fam.name
    );
    for (labels, h) in fam.sorted().iter() {
        for (i, b) in BUCKETS.iter().enumerate() {
            let n = h.buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "{}_bucket{} {n}",
                fam.name,
                label_text(labels, Some(("le", &b.to_string())))
            );
        }
        let _ = writeln!(
            out,
            "{}_bucket{} {}",
            fam.name,
            label_text(labels, Some(("le", "+Inf"))),
            h.count
        );
        let _ = writeln!(
            out,
            "{}_sum{} {}",
            fam.name,
            label_text(labels, None),
            h.sum
        );
        let _ = writeln!(
            out,
            "{}_count{} {}",
            fam.name,
            label_text(labels, None),
            h.count
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_as_text() {
        let mut b = [0u8; 5];
        assert_eq!(status_text(200, &mut b), "200");
        assert_eq!(status_text(7, &mut b), "7");
        assert_eq!(status_text(65535, &mut b), "65535");
    }

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.request("zip", 200, Duration::from_millis(3));
        m.request("zip", 200, Duration::from_millis(30));
        m.cache("zip", "hit");
        m.upstream(
            "http://u",
            Attempt::Failed("timeout"),
            Duration::from_secs(2),
        );
        let text = m.render();
        assert!(
            text.contains("modwarden_requests_total{endpoint=\"zip\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "modwarden_request_duration_seconds_bucket{endpoint=\"zip\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("modwarden_request_duration_seconds_count{endpoint=\"zip\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "modwarden_upstream_errors_total{kind=\"timeout\",upstream=\"http://u\"} 1"
            ) || text.contains(
                "modwarden_upstream_errors_total{upstream=\"http://u\",kind=\"timeout\"} 1"
            ),
            "{text}"
        );
        assert_eq!(
            m.counter("cache", &[("endpoint", "zip"), ("outcome", "hit")]),
            1
        );
    }
}
