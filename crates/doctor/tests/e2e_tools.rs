//! `retry`, `trace` and `clean` with the real go command against the
//! testkit upstream.

mod common;

use std::fs::{self, File, FileTimes};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::World;
use doctor::NoReporter;
use doctor::retry::Verdict;
use doctor::runner::{self, RetryOptions};
use testkit::server::{Behaviour, RequestInfo};

fn retry_opts(w: &World) -> RetryOptions {
    RetryOptions {
        max_attempts: 4,
        // No real waiting in tests: the backoff schedule itself is plain
        // arithmetic; what matters here is the classification.
        initial_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        modcache: Some(w.modcache()),
        lock_wait: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_succeeds_after_two_upstream_failures() {
    let w = World::new().await;
    w.srv.set_hook(Arc::new(|r: &RequestInfo| {
        if r.path == "/example.com/simple/@v/v1.0.0.info" && r.count <= 2 {
            Behaviour::Status(503)
        } else {
            Behaviour::Normal
        }
    }));
    let cmd = w.go_cmdline(
        &w.goproxy(),
        &["mod", "download", "example.com/simple@v1.0.0"],
    );
    let r = runner::retry(&cmd, &retry_opts(&w), &NoReporter)
        .await
        .unwrap();
    assert!(r.success, "{r:#?}");
    assert_eq!(r.attempts.len(), 3, "{r:#?}");
    for a in &r.attempts[..2] {
        match &a.verdict {
            Some(Verdict::Transient { evidence }) => {
                assert!(evidence.contains("503"), "{evidence}")
            }
            other => panic!("expected a transient failure, got {other:?}"),
        }
    }
    assert_eq!(w.srv.request_count("/example.com/simple/@v/v1.0.0.info"), 3);
    let json = serde_json::to_string(&r).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["attempts"][0]["verdict"]["class"], "transient");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_stops_at_once_on_a_missing_go_sum_entry() {
    let w = World::new().await;
    fs::remove_file(w.go.work_dir().join("go.sum")).unwrap();
    let before = w.srv.request_log().len();
    let cmd = w.go_cmdline(&w.goproxy(), &["build", "-o", "/dev/null", "."]);
    let r = runner::retry(&cmd, &retry_opts(&w), &NoReporter)
        .await
        .unwrap();
    assert!(!r.success);
    assert_eq!(r.attempts.len(), 1, "{r:#?}");
    match &r.attempts[0].verdict {
        Some(Verdict::Fatal { evidence, advice }) => {
            assert!(evidence.contains("missing go.sum entry"), "{evidence}");
            assert!(advice.contains("go mod tidy"), "{advice}");
        }
        other => panic!("expected fatal, got {other:?}"),
    }
    assert!(r.advice.is_some());
    assert_eq!(
        w.srv.request_log().len(),
        before,
        "a build needs no network here"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_repairs_a_broken_zip_and_succeeds() {
    let w = World::new().await;
    let mc = w.modcache();
    fs::write(
        mc.join("cache/download/example.com/simple/@v/v1.1.0.zip"),
        "<html>captive portal</html>",
    )
    .unwrap();
    common::make_writable_and_remove(&mc.join("example.com/simple@v1.1.0"));
    let cmd = w.go_cmdline(&w.goproxy(), &["build", "-o", "/dev/null", "."]);
    let r = runner::retry(&cmd, &retry_opts(&w), &NoReporter)
        .await
        .unwrap();
    assert!(r.success, "{r:#?}");
    assert_eq!(r.attempts.len(), 2, "{r:#?}");
    match &r.attempts[0].verdict {
        Some(Verdict::CorruptCache { entries, .. }) => {
            assert_eq!(
                entries,
                &[("example.com/simple".to_string(), "v1.1.0".to_string())]
            );
        }
        other => panic!("expected a broken cache entry, got {other:?}"),
    }
    w.assert_mod_verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_of_a_real_x_log_counts_every_request() {
    let w = World::new().await;
    let before = w.srv.request_log().len();
    let cmd = w.go_cmdline(
        &w.goproxy(),
        &[
            "mod",
            "download",
            "-x",
            "example.com/major/v2@v2.0.0",
            "example.com/Upper/CaseMod@v1.0.0",
        ],
    );
    let out = runner::run(&cmd, &[], &NoReporter).await.unwrap();
    assert!(out.success(), "{}", out.stderr);
    let r = doctor::trace::parse(&out.stderr, Some(out.seconds));
    let served = w.srv.request_log().len() - before;
    assert_eq!(r.requests, served, "{}", out.stderr);
    assert!(r.failures.is_empty(), "{:#?}", r.failures);
    assert!(r.unfinished.is_empty());
    let host = w.srv.addr().to_string();
    assert_eq!(r.hosts.len(), 1);
    assert_eq!(r.hosts[0].host, host);
    let per: std::collections::BTreeMap<_, _> = r.modules.iter().cloned().collect();
    let log = w.srv.request_log();
    let new = &log[before..];
    for (m, esc) in [
        ("example.com/major/v2", "example.com/major/v2@v2.0.0"),
        (
            "example.com/Upper/CaseMod",
            "example.com/!upper/!case!mod@v1.0.0",
        ),
    ] {
        let esc_mod = esc.split('@').next().unwrap();
        let served = new
            .iter()
            .filter(|p| {
                p.starts_with(&format!("/{esc_mod}/@v/")) || p.ends_with(&format!("/lookup/{esc}"))
            })
            .count();
        assert!(served >= 2, "{new:#?}");
        assert_eq!(per.get(m), Some(&served), "{m}: {:#?}\n{new:#?}", r.modules);
    }
}

fn age(path: &std::path::Path, t: SystemTime) {
    if let Ok(f) = File::open(path) {
        f.set_times(FileTimes::new().set_accessed(t).set_modified(t))
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_max_size_removes_least_recently_used_and_build_still_works() {
    let w = World::new().await;
    // Three versions outside the build list, used 3, 2 and 1 days ago.
    let extras = [
        ("example.com/simple", "v1.0.0", 3),
        ("example.com/Upper/CaseMod", "v1.0.0", 2),
        ("example.com/major/v2", "v2.0.0", 1),
    ];
    let args: Vec<String> = ["mod", "download"]
        .iter()
        .map(|s| s.to_string())
        .chain(extras.iter().map(|(m, v, _)| format!("{m}@{v}")))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    w.go_ok(&args).await;
    let mc = w.modcache();
    let now = SystemTime::now();
    let mut extra_bytes = 0;
    for (m, v, days) in extras {
        let e = doctor::cache::Entry::new(&mc, m, v).unwrap();
        for x in ["mod", "zip", "info", "ziphash"] {
            extra_bytes += fs::metadata(e.file(x)).map(|m| m.len()).unwrap_or(0);
            age(&e.file(x), now - Duration::from_secs(days * 86400));
        }
        // `go mod download M@V` extracts the tree too.
        age(&e.dir, now - Duration::from_secs(days * 86400));
    }
    let opts = |dry_run, budget| doctor::clean::CleanOptions {
        modcache: mc.clone(),
        max_size: Some(budget),
        dry_run,
        lock_wait: Duration::from_secs(5),
        now: Some(now),
        ..Default::default()
    };
    let total = doctor::clean::clean(&opts(true, u64::MAX), &NoReporter)
        .unwrap()
        .bytes_before;
    let budget = total - extra_bytes;

    let dry = doctor::clean::clean(&opts(true, budget), &NoReporter).unwrap();
    let ids: Vec<&str> = dry.removed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "example.com/simple@v1.0.0",
            "example.com/Upper/CaseMod@v1.0.0",
            "example.com/major/v2@v2.0.0"
        ],
        "least recently used first"
    );
    assert!(
        mc.join("cache/download/example.com/simple/@v/v1.0.0.zip")
            .exists(),
        "dry run removed"
    );

    let r = doctor::clean::clean(&opts(false, budget), &NoReporter).unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(r.removed.len(), 3);
    assert!(r.bytes_before - r.bytes_freed <= budget);
    assert!(
        !mc.join("cache/download/example.com/simple/@v/v1.0.0.zip")
            .exists()
    );
    assert!(
        mc.join("cache/download/example.com/simple/@v/v1.1.0.zip")
            .exists()
    );
    let list = fs::read_to_string(mc.join("cache/download/example.com/simple/@v/list")).unwrap();
    assert_eq!(list, "v1.1.0\n", "list rewritten from the .mod files left");
    insta::assert_snapshot!("clean_dry_run", doctor::render::clean(&dry));

    let build = w.go_offline(&["build", "-o", "/dev/null", "."]).await;
    assert!(build.success(), "{}", build.stderr);
    w.assert_mod_verify().await;

    // --all clears everything, read-only trees included.
    let all = doctor::clean::CleanOptions {
        modcache: mc.clone(),
        all: true,
        ..Default::default()
    };
    let r = doctor::clean::clean(&all, &NoReporter).unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(fs::read_dir(&mc).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_tells_a_broken_cache_from_a_broken_network() {
    let w = World::new().await;
    // A .mod that no longer matches go.sum: `go mod download` fails on it.
    fs::write(
        w.modcache()
            .join("cache/download/example.com/simple/@v/v1.1.0.mod"),
        "module example.com/simple\n\nrequire example.com/evil v1.0.0\n",
    )
    .unwrap();
    let cmd = w.go_in_work(&["mod", "download"]);
    let r = runner::sandbox(&cmd, &w.go_env(&w.goproxy()), &NoReporter)
        .await
        .unwrap();
    assert!(!r.original.success(), "{}", r.original.stderr);
    assert!(r.sandbox.success(), "{}", r.sandbox.stderr);
    assert_eq!(r.culprit, "cache", "{r:#?}");

    // With the proxy gone, both fail: not the cache's fault.
    let r = runner::sandbox(&cmd, &w.go_env("http://127.0.0.1:1"), &NoReporter)
        .await
        .unwrap();
    assert!(!r.original.success() && !r.sandbox.success(), "{r:#?}");
    assert_eq!(r.culprit, "network", "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inittrace_of_go_run_leaves_out_the_go_command() {
    let w = World::new().await;
    let dir = w.go.dir().join("initprog");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("go.mod"),
        "module example.com/initprog\n\ngo 1.21\n",
    )
    .unwrap();
    fs::write(
        dir.join("main.go"),
        "package main\n\nvar big = make([]byte, 3<<20)\n\nfunc main() { _ = big }\n",
    )
    .unwrap();
    let script = format!(
        "cd '{}' && exec '{}' run .",
        dir.display(),
        testkit::go::go_binary().display()
    );
    let cmd: Vec<std::ffi::OsString> = vec!["sh".into(), "-c".into(), script.into()];
    let mut env = w.go_env("off");
    env.push(("GODEBUG".into(), "inittrace=1".into()));
    let out = runner::run(&cmd, &env, &NoReporter).await.unwrap();
    assert!(out.success(), "{}", out.stderr);
    let r = doctor::inittrace::parse(&out.stderr, 5);
    assert!(
        r.skipped_processes >= 1,
        "the go command's own inits: {r:#?}"
    );
    assert!(r.processes > r.skipped_processes, "{r:#?}");
    assert_eq!(r.by_allocs[0].package, "main", "{r:#?}");
    assert!(r.by_allocs[0].bytes >= 3 << 20);
    assert!(
        r.by_time
            .iter()
            .chain(&r.by_allocs)
            .all(|i| !i.package.starts_with("cmd/"))
    );
}
