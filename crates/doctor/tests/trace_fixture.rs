//! `trace` on a recorded, hand-checked `-x` log with interleaved requests,
//! a transport error, a 404 fall-through, a request that never finished
//! and a VCS step; and `--inittrace` on a recorded log.

use doctor::trace;

#[test]
fn interleaved_log_counts_slowest_and_percentiles() {
    let log = include_str!("fixtures/interleaved_x.log");
    let r = trace::parse(log, None);
    // 12 `# get URL` lines, 11 answered (one never finished).
    assert_eq!(r.requests, 11);
    assert_eq!(
        r.unfinished,
        ["https://proxy.a.example/example.com/o/@v/list"]
    );
    // Only the transport error is a failure; the 404 is a normal answer.
    assert_eq!(r.failures.len(), 1);
    assert_eq!(
        r.failures[0].url,
        "https://sum.example/lookup/example.com/n@v1.2.0"
    );
    assert!(r.failures[0].outcome.contains("i/o timeout"));
    assert_eq!(r.failures[0].line, 12, "matched to its own start line");
    // Slowest first.
    let slow: Vec<(&str, f64)> = r
        .slowest
        .iter()
        .take(3)
        .map(|q| (q.url.as_str(), q.seconds.unwrap()))
        .collect();
    assert_eq!(
        slow,
        [
            ("https://proxy.a.example/example.com/m/@v/v1.0.0.zip", 1.5),
            ("https://proxy.a.example/example.com/n/@v/v1.2.0.zip", 0.4),
            ("https://proxy.a.example/example.com/m/@v/v1.0.0.info", 0.3),
        ]
    );
    // proxy.a.example: 0.020 0.050 0.100 0.200 0.300 0.400 1.500 (7):
    // p50 = 4th = 0.200, p95 = ceil(6.65) = 7th = 1.500, total 2.570.
    let a = r
        .hosts
        .iter()
        .find(|h| h.host == "proxy.a.example")
        .unwrap();
    assert_eq!(a.requests, 7);
    assert_eq!(a.failures, 0);
    assert_eq!(a.p50, 0.2);
    assert_eq!(a.p95, 1.5);
    assert!((a.total - 2.57).abs() < 1e-9);
    // sum.example: 0.080 0.250 timed (2) + 1 transport error.
    let s = r.hosts.iter().find(|h| h.host == "sum.example").unwrap();
    assert_eq!((s.requests, s.failures), (3, 1));
    assert_eq!((s.p50, s.p95), (0.08, 0.25));
    let b = r
        .hosts
        .iter()
        .find(|h| h.host == "proxy.b.example")
        .unwrap();
    assert_eq!((b.requests, b.failures, b.p50), (1, 0, 0.03));
    assert_eq!(r.hosts[0].host, "proxy.a.example", "most total time first");
    // Requests per module: info, mod, zip, lookup each for m and n; one 404 for o.
    assert_eq!(
        r.modules,
        [
            ("example.com/m".to_string(), 4),
            ("example.com/n".to_string(), 4),
            ("example.com/o".to_string(), 1)
        ]
    );
    assert_eq!(r.vcs.len(), 1);
    assert_eq!(r.vcs[0].seconds, Some(0.412));
    assert!(
        r.bottleneck.starts_with("The checksum database timed out"),
        "{}",
        r.bottleneck
    );
    insta::assert_snapshot!("interleaved_trace", doctor::render::trace(&r));

    // --json parses back.
    let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(v["requests"], 11);
    assert_eq!(v["hosts"][0]["p95"], 1.5);
}

#[test]
fn one_slow_proxy_is_named() {
    let mut log = String::new();
    for i in 0..10 {
        let slow = format!("https://slow.example/example.com/s{i}/@v/v1.0.0.zip");
        let fast = format!("https://fast.example/example.com/f{i}/@v/v1.0.0.zip");
        log.push_str(&format!("# get {slow}\n# get {fast}\n# get {fast}: 200 OK (0.010s)\n# get {slow}: 200 OK (2.000s)\n"));
    }
    let r = trace::parse(&log, Some(25.0));
    assert!(
        r.bottleneck.starts_with("One slow proxy: slow.example"),
        "{}",
        r.bottleneck
    );
}

#[test]
fn direct_vcs_fallback_is_named() {
    let log = "# get https://example.org/o?go-get=1\n# get https://example.org/o?go-get=1: 200 OK (0.050s)\n\
               0.900s # cd /tmp; git clone -- https://example.org/o /tmp/x\n\
               2.100s # cd /tmp/x; git fetch -f origin refs/heads/*:refs/heads/*\n";
    let r = trace::parse(log, Some(3.2));
    assert!(
        r.bottleneck.starts_with("`direct` VCS fallbacks"),
        "{}",
        r.bottleneck
    );
}

#[test]
fn inittrace_ranks_user_inits_without_the_go_command() {
    let log = include_str!("fixtures/inittrace.log");
    let r = doctor::inittrace::parse(log, 3);
    assert_eq!(r.processes, 2);
    assert_eq!(r.skipped_processes, 1);
    assert_eq!(r.by_time[0].package, "example.com/app/internal/config");
    assert_eq!(r.by_allocs[0].package, "example.com/bigtable");
    assert!(r.by_time.iter().all(|i| !i.package.starts_with("cmd/")));
    insta::assert_snapshot!("inittrace", doctor::render::inittrace(&r));
}
