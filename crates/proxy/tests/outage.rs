//! Outages with a warm store: while every upstream fails, the last known
//! answers, found and not found, keep the real go command working, and
//! being online with the upstream down never does worse than `--offline`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use proxy::ManualClock;
use testkit::fixtures::ModuleVersion;
use testkit::go::GoSandbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_store_keeps_tidy_get_and_download_working_past_every_ttl() {
    let (mut set, deps) = dependency_set(2);
    // A package two directories below its module's root: the go command
    // asks for every prefix of its path, and most answers are "not found".
    set.add(ModuleVersion::from_files(
        "example.com/nest",
        "v1.0.0",
        &[
            ("go.mod", b"module example.com/nest\n".as_slice()),
            ("inner/pkg/p.go", b"package pkg\n".as_slice()),
        ],
    ));
    let (srv, vkey) = world(set).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let mut flags = flags_for(&srv, &vkey);
    flags.list_ttl = Some(60);
    flags.negative_ttl = Some(60);
    flags.stale_if_error = Some(3600);
    flags.upstream_attempts = Some(1);
    let proxy = start_proxy_with_clock(flags, dir.path(), clock.clone()).await;

    let warm = GoSandbox::new();
    write_main_module(&warm.work_dir(), &deps);
    // An import that go.mod does not require yet: tidy resolves it.
    std::fs::write(
        warm.work_dir().join("nest.go"),
        "package main\n\nimport _ \"example.com/nest/inner/pkg\"\n",
    )
    .unwrap();
    let untidy = std::fs::read(warm.work_dir().join("go.mod")).unwrap();
    let steps: [&[&str]; 4] = [
        &["mod", "tidy"],
        &["get", "example.com/nest/inner/pkg@v1.0.0"],
        &["get", "example.com/simple@v1.1.0"],
        &["mod", "download", "all"],
    ];
    for args in steps {
        let out = warm.run(args, &proxy.base, &vkey).await;
        assert!(out.success(), "warm-up {args:?}: {}", out.stderr);
    }
    // The warm-up needed "not found" answers (path-prefix probes).
    let not_found = proxy
        .pipeline
        .metrics()
        .counter("cache", &[("endpoint", "info"), ("outcome", "not-found")])
        + proxy
            .pipeline
            .metrics()
            .counter("cache", &[("endpoint", "list"), ("outcome", "not-found")]);
    assert!(
        not_found > 0,
        "the warm-up asked for nothing that is missing"
    );

    srv.stop().await;
    // Past the TTL of every answer, found or not found.
    clock.advance(Duration::from_secs(1200));

    let cold = GoSandbox::new();
    std::fs::create_dir_all(cold.work_dir()).unwrap();
    for f in ["go.sum", "main.go", "nest.go"] {
        std::fs::copy(warm.work_dir().join(f), cold.work_dir().join(f)).unwrap();
    }
    std::fs::write(cold.work_dir().join("go.mod"), &untidy).unwrap();
    for args in steps {
        let out = cold.run(args, &proxy.base, &vkey).await;
        assert!(
            out.success(),
            "{args:?} with the upstream down, past every TTL: {}",
            out.stderr
        );
    }
    assert!(
        proxy
            .pipeline
            .metrics()
            .counter("stale", &[("reason", "error")])
            > 0
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_not_found_outlives_its_ttl_only_while_upstreams_fail() {
    let (set, _) = dependency_set(0);
    let (srv, vkey) = world(set).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let mut flags = flags_for(&srv, &vkey);
    flags.negative_ttl = Some(60);
    flags.stale_if_error = Some(600);
    flags.upstream_attempts = Some(1);
    let proxy = start_proxy_with_clock(flags, dir.path(), clock.clone()).await;
    let missing = format!("{}/example.com/nothing/@v/v1.0.0.info", proxy.base);
    let probe = format!("{}/example.com/nothing/@v/list", proxy.base);
    for url in [&missing, &probe] {
        assert_eq!(reqwest::get(url).await.unwrap().status(), 404, "{url}");
    }
    srv.stop().await;
    clock.advance(Duration::from_secs(400)); // past both TTLs (60 s, 300 s)
    for url in [&missing, &probe] {
        let r = reqwest::get(url).await.unwrap();
        assert_eq!(r.status(), 404, "{url} with the upstream down");
        let body = r.text().await.unwrap();
        assert!(body.contains("not found"), "{url}: {body}");
    }
    // Past stale-if-error the outage shows.
    clock.advance(Duration::from_secs(700));
    for url in [&missing, &probe] {
        let r = reqwest::get(url).await.unwrap();
        assert_eq!(r.status(), 502, "{url} past stale-if-error");
    }
    proxy.stop().await;
}
