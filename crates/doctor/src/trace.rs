//! `-x` output of the go command (`cmd/go/internal/web/http.go`): one
//! `# get URL` line when a request starts and one `# get URL: <status>
//! (<secs>s)` or `# get URL: <transport error>` line when its response
//! headers arrive, interleaved when requests run concurrently. Requests are
//! matched by URL (first in, first out when the same URL is in flight
//! twice). VCS steps show as `0.412s # cd DIR; git ...`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;

/// One HTTP request the go command made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// The URL (as go printed it, credentials redacted by go).
    pub url: String,
    /// `host[:port]`.
    pub host: String,
    /// What was asked: info, mod, zip, list, latest, sumdb-supported,
    /// sumdb-lookup, sumdb-tile, go-get, other.
    pub kind: String,
    /// The module, when the URL names one.
    pub module: Option<String>,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// `200 OK`, or the transport error.
    pub outcome: String,
    /// Seconds to the response headers, when go printed them.
    pub seconds: Option<f64>,
    /// 200 (or 404/410, a normal "not here" answer in a GOPROXY list).
    pub ok: bool,
    /// 1-based line of the `# get URL` line (or of the result line when the
    /// start was not seen).
    pub line: usize,
}

/// Latency of one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostStats {
    /// `host[:port]`.
    pub host: String,
    /// Requests.
    pub requests: usize,
    /// Requests that failed (transport errors and statuses other than
    /// 200/404/410).
    pub failures: usize,
    /// Median seconds (nearest rank).
    pub p50: f64,
    /// 95th percentile seconds (nearest rank).
    pub p95: f64,
    /// Slowest seconds.
    pub max: f64,
    /// Sum of seconds.
    pub total: f64,
}

/// A VCS step (`direct` mode).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VcsStep {
    /// The command line.
    pub command: String,
    /// Seconds, when printed.
    pub seconds: Option<f64>,
}

/// What a `-x` log says about the network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceReport {
    /// Wall-clock seconds of the whole command, when modwarden ran it.
    pub wall_seconds: Option<f64>,
    /// Requests seen.
    pub requests: usize,
    /// Sum of request seconds.
    pub request_seconds: f64,
    /// The slowest requests, slowest first (at most 10).
    pub slowest: Vec<Request>,
    /// Failed requests, in order.
    pub failures: Vec<Request>,
    /// Requests that started and never finished (the command was killed or
    /// hung).
    pub unfinished: Vec<String>,
    /// Per host, most total time first.
    pub hosts: Vec<HostStats>,
    /// Requests per module, most first.
    pub modules: Vec<(String, usize)>,
    /// VCS steps.
    pub vcs: Vec<VcsStep>,
    /// One sentence naming the bottleneck.
    pub bottleneck: String,
}

/// Nearest-rank percentile of sorted values (`q` in 0..=1).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn classify(url: &str) -> (String, String, Option<String>) {
    let Ok(u) = url::Url::parse(url) else {
        return (String::new(), "other".into(), None);
    };
    let host = match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
        None => u.host_str().unwrap_or_default().to_string(),
    };
    // go percent-encodes each segment (`!` arrives as `%21`).
    let decoded: Vec<String> = u
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| gomod::module::percent_decode(s).unwrap_or_else(|_| s.to_string()))
        .collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    if u.query().is_some_and(|q| q.contains("go-get=1")) {
        let m = segs.join("/");
        return (host, "go-get".into(), Some(m));
    }
    // The checksum database reached directly: /lookup/..., /tile/..., /latest.
    match segs.first() {
        Some(&"lookup") => {
            let rest = segs[1..].join("/");
            let m = rest
                .rsplit_once('@')
                .and_then(|(m, _)| gomod::module::unescape_path(m).ok());
            return (host, "sumdb-lookup".into(), m);
        }
        Some(&"tile") => return (host, "sumdb-tile".into(), None),
        Some(&"latest") if segs.len() == 1 => return (host, "sumdb-latest".into(), None),
        _ => {}
    }
    if let Some(i) = segs.iter().position(|s| *s == "sumdb") {
        if segs.last() == Some(&"supported") {
            return (host, "sumdb-supported".into(), None);
        }
        if let Some(j) = segs[i..].iter().position(|s| *s == "lookup") {
            let rest = segs[i + j + 1..].join("/");
            let m = rest
                .rsplit_once('@')
                .and_then(|(m, _)| gomod::module::unescape_path(m).ok());
            return (host, "sumdb-lookup".into(), m);
        }
        if segs[i..].contains(&"tile") {
            return (host, "sumdb-tile".into(), None);
        }
        if segs.last() == Some(&"latest") {
            return (host, "sumdb-latest".into(), None);
        }
    }
    let (end, kind) = if let Some(i) = segs.iter().position(|s| *s == "@v") {
        let last = segs.last().copied().unwrap_or_default();
        let kind = if last == "list" {
            "list"
        } else if last.ends_with(".info") {
            "info"
        } else if last.ends_with(".mod") {
            "mod"
        } else if last.ends_with(".zip") {
            "zip"
        } else {
            "other"
        };
        (i, kind)
    } else if let Some(i) = segs.iter().position(|s| *s == "@latest") {
        (i, "latest")
    } else {
        return (host, "other".into(), None);
    };
    // The proxy's own base path may precede the module: take the longest
    // run of segments that is a valid module path.
    let module = (0..end).find_map(|start| {
        let esc = segs[start..end].join("/");
        let m = gomod::module::unescape_path(&esc).ok()?;
        gomod::module::check_path(&m).ok()?;
        Some(m)
    });
    (host, kind.into(), module)
}

