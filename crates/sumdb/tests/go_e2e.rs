//! The real go command verifies modules against our test checksum database
//! (served by testkit beside the fixture proxy), with trees large enough
//! (>= 1,000 records) that lookups walk multi-level and partial tiles.

use sumdb::server::TreeBuilder;
use testkit::fixtures::FixtureSet;
use testkit::go::GoSandbox;
use testkit::server::FixtureServer;

const FILLERS: usize = 1100;

fn big_set() -> FixtureSet {
    let mut set = FixtureSet::standard();
    set.add_fillers(FILLERS);
    set
}

fn parse_json_stream(s: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(s)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_mod_download_verifies_against_test_sumdb() {
    let set = big_set();
    let (mut db, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
    set.add_to_sumdb(&mut db);
    assert!(db.len() >= 1000, "tree has {} records", db.len());
    let name = db.name().to_string();
    let srv = FixtureServer::start(set.clone(), Some(db)).await;

    let wanted: Vec<_> = FixtureSet::standard().iter().map(|mv| mv.id()).collect();
    let mut args = vec!["mod".to_string(), "download".into(), "-json".into()];
    args.extend(wanted.iter().cloned());
    let go = GoSandbox::new();
    let out = go.run(&args, &srv.base_url(), &vkey).await;
    assert!(
        out.success(),
        "go failed:\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );

    let results = parse_json_stream(&out.stdout);
    assert_eq!(results.len(), wanted.len(), "{}", out.stdout);
    for r in &results {
        let path = r["Path"].as_str().unwrap();
        let version = r["Version"].as_str().unwrap();
        let mv = set.get(path, version).unwrap();
        assert_eq!(
            r["Sum"].as_str(),
            Some(mv.zip_h1.as_str()),
            "{path}@{version}"
        );
        assert_eq!(
            r["GoModSum"].as_str(),
            Some(mv.gomod_h1.as_str()),
            "{path}@{version}"
        );
        assert!(r.get("Error").is_none(), "{r}");
    }

    let log = srv.request_log();
    let prefix = format!("/sumdb/{name}/");
    assert!(log.contains(&format!("{prefix}supported")), "{log:#?}");
    assert!(
        log.iter().any(|p| p.starts_with(&format!(
            "{prefix}lookup/example.com/!upper/!case!mod@v1.0.1-!beta.2"
        ))),
        "{log:#?}"
    );
    let tiles: Vec<&String> = log
        .iter()
        .filter(|p| p.starts_with(&format!("{prefix}tile/")))
        .collect();
    assert!(
        tiles.iter().any(|p| p.contains("/tile/8/1/")),
        "no level-1 tile: {tiles:#?}"
    );
    assert!(
        tiles.iter().any(|p| p.contains(".p/")),
        "no partial tile: {tiles:#?}"
    );
    assert!(
        tiles
            .iter()
            .any(|p| p.contains("/tile/8/0/") && !p.contains(".p/")),
        "no full level-0 tile: {tiles:#?}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_reports_security_error_when_sumdb_hash_differs() {
    let set = big_set();
    let victim = set.get("example.com/simple", "v1.1.0").unwrap().clone();
    let other = set.get("example.com/simple", "v1.0.0").unwrap().clone();
    let (mut db, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
    // The database claims another zip's hash for the victim.
    db.add(
        &victim.path,
        &victim.version,
        &other.zip_h1,
        &victim.gomod_h1,
    )
    .unwrap();
    set.add_to_sumdb(&mut db);
    assert!(db.len() >= 1000);
    let srv = FixtureServer::start(set, Some(db)).await;

    let go = GoSandbox::new();
    let out = go
        .run(
            &["mod", "download", "-json", &victim.id()],
            &srv.base_url(),
            &vkey,
        )
        .await;
    assert!(
        !out.success(),
        "go accepted a zip the checksum database disagrees with"
    );
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert!(all.contains("SECURITY ERROR"), "{all}");
    assert!(all.contains("checksum mismatch"), "{all}");
    assert!(all.contains(&other.zip_h1), "{all}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_detects_a_forked_test_sumdb() {
    let set = big_set();
    let (mut base, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
    // Common prefix: the fillers. Then the two timelines diverge.
    for mv in set
        .iter()
        .filter(|mv| mv.path.starts_with("example.com/filler/"))
    {
        base.add(&mv.path, &mv.version, &mv.zip_h1, &mv.gomod_h1)
            .unwrap();
    }
    let mut fork = base.clone();
    fork.add("example.com/forked", "v1.0.0", "h1:forked=", "h1:forked=")
        .unwrap();
    set.add_to_sumdb(&mut base);
    set.add_to_sumdb(&mut fork);
    assert!(base.len() >= 1000);
    let srv = FixtureServer::start(set, Some(base)).await;
    let go = GoSandbox::new();

    let out = go
        .run(
            &["mod", "download", "-json", "example.com/simple@v1.0.0"],
            &srv.base_url(),
            &vkey,
        )
        .await;
    assert!(out.success(), "{}\n{}", out.stdout, out.stderr);

    srv.replace_sumdb(Some(fork));
    let out = go
        .run(
            &["mod", "download", "-json", "example.com/simple@v1.1.0"],
            &srv.base_url(),
            &vkey,
        )
        .await;
    assert!(!out.success(), "go accepted a forked checksum database");
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert!(all.contains("SECURITY ERROR"), "{all}");
    assert!(all.contains("misbehavior detected"), "{all}");
    srv.stop().await;
}

/// A plain HTTP transport to `<base>/sumdb/<name>/`, as a proxy would use.
struct Http {
    base: String,
    client: reqwest::Client,
}

#[async_trait::async_trait]
impl sumdb::Transport for Http {
    async fn read_remote(&self, path: &str) -> Result<bytes::Bytes, sumdb::TransportError> {
        let url = format!("{}/{path}", self.base);
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| sumdb::TransportError::Other(e.to_string()))?;
        match resp.status().as_u16() {
            200 => resp
                .bytes()
                .await
                .map_err(|e| sumdb::TransportError::Other(e.to_string())),
            404 | 410 => Err(sumdb::TransportError::NotFound),
            s => Err(sumdb::TransportError::Other(format!("HTTP {s}"))),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_and_go_agree_over_http() {
    let set = big_set();
    let (mut db, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
    set.add_to_sumdb(&mut db);
    let name = db.name().to_string();
    let srv = FixtureServer::start(set.clone(), Some(db)).await;
    let transport = std::sync::Arc::new(Http {
        base: format!("{}/sumdb/{name}", srv.base_url()),
        client: reqwest::Client::new(),
    });
    let state = tempfile::tempdir().unwrap();
    let client = sumdb::Client::new(&vkey, transport, Some(state.path().to_path_buf())).unwrap();

    let go = GoSandbox::new();
    for mv in FixtureSet::standard().iter() {
        let r = client.lookup(&mv.path, &mv.version).await.unwrap();
        assert_eq!(r.zip_h1, mv.zip_h1, "{}", mv.id());
        assert_eq!(r.gomod_h1, mv.gomod_h1, "{}", mv.id());
        let out = go
            .run(
                &["mod", "download", "-json", &mv.id()],
                &srv.base_url(),
                &vkey,
            )
            .await;
        assert!(out.success(), "{}\n{}", out.stdout, out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["Sum"].as_str(), Some(r.zip_h1.as_str()));
    }
    // The go command's remembered tree is the one our client verified.
    let go_latest =
        std::fs::read(go.gopath().join("pkg/sumdb").join(&name).join("latest")).unwrap();
    assert_eq!(go_latest, client.latest_note());
    // Tiles the go command cached are the ones our client authenticates.
    let tile = client.verified_tile("tile/8/0/000").await.unwrap();
    let cached = std::fs::read(
        go.modcache()
            .join("cache/download/sumdb")
            .join(&name)
            .join("tile/8/0/000"),
    )
    .unwrap();
    assert_eq!(&tile[..], &cached[..]);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_verifies_in_a_tree_with_level_2_tiles() {
    // 256^2 = 65,536 records fill the first level-1 tile, so proofs need a
    // level-2 tile. The filler records need no served modules.
    let set = FixtureSet::standard();
    let (mut db, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
    for i in 0..66_000 {
        db.add(
            &format!("example.com/bulk/b{i}"),
            "v1.0.0",
            "h1:bulk=",
            "h1:bulk=",
        )
        .unwrap();
    }
    set.add_to_sumdb(&mut db);
    let name = db.name().to_string();
    let srv = FixtureServer::start(set.clone(), Some(db)).await;

    let mut args = vec!["mod".to_string(), "download".into(), "-json".into()];
    args.extend(set.iter().map(|mv| mv.id()));
    let go = GoSandbox::new();
    let out = go.run(&args, &srv.base_url(), &vkey).await;
    assert!(out.success(), "{}\n{}", out.stdout, out.stderr);
    let log = srv.request_log();
    assert!(
        log.iter()
            .any(|p| p.starts_with(&format!("/sumdb/{name}/tile/8/2/"))),
        "no level-2 tile requested: {log:#?}"
    );
    srv.stop().await;
}
