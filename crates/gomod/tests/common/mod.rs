//! Shared test helpers: a GOPROXY=file:// tree and a hermetic `go` runner.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

use gomod::escape::escape_string;

/// The go command: `$MODWARDEN_GO`, else `go` on PATH. Fails loudly if missing.
pub fn go_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MODWARDEN_GO") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join("go");
        if cand.is_file() {
            return cand;
        }
    }
    panic!("these tests need the go command: set MODWARDEN_GO or put `go` on PATH");
}

/// A file:// module proxy in a temp directory.
pub struct FileProxy {
    pub dir: tempfile::TempDir,
}

impl FileProxy {
    pub fn new() -> Self {
        FileProxy {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    fn vdir(&self, module: &str) -> PathBuf {
        let d = self.dir.path().join(escape_string(module)).join("@v");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Publishes module@version with the given .mod and .zip bytes.
    pub fn add(&self, module: &str, version: &str, gomod: &[u8], zip: &[u8]) -> PathBuf {
        let d = self.vdir(module);
        let ev = escape_string(version);
        let mut list = std::fs::read_to_string(d.join("list")).unwrap_or_default();
        list.push_str(version);
        list.push('\n');
        std::fs::write(d.join("list"), list).unwrap();
        std::fs::write(
            d.join(format!("{ev}.info")),
            format!("{{\"Version\":\"{version}\",\"Time\":\"2019-11-09T02:19:31Z\"}}"),
        )
        .unwrap();
        std::fs::write(d.join(format!("{ev}.mod")), gomod).unwrap();
        let zp = d.join(format!("{ev}.zip"));
        std::fs::write(&zp, zip).unwrap();
        zp
    }
}

/// The outcome of one `go mod download -json` run.
pub struct Download {
    pub status: std::process::ExitStatus,
    pub stderr: String,
    pub objects: Vec<serde_json::Value>,
    pub modcache: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Runs `go mod download -json args...` hermetically against `proxy`.
pub fn go_mod_download(proxy: &str, args: &[String]) -> Download {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let modcache = tmp.path().join("gomodcache");
    let out = Command::new(go_bin())
        .args(["mod", "download", "-json"])
        .args(args)
        .current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", tmp.path())
        .env("GOPROXY", proxy)
        .env("GOSUMDB", "off")
        .env("GONOSUMDB", "*")
        .env("GOPRIVATE", "")
        .env("GONOPROXY", "")
        .env("GOINSECURE", "")
        .env("GOFLAGS", "-modcacherw")
        .env("GOTOOLCHAIN", "local")
        .env("GOENV", "off")
        .env("GOWORK", "off")
        .env("GO111MODULE", "on")
        .env("GOMODCACHE", &modcache)
        .env("GOPATH", tmp.path().join("gopath"))
        .env("GOCACHE", tmp.path().join("gocache"))
        .output()
        .expect("running go mod download");
    let objects = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<serde_json::Value>()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| {
            panic!(
                "go printed invalid JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
    Download {
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        objects,
        modcache,
        _tmp: tmp,
    }
}

pub fn field<'a>(o: &'a serde_json::Value, k: &str) -> &'a str {
    o.get(k).and_then(|v| v.as_str()).unwrap_or("")
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// Runs `go args...` in `dir` hermetically against `proxy`, with caches under `cache`.
pub fn run_go_in(dir: &Path, cache: &Path, proxy: &str, args: &[&str]) -> std::process::Output {
    Command::new(go_bin())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cache)
        .env("GOPROXY", proxy)
        .env("GOSUMDB", "off")
        .env("GONOSUMDB", "*")
        .env("GOPRIVATE", "")
        .env("GONOPROXY", "")
        .env("GOINSECURE", "")
        .env("GOFLAGS", "-modcacherw")
        .env("GOTOOLCHAIN", "local")
        .env("GOENV", "off")
        .env("GOWORK", "off")
        .env("GO111MODULE", "on")
        .env("GOMODCACHE", cache.join("gomodcache"))
        .env("GOPATH", cache.join("gopath"))
        .env("GOCACHE", cache.join("gocache"))
        .output()
        .expect("running go")
}

/// Environment of a hermetic, offline `go` run whose caches live under `root`.
pub fn offline_go_env(cmd: &mut Command, root: &Path) {
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .env("GOENV", "off")
        .env("GOWORK", "off")
        .env("CGO_ENABLED", "0")
        .env("GOPATH", root.join("gopath"))
        .env("GOMODCACHE", root.join("gopath/pkg/mod"))
        .env("GOCACHE", root.join("gocache"));
}

/// Builds a Go program (`main_src`, module `module`) against the copy of
/// golang.org/x/mod vendored in the local toolchain (packages `dirs`), so
/// differential tests run offline. Returns the binary, under `root`.
pub fn build_with_vendored_xmod(
    root: &Path,
    module: &str,
    dirs: &[&str],
    main_src: &str,
) -> PathBuf {
    let go = go_bin();
    let mut cmd = Command::new(&go);
    cmd.args(["env", "GOROOT"]);
    offline_go_env(&mut cmd, root);
    let out = cmd.output().expect("running `go env GOROOT`");
    assert!(out.status.success(), "go env GOROOT failed");
    let goroot = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let vendor = goroot.join("src/cmd/vendor/golang.org/x/mod");
    assert!(
        vendor.is_dir(),
        "the Go toolchain at {} has no vendored golang.org/x/mod",
        goroot.display()
    );
    let src = root.join("src");
    let rewrite = format!("\"{module}/xmod/");
    for d in dirs {
        copy_go_files(&vendor.join(d), &src.join("xmod").join(d), &rewrite);
    }
    std::fs::write(src.join("go.mod"), format!("module {module}\n\ngo 1.24\n")).unwrap();
    std::fs::write(src.join("main.go"), main_src).unwrap();
    let bin = root.join(module);
    let mut cmd = Command::new(&go);
    cmd.arg("build")
        .arg("-o")
        .arg(&bin)
        .arg(".")
        .current_dir(&src);
    offline_go_env(&mut cmd, root);
    let out = cmd.output().expect("running `go build`");
    assert!(
        out.status.success(),
        "go build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Copies the .go files of a tree, rewriting `"golang.org/x/mod/` imports
/// to `rewrite`.
fn copy_go_files(from: &Path, to: &Path, rewrite: &str) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_go_files(&entry.path(), &dest, rewrite);
        } else if entry.path().extension().is_some_and(|x| x == "go") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(dest, text.replace("\"golang.org/x/mod/", rewrite)).unwrap();
        }
    }
}
