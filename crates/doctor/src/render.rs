//! Human-readable text for every report (the binary prints these; `--json`
//! prints the reports themselves).

use std::fmt::Write as _;

use crate::cache::{ScanReport, Severity};
use crate::clean::CleanReport;
use crate::env::{EnvFinding, GoEnv, Level};
use crate::inittrace::InitReport;
use crate::probe::{Probe, Verdict as ProbeVerdict};
use crate::repair::{ActionKind, FixReport};
use crate::runner::{RetryReport, SandboxReport};
use crate::trace::TraceReport;

/// `1.5 MiB` style.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The environment section.
pub fn env(env: &GoEnv, findings: &[EnvFinding]) -> String {
    let mut s = String::new();
    let src = match env.source {
        crate::env::EnvSource::GoEnvJson => "go env -json",
        crate::env::EnvSource::Process => {
            "process environment and Go's defaults; no go command found"
        }
    };
    let _ = writeln!(s, "Go environment ({src})");
    for k in [
        "GOVERSION",
        "GOPROXY",
        "GOSUMDB",
        "GOPRIVATE",
        "GONOSUMDB",
        "GONOPROXY",
        "GOINSECURE",
        "GOFLAGS",
        "GOTOOLCHAIN",
        "GOMODCACHE",
        "GOMOD",
    ] {
        let v = env.get(k);
        if !v.is_empty() {
            let _ = writeln!(s, "  {k:<12} {v}");
        }
    }
    if findings.is_empty() {
        let _ = writeln!(s, "  ok: no risky or broken settings");
    }
    for f in findings {
        let level = match f.level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
        };
        let _ = writeln!(s, "  {level:<8} {}: {}", f.variable, f.message);
    }
    s
}

/// The network section.
pub fn probes(probes: &[Probe]) -> String {
    let mut s = String::from("Network\n");
    for p in probes {
        let v = match p.verdict {
            ProbeVerdict::Ok => "ok",
            ProbeVerdict::HttpStatus => "HTTP status",
            ProbeVerdict::Timeout => "timeout",
            ProbeVerdict::Refused => "refused",
            ProbeVerdict::Dns => "DNS",
            ProbeVerdict::Tls => "TLS",
            ProbeVerdict::Error => "error",
        };
        let _ = writeln!(
            s,
            "  {:<22} {:<8} {:>6} ms  {}\n  {:<22} {}",
            p.target, v, p.millis, p.detail, "", p.url
        );
    }
    s
}

/// The cache scan section.
pub fn scan(r: &ScanReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Module cache {}", r.modcache.display());
    let _ = writeln!(
        s,
        "  scanned {} module versions ({} zips, {} extracted dirs, {} hashed){}",
        r.versions,
        r.zips,
        r.dirs,
        bytes(r.bytes_hashed),
        match &r.gosum {
            Some(g) => format!(", compared with {}", g.display()),
            None => String::new(),
        }
    );
    for f in &r.findings {
        let sev = match f.severity {
            Severity::Problem => "problem",
            Severity::Note => "note",
        };
        let id = f.id().unwrap_or_default();
        let _ = writeln!(s, "  {sev:<8} {:<22} {id}", f.kind.as_str());
        let _ = writeln!(s, "           {}", f.detail);
        let _ = writeln!(s, "           {}", f.path.display());
    }
    let n = r.problems().count();
    if n == 0 {
        let _ = writeln!(s, "  ok: no broken entries");
    } else {
        let _ = writeln!(
            s,
            "  {n} problem(s). `modwarden doctor --fix` removes exactly these entries (`--refetch` downloads them again through GOPROXY)."
        );
    }
    s
}

/// The repair section.
pub fn fix(r: &FixReport) -> String {
    let mut s = String::from("Repair\n");
    if r.actions.is_empty() {
        let _ = writeln!(s, "  nothing to do");
    }
    for a in &r.actions {
        let what = match a.action {
            ActionKind::Removed => "removed",
            ActionKind::Refetched => "refetched",
            ActionKind::Failed => "FAILED",
        };
        let _ = writeln!(
            s,
            "  {what:<9} {} ({}; {})",
            a.path.display(),
            a.detail,
            bytes(a.bytes)
        );
    }
    if !r.needs_download.is_empty() {
        let _ = writeln!(
            s,
            "  go downloads these again on next use: {}",
            r.needs_download.join(", ")
        );
    }
    s
}

/// `clean` output.
pub fn clean(r: &CleanReport) -> String {
    let mut s = String::new();
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for i in &r.removed {
        let _ = writeln!(s, "{verb} {} ({})", i.id, bytes(i.bytes));
    }
    for f in &r.failed {
        let _ = writeln!(s, "FAILED {f}");
    }
    let _ = writeln!(
        s,
        "{} {} module version(s), {} of {}; {} kept",
        if r.dry_run { "Would free" } else { "Freed" },
        r.removed.len(),
        bytes(r.bytes_freed),
        bytes(r.bytes_before),
        r.kept
    );
    s
}

