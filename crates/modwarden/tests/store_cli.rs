//! The operator commands on a proxy store: `modwarden warm` through a real
//! `modwarden serve`, `modwarden verify` and `modwarden gc` on its store, and
//! clear exit-2 errors for bad input. Loopback only.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sumdb::server::TreeBuilder;
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::server::FixtureServer;

fn modwarden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modwarden"))
        .args(args)
        .env_remove("MODWARDEN_PROXY")
        .env_remove("MODWARDEN_STORE")
        .stdin(Stdio::null())
        .output()
        .expect("run modwarden")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(o)))
}

struct Serve {
    child: std::process::Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An upstream with `versions` and a checksum database, and a real
/// `modwarden serve` in front of it on a fresh store.
struct Setup {
    upstream: FixtureServer,
    serve: Serve,
    store: tempfile::TempDir,
}

impl Setup {
    async fn new(versions: &[ModuleVersion]) -> Setup {
        let mut set = FixtureSet::new();
        for v in versions {
            set.add(v.clone());
        }
        let (mut db, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
        set.add_to_sumdb(&mut db);
        let upstream = FixtureServer::start(set, Some(db)).await;
        let store = tempfile::tempdir().unwrap();
        let sumdb = format!("{vkey} {}/sumdb/sumdb.modwarden.test", upstream.base_url());
        let mut child = Command::new(env!("CARGO_BIN_EXE_modwarden"))
            .args(["serve", "--listen", "127.0.0.1:0", "--store"])
            .arg(store.path())
            .args(["--upstream", &upstream.base_url(), "--sumdb", &sumdb])
            // Every read goes to the store, so what the store lost is seen.
            .args(["--hot-cache-mib", "0"])
            .env("MODWARDEN_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start modwarden serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = testkit::util::read_listen_url(&mut lines, |_| {});
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Setup {
            upstream,
            serve: Serve { child, base },
            store,
        }
    }

    fn store_arg(&self) -> &str {
        self.store.path().to_str().unwrap()
    }

    /// `modwarden <args>` off the async runtime's threads.
    async fn run(args: Vec<String>) -> Output {
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            modwarden(&a)
        })
        .await
        .unwrap()
    }

    async fn warm(&self, items: &[&str]) -> Output {
        let mut args = vec![
            "warm".to_string(),
            "--proxy".into(),
            self.serve.base.clone(),
            "--jobs".into(),
            "2".into(),
        ];
        args.extend(items.iter().map(|s| s.to_string()));
        Self::run(args).await
    }

