//! Crash safety and multi-process writes on the local backend, with real
//! processes (`src/bin/store-crash-writer.rs`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use futures::TryStreamExt;
use rand::{Rng, SeedableRng};
use store::Store;
use store::local::LocalStore;
use store::maint::{self, NoReporter, ScrubOptions};

const WRITER: &str = env!("CARGO_BIN_EXE_store-crash-writer");

/// After reopening: staging emptied, every blob hashes to its name, every
/// record readable and complete.
async fn check_invariants(root: &Path, round: usize) -> (u64, u64) {
    let s = LocalStore::open(root).await.unwrap();
    let tmp = root.join("tmp");
    let entries: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        entries.len(),
        2,
        "round {round}: staging leftovers {entries:?}"
    );
    for e in &entries {
        if e.is_dir() {
            assert_eq!(std::fs::read_dir(e).unwrap().count(), 0, "round {round}");
        }
    }
    let r = maint::scrub(&s, &ScrubOptions::default(), &NoReporter)
        .await
        .unwrap();
    assert!(r.is_clean(), "round {round}: {r:?}");
    let st = maint::stats(&s).await.unwrap();
    (st.records, st.blobs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_leaves_no_partial_blob_or_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let seed: u64 = std::env::var("STORE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed} (set STORE_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut last = (0, 0);
    let mut mid_write = 0;
    for round in 0..50 {
        let mut child = Command::new(WRITER)
            .args(["loop"])
            .arg(&root)
            .arg(round.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready", "round {round}");
        // Kill at a random moment: once the writer has begun a random number
        // of versions, plus a random fraction of a millisecond or two (the
        // kill moment is the point of the test, not something it times).
        let k = rng.gen_range(1..12);
        for _ in 0..k {
            lines.next().unwrap().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_micros(rng.gen_range(0..2000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let staged = std::fs::read_dir(root.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .map(|p| std::fs::read_dir(p).unwrap().count())
            .sum::<usize>();
        if staged > 0 {
            mid_write += 1;
        }
        last = check_invariants(&root, round).await;
    }
    eprintln!(
        "after 50 kills: {} records, {} blobs; {mid_write} kills left staging files behind",
        last.0, last.1
    );
    assert!(last.0 > 0, "the writer never finished a version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_writing_the_same_content_make_one_blob_and_no_error() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let go = dir.path().join("go");
        LocalStore::open(&root).await.unwrap();
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(WRITER)
                    .args(["same"])
                    .arg(&root)
                    .arg(&go)
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::fs::write(&go, "").unwrap();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: writer failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let s = LocalStore::open(&root).await.unwrap();
        let blobs: Vec<_> = s.list_blobs().await.unwrap().try_collect().await.unwrap();
        // 20 zips + 20 .info + 1 shared go.mod.
        assert_eq!(blobs.len(), 41, "round {round}");
        let r = maint::scrub(&s, &ScrubOptions::default(), &NoReporter)
            .await
            .unwrap();
        assert!(r.is_clean(), "{r:?}");
        assert_eq!(maint::stats(&s).await.unwrap().records, 20);
    }
}