/// `trace` output.
pub fn trace(r: &TraceReport) -> String {
    let mut s = String::new();
    match r.wall_seconds {
        Some(w) => {
            let _ = writeln!(
                s,
                "Total: {w:.3}s wall clock, {} requests ({:.3}s of request time)",
                r.requests, r.request_seconds
            );
        }
        None => {
            let _ = writeln!(
                s,
                "Total: {} requests, {:.3}s of request time",
                r.requests, r.request_seconds
            );
        }
    }
    let _ = writeln!(s, "Bottleneck: {}", r.bottleneck);
    if !r.slowest.is_empty() {
        let _ = writeln!(s, "Slowest requests:");
        for q in &r.slowest {
            let _ = writeln!(
                s,
                "  {:>8.3}s  {:<16} {}",
                q.seconds.unwrap_or(0.0),
                q.outcome,
                q.url
            );
        }
    }
    if !r.failures.is_empty() {
        let _ = writeln!(s, "Failures:");
        for q in &r.failures {
            let _ = writeln!(s, "  {}: {}", q.url, q.outcome);
        }
    }
    if !r.unfinished.is_empty() {
        let _ = writeln!(s, "Never finished:");
        for u in &r.unfinished {
            let _ = writeln!(s, "  {u}");
        }
    }
    if !r.hosts.is_empty() {
        let _ = writeln!(
            s,
            "Per host:            requests  failed      p50      p95      max    total"
        );
        for h in &r.hosts {
            let _ = writeln!(
                s,
                "  {:<20} {:>6} {:>7} {:>7.0}ms {:>7.0}ms {:>7.0}ms {:>7.3}s",
                h.host,
                h.requests,
                h.failures,
                h.p50 * 1000.0,
                h.p95 * 1000.0,
                h.max * 1000.0,
                h.total
            );
        }
    }
    if !r.modules.is_empty() {
        let _ = writeln!(s, "Requests per module:");
        for (m, n) in &r.modules {
            let _ = writeln!(s, "  {n:>4}  {m}");
        }
    }
    if !r.vcs.is_empty() {
        let _ = writeln!(s, "VCS steps:");
        for v in &r.vcs {
            let _ = writeln!(s, "  {:>8.3}s  {}", v.seconds.unwrap_or(0.0), v.command);
        }
    }
    s
}

/// `trace --inittrace` output.
pub fn inittrace(r: &InitReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} package inits in {} process(es) ({} go-command process(es) left out): {:.3} ms, {}",
        r.inits,
        r.processes - r.skipped_processes,
        r.skipped_processes,
        r.total_clock_ms,
        bytes(r.total_bytes)
    );
    let _ = writeln!(s, "Slowest inits:");
    for i in &r.by_time {
        let _ = writeln!(
            s,
            "  {:>9.3} ms  {:>10}  {:>6} allocs  {}",
            i.clock_ms,
            bytes(i.bytes),
            i.allocs,
            i.package
        );
    }
    let _ = writeln!(s, "Most allocating inits:");
    for i in &r.by_allocs {
        let _ = writeln!(
            s,
            "  {:>10}  {:>6} allocs  {:>9.3} ms  {}",
            bytes(i.bytes),
            i.allocs,
            i.clock_ms,
            i.package
        );
    }
    s
}

/// `retry` summary.
pub fn retry(r: &RetryReport) -> String {
    let mut s = String::new();
    for a in &r.attempts {
        let why = match &a.verdict {
            Some(crate::retry::Verdict::Transient { evidence }) => {
                format!(" [network: {evidence}]")
            }
            Some(crate::retry::Verdict::CorruptCache { evidence, .. }) => {
                format!(" [broken cache: {evidence}]")
            }
            Some(crate::retry::Verdict::Fatal { evidence, .. }) => format!(" [fatal: {evidence}]"),
            Some(crate::retry::Verdict::Unknown) => " [unrecognised failure]".into(),
            None => String::new(),
        };
        let code = a
            .code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "signal".into());
        let _ = writeln!(
            s,
            "modwarden retry: attempt {} exited {code} after {:.1}s{why}: {}",
            a.number, a.seconds, a.action
        );
    }
    if let Some(adv) = &r.advice {
        let _ = writeln!(s, "hint: {adv}");
    }
    s
}

/// `doctor --sandbox` output.
pub fn sandbox(r: &SandboxReport) -> String {
    let code = |c: Option<i32>| c.map(|c| c.to_string()).unwrap_or_else(|| "signal".into());
    format!(
        "With your caches:  exit {} after {:.1}s\nWith empty caches: exit {} after {:.1}s\n{}\n",
        code(r.original.code),
        r.original.seconds,
        code(r.sandbox.code),
        r.sandbox.seconds,
        r.verdict
    )
}
