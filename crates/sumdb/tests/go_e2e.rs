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
