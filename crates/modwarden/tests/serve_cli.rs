//! `modwarden serve` as an operator runs it: start-up report, access log with
//! request ids, graceful shutdown on SIGTERM, and clear errors for bad
//! configuration.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sumdb::server::TreeBuilder;
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::server::{Behaviour, FixtureServer};

struct Serve {
    child: std::process::Child,
    base: String,
    lines: Arc<Mutex<Vec<String>>>,
}

fn start(args: &[&str], store: &std::path::Path) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_modwarden"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(args)
        .env("MODWARDEN_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start modwarden serve");
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut reader = BufReader::new(stderr).lines();
    let base = testkit::util::read_listen_url(&mut reader, |l| {
        lines.lock().unwrap().push(l.to_string());
    });
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in reader.map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Serve { child, base, lines }
}

fn output(serve: &Serve) -> String {
    serve.lines.lock().unwrap().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_report_access_log_and_graceful_shutdown() {
    let mut set = FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/Logged", "v1.0.0"));
    let (mut db, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
    set.add_to_sumdb(&mut db);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let store = tempfile::tempdir().unwrap();
    let sumdb = format!("{vkey} {}/sumdb/sumdb.modwarden.test", upstream.base_url());
    let mut serve = start(
        &["--upstream", &upstream.base_url(), "--sumdb", &sumdb],
        store.path(),
    );
    // The report's last line comes right after the listening line.
    for _ in 0..100 {
        if output(&serve).contains("use it:") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let startup = output(&serve);
    assert!(
        startup.contains(&format!("store:      {}", store.path().display())),
        "{startup}"
    );
    assert!(startup.contains(&upstream.base_url()), "{startup}");
    assert!(
        startup.contains("sumdb:      sumdb.modwarden.test"),
        "{startup}"
    );

    let r = reqwest::get(format!("{}/example.com/!logged/@v/v1.0.0.info", serve.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    for p in ["/healthz", "/readyz", "/metrics", "/"] {
        let r = reqwest::get(format!("{}{p}", serve.base)).await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
    }

    // A slow request is in flight when SIGTERM arrives: it still completes.
    upstream.set_behaviour(
        "/example.com/!logged/@v/v1.0.0.zip",
        Behaviour::Delay(Duration::from_millis(800)),
    );
    let url = format!("{}/example.com/!logged/@v/v1.0.0.zip", serve.base);
    let slow = tokio::spawn(async move {
        reqwest::get(url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = serve.child.id() as i32;
    assert_eq!(unsafe_free_kill(pid), 0);
    let len = slow.await.unwrap();
    assert!(len > 0, "the in-flight request was cut off");
    let status = serve.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(100));

    let log = output(&serve);
    let line = log
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("no access log line with request id {id}:\n{log}"));
    for field in [
        "module=example.com/Logged",
        "version=v1.0.0",
        "endpoint=info",
        "status=200",
        "cache=miss",
        "duration_ms=",
        "bytes=",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
    assert!(log.contains("draining requests in flight"), "{log}");
    assert!(log.contains("modwarden serve: stopped"), "{log}");
}

/// SIGTERM through the `kill` command (no unsafe code in this crate).
fn unsafe_free_kill(pid: i32) -> i32 {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map(|s| s.code().unwrap_or(1))
        .unwrap_or(1)
}

#[test]
fn bad_configuration_is_a_clear_error_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("modwarden.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\nupstreams = \"http://x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_modwarden"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field `upstreams`"), "{err}");
    assert!(err.contains("modwarden.toml"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_modwarden"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:39999",
            "--upstream",
            "http://localhost:39999",
            "--sumdb",
            "off",
            "--store",
        ])
        .arg(dir.path().join("store"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("points back at this modwarden"), "{err}");
}
