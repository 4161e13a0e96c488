//! Every fault mode of testkit's upstream, under the real go command: with a
//! healthy upstream behind `|` the download succeeds; alone, the faulty
//! upstream either recovers through retries or the go command fails with
//! modwarden's message, never hanging past the deadline. Afterwards nothing
//! wrong or partial is in the store: a scrub is clean and every stored zip
//! has the checksum database's hash.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use proxy::config::Layer;
use testkit::fixtures::FixtureSet;
use testkit::go::GoSandbox;
use testkit::server::{Behaviour, FixtureServer, RequestInfo};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    SlowFirstByte,
    StallMidBody,
    Reset,
    Truncated,
    WrongBytes,
    Unavailable503ThenOk,
    TooMany429RetryAfter,
    Hang,
    Flapping,
}

const FAULTS: [Fault; 9] = [
    Fault::SlowFirstByte,
    Fault::StallMidBody,
    Fault::Reset,
    Fault::Truncated,
    Fault::WrongBytes,
    Fault::Unavailable503ThenOk,
    Fault::TooMany429RetryAfter,
    Fault::Hang,
    Fault::Flapping,
];

impl Fault {
    /// Whether the faulty upstream itself recovers within the retries.
    fn recovers(self) -> bool {
        matches!(
            self,
            Fault::Unavailable503ThenOk | Fault::TooMany429RetryAfter | Fault::Flapping
        )
    }

    fn behaviour(self, count: u64) -> Behaviour {
        match self {
            Fault::SlowFirstByte => Behaviour::Delay(Duration::from_secs(5)),
            Fault::StallMidBody => Behaviour::StallAfter(100),
            Fault::Reset => Behaviour::ResetAfter(100),
            Fault::Truncated => Behaviour::TruncateAfter(100),
            Fault::WrongBytes => Behaviour::Body(b"PK\x03\x04 this is not the module".to_vec()),
            Fault::Unavailable503ThenOk if count <= 2 => Behaviour::Status(503),
            Fault::TooMany429RetryAfter if count <= 1 => Behaviour::RetryAfter {
                status: 429,
                secs: 1,
            },
            Fault::Hang => Behaviour::Delay(Duration::from_secs(3600)),
            Fault::Flapping if count % 2 == 1 => Behaviour::Status(502),
            _ => Behaviour::Normal,
        }
    }
}

/// One filler module per fault; the faulty upstream breaks its zip.
fn module_for(i: usize) -> String {
    format!("example.com/filler/f{i:05}")
}

fn install_faults(srv: &FixtureServer) {
    srv.set_hook(Arc::new(|req: &RequestInfo| {
        for (i, fault) in FAULTS.iter().enumerate() {
            if req.path == format!("/{}/@v/v1.0.0.zip", module_for(i)) {
                return fault.behaviour(req.count);
            }
        }
        Behaviour::Normal
    }));
}

fn flags(upstream: String, vkey: &str, db: &FixtureServer) -> Layer {
    Layer {
        upstream: Some(upstream),
        sumdb: Some(vec![format!("{vkey} {}/sumdb/{DB_NAME}", db.base_url())]),
        upstream_timeout: Some(1),
        request_deadline: Some(6),
        upstream_attempts: Some(3),
        breaker_threshold: Some(1000),
        ..Layer::default()
    }
}

async fn scrub_is_clean(proxy: &Proxy, set: &FixtureSet) {
    let store = store::local::LocalStore::open(&proxy.store_dir)
        .await
        .unwrap();
    let report = store::maint::scrub(
        &store,
        &store::maint::ScrubOptions::default(),
        &store::maint::NoReporter,
    )
    .await
    .unwrap();
    assert!(report.is_clean(), "{report:?}");
    for i in 0..FAULTS.len() {
        let m = module_for(i);
        if let Some(rec) = proxy.record(&m, "v1.0.0").await
            && rec.zip.is_some()
        {
            let want = &set.get(&m, "v1.0.0").unwrap().zip_h1;
            assert_eq!(rec.zip_h1.as_ref(), Some(want), "{m}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_under_the_go_command() {
    let mut set = FixtureSet::standard();
    set.add_fillers(FAULTS.len());
    let (db, vkey) = fixture_world(&set);
    let healthy = FixtureServer::start(set.clone(), Some(db)).await;
    let faulty = FixtureServer::start(set.clone(), None).await;
    install_faults(&faulty);

    // A faulty upstream with a healthy one behind `|`: every download works.
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(
        flags(
            format!("{}|{}", faulty.base_url(), healthy.base_url()),
            &vkey,
            &healthy,
        ),
        dir.path(),
    )
    .await;
    let mut args = vec!["mod".to_string(), "download".into(), "-json".into()];
    args.extend((0..FAULTS.len()).map(|i| format!("{}@v1.0.0", module_for(i))));
    let go = GoSandbox::new();
    let out = go.run(&args, &proxy.base, &vkey).await;
    assert!(
        out.success(),
        "with a healthy fallback:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    for (i, fault) in FAULTS.iter().enumerate() {
        let zip = format!("/{}/@v/v1.0.0.zip", module_for(i));
        assert!(
            faulty.request_count(&zip) >= 1,
            "{fault:?}: fault never exercised"
        );
    }
    scrub_is_clean(&proxy, &set).await;
    proxy.stop().await;

    // The faulty upstream alone.
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(flags(faulty.base_url(), &vkey, &healthy), dir.path()).await;
    for (i, fault) in FAULTS.iter().enumerate() {
        let go = GoSandbox::new();
        let mv = format!("{}@v1.0.0", module_for(i));
        let started = Instant::now();
        let out = go
            .run(&["mod", "download", "-json", &mv], &proxy.base, &vkey)
            .await;
        let took = started.elapsed();
        let all = format!("{}{}", out.stdout, out.stderr);
        if fault.recovers() {
            assert!(
                out.success(),
                "{fault:?} should recover through retries:\n{all}"
            );
        } else {
            assert!(
                !out.success(),
                "{fault:?}: go succeeded against a broken upstream:\n{all}"
            );
            assert!(
                all.contains(&format!("server response: {mv}")),
                "{fault:?}: no modwarden message:\n{all}"
            );
            // The deadline is 6 s per upstream request; allow for the go
            // command's own work and a loaded machine, but never a hang.
            assert!(took < Duration::from_secs(30), "{fault:?} took {took:?}");
        }
    }
    scrub_is_clean(&proxy, &set).await;
    proxy.stop().await;
}
