//! The proxy under stress: stampedes, probe storms, outages, TTLs and the
//! circuit breaker, against testkit's fixture upstream on loopback.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use proxy::ManualClock;
use proxy::config::Layer;
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::go::GoSandbox;
use testkit::server::{Behaviour, FixtureServer};

fn upstream_hits(srv: &FixtureServer, needle: &str) -> usize {
    srv.request_log()
        .iter()
        .filter(|p| p.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_on_one_uncached_zip_fetches_it_once() {
    // A zip of a few MiB of incompressible data (the 50 MiB version with the
    // RSS bound runs against the release binary in crates/modwarden/tests).
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mv = ModuleVersion::from_files(
        "example.com/big",
        "v1.0.0",
        &[
            ("go.mod", b"module example.com/big\n".as_slice()),
            ("blob.bin", &data),
        ],
    );
    let mut set = FixtureSet::new();
    set.add(mv.clone());
    let (srv, vkey) = world(set).await;
    srv.set_behaviour(
        "/example.com/big/@v/v1.0.0.zip",
        Behaviour::Delay(Duration::from_millis(300)),
    );
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&srv, &vkey), dir.path()).await;
    let url = format!("{}/example.com/big/@v/v1.0.0.zip", proxy.base);
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (http, url, want) = (http.clone(), url.clone(), mv.zip.clone());
        tasks.push(tokio::spawn(async move {
            let r = http.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let body = r.bytes().await.unwrap();
            assert!(body == want, "a waiter got different bytes");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(srv.request_count("/example.com/big/@v/v1.0.0.zip"), 1);
    assert!(proxy.pipeline.metrics().counter("singleflight_joins", &[]) > 0);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_storm_for_missing_modules_reaches_upstream_once_per_module() {
    let (srv, vkey) = world(FixtureSet::standard()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&srv, &vkey), dir.path()).await;
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let url = format!(
            "{}/example.com/missing/m{}/@v/v1.0.0.info",
            proxy.base,
            i % 10
        );
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let r = http.get(&url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("example.com/missing/m"), "{body}");
    }
    let upstream_requests = upstream_hits(&srv, "/example.com/missing/");
    assert!(
        upstream_requests <= 10,
        "{upstream_requests} upstream requests"
    );
    assert_eq!(
        upstream_hits(&srv, "/sumdb/"),
        0,
        "missing modules must not be looked up"
    );
    assert!(proxy.pipeline.metrics().counter("negative_hits", &[]) > 0);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_that_gives_up_does_not_cancel_the_fetch() {
    let (srv, vkey) = world(FixtureSet::standard()).await;
    srv.set_behaviour(
        "/example.com/simple/@v/v1.0.0.zip",
        Behaviour::Delay(Duration::from_millis(500)),
    );
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&srv, &vkey), dir.path()).await;
    let url = format!("{}/example.com/simple/@v/v1.0.0.zip", proxy.base);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    assert!(impatient.get(&url).send().await.is_err());
    // The fetch goes on without anyone waiting; the next request joins or hits.
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(srv.request_count("/example.com/simple/@v/v1.0.0.zip"), 1);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_entries_expire_and_purge_forgets_them() {
    let (srv, vkey) = world(FixtureSet::standard()).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let mut flags = flags_for(&srv, &vkey);
    flags.negative_ttl = Some(60);
    let proxy = start_proxy_with_clock(flags, dir.path(), clock.clone()).await;
    let get = |p: &str| reqwest::get(format!("{}{p}", proxy.base));

    assert_eq!(
        get("/example.com/simple/@v/v1.2.0.info")
            .await
            .unwrap()
            .status(),
        404
    );
    // Released just after someone asked.
    let new = ModuleVersion::simple("example.com/simple", "v1.2.0");
    srv.with_fixtures(|s| {
        s.add(new.clone());
    });
    srv.with_sumdb(|db| {
        db.add(&new.path, &new.version, &new.zip_h1, &new.gomod_h1)
            .unwrap();
    });
    assert_eq!(
        get("/example.com/simple/@v/v1.2.0.info")
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        srv.request_count("/example.com/simple/@v/v1.2.0.info"),
        1,
        "negative cache"
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        get("/example.com/simple/@v/v1.2.0.info")
            .await
            .unwrap()
            .status(),
        200
    );

    // Purge: list/@latest and "not found" forgotten at once.
    assert_eq!(
        get("/example.com/simple/@v/v1.3.0.info")
            .await
            .unwrap()
            .status(),
        404
    );
    let list_before = get("/example.com/simple/@v/list")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let newer = ModuleVersion::simple("example.com/simple", "v1.3.0");
    srv.with_fixtures(|s| {
        s.add(newer.clone());
    });
    srv.with_sumdb(|db| {
        db.add(&newer.path, &newer.version, &newer.zip_h1, &newer.gomod_h1)
            .unwrap();
    });
    let purge = reqwest::Client::new()
        .post(format!("{}/admin/purge/example.com/simple", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(purge.status(), 200, "{}", purge.text().await.unwrap());
    assert_eq!(
        get("/example.com/simple/@v/v1.3.0.info")
            .await
            .unwrap()
            .status(),
        200
    );
    let list_after = get("/example.com/simple/@v/list")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !list_before.contains("v1.3.0") && list_after.contains("v1.3.0"),
        "{list_after}"
    );
    // The module path as written (upper case) is accepted as well as its
    // escaped form; a GET on an admin path says how to call it.
    let http = reqwest::Client::new();
    for path in ["example.com/Upper/CaseMod", "example.com/!upper/!case!mod"] {
        let r = http
            .post(format!("{}/admin/purge/{path}", proxy.base))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains("example.com/Upper/CaseMod"), "{path}: {body}");
    }
    let r = get("/admin/purge/example.com/simple").await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.text().await.unwrap().contains("POST"));
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_list_is_served_while_one_background_refresh_runs() {
    let (srv, vkey) = world(FixtureSet::standard()).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let mut flags = flags_for(&srv, &vkey);
    flags.list_ttl = Some(300);
    let proxy = start_proxy_with_clock(flags, dir.path(), clock.clone()).await;
    let list = || async {
        reqwest::get(format!("{}/example.com/simple/@v/list", proxy.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(list().await, "v1.0.0\nv1.1.0\n");
    srv.with_fixtures(|s| {
        s.add(ModuleVersion::simple("example.com/simple", "v1.5.0"));
    });
    clock.advance(Duration::from_secs(200));
    assert_eq!(list().await, "v1.0.0\nv1.1.0\n", "fresh within the TTL");
    assert_eq!(srv.request_count("/example.com/simple/@v/list"), 1);

    clock.advance(Duration::from_secs(200)); // past the TTL, within 2x
    assert_eq!(list().await, "v1.0.0\nv1.1.0\n", "stale answer at once");
    // One background refresh lands; poll for it (bounded).
    let mut refreshed = false;
    for _ in 0..100 {
        if list().await.contains("v1.5.0") {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refreshed, "background refresh never landed");
    assert_eq!(srv.request_count("/example.com/simple/@v/list"), 2);
    assert!(
        proxy
            .pipeline
            .metrics()
            .counter("stale", &[("reason", "revalidate")])
            >= 1
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_after_warm_up_go_still_works_with_stale_list_and_latest() {
    let (set, deps) = dependency_set(3);
    let (srv, vkey) = world(set).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let mut flags = flags_for(&srv, &vkey);
    flags.list_ttl = Some(60);
    flags.stale_if_error = Some(3600);
    flags.upstream_attempts = Some(1);
    let proxy = start_proxy_with_clock(flags, dir.path(), clock.clone()).await;

    let warm = GoSandbox::new();
    write_main_module(&warm.work_dir(), &deps);
    for args in [
        &["mod", "tidy"][..],
        &["mod", "download", "all"][..],
        &["list", "-m", "-versions", "example.com/simple"][..],
        &["list", "-m", "example.com/major/v2@latest"][..],
    ] {
        let out = warm.run(args, &proxy.base, &vkey).await;
        assert!(out.success(), "warm-up {args:?}: {}", out.stderr);
    }
    srv.stop().await;
    clock.advance(Duration::from_secs(600)); // everything mutable is stale

    let cold = GoSandbox::new();
    std::fs::create_dir_all(cold.work_dir()).unwrap();
    for f in ["go.mod", "go.sum", "main.go"] {
        std::fs::copy(warm.work_dir().join(f), cold.work_dir().join(f)).unwrap();
    }
    let out = cold
        .run(&["mod", "download", "all"], &proxy.base, &vkey)
        .await;
    assert!(out.success(), "download all from the store: {}", out.stderr);
    let out = cold
        .run(
            &["list", "-m", "-versions", "example.com/simple"],
            &proxy.base,
            &vkey,
        )
        .await;
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "example.com/simple v1.0.0 v1.1.0");
    let out = cold
        .run(
            &["list", "-m", "example.com/major/v2@latest"],
            &proxy.base,
            &vkey,
        )
        .await;
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "example.com/major/v2 v2.1.0");
    assert!(
        proxy
            .pipeline
            .metrics()
            .counter("stale", &[("reason", "error")])
            >= 2
    );

    // Past the stale-if-error bound the outage shows.
    clock.advance(Duration::from_secs(7200));
    let r = reqwest::get(format!("{}/example.com/simple/@v/list", proxy.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_skips_a_hanging_upstream_and_closes_when_it_heals() {
    let set = FixtureSet::standard();
    let (db, vkey) = fixture_world(&set);
    let healthy = FixtureServer::start(set.clone(), Some(db)).await;
    let hanging = FixtureServer::start(set, None).await;
    hanging.set_behaviour("/", Behaviour::Delay(Duration::from_secs(3600)));
    let dir = tempfile::tempdir().unwrap();
    let flags = Layer {
        upstream: Some(format!("{}|{}", hanging.base_url(), healthy.base_url())),
        sumdb: Some(vec![format!(
            "{vkey} {}/sumdb/{DB_NAME}",
            healthy.base_url()
        )]),
        upstream_timeout: Some(1),
        upstream_attempts: Some(1),
        breaker_threshold: Some(2),
        breaker_cooldown: Some(1),
        ..Layer::default()
    };
    let proxy = start_proxy(flags, dir.path()).await;
    let get = |p: String| reqwest::get(format!("{}{p}", proxy.base));
    // Two requests each wait one timeout on the hanging upstream, then fall
    // through `|` to the healthy one; the breaker opens.
    for v in ["v1.0.0", "v1.1.0"] {
        let r = get(format!("/example.com/simple/@v/{v}.info"))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let before = hanging.request_log().len();
    let started = Instant::now();
    let r = get("/example.com/major/v2/@v/v2.0.0.info".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        hanging.request_log().len(),
        before,
        "open breaker still sent a request"
    );

    // Heal; after the cool-down one probe goes through and closes it.
    hanging.clear_behaviours();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get("/example.com/major/v2/@v/v2.1.0.info".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        hanging.request_log().len() > before,
        "no probe after the cool-down"
    );
    let metrics = reqwest::get(format!("{}/metrics", proxy.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "modwarden_upstream_breaker_state{{upstream=\"{}\"}} 0",
            hanging.base_url()
        )),
        "{metrics}"
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_upstream_pool_makes_a_miss_wait_for_a_slot_and_hits_do_not_wait() {
    let (srv, vkey) = world(FixtureSet::standard()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut flags = flags_for(&srv, &vkey);
    flags.max_upstream_concurrency = Some(1);
    let proxy = start_proxy(flags, dir.path()).await;
    let get = |p: &'static str| reqwest::get(format!("{}{p}", proxy.base));
    assert_eq!(
        get("/example.com/simple/@v/v1.0.0.info")
            .await
            .unwrap()
            .status(),
        200
    );

    srv.set_behaviour(
        "/example.com/major/",
        Behaviour::Delay(Duration::from_millis(800)),
    );
    let slow = tokio::spawn(get("/example.com/major/v2/@v/v2.0.0.info"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A 503 ends a go command: the miss waits for the slot instead.
    let queued = tokio::spawn(get("/example.com/simple/@v/v1.1.0.info"));
    let started = Instant::now();
    let hit = get("/example.com/simple/@v/v1.0.0.info").await.unwrap();
    assert_eq!(hit.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "a hit waited behind a miss"
    );
    assert_eq!(slow.await.unwrap().unwrap().status(), 200);
    assert_eq!(queued.await.unwrap().unwrap().status(), 200);
    assert!(proxy.pipeline.metrics().counter("upstream_pool_waits", &[]) >= 1);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_only_prefix_and_disable_module_fetch_never_reach_upstream() {
    let (srv, vkey) = world(FixtureSet::standard()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&srv, &vkey), dir.path()).await;
    let http = reqwest::Client::new();
    let ok = http
        .get(format!("{}/example.com/simple/@v/v1.0.0.mod", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let before = srv.request_log().len();
    let cached = http
        .get(format!(
            "{}/cached-only/example.com/simple/@v/v1.0.0.mod",
            proxy.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 200);
    let r = http
        .get(format!(
            "{}/cached-only/example.com/simple/@v/v1.1.0.mod",
            proxy.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("offline"));
    let r = http
        .get(format!("{}/example.com/simple/@v/v1.1.0.zip", proxy.base))
        .header("Disable-Module-Fetch", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(srv.request_log().len(), before);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sumdb_latest_is_fetched_once_per_expiry_and_stale_only_for_stale_if_error() {
    let (srv, vkey) = world(FixtureSet::standard()).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let mut flags = flags_for(&srv, &vkey);
    flags.stale_if_error = Some(120);
    flags.upstream_attempts = Some(1);
    let proxy = start_proxy_with_clock(flags, dir.path(), clock.clone()).await;
    let url = format!("{}/sumdb/{DB_NAME}/latest", proxy.base);
    let get = |url: String| async move {
        let r = reqwest::get(url).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (status, first) = get(url.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert!(first.starts_with("go.sum database tree\n"), "{first}");
    let hits = || upstream_hits(&srv, "/latest");
    assert_eq!(hits(), 1);

    // Expired: a burst of requests makes one upstream fetch, not one each.
    clock.advance(Duration::from_secs(61));
    let burst: Vec<_> = (0..32).map(|_| tokio::spawn(get(url.clone()))).collect();
    for t in burst {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(hits(), 2, "one refresh for the whole burst");

    // The database goes away: the last tree is served for stale_if_error.
    srv.stop().await;
    clock.advance(Duration::from_secs(61 + 60));
    let (status, body) = get(url.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, first);
    clock.advance(Duration::from_secs(200));
    let (status, body) = get(url.clone()).await;
    assert_eq!(status, 502, "past stale_if_error: {body}");
    assert!(body.contains("unreachable"), "{body}");
    proxy.stop().await;
}
