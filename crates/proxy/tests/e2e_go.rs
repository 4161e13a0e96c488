//! The real go command against `modwarden serve` on 127.0.0.1:0, with the
//! testkit fixture upstream and test checksum database behind it.

mod common;

use common::*;
use proxy::config::Layer;
use testkit::fixtures::ModuleVersion;
use testkit::go::GoSandbox;
use testkit::server::FixtureServer;

fn assert_ok(what: &str, out: &testkit::go::GoOutput) {
    assert!(
        out.success(),
        "{what} failed:\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_build_through_modwarden_matches_direct_and_survives_an_upstream_outage() {
    let (mut set, deps) = dependency_set(26);
    assert!(deps.len() >= 30);
    set.add(ModuleVersion::simple("example.com/notcached", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store_dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;

    // Through modwarden.
    let via = GoSandbox::new();
    write_main_module(&via.work_dir(), &deps);
    for args in [
        &["mod", "tidy"][..],
        &["mod", "download", "all"][..],
        &["build", "./..."][..],
    ] {
        let out = via.run(args, &proxy.base, &vkey).await;
        assert_ok(&format!("go {args:?} via modwarden"), &out);
    }
    // The go command reached the checksum database through modwarden.
    assert!(
        upstream
            .request_log()
            .iter()
            .any(|p| p.starts_with(&format!("/sumdb/{DB_NAME}/lookup/"))),
        "modwarden never looked anything up"
    );

    // Straight at the fixture upstream: the same go.sum.
    let direct = GoSandbox::new();
    write_main_module(&direct.work_dir(), &deps);
    let out = direct
        .run(&["mod", "tidy"], &upstream.base_url(), &vkey)
        .await;
    assert_ok("go mod tidy direct", &out);
    let sum_via = std::fs::read_to_string(via.work_dir().join("go.sum")).unwrap();
    let sum_direct = std::fs::read_to_string(direct.work_dir().join("go.sum")).unwrap();
    assert_eq!(
        sum_via, sum_direct,
        "go.sum differs between modwarden and direct"
    );
    assert!(sum_via.lines().count() >= 60, "{sum_via}");

    // Upstream gone: everything comes from the store.
    upstream.stop().await;
    let offline = GoSandbox::new();
    std::fs::create_dir_all(offline.work_dir()).unwrap();
    for f in ["go.mod", "go.sum", "main.go"] {
        std::fs::copy(via.work_dir().join(f), offline.work_dir().join(f)).unwrap();
    }
    for args in [&["mod", "download", "all"][..], &["build", "./..."][..]] {
        let out = offline.run(args, &proxy.base, &vkey).await;
        assert_ok(&format!("go {args:?} from the store only"), &out);
    }

    // Something never cached fails with modwarden's own message.
    let out = offline
        .run(
            &["mod", "download", "-json", "example.com/notcached@v1.0.0"],
            &proxy.base,
            &vkey,
        )
        .await;
    assert!(!out.success());
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("example.com/notcached@v1.0.0") && all.contains("upstream failed"),
        "{all}"
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_upstream_answers_are_refused_and_never_stored() {
    let mut set = testkit::fixtures::FixtureSet::new();
    for m in ["zip", "gomod", "info", "nosum"] {
        set.add(ModuleVersion::simple(
            &format!("example.com/tamper/{m}"),
            "v1.0.0",
        ));
    }
    let (mut db, vkey) = fixture_world(&set);
    // The database knows the true hashes; now the upstream lies.
    let real_zip = set.get("example.com/tamper/zip", "v1.0.0").unwrap().clone();
    set.get_mut("example.com/tamper/zip", "v1.0.0").unwrap().zip = altered(&real_zip).zip;
    set.get_mut("example.com/tamper/gomod", "v1.0.0")
        .unwrap()
        .gomod = b"module example.com/tamper/gomod\n\nrequire evil.example.com/x v1.0.0\n".to_vec();
    set.get_mut("example.com/tamper/info", "v1.0.0")
        .unwrap()
        .info_json = br#"{"Version":"v9.9.9","Time":"2024-01-01T00:00:00Z"}"#.to_vec();
    // A module the database has never heard of.
    set.add(ModuleVersion::simple(
        "example.com/tamper/unknown",
        "v1.0.0",
    ));
    let _ = &mut db;
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store_dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;

    let cases = [
        ("example.com/tamper/zip", "checksum mismatch"),
        ("example.com/tamper/gomod", "go.mod: checksum mismatch"),
        ("example.com/tamper/info", "v9.9.9"),
        (
            "example.com/tamper/unknown",
            "not found in checksum database",
        ),
    ];
    for (module, want) in cases {
        let go = GoSandbox::new();
        let out = go
            .run(
                &["mod", "download", "-json", &format!("{module}@v1.0.0")],
                &proxy.base,
                &vkey,
            )
            .await;
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(
            !out.success(),
            "{module}: go accepted a tampered module:\n{all}"
        );
        assert!(all.contains(want), "{module}: want {want:?} in:\n{all}");
        assert!(all.contains(&format!("{module}@v1.0.0")), "{all}");
        // Nothing unverified is stored: for the zip case the verified
        // .info/.mod may be, the zip never.
        match proxy.record(module, "v1.0.0").await {
            None => {}
            Some(rec) if module.ends_with("/zip") => {
                assert!(rec.zip.is_none(), "{module}: the tampered zip was stored");
                assert_eq!(rec.zip_h1.as_deref(), Some(real_zip.zip_h1.as_str()));
            }
            Some(rec) => panic!("{module}: a tampered answer was stored: {rec:?}"),
        }
    }
    // The zip case names both hashes.
    let resp = reqwest::get(format!(
        "{}/example.com/tamper/zip/@v/v1.0.0.zip",
        proxy.base
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(body.contains(&real_zip.zip_h1), "{body}");
    assert!(body.contains("nothing was cached"), "{body}");
    let metrics = reqwest::get(format!("{}/metrics", proxy.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("modwarden_verification_failures_total{reason=\"zip-h1\"}"),
        "{metrics}"
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_modules_never_reach_the_public_upstream_or_checksum_database() {
    let mut public_set = testkit::fixtures::FixtureSet::new();
    public_set.add(ModuleVersion::simple("example.com/public", "v1.0.0"));
    let (db, vkey) = fixture_world(&public_set);
    let public = FixtureServer::start(public_set, Some(db)).await;
    let mut private_set = testkit::fixtures::FixtureSet::new();
    private_set.add(ModuleVersion::simple("corp.example.com/secret", "v1.2.3"));
    let private = FixtureServer::start(private_set, None).await;

    let store_dir = tempfile::tempdir().unwrap();
    let mut flags = flags_for(&public, &vkey);
    flags.private = Some("corp.example.com".into());
    flags.private_upstream = Some(private.base_url());
    let proxy = start_proxy(flags, store_dir.path()).await;

    let go = GoSandbox::new();
    let mut cmd = go.command(
        &[
            "mod",
            "download",
            "-json",
            "corp.example.com/secret@v1.2.3",
            "example.com/public@v1.0.0",
        ],
        &proxy.base,
        &vkey,
    );
    // GONOSUMDB, not GOPRIVATE: GOPRIVATE would also make the go command
    // bypass the proxy (GONOPROXY) and go straight to version control.
    cmd.env("GONOSUMDB", "corp.example.com");
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(private.request_count("/corp.example.com/secret/@v/v1.2.3.zip") == 1);
    for p in public.request_log() {
        assert!(
            !p.contains("corp.example.com"),
            "leaked to the public side: {p}"
        );
    }
    let rec = proxy
        .record("corp.example.com/secret", "v1.2.3")
        .await
        .unwrap();
    assert_eq!(rec.verified_by, "policy:private");

    // Even a client that forgets GOPRIVATE cannot make modwarden ask the
    // public checksum database about it.
    let resp = reqwest::get(format!(
        "{}/sumdb/{DB_NAME}/lookup/corp.example.com/secret@v1.2.3",
        proxy.base
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("GONOSUMDB"));
    for p in public.request_log() {
        assert!(
            !p.contains("corp.example.com"),
            "leaked to the public side: {p}"
        );
    }
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_etag_range_head_and_malformed_paths() {
    let mut set = testkit::fixtures::FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/Http/Mod", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    let mv = set.get("example.com/Http/Mod", "v1.0.0").unwrap().clone();
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store_dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/example.com/!http/!mod/@v/v1.0.0.zip", proxy.base);

    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        first.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(first.headers().contains_key("x-request-id"));
    assert_eq!(first.bytes().await.unwrap(), mv.zip);

    let not_modified = http
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    let partial = http
        .get(&url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(
        partial.headers()["content-range"].to_str().unwrap(),
        format!("bytes 10-19/{}", mv.zip.len())
    );
    assert_eq!(partial.bytes().await.unwrap(), mv.zip[10..20]);

    let bad_range = http
        .get(&url)
        .header("range", "bytes=999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_range.status(), 416);

    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        mv.zip.len().to_string()
    );
    assert_eq!(head.bytes().await.unwrap().len(), 0);

    // %21 for '!' is decoded before un-escaping.
    let pct = http
        .get(format!(
            "{}/example.com/%21http/%21mod/@v/v1.0.0.mod",
            proxy.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(pct.status(), 200);
    assert_eq!(pct.bytes().await.unwrap(), mv.gomod);

    for bad in [
        "/example.com/Http/Mod/@v/v1.0.0.info",
        "/example.com/../../etc/passwd/@v/list",
        "/example.com/%2e%2e/x/@v/list",
        "/example.com/m/@v/v1.0.0%zz.info",
        "/example.com/m%2fx/@v/list",
        "/example.com/m/@v/v1.0.0!.zip",
    ] {
        let r = http
            .get(format!("{}{bad}", proxy.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let body = r.text().await.unwrap();
        assert!(body.starts_with("malformed"), "{bad}: {body}");
    }
    let long = format!("{}/example.com/{}/@v/list", proxy.base, "a".repeat(5000));
    assert_eq!(http.get(long).send().await.unwrap().status(), 400);

    let metrics = http
        .get(format!("{}/metrics", proxy.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "modwarden_store_records 1\n",
        &format!(
            "modwarden_store_bytes {}\n",
            mv.zip.len() + mv.gomod.len() + mv.info_json.len()
        ),
        "modwarden_requests_total{endpoint=\"zip\",status=\"206\"} 1",
        "modwarden_requests_total{endpoint=\"zip\",status=\"304\"} 1",
        "modwarden_requests_total{endpoint=\"invalid\",status=\"400\"}",
        "modwarden_cache_total{endpoint=\"zip\",outcome=\"miss\"} 1",
        "modwarden_upstream_requests_total{upstream=",
        "modwarden_upstream_latency_seconds_bucket",
    ] {
        assert!(metrics.contains(want), "{want} missing in:\n{metrics}");
    }

    // A version the upstream never had: 404 the go command falls through on.
    let missing = http
        .get(format!(
            "{}/example.com/!http/!mod/@v/v9.0.0.info",
            proxy.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_latest_and_queries_are_served_and_offline_mode_uses_the_store() {
    let (set, _) = dependency_set(0);
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store_dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags_for(&upstream, &vkey), store_dir.path()).await;
    let get = |p: &str| reqwest::get(format!("{}{p}", proxy.base));

    let list = get("/example.com/simple/@v/list").await.unwrap();
    assert_eq!(list.status(), 200);
    assert_eq!(list.text().await.unwrap(), "v1.0.0\nv1.1.0\n");
    let latest = get("/example.com/simple/@latest").await.unwrap();
    assert_eq!(latest.status(), 200);
    assert!(latest.text().await.unwrap().contains("\"v1.1.0\""));
    let info = get("/example.com/simple/@v/v1.0.0.info").await.unwrap();
    assert_eq!(info.status(), 200);
    proxy.stop().await;

    // Offline: what is stored is served; the rest is a clear 404.
    let offline = start_proxy(
        Layer {
            offline: Some(true),
            sumdb: Some(vec![format!(
                "{vkey} {}/sumdb/{DB_NAME}",
                upstream.base_url()
            )]),
            ..Layer::default()
        },
        store_dir.path(),
    )
    .await;
    let get = |p: &str| reqwest::get(format!("{}{p}", offline.base));
    assert_eq!(
        get("/example.com/simple/@v/v1.0.0.info")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get("/example.com/simple/@v/list").await.unwrap().status(),
        200
    );
    let miss = get("/example.com/simple/@v/v1.1.0.zip").await.unwrap();
    assert_eq!(miss.status(), 404);
    assert!(miss.text().await.unwrap().contains("offline"));
    let before = upstream.request_log().len();
    assert_eq!(
        get("/example.com/major/v2/@v/list").await.unwrap().status(),
        404
    );
    assert_eq!(
        upstream.request_log().len(),
        before,
        "offline mode contacted the upstream"
    );
    offline.stop().await;
}
