//! `retry`'s classification on go's own error texts (captured from the real
//! go command, see fixtures/go_errors/README.md), and its backoff schedule
//! on tokio's paused clock.

use std::time::Duration;

use doctor::retry::{Verdict, classify};

fn class(name: &str) -> Verdict {
    let path = format!(
        "{}/tests/fixtures/go_errors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    classify(&std::fs::read_to_string(&path).unwrap())
}

fn hello() -> Vec<(String, String)> {
    vec![("example.com/hello".into(), "v1.0.0".into())]
}

#[test]
fn network_failures_are_transient() {
    for f in [
        "connection_refused.txt",
        "proxy_503.txt",
        "sumdb_io_timeout.txt",
    ] {
        assert!(
            matches!(class(f), Verdict::Transient { .. }),
            "{f}: {:?}",
            class(f)
        );
    }
}

#[test]
fn broken_cache_entries_name_the_module_version() {
    for f in [
        "zip_not_valid.txt",
        "checksum_mismatch_go_sum.txt",
        "mod_verify_zip_modified.txt",
    ] {
        match class(f) {
            Verdict::CorruptCache { entries, .. } => assert_eq!(entries, hello(), "{f}"),
            other => panic!("{f}: {other:?}"),
        }
    }
}

#[test]
fn what_retrying_cannot_fix_stops_with_advice() {
    for (f, advice) in [
        ("missing_go_sum_entry.txt", "go mod tidy"),
        ("malformed_module_path.txt", "invalid"),
        ("goproxy_off.txt", "GOPROXY=off"),
    ] {
        match class(f) {
            Verdict::Fatal { advice: a, .. } => assert!(a.contains(advice), "{f}: {a}"),
            other => panic!("{f}: {other:?}"),
        }
    }
}

/// Backoff doubles from the initial delay up to the cap: 10 s, 15 s (capped)
/// for three attempts, on tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn backoff_doubles_up_to_the_cap() {
    let cmd: Vec<std::ffi::OsString> = vec![
        "sh".into(),
        "-c".into(),
        "echo 'go: example.com/m@v1.0.0: Get \"https://proxy.example/example.com/m/@v/v1.0.0.info\": dial tcp 10.0.0.1:443: i/o timeout' >&2; exit 1".into(),
    ];
    let opts = doctor::runner::RetryOptions {
        max_attempts: 3,
        initial_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(15),
        modcache: None,
        lock_wait: Duration::ZERO,
    };
    let start = tokio::time::Instant::now();
    let r = doctor::runner::retry(&cmd, &opts, &doctor::NoReporter)
        .await
        .unwrap();
    assert!(!r.success);
    let actions: Vec<&str> = r.attempts.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "network failure; retrying in 10s",
            "network failure; retrying in 15s",
            "network failure; gave up after 3 attempts"
        ]
    );
    assert!(start.elapsed() >= Duration::from_secs(25));
}
