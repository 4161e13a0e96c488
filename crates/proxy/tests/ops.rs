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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_bound_wait_until_one_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let store = tempfile::tempdir().unwrap();
    let flags = Layer {
        sumdb: Some(vec!["off".into()]),
        offline: Some(true),
        max_connections: Some(2),
        ..Layer::default()
    };
    let proxy = common::start_proxy(flags, store.path()).await;
    let addr = proxy.base.trim_start_matches("http://").to_string();
    // Two idle keep-alive connections take both slots.
    let a = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        c.read_to_end(&mut buf),
    )
    .await;
    assert!(
        waited.is_err(),
        "a third connection was served past the bound"
    );
    drop(a);
    tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut buf))
        .await
        .expect("served once a slot freed")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_stored_zip_is_fetched_again_not_served_or_stuck() {
    use common::*;
    use testkit::fixtures::{FixtureSet, ModuleVersion};
    use testkit::server::FixtureServer;

    let mut set = FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/flip", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    let want = set.get("example.com/flip", "v1.0.0").unwrap().zip.clone();
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store_dir = tempfile::tempdir().unwrap();
    let url = |base: &str| format!("{base}/example.com/flip/@v/v1.0.0.zip");

    let first = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;
    assert_eq!(
        reqwest::get(url(&first.base))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        want
    );
    let rec = first.record("example.com/flip", "v1.0.0").await.unwrap();
    first.stop().await;

    // A byte flips on disk while no instance has it in memory.
    let zip = rec.zip.unwrap();
    let hex = zip.digest.hex();
    let path = store_dir
        .path()
        .join("data/sha256")
        .join(&hex[..2])
        .join(&hex);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    let second = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;
    for _ in 0..2 {
        let r = reqwest::get(url(&second.base)).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap(), want, "corrupt bytes served");
    }
    assert_eq!(upstream.request_count("/example.com/flip/@v/v1.0.0.zip"), 2);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_zip_served_without_rehashing_is_still_never_served_corrupt() {
    use common::*;
    use testkit::fixtures::{FixtureSet, ModuleVersion};
    use testkit::server::FixtureServer;

    // Over 1 MiB, so the store hashes it only until one read has matched.
    // Incompressible, so the zip stays over 1 MiB.
    let data = testkit::util::incompressible(3 << 20);
    let mut set = FixtureSet::new();
    set.add(ModuleVersion::from_files(
        "example.com/bigflip",
        "v1.0.0",
        &[
            ("go.mod", b"module example.com/bigflip\n".as_slice()),
            ("blob.bin", &data),
        ],
    ));
    let (db, vkey) = fixture_world(&set);
    let want = set
        .get("example.com/bigflip", "v1.0.0")
        .unwrap()
        .zip
        .clone();
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store_dir = tempfile::tempdir().unwrap();
    let url = |base: &str| format!("{base}/example.com/bigflip/@v/v1.0.0.zip");
    let proxy = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;
    assert!(want.len() > 2 << 20, "zip of {} bytes", want.len());
    let get = || async { reqwest::get(url(&proxy.base)).await.unwrap().bytes().await };
    assert!(get().await.unwrap() == want);
    // Files changed in the last seconds are never trusted; then one hashed
    // read makes it trusted, and later reads are not hashed.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for _ in 0..3 {
        assert!(get().await.unwrap() == want);
    }

    // A byte is overwritten in place, size and mtime restored.
    let rec = proxy.record("example.com/bigflip", "v1.0.0").await.unwrap();
    let hex = rec.zip.unwrap().digest.hex();
    let path = store_dir
        .path()
        .join("data/sha256")
        .join(&hex[..2])
        .join(&hex);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    testkit::util::make_writable(&path);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(want.len() as u64 / 2)).unwrap();
        f.write_all(b"X").unwrap();
        f.set_modified(mtime).unwrap();
    }

    // The next download is cut short (never a complete wrong file), the blob
    // is quarantined, and the one after is fetched again and verified.
    if let Ok(b) = get().await {
        assert!(b.len() < want.len(), "a complete corrupt zip was served");
    }
    assert!(get().await.unwrap() == want, "not fetched again");
    assert!(
        std::fs::read_dir(store_dir.path().join("quarantine/sha256"))
            .unwrap()
            .count()
            >= 1
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_file_is_replaced_by_a_verified_one_not_a_500_forever() {
    use common::*;
    use testkit::fixtures::{FixtureSet, ModuleVersion};
    use testkit::server::FixtureServer;

    let mut set = FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/dmgrec", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    let want = set.get("example.com/dmgrec", "v1.0.0").unwrap().zip.clone();
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store_dir = tempfile::tempdir().unwrap();
    let url = |base: &str| format!("{base}/example.com/dmgrec/@v/v1.0.0.zip");
    let first = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;
    let r = reqwest::get(url(&first.base)).await.unwrap();
    assert!(r.bytes().await.unwrap() == want);
    first.stop().await;

    let rec = store_dir
        .path()
        .join("index/example.com/dmgrec/@v/v1.0.0.json");
    testkit::util::make_writable(&rec);
    std::fs::write(&rec, b"{\"garbage").unwrap();

    let second = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;
    for _ in 0..2 {
        let r = reqwest::get(url(&second.base)).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.unwrap() == want);
    }
    let fixed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&rec).unwrap()).expect("record readable again");
    assert!(fixed.get("zip").is_some(), "{fixed}");
    assert!(
        store_dir
            .path()
            .join("quarantine/index/example.com/dmgrec/@v")
            .is_dir(),
        "the damaged record is kept in quarantine"
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mod_and_info_of_a_version_without_its_zip_are_answered_from_memory() {
    use common::*;
    use testkit::fixtures::{FixtureSet, ModuleVersion};
    use testkit::server::FixtureServer;

    let mut set = FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/modonly", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store_dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;
    let get = |ext: &'static str| {
        let url = format!("{}/example.com/modonly/@v/v1.0.0.{ext}", proxy.base);
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, gomod) = get("mod").await;
    assert_eq!(status, 200);
    assert!(gomod.starts_with("module example.com/modonly"), "{gomod}");
    // The record has no zip. Remove its file: warm .mod and .info requests
    // do not read the store again (the go command asks for the .mod of many
    // versions whose zips nobody needs).
    let rec = store_dir
        .path()
        .join("index/example.com/modonly/@v/v1.0.0.json");
    assert!(rec.exists());
    std::fs::remove_file(&rec).unwrap();
    for _ in 0..3 {
        assert_eq!(get("mod").await, (200, gomod.clone()));
        assert_eq!(get("info").await.0, 200);
    }
    assert_eq!(
        upstream.request_count("/example.com/modonly/@v/v1.0.0.mod"),
        1
    );
    // A .zip still looks at the store (another instance may have added it),
    // and fetches it.
    assert_eq!(get("zip").await.0, 200);
    assert_eq!(
        upstream.request_count("/example.com/modonly/@v/v1.0.0.zip"),
        1
    );
    proxy.stop().await;
}
