//! Two modwarden instances sharing one S3-compatible bucket (SeaweedFS,
//! started here on loopback): what one fetched and verified, the other
//! serves, even with the upstream gone; both fetching the same version at
//! once is not an error.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::go::GoSandbox;
use testkit::server::{Behaviour, FixtureServer};
use testkit::weed::{BUCKET, KEY_ID, SECRET, start_weed};

async fn bucket_store(endpoint: &str, prefix: &str) -> Arc<dyn store::Store> {
    let url = format!("s3://{BUCKET}/{prefix}");
    let options = [
        ("endpoint", endpoint.to_string()),
        ("allow_http", "true".to_string()),
        ("access_key_id", KEY_ID.to_string()),
        ("secret_access_key", SECRET.to_string()),
        ("region", "us-east-1".to_string()),
    ];
    // weed creates the bucket shortly after S3 answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match store::object::ObjectStoreBackend::from_url(&url, options.clone()).await {
            Ok(s) => return Arc::new(s),
            Err(e) => {
                assert!(Instant::now() < deadline, "bucket not usable: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_bucket() {
    let weed = start_weed();
    let mut set = FixtureSet::standard();
    set.add(ModuleVersion::simple("example.com/both", "v1.0.0"));
    let (db, vkey) = fixture_world(&set);
    let upstream = FixtureServer::start(set, Some(db)).await;
    let (state_a, state_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_proxy_on_store(
        flags_for(&upstream, &vkey),
        state_a.path(),
        bucket_store(&weed.endpoint, "team").await,
    )
    .await;
    let b_store = bucket_store(&weed.endpoint, "team").await;
    let b =
        start_proxy_on_store(flags_for(&upstream, &vkey), state_b.path(), b_store.clone()).await;

    // Both instances asked for the same uncached version at once.
    upstream.set_behaviour(
        "/example.com/both/@v/v1.0.0.zip",
        Behaviour::Delay(Duration::from_millis(300)),
    );
    let (ra, rb) = tokio::join!(
        reqwest::get(format!("{}/example.com/both/@v/v1.0.0.zip", a.base)),
        reqwest::get(format!("{}/example.com/both/@v/v1.0.0.zip", b.base)),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!((ra.status().as_u16(), rb.status().as_u16()), (200, 200));
    assert_eq!(ra.bytes().await.unwrap(), rb.bytes().await.unwrap());

    // A fetches and verifies; then the upstream goes away.
    let wanted: Vec<String> = FixtureSet::standard().iter().map(|mv| mv.id()).collect();
    let mut args = vec!["mod".to_string(), "download".into(), "-json".into()];
    args.extend(wanted.iter().cloned());
    let go = GoSandbox::new();
    let out = go.run(&args, &a.base, &vkey).await;
    assert!(
        out.success(),
        "via instance A:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    upstream.stop().await;

    // B serves all of it from the bucket.
    let go = GoSandbox::new();
    let out = go.run(&args, &b.base, &vkey).await;
    assert!(
        out.success(),
        "via instance B with the upstream down:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    let rec = b_store
        .get_record(&store::RecordKey::new(
            "example.com/Upper/CaseMod",
            "v1.0.1-Beta.2",
        ))
        .await
        .unwrap()
        .expect("record in the bucket");
    assert_eq!(rec.verified_by, DB_NAME);
    assert!(rec.zip.is_some());
    a.stop().await;
    b.stop().await;
    drop(weed);
}
