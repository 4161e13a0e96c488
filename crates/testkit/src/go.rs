//! A sandbox that runs the real `go` command hermetically (docs/protocol.md §8):
//! temp GOMODCACHE/GOPATH/GOCACHE, `GOTOOLCHAIN=local`, `GOFLAGS=-modcacherw`,
//! `GOENV=off`, `GOWORK=off`, and only the GOPROXY/GOSUMDB the caller gives.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// The environment variable naming the go binary to use.
pub const GO_ENV_VAR: &str = "MODWARDEN_GO";

/// Finds the go binary: `$MODWARDEN_GO`, else `go` on `PATH`. Panics with a
/// clear message if neither exists (tests must fail, not skip).
pub fn go_binary() -> PathBuf {
    if let Some(p) = std::env::var_os(GO_ENV_VAR).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{GO_ENV_VAR}={} does not name a file: this test needs the real go command",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join("go");
        if cand.is_file() {
            return cand;
        }
    }
    panic!("this test needs the real go command: set {GO_ENV_VAR} to its path or put `go` on PATH");
}

/// The result of one go invocation.
#[derive(Debug)]
pub struct GoOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl GoOutput {
    /// Whether go exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// A temp directory with its own module cache, GOPATH and build cache.
pub struct GoSandbox {
    dir: tempfile::TempDir,
    go: PathBuf,
}

impl Default for GoSandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl GoSandbox {
    /// A new sandbox (panics if go is missing, see [`go_binary`]).
    pub fn new() -> Self {
        let go = go_binary();
        let dir = tempfile::tempdir().expect("create sandbox temp dir");
        for d in ["mc", "gp", "gc", "home", "tmp", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("create sandbox dir");
        }
        GoSandbox { dir, go }
    }

    /// The sandbox root.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// GOMODCACHE.
    pub fn modcache(&self) -> PathBuf {
        self.dir().join("mc")
    }

    /// GOPATH.
    pub fn gopath(&self) -> PathBuf {
        self.dir().join("gp")
    }

    /// The working directory go runs in (empty, not a module, unless the
    /// caller writes a go.mod there).
    pub fn work_dir(&self) -> PathBuf {
        self.dir().join("work")
    }

    /// A `tokio::process::Command` for `go args...` with the hermetic env,
    /// `GOPROXY=goproxy` and `GOSUMDB=gosumdb`.
    pub fn command<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        goproxy: &str,
        gosumdb: &str,
    ) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.go);
        c.args(args)
            .current_dir(self.work_dir())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir().join("home"))
            .env("TMPDIR", self.dir().join("tmp"))
            .env("GOPROXY", goproxy)
            .env("GOSUMDB", gosumdb)
            .env("GONOSUMDB", "")
            .env("GOPRIVATE", "")
            .env("GONOPROXY", "")
            .env("GOINSECURE", "")
            .env("GOMODCACHE", self.modcache())
            .env("GOPATH", self.gopath())
            .env("GOCACHE", self.dir().join("gc"))
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-modcacherw")
            .env("GOENV", "off")
            .env("GOWORK", "off")
            .kill_on_drop(true);
        c
    }

    /// Runs `go args...` and collects its output.
    pub async fn run<S: AsRef<OsStr>>(&self, args: &[S], goproxy: &str, gosumdb: &str) -> GoOutput {
        let out = self
            .command(args, goproxy, gosumdb)
            .output()
            .await
            .unwrap_or_else(|e| panic!("running {}: {e}", self.go.display()));
        GoOutput {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Writes the main module `example.com/app` (go.mod and main.go) into `dir`,
/// requiring and blank-importing every `(module, version)` of `deps`.
pub fn write_app_module<'a>(dir: &Path, deps: impl IntoIterator<Item = (&'a str, &'a str)>) {
    std::fs::create_dir_all(dir).unwrap();
    let mut gomod = String::from("module example.com/app\n\ngo 1.21\n\nrequire (\n");
    let mut main = String::from("package main\n\nimport (\n");
    for (m, v) in deps {
        gomod.push_str(&format!("\t{m} {v}\n"));
        main.push_str(&format!("\t_ \"{m}\"\n"));
    }
    gomod.push_str(")\n");
    main.push_str(")\n\nfunc main() {}\n");
    std::fs::write(dir.join("go.mod"), gomod).unwrap();
    std::fs::write(dir.join("main.go"), main).unwrap();
}
