//! `modwarden doctor` as a user runs it: exit code 0 on a healthy cache, 1
//! when something is broken, 0 again after `--fix` repaired it, 2 for usage
//! errors; `--json` parses back. The cache is filled by the real go command
//! from testkit's fixture upstream.

use std::path::Path;
use std::process::{Command, Output};

use sumdb::server::TreeBuilder;
use testkit::fixtures::FixtureSet;
use testkit::go::GoSandbox;
use testkit::server::FixtureServer;

fn doctor(args: &[&str], modcache: &Path, cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modwarden"))
        .arg("doctor")
        .args(args)
        .arg("--modcache")
        .arg(modcache)
        .current_dir(cwd)
        .env("GOFLAGS", "-modcacherw")
        .env("GOTOOLCHAIN", "local")
        .env("GOENV", "off")
        .env("GOMODCACHE", modcache)
        .output()
        .expect("run modwarden doctor")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_json_of_doctor() {
    let set = FixtureSet::standard();
    let (mut db, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
    set.add_to_sumdb(&mut db);
    let upstream = FixtureServer::start(set.clone(), Some(db)).await;
    let go = GoSandbox::new();
    std::fs::create_dir_all(go.work_dir()).unwrap();
    let wanted: Vec<String> = set.iter().map(|mv| mv.id()).collect();
    let mut args = vec!["mod".to_string(), "download".into()];
    args.extend(wanted);
    let out = go.run(&args, &upstream.base_url(), &vkey).await;
    assert!(out.success(), "{}", out.stderr);
    let mc = go.modcache();
    let cwd = go.work_dir();

    let healthy = doctor(&["--cache-only", "--json"], &mc, &cwd);
    assert_eq!(
        healthy.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&healthy.stdout).expect("--json is JSON");
    assert!(report.is_object(), "{report}");

    // Truncate one zip: a problem, exit 1, named in the JSON.
    let zip = mc.join("cache/download/example.com/simple/@v/v1.0.0.zip");
    let len = std::fs::metadata(&zip).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&zip).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let broken = doctor(&["--cache-only", "--json"], &mc, &cwd);
    assert_eq!(
        broken.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(text.contains("example.com/simple"), "{text}");
    serde_json::from_slice::<serde_json::Value>(&broken.stdout).expect("--json is JSON");

    // --fix removes exactly the broken entry: exit 0, and the rescan is clean.
    let fixed = doctor(&["--cache-only", "--fix"], &mc, &cwd);
    assert_eq!(
        fixed.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&fixed.stdout),
        String::from_utf8_lossy(&fixed.stderr)
    );
    assert!(!zip.exists());
    assert!(
        mc.join("cache/download/example.com/simple/@v/v1.1.0.zip")
            .exists()
    );
    let again = doctor(&["--cache-only"], &mc, &cwd);
    assert_eq!(again.status.code(), Some(0));

    // Usage errors are 2.
    let usage = doctor(&["--refetch"], &mc, &cwd);
    assert_eq!(usage.status.code(), Some(2));
}