fn parse_secs(s: &str) -> Option<f64> {
    s.strip_suffix('s')?.parse().ok()
}

/// Parses a `-x` log.
pub fn parse(log: &str, wall_seconds: Option<f64>) -> TraceReport {
    let mut pending: HashMap<String, VecDeque<usize>> = HashMap::new();
    let mut done: Vec<Request> = Vec::new();
    let mut vcs = Vec::new();
    for (i, raw) in log.lines().enumerate() {
        let line = raw.trim_end();
        if let Some(rest) = line.strip_prefix("# get ") {
            match rest.split_once(' ') {
                None => pending
                    .entry(rest.to_string())
                    .or_default()
                    .push_back(i + 1),
                Some((url, result)) => {
                    let url = url.strip_suffix(':').unwrap_or(url).to_string();
                    let start = pending.get_mut(&url).and_then(VecDeque::pop_front);
                    let (outcome, seconds) = match result.rsplit_once(" (") {
                        Some((o, t)) if t.ends_with("s)") => {
                            (o.to_string(), parse_secs(t.trim_end_matches(')')))
                        }
                        _ => (result.to_string(), None),
                    };
                    let status = outcome
                        .get(..3)
                        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|c| c.parse::<u16>().ok())
                        .filter(|_| outcome.len() == 3 || outcome.as_bytes()[3] == b' ');
                    let (host, kind, module) = classify(&url);
                    done.push(Request {
                        ok: matches!(status, Some(200 | 404 | 410)),
                        url,
                        host,
                        kind,
                        module,
                        status,
                        outcome,
                        seconds,
                        line: start.unwrap_or(i + 1),
                    });
                }
            }
        } else if let Some((t, cmd)) = line.split_once(" # ")
            && let Some(secs) = parse_secs(t)
        {
            vcs.push(VcsStep {
                command: cmd.to_string(),
                seconds: Some(secs),
            });
        }
    }
    let mut unfinished: Vec<(usize, String)> = pending
        .into_iter()
        .flat_map(|(u, q)| q.into_iter().map(move |l| (l, u.clone())))
        .collect();
    unfinished.sort();
    done.sort_by_key(|r| r.line);
    build_report(
        done,
        unfinished.into_iter().map(|x| x.1).collect(),
        vcs,
        wall_seconds,
    )
}

fn build_report(
    done: Vec<Request>,
    unfinished: Vec<String>,
    vcs: Vec<VcsStep>,
    wall_seconds: Option<f64>,
) -> TraceReport {
    let mut by_host: BTreeMap<String, Vec<&Request>> = BTreeMap::new();
    let mut by_module: BTreeMap<String, usize> = BTreeMap::new();
    for r in &done {
        by_host.entry(r.host.clone()).or_default().push(r);
        if let Some(m) = &r.module {
            *by_module.entry(m.clone()).or_default() += 1;
        }
    }
    let mut hosts: Vec<HostStats> = by_host
        .into_iter()
        .map(|(host, rs)| {
            let mut t: Vec<f64> = rs.iter().filter_map(|r| r.seconds).collect();
            t.sort_by(f64::total_cmp);
            HostStats {
                host,
                requests: rs.len(),
                failures: rs.iter().filter(|r| !r.ok).count(),
                p50: percentile(&t, 0.5),
                p95: percentile(&t, 0.95),
                max: t.last().copied().unwrap_or(0.0),
                total: t.iter().fold(0.0, |a, b| a + b),
            }
        })
        .collect();
    hosts.sort_by(|a, b| b.total.total_cmp(&a.total).then(a.host.cmp(&b.host)));
    let mut modules: Vec<(String, usize)> = by_module.into_iter().collect();
    modules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut slowest: Vec<Request> = done
        .iter()
        .filter(|r| r.seconds.is_some())
        .cloned()
        .collect();
    slowest.sort_by(|a, b| {
        b.seconds
            .unwrap_or(0.0)
            .total_cmp(&a.seconds.unwrap_or(0.0))
            .then(a.line.cmp(&b.line))
    });
    slowest.truncate(10);
    let failures: Vec<Request> = done.iter().filter(|r| !r.ok).cloned().collect();
    let request_seconds: f64 = done
        .iter()
        .filter_map(|r| r.seconds)
        .fold(0.0, |a, b| a + b);
    let mut report = TraceReport {
        wall_seconds,
        requests: done.len(),
        request_seconds,
        slowest,
        failures,
        unfinished,
        hosts,
        modules,
        vcs,
        bottleneck: String::new(),
    };
    report.bottleneck = bottleneck(&report, &done);
    report
}

