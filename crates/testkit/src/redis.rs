//! A real `redis-server` for tests, on a free loopback port, without
//! persistence; killed when dropped. The binary comes from
//! `MODWARDEN_REDIS_SERVER` or `redis-server` on PATH (Debian package
//! `redis-server`; ./scripts/test installs it); without it the caller's test
//! fails, never skips.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server.
pub struct Redis {
    child: Child,
    _dir: tempfile::TempDir,
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MODWARDEN_REDIS_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("redis-server");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "redis-server not found: set MODWARDEN_REDIS_SERVER or install the Debian package \
         redis-server (./scripts/test does)"
    );
}

/// Starts redis-server on a free loopback port and waits until it accepts
/// connections.
pub fn start_redis() -> Redis {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = redis_bin();
    let child = Command::new(&bin)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Redis {
        child,
        _dir: dir,
        url: format!("redis://127.0.0.1:{port}"),
    }
}
