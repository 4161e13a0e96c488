//! Several instances on one store coordinate through a real redis-server:
//! a version missing everywhere is fetched from upstream once, and a "not
//! found" learned by one instance is not asked again by the others.

mod common;

use std::time::Duration;

use common::*;
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::redis::start_redis;
use testkit::server::{Behaviour, FixtureServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_fetch_locks_and_not_found_answers() {
    let redis = start_redis();
    let mut set = FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/shared", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    upstream.set_behaviour(
        "/example.com/shared/@v/v1.0.0.",
        Behaviour::Delay(Duration::from_millis(400)),
    );
    // Three instances on one store directory (the local store is safe for
    // several processes) and one Redis.
    let store = tempfile::tempdir().unwrap();
    let mut instances = Vec::new();
    for _ in 0..3 {
        let mut flags = flags_for(&upstream, &vkey);
        flags.redis = Some(redis.url.clone());
        instances.push(start_proxy(flags, store.path()).await);
    }

    let mut tasks = Vec::new();
    for p in &instances {
        for _ in 0..5 {
            let url = format!("{}/example.com/shared/@v/v1.0.0.zip", p.base);
            tasks.push(tokio::spawn(async move {
                reqwest::get(url).await.unwrap().status()
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(
        upstream.request_count("/example.com/shared/@v/v1.0.0.zip"),
        1
    );
    assert_eq!(
        upstream.request_count("/example.com/shared/@v/v1.0.0.mod"),
        1
    );

    // "Not found" learned by one instance is shared.
    let r = reqwest::get(format!(
        "{}/example.com/nope/@v/v1.0.0.info",
        instances[0].base
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    for p in &instances[1..] {
        let r = reqwest::get(format!("{}/example.com/nope/@v/v1.0.0.info", p.base))
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        assert!(r.text().await.unwrap().contains("example.com/nope"));
    }
    assert_eq!(
        upstream.request_count("/example.com/nope/@v/v1.0.0.info"),
        1
    );

    // A purge through one instance removes the shared answer from Redis
    // (SCAN + DEL): an instance that never saw it locally asks upstream again.
    let client = reqwest::Client::new();
    let r = client
        .post(format!(
            "{}/admin/purge/example.com/nope",
            instances[1].base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let fresh = {
        let mut flags = flags_for(&upstream, &vkey);
        flags.redis = Some(redis.url.clone());
        start_proxy(flags, store.path()).await
    };
    let r = reqwest::get(format!("{}/example.com/nope/@v/v1.0.0.info", fresh.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        upstream.request_count("/example.com/nope/@v/v1.0.0.info"),
        2,
        "the purged not-found answer was still shared"
    );
    fresh.stop().await;
    for p in instances {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_a_clear_start_up_error() {
    let store = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let flags = proxy::config::Layer {
        sumdb: Some(vec!["off".into()]),
        offline: Some(true),
        redis: Some(format!("redis://127.0.0.1:{port}")),
        store: Some(store.path().to_path_buf()),
        ..proxy::config::Layer::default()
    };
    let cfg = proxy::config::merge(
        proxy::config::Layer::default(),
        &Default::default(),
        flags,
        &proxy::config::Defaults::default(),
    )
    .unwrap();
    let err = match proxy::App::build(&cfg).await {
        Ok(_) => panic!("started without its redis"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("cannot connect to redis"), "{err}");
}