fn is_timeout(outcome: &str) -> bool {
    let o = outcome.to_ascii_lowercase();
    o.contains("timeout") || o.contains("deadline exceeded") || o.contains("timed out")
}

fn bottleneck(r: &TraceReport, done: &[Request]) -> String {
    if r.requests == 0 && r.vcs.is_empty() {
        return "No HTTP requests: everything came from the module cache.".into();
    }
    let sumdb_timeouts = done
        .iter()
        .filter(|q| q.kind.starts_with("sumdb") && !q.ok && is_timeout(&q.outcome))
        .count();
    if sumdb_timeouts > 0 {
        let host = done
            .iter()
            .find(|q| q.kind.starts_with("sumdb") && !q.ok)
            .map(|q| q.host.as_str())
            .unwrap_or_default();
        return format!(
            "The checksum database timed out ({sumdb_timeouts} request(s) to {host}): check GOSUMDB and whether your proxy serves /sumdb/."
        );
    }
    let vcs_time: f64 = r
        .vcs
        .iter()
        .filter_map(|v| v.seconds)
        .fold(0.0, |a, b| a + b);
    let gogets = done.iter().filter(|q| q.kind == "go-get").count();
    let total = r.wall_seconds.unwrap_or(r.request_seconds.max(vcs_time));
    if (!r.vcs.is_empty() && vcs_time >= 0.3 * total) || (gogets > 0 && r.vcs.len() >= gogets) {
        return format!(
            "`direct` VCS fallbacks: {} VCS step(s) took {vcs_time:.1}s of {total:.1}s; a module proxy (GOPROXY) would avoid cloning repositories.",
            r.vcs.len()
        );
    }
    if let Some(h) = r
        .hosts
        .iter()
        .filter(|h| h.failures > 0)
        .max_by_key(|h| h.failures)
        && h.failures * 2 >= h.requests
    {
        return format!(
            "{} failed {} of {} requests: that host is down or unreachable.",
            h.host, h.failures, h.requests
        );
    }
    if let Some(top) = r.hosts.first()
        && r.request_seconds > 0.0
    {
        let share = top.total / r.request_seconds;
        let others: Vec<&HostStats> = r.hosts.iter().skip(1).collect();
        let other_p50 = others.iter().map(|h| h.p50).fold(f64::NAN, f64::min);
        if !others.is_empty() && share >= 0.5 && top.p50 > 2.0 * other_p50 {
            return format!(
                "One slow proxy: {} takes {:.0}% of request time (p50 {:.0} ms against {:.0} ms elsewhere).",
                top.host,
                share * 100.0,
                top.p50 * 1000.0,
                other_p50 * 1000.0
            );
        }
        if others.is_empty() && top.p95 >= 1.0 {
            return format!(
                "One slow proxy: {} answers slowly (p50 {:.0} ms, p95 {:.0} ms).",
                top.host,
                top.p50 * 1000.0,
                top.p95 * 1000.0
            );
        }
    }
    if !r.unfinished.is_empty() {
        return format!(
            "{} request(s) never finished (first: {}): the command hung on the network.",
            r.unfinished.len(),
            r.unfinished[0]
        );
    }
    let p95 = r.hosts.iter().map(|h| h.p95).fold(0.0, f64::max);
    format!(
        "No single bottleneck: {} requests, {:.1}s in total, slowest host p95 {:.0} ms.",
        r.requests,
        r.request_seconds,
        p95 * 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 0.5), 5.0);
        assert_eq!(percentile(&v, 0.95), 10.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }

    #[test]
    fn module_from_url_with_base_path() {
        let (h, k, m) =
            classify("https://corp.example/goproxy/example.com/%21upper/m/@v/v1.0.0.zip");
        assert_eq!(h, "corp.example");
        assert_eq!(k, "zip");
        assert_eq!(m.as_deref(), Some("example.com/Upper/m"));
        let (_, k, m) = classify("http://127.0.0.1:9/sumdb/sum.x/lookup/example.com/m@v1.0.0");
        assert_eq!(k, "sumdb-lookup");
        assert_eq!(m.as_deref(), Some("example.com/m"));
    }

    #[test]
    fn transport_error_and_interleaving() {
        let log = "# get https://a.example/x.com/m/@v/v1.0.0.info\n\
                   # get https://b.example/x.com/m/@v/v1.0.0.info\n\
                   # get https://b.example/x.com/m/@v/v1.0.0.info: 200 OK (0.500s)\n\
                   # get https://a.example/x.com/m/@v/v1.0.0.info: Get \"https://a.example/x.com/m/@v/v1.0.0.info\": dial tcp 1.2.3.4:443: connect: connection refused\n";
        let r = parse(log, None);
        assert_eq!(r.requests, 2);
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].line, 1);
        assert!(r.failures[0].outcome.contains("connection refused"));
        assert_eq!(r.slowest[0].seconds, Some(0.5));
    }
}
