//! What an upstream sends is written to the store only once the version is
//! verified: a refused fetch leaves no blob behind (nothing upstream-chosen
//! reaches `data/`), and the proxy still answers a legitimate request.

mod common;

use common::*;
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::server::{Behaviour, FixtureServer};

fn stored_blobs(store: &std::path::Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&store.join("data"), &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_fetches_leave_no_blob_and_no_record() {
    let mut set = FixtureSet::new();
    for m in ["badzip", "badhash", "badmod", "good"] {
        set.add(ModuleVersion::simple(&format!("example.com/{m}"), "v1.0.0"));
    }
    let (db, vkey) = fixture_world(&set);
    let real = set.get("example.com/badhash", "v1.0.0").unwrap().clone();
    set.get_mut("example.com/badhash", "v1.0.0").unwrap().zip = altered(&real).zip;
    set.get_mut("example.com/badmod", "v1.0.0").unwrap().gomod =
        b"module example.com/badmod\n\nrequire evil.example.com/x v1.0.0\n".to_vec();
    let upstream = FixtureServer::start(set, Some(db)).await;
    upstream.set_behaviour(
        "/example.com/badzip/@v/v1.0.0.zip",
        Behaviour::Body(vec![b'P'; 64 << 10]),
    );
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&upstream, &vkey), dir.path()).await;

    for (module, file) in [
        ("example.com/badzip", "zip"),
        ("example.com/badhash", "zip"),
        ("example.com/badmod", "mod"),
        ("example.com/badmod", "zip"),
    ] {
        for _ in 0..3 {
            let url = format!("{}/{module}/@v/v1.0.0.{file}", proxy.base);
            let r = reqwest::get(&url).await.unwrap();
            assert_eq!(r.status(), 502, "{url}");
            let body = r.text().await.unwrap();
            assert!(body.contains("nothing was cached"), "{url}: {body}");
            assert_eq!(body.trim_end().lines().count(), 1, "{url}: {body}");
        }
        assert!(
            proxy.record(module, "v1.0.0").await.is_none(),
            "{module} has a record"
        );
    }
    assert_eq!(
        stored_blobs(dir.path()),
        Vec::<std::path::PathBuf>::new(),
        "refused fetches left blobs"
    );
    // A legitimate request still works, and stores exactly its three files.
    let good = format!("{}/example.com/good/@v/v1.0.0.zip", proxy.base);
    assert_eq!(reqwest::get(&good).await.unwrap().status(), 200);
    assert_eq!(stored_blobs(dir.path()).len(), 3);
    proxy.stop().await;
}

/// A registry's 403 for a path it will not serve is a definite answer: the
/// client gets the status and the upstream's reason, it is remembered like a
/// not-found, and it is not counted as an upstream failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_4xx_is_passed_on_remembered_and_not_an_outage() {
    let mut set = FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/good", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    upstream.set_behaviour("/example.com/private/", Behaviour::Status(403));
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&upstream, &vkey), dir.path()).await;
    for path in [
        "example.com/private/@v/v1.0.0.info",
        "example.com/private/@v/list",
    ] {
        for _ in 0..3 {
            let r = reqwest::get(format!("{}/{path}", proxy.base))
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{path}");
            let body = r.text().await.unwrap();
            assert!(body.contains("403"), "{path}: {body}");
        }
        assert_eq!(
            upstream.request_count(&format!("/{path}")),
            1,
            "{path} was not remembered"
        );
    }
    let m = proxy.pipeline.metrics();
    assert!(
        m.render()
            .lines()
            .any(|l| l.starts_with("modwarden_upstream_requests_total")
                && l.contains("outcome=\"refused\"")),
        "{}",
        m.render()
    );
    assert!(
        !m.render()
            .lines()
            .any(|l| l.starts_with("modwarden_upstream_requests_total")
                && l.contains("outcome=\"error\"")),
        "a 403 counted as an upstream failure: {}",
        m.render()
    );
    proxy.stop().await;
}

/// A `/sumdb/` tile path that is no tile is the client's mistake: 400, and
/// the database is not asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tile_paths_are_400_and_never_reach_the_database() {
    let mut set = FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/good", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&upstream, &vkey), dir.path()).await;
    let before = upstream.request_log().len();
    for tile in [
        "tile/8/0/abc",
        "tile/8/x/000",
        "tile/8/0/000.p/0",
        "tile/8/0/000.p/256",
        "tile/8/0/0001",
        "tile/8/0/000.p/",
    ] {
        let url = format!("{}/sumdb/{DB_NAME}/{tile}", proxy.base);
        let r = reqwest::get(&url).await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 400, "{tile}: {body}");
        assert!(body.contains("path"), "{tile}: {body}");
    }
    assert_eq!(
        upstream.request_log().len(),
        before,
        "the database was asked"
    );
    // The legitimate path still works.
    let lookup = format!(
        "{}/sumdb/{DB_NAME}/lookup/example.com/good@v1.0.0",
        proxy.base
    );
    assert_eq!(reqwest::get(&lookup).await.unwrap().status(), 200);
    proxy.stop().await;
}
