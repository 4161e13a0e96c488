//! Operational guarantees: an upstream that points back at this modwarden is
//! detected at run time; --nosumdb modules are stored as unverified by
//! policy and never looked up.

mod common;

use std::collections::BTreeMap;

use proxy::config::{self, Defaults, Layer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_looping_back_is_answered_508_not_followed_forever() {
    // Bind first, then name our own address as the upstream through a
    // host name the start-up check cannot see through.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = tempfile::tempdir().unwrap();
    let flags = Layer {
        listen: Some("127.0.0.1:0".into()),
        store: Some(store.path().to_path_buf()),
        upstream: Some(format!("http://127.0.0.2:{}|http://{addr}", addr.port())),
        sumdb: Some(vec!["off".into()]),
        upstream_attempts: Some(1),
        ..Layer::default()
    };
    let vars: BTreeMap<String, String> = BTreeMap::new();
    let cfg = config::merge(Layer::default(), &vars, flags, &Defaults::default()).unwrap();
    let app = proxy::App::build(&cfg).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.serve(listener, async {
        let _ = rx.await;
    }));
    let r = reqwest::get(format!("http://{addr}/example.com/loop/@v/v1.0.0.info"))
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("508"), "{body}");
    let _ = tx.send(());
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nosumdb_modules_are_stored_as_unverified_by_policy() {
    use common::*;
    use testkit::fixtures::{FixtureSet, ModuleVersion};
    use testkit::server::FixtureServer;

    let mut set = FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/known", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    // Published after the database was built: it has no record of it.
    set.add(ModuleVersion::simple("internal.example.com/tool", "v0.3.0"));
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store = tempfile::tempdir().unwrap();
    let mut flags = flags_for(&upstream, &vkey);
    flags.nosumdb = Some("internal.example.com".into());
    let proxy = start_proxy(flags, store.path()).await;
    let r = reqwest::get(format!(
        "{}/internal.example.com/tool/@v/v0.3.0.zip",
        proxy.base
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let rec = proxy
        .record("internal.example.com/tool", "v0.3.0")
        .await
        .unwrap();
    assert_eq!(rec.verified_by, "policy:nosumdb");
    assert!(
        !upstream
            .request_log()
            .iter()
            .any(|p| p.contains("/sumdb/") && p.contains("internal.example.com")),
        "a --nosumdb module was looked up"
    );
    // Everything else still is verified.
    let r = reqwest::get(format!("{}/example.com/known/@v/v1.0.0.mod", proxy.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rec = proxy.record("example.com/known", "v1.0.0").await.unwrap();
    assert_eq!(rec.verified_by, common::DB_NAME);
    proxy.stop().await;
}
