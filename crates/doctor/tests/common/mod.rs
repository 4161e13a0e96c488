//! A fixture world for the doctor's end-to-end tests: a loopback GOPROXY and
//! test checksum database (testkit), a main module depending on five
//! fixture modules, and a GOMODCACHE filled by the real go command.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sumdb::server::TreeBuilder;
use testkit::fixtures::FixtureSet;
use testkit::go::GoSandbox;
use testkit::server::FixtureServer;

pub const DB_NAME: &str = "sumdb.modwarden.test";

pub const DEPS: &[(&str, &str)] = &[
    ("example.com/simple", "v1.1.0"),
    ("example.com/Upper/CaseMod", "v1.0.1-Beta.2"),
    ("example.com/major/v2", "v2.1.0"),
    ("example.com/incompat", "v2.0.0+incompatible"),
    ("example.com/pseudo", "v0.0.0-20240101120000-abcdefabcdef"),
];

pub struct World {
    pub srv: FixtureServer,
    pub vkey: String,
    pub go: GoSandbox,
    pub set: FixtureSet,
}

pub fn write_main_module(dir: &Path) {
    testkit::go::write_app_module(dir, DEPS.iter().copied());
}

impl World {
    /// Starts the upstream, writes the main module, and fills the cache
    /// with `go mod tidy` + `go build` (so directories are extracted too).
    pub async fn new() -> World {
        let set = FixtureSet::standard();
        let (mut db, vkey) = TreeBuilder::generate(DB_NAME).unwrap();
        set.add_to_sumdb(&mut db);
        let srv = FixtureServer::start(set.clone(), Some(db)).await;
        let go = GoSandbox::new();
        write_main_module(&go.work_dir());
        let w = World { srv, vkey, go, set };
        w.go_ok(&["mod", "tidy"]).await;
        w.go_ok(&["build", "-o", "/dev/null", "."]).await;
        w
    }

    pub fn goproxy(&self) -> String {
        self.srv.base_url()
    }

    pub async fn go(&self, args: &[&str]) -> testkit::go::GoOutput {
        self.go.run(args, &self.goproxy(), &self.vkey).await
    }

    pub async fn go_ok(&self, args: &[&str]) -> String {
        let out = self.go(args).await;
        assert!(
            out.success(),
            "go {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
            out.stdout,
            out.stderr
        );
        format!("{}{}", out.stdout, out.stderr)
    }

    /// The go command offline (GOPROXY=off): only the cache is used.
    pub async fn go_offline(&self, args: &[&str]) -> testkit::go::GoOutput {
        self.go.run(args, "off", &self.vkey).await
    }

    /// `go mod verify`, offline, must report every module verified.
    pub async fn assert_mod_verify(&self) {
        let verify = self.go_offline(&["mod", "verify"]).await;
        assert!(
            verify.stdout.contains("all modules verified"),
            "{}{}",
            verify.stdout,
            verify.stderr
        );
    }

    pub fn modcache(&self) -> PathBuf {
        self.go.modcache()
    }

    pub fn sumdb_state(&self) -> PathBuf {
        self.go.gopath().join("pkg/sumdb")
    }

    pub fn gosum(&self) -> doctor::gosum::GoSumFile {
        doctor::gosum::GoSumFile::read(&self.go.work_dir().join("go.sum"))
            .unwrap()
            .expect("go.sum exists")
    }

    pub fn scan_options(&self) -> doctor::cache::ScanOptions {
        let mut o = doctor::cache::ScanOptions::new(self.modcache());
        o.sumdb_state = Some(self.sumdb_state());
        o.gosum = Some(self.gosum());
        o
    }

    pub fn refetch_config(&self) -> doctor::repair::RefetchConfig {
        doctor::repair::RefetchConfig {
            goproxy: gomod::goenv::ProxyList::parse(&self.goproxy()).unwrap(),
            gosumdb: gomod::goenv::SumdbSpec::parse(&self.vkey).unwrap(),
            nosumdb: gomod::pattern::Patterns::parse(""),
            gosum: Some(self.gosum()),
            timeout: std::time::Duration::from_secs(10),
        }
    }

    /// A hermetic `env -i ... go args` command line for doctor's runners:
    /// PATH, [`World::go_env`], then [`World::go_in_work`].
    pub fn go_cmdline(&self, goproxy: &str, args: &[&str]) -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = vec!["env".into(), "-i".into()];
        let path = std::env::var_os("PATH").unwrap_or_default();
        let pairs = std::iter::once(("PATH".to_string(), path)).chain(self.go_env(goproxy));
        for (k, val) in pairs {
            let mut s = std::ffi::OsString::from(format!("{k}="));
            s.push(val);
            v.push(s);
        }
        v.extend(self.go_in_work(args));
        v
    }

    /// The hermetic environment of [`World::go_cmdline`], as pairs, for
    /// runners that set variables themselves (the sandbox).
    pub fn go_env(&self, goproxy: &str) -> Vec<(String, std::ffi::OsString)> {
        let d = self.go.dir();
        vec![
            ("HOME".into(), d.join("home").into()),
            ("TMPDIR".into(), d.join("tmp").into()),
            ("GOPROXY".into(), goproxy.into()),
            ("GOSUMDB".into(), self.vkey.clone().into()),
            ("GONOSUMDB".into(), "".into()),
            ("GOPRIVATE".into(), "".into()),
            ("GONOPROXY".into(), "".into()),
            ("GOINSECURE".into(), "".into()),
            ("GOMODCACHE".into(), self.modcache().into()),
            ("GOPATH".into(), self.go.gopath().into()),
            ("GOCACHE".into(), d.join("gc").into()),
            ("GOTOOLCHAIN".into(), "local".into()),
            ("GOFLAGS".into(), "-modcacherw".into()),
            ("GOENV".into(), "off".into()),
            ("GOWORK".into(), "off".into()),
        ]
    }

    /// `sh -c 'cd <work> && exec go args...'` (environment left to the caller).
    pub fn go_in_work(&self, args: &[&str]) -> Vec<std::ffi::OsString> {
        let mut script = format!(
            "cd '{}' && exec '{}'",
            self.go.work_dir().display(),
            testkit::go::go_binary().display()
        );
        for a in args {
            script.push_str(&format!(" '{a}'"));
        }
        vec!["sh".into(), "-c".into(), script.into()]
    }
}

/// `cp -a` (keeps modes and times).
pub fn copy_tree(from: &Path, to: &Path) {
    if to.exists() {
        make_writable_and_remove(to);
    }
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

pub fn make_writable_and_remove(p: &Path) {
    let _ = Command::new("chmod").arg("-R").arg("u+w").arg(p).status();
    std::fs::remove_dir_all(p).unwrap();
}
