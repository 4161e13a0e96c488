//! The stampede bound against the real binary: 200 concurrent requests for
//! one uncached 50 MiB zip behind a slow upstream cause exactly one upstream
//! fetch, every client gets the upstream's bytes, and the proxy's peak RSS
//! stays under 64 MiB (read from /proc, so Linux only).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use sumdb::server::TreeBuilder;
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::server::{Behaviour, FixtureServer};

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_of_200_on_a_50_mib_zip_fetches_once_in_bounded_memory() {
    // Incompressible, so the zip really is ~50 MiB.
    let data = testkit::util::incompressible(50 << 20);
    let mv = ModuleVersion::from_files(
        "example.com/huge",
        "v1.0.0",
        &[
            ("go.mod", b"module example.com/huge\n".as_slice()),
            ("blob.bin", &data),
        ],
    );
    drop(data);
    assert!(mv.zip.len() > 50 << 20);
    let mut set = FixtureSet::new();
    set.add(mv.clone());
    let (mut db, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
    set.add_to_sumdb(&mut db);
    let upstream = FixtureServer::start(set, Some(db)).await;
    upstream.set_behaviour(
        "/example.com/huge/@v/v1.0.0.zip",
        Behaviour::Delay(Duration::from_millis(500)),
    );

    let store = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_modwarden"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(store.path())
        .args(["--upstream", &upstream.base_url()])
        .args([
            "--sumdb",
            &format!("{vkey} {}/sumdb/sumdb.modwarden.test", upstream.base_url()),
        ])
        .env("MODWARDEN_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start modwarden serve");
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let base = testkit::util::read_listen_url(&mut lines, |_| {});
    std::thread::spawn(move || for _ in lines {});

    let url = format!("{base}/example.com/huge/@v/v1.0.0.zip");
    let http = reqwest::Client::new();
    if std::env::var_os("MODWARDEN_RSS_DEBUG").is_some() {
        let r = http.get(&url).send().await.unwrap();
        let n = r.bytes().await.unwrap().len();
        eprintln!(
            "after one cold fetch of {n} bytes: {} KiB",
            peak_rss_kib(pid)
        );
    }
    let want = std::sync::Arc::new(mv.zip.clone());
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (http, url, want) = (http.clone(), url.clone(), want.clone());
        tasks.push(tokio::spawn(async move {
            let r = http.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let mut stream = r.bytes_stream();
            let mut at = 0usize;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.unwrap();
                assert!(
                    want.get(at..at + chunk.len()) == Some(&chunk[..]),
                    "bytes differ at offset {at}"
                );
                at += chunk.len();
            }
            assert_eq!(at, want.len());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rss_kib = peak_rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(upstream.request_count("/example.com/huge/@v/v1.0.0.zip"), 1);
    eprintln!("peak RSS of modwarden serve: {} KiB", rss_kib);
    assert!(rss_kib < 64 * 1024, "peak RSS {rss_kib} KiB >= 64 MiB");
}