    async fn store_cmd(&self, cmd: &str, extra: &[&str]) -> Output {
        let mut args = vec![cmd.to_string(), "--store".into(), self.store_arg().into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::run(args).await
    }

    fn upstream_count(&self, module_escaped: &str, version: &str, ext: &str) -> u64 {
        self.upstream
            .request_count(&format!("/{module_escaped}/@v/{version}.{ext}"))
    }
}

fn blob_files(store: &Path, sub: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![store.join(sub)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_from_gosum_fills_the_store_once_then_verify_is_clean() {
    let simple = ModuleVersion::simple("example.com/simple", "v1.0.0");
    let upper = ModuleVersion::simple("example.com/Upper/CaseMod", "v1.0.1-Beta.2");
    let modonly = ModuleVersion::simple("example.com/modonly", "v1.2.0");
    let s = Setup::new(&[simple.clone(), upper.clone(), modonly.clone()]).await;

    let dir = tempfile::tempdir().unwrap();
    let gosum = dir.path().join("go.sum");
    std::fs::write(
        &gosum,
        format!(
            "{p} {v} {zh}\n{p} {v}/go.mod {mh}\n\n{u} {uv} {uzh}\n{u} {uv}/go.mod {umh}\n{o} {ov}/go.mod {omh}\n",
            p = simple.path,
            v = simple.version,
            zh = simple.zip_h1,
            mh = simple.gomod_h1,
            u = upper.path,
            uv = upper.version,
            uzh = upper.zip_h1,
            umh = upper.gomod_h1,
            o = modonly.path,
            ov = modonly.version,
            omh = modonly.gomod_h1,
        ),
    )
    .unwrap();
    let out = s.warm(&["--json", gosum.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = json(&out);
    assert_eq!(j["versions"], 3, "{j}");
    assert_eq!(j["ok"], 3, "{j}");
    assert_eq!(j["failed"], 0, "{j}");
    let modonly_files = j["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["module"] == "example.com/modonly")
        .unwrap()["files"]
        .clone();
    assert_eq!(modonly_files, serde_json::json!(["info", "mod"]), "{j}");

    // A go.mod naming a version already warm, in human output: no new upstream fetch.
    let gomod = dir.path().join("go.mod");
    std::fs::write(
        &gomod,
        format!(
            "module example.com/app\n\ngo 1.21\n\nrequire (\n\t{} {}\n)\n",
            simple.path, simple.version
        ),
    )
    .unwrap();
    let out = s.warm(&[gomod.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("warmed 1 of 1 versions"),
        "{}",
        text(&out)
    );

    for (m, v) in [
        ("example.com/simple", "v1.0.0"),
        ("example.com/!upper/!case!mod", "v1.0.1-!beta.2"),
    ] {
        for ext in ["info", "mod", "zip"] {
            assert_eq!(s.upstream_count(m, v, ext), 1, "{m}@{v}.{ext}");
        }
    }
    assert_eq!(
        s.upstream_count("example.com/modonly", "v1.2.0", "zip"),
        0,
        "a /go.mod-only line must not fetch the zip"
    );

    // verify while serve still runs on the same store.
    let out = s.store_cmd("verify", &["--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = json(&out);
    assert_eq!(j["clean"], true, "{j}");
    assert_eq!(j["stats"]["records"], 3, "{j}");
    // 2 zips, 3 .mod, 3 .info: 8 distinct blobs.
    assert_eq!(j["stats"]["blobs"], 8, "{j}");
    assert_eq!(j["scrub"]["blobs_checked"], 8, "{j}");
    assert!(j["scrub"]["bytes_checked"].as_u64().unwrap() > 0, "{j}");

    let out = s.store_cmd("verify", &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("blobs checked:   8"), "{t}");
    assert!(t.contains("OK:"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_is_found_quarantined_and_refetched() {
    let mv = ModuleVersion::simple("example.com/rot", "v1.0.0");
    let s = Setup::new(std::slice::from_ref(&mv)).await;
    let out = s.warm(&["example.com/rot@v1.0.0"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The zip is the largest blob.
    let blobs = blob_files(s.store.path(), "data");
    assert_eq!(blobs.len(), 3, "{blobs:?}");
    let zip = blobs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
        .clone();
    let mut bytes = std::fs::read(&zip).unwrap();
    assert_eq!(bytes, mv.zip);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&zip, &bytes).unwrap();

    let out = s.store_cmd("verify", &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(t.contains(&zip.display().to_string()), "{t}");
    assert!(t.contains("corrupt blobs:   1"), "{t}");
    assert!(t.contains("quarantine"), "{t}");
    assert!(t.contains("dangling records: 1"), "{t}");
    assert!(t.contains("example.com/rot@v1.0.0"), "{t}");
    assert!(!zip.exists(), "the corrupt blob is still in place");
    let q = blob_files(s.store.path(), "quarantine");
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(std::fs::read(&q[0]).unwrap(), bytes);

    // serve fetches the version again; then the store is clean.
    let r = reqwest::get(format!("{}/example.com/rot/@v/v1.0.0.zip", s.serve.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), mv.zip.as_slice());
    assert_eq!(s.upstream_count("example.com/rot", "v1.0.0", "zip"), 2);

    let out = s.store_cmd("verify", &["--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = json(&out);
    assert_eq!(j["clean"], true, "{j}");
    assert_eq!(j["scrub"]["blobs_checked"], 3, "{j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_dry_run_removes_nothing_and_module_pattern_removes_only_that_module() {
    let versions = [
        ModuleVersion::simple("example.com/simple", "v1.0.0"),
        ModuleVersion::simple("example.com/simple", "v1.1.0"),
        ModuleVersion::simple("example.com/other", "v1.0.0"),
    ];
    let s = Setup::new(&versions).await;
    let out = s
        .warm(&[
            "example.com/simple@v1.0.0",
            "example.com/simple@v1.1.0",
            "example.com/other@v1.0.0",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Identical go.mod files are one blob.
    let before = blob_files(s.store.path(), "data").len();
    assert!(before >= 7, "{before}");

    // No criterion: only old orphans go, and the output says so.
    let out = s.store_cmd("gc", &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("no criterion given"), "{t}");
    assert_eq!(blob_files(s.store.path(), "data").len(), before);

    let out = s
        .store_cmd("gc", &["--max-size", "0", "--dry-run", "--json"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = json(&out);
    assert_eq!(j["dry_run"], true, "{j}");
    assert_eq!(j["records_by_size"].as_array().unwrap().len(), 3, "{j}");
    assert_eq!(j["blobs_removed"], before, "{j}");
    assert!(j["bytes_freed"].as_u64().unwrap() > 0, "{j}");
    assert_eq!(j["bytes_after"], 0, "{j}");
    let out = s.store_cmd("gc", &["--max-size", "0", "--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("DRY RUN"),
        "{}",
        text(&out)
    );
    assert_eq!(blob_files(s.store.path(), "data").len(), before);
    let out = s.store_cmd("verify", &["--json"]).await;
    assert_eq!(json(&out)["stats"]["records"], 3, "{}", text(&out));

    let out = s
        .store_cmd("gc", &["--module", "example.com/simple", "--json"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = json(&out);
    assert_eq!(j["dry_run"], false, "{j}");
    let removed: Vec<String> = j["records_by_module"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            format!(
                "{}@{}",
                k["module"].as_str().unwrap(),
                k["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(removed.len(), 2, "{j}");
    assert!(
        removed.iter().all(|k| k.starts_with("example.com/simple@")),
        "{j}"
    );
    assert_eq!(j["blobs_removed"], before - 3, "{j}");
    assert_eq!(blob_files(s.store.path(), "data").len(), 3);
    let out = s.store_cmd("verify", &["--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["stats"]["records"], 1, "{}", text(&out));

    // The other module is still served from the store; the removed one is fetched again.
    let r = reqwest::get(format!("{}/example.com/other/@v/v1.0.0.zip", s.serve.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.upstream_count("example.com/other", "v1.0.0", "zip"), 1);
    let r = reqwest::get(format!("{}/example.com/simple/@v/v1.0.0.zip", s.serve.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        versions[0].zip.as_slice()
    );
    assert_eq!(s.upstream_count("example.com/simple", "v1.0.0", "zip"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_reports_each_failure_with_status_and_body() {
    let mut set = FixtureSet::new();
    set.add(ModuleVersion::simple("example.com/there", "v1.0.0"));
    let upstream = FixtureServer::start(set, None).await;
    let base = upstream.base_url();
    let out = tokio::task::spawn_blocking(move || {
        modwarden(&[
            "warm",
            "--proxy",
            &base,
            "example.com/there@v1.0.0",
            "example.com/missing@v1.0.0",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    let line = t
        .lines()
        .find(|l| l.starts_with("FAILED example.com/missing@v1.0.0"))
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert!(line.contains("404") || line.contains("410"), "{line}");
    assert!(t.contains("warmed 1 of 2 versions"), "{t}");
    assert!(!t.contains("FAILED example.com/there"), "{t}");
}

fn assert_usage_error(out: &Output, names: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "{}", text(out));
    let err = String::from_utf8_lossy(&out.stderr);
    for n in names {
        assert!(err.contains(n), "{n:?} not named:\n{}", text(out));
    }
}

#[test]
fn bad_inputs_exit_2_naming_the_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-store");
    let missing_s = missing.to_str().unwrap();
    for cmd in ["verify", "gc"] {
        let out = modwarden(&[cmd, "--store", missing_s]);
        assert_usage_error(&out, &[missing_s, "does not exist"]);
        assert!(!missing.exists(), "{cmd} created the store");
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = modwarden(&["verify", "--store", empty.to_str().unwrap()]);
    assert_usage_error(&out, &[empty.to_str().unwrap(), "not a modwarden store"]);
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "verify wrote into it"
    );

    let out = modwarden(&["gc", "--store", missing_s, "--max-size", "10X"]);
    assert_usage_error(&out, &["--max-size", "\"10X\"", "5G = 5GiB"]);
    // A number without a unit is refused (clean --older-than once read it as days).
    let out = modwarden(&["gc", "--store", missing_s, "--unused-for", "30"]);
    assert_usage_error(&out, &["--unused-for", "\"30\"", "30d"]);
    let out = modwarden(&[
        "clean",
        "--modcache",
        missing_s,
        "--dry-run",
        "--older-than",
        "5x",
    ]);
    assert_usage_error(&out, &["--older-than", "\"5x\"", "30d"]);
    let out = modwarden(&[
        "clean",
        "--modcache",
        missing_s,
        "--dry-run",
        "--max-size",
        "5Gi",
    ]);
    assert_usage_error(&out, &["--max-size", "\"5Gi\"", "5GB = 5000000000"]);

    let out = modwarden(&[
        "warm",
        "--proxy",
        "http://127.0.0.1:9",
        "example.com/m@latest",
    ]);
    assert_usage_error(&out, &["example.com/m@latest"]);
    let out = modwarden(&["warm", "--proxy", "http://127.0.0.1:9", "nodot@v1.0.0"]);
    assert_usage_error(&out, &["nodot@v1.0.0"]);
    let out = modwarden(&["warm", "--proxy", "http://127.0.0.1:9", "no-such-file.sum"]);
    assert_usage_error(&out, &["no-such-file.sum"]);

    let gosum = dir.path().join("go.sum");
    std::fs::write(
        &gosum,
        "example.com/a v1.0.0 h1:x=\nthis line is no go.sum syntax\n",
    )
    .unwrap();
    let out = modwarden(&[
        "warm",
        "--proxy",
        "http://127.0.0.1:9",
        gosum.to_str().unwrap(),
    ]);
    assert_usage_error(&out, &["go.sum:2", "this line is no go.sum syntax"]);

    // No --proxy, no MODWARDEN_PROXY, no go command: ask for --proxy.
    let out = Command::new(env!("CARGO_BIN_EXE_modwarden"))
        .args(["warm", "example.com/a@v1.0.0"])
        .env_remove("MODWARDEN_PROXY")
        .env("MODWARDEN_GO", dir.path().join("no-go"))
        .output()
        .unwrap();
    assert_usage_error(&out, &["--proxy"]);
    let out = modwarden(&[
        "warm",
        "--proxy",
        "ftp://127.0.0.1/",
        "example.com/a@v1.0.0",
    ]);
    assert_usage_error(&out, &["ftp://127.0.0.1/"]);
}

/// `serve` notes when each version was last served and writes it at
/// shutdown; gc's least-recently-used order follows it, so a version served
/// just now outlives one fetched later but never asked for again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_a_version_protects_it_from_gc() {
    let versions = [
        ModuleVersion::simple("example.com/served", "v1.0.0"),
        ModuleVersion::simple("example.com/idle", "v1.0.0"),
    ];
    let mut s = Setup::new(&versions).await;
    // Access times have a resolution of one second.
    let out = s.warm(&["example.com/served@v1.0.0"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let out = s.warm(&["example.com/idle@v1.0.0"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = reqwest::get(format!("{}/example.com/served/@v/v1.0.0.mod", s.serve.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A graceful stop flushes the access times.
    let pid = s.serve.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = s.serve.child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");

    let out = s
        .store_cmd("gc", &["--max-size", "0", "--dry-run", "--json"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = json(&out);
    let order: Vec<&str> = j["records_by_size"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["module"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["example.com/idle", "example.com/served"],
        "least recently used first: {j}"
    );
    // Nothing here has gone unused for an hour.
    let out = s.store_cmd("gc", &["--unused-for", "1h", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        json(&out)["records_by_age"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "nothing is unused for an hour: {}",
        text(&out)
    );
}
