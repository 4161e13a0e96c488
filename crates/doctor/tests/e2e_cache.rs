//! End to end with the real go command: a GOMODCACHE filled by go from the
//! testkit upstream; each failure mode injected one at a time into a fresh
//! copy; the doctor must report exactly that problem (right kind, right
//! module) and nothing on the healthy rest; `--fix` (with refetch where the
//! cache alone cannot heal) repairs it; then `go mod verify` prints "all
//! modules verified" and `go build` works offline.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{World, copy_tree};
use doctor::NoReporter;
use doctor::cache::{self, Kind, Severity};
use doctor::repair;

fn vdir(mc: &Path, esc_mod: &str) -> PathBuf {
    mc.join("cache/download").join(esc_mod).join("@v")
}

fn find_file(root: &Path, needle: &str) -> PathBuf {
    fn walk(d: &Path, needle: &str) -> Option<PathBuf> {
        let mut es: Vec<_> = fs::read_dir(d).ok()?.filter_map(Result::ok).collect();
        es.sort_by_key(|e| e.file_name());
        for e in es {
            let p = e.path();
            if p.is_dir() {
                if let Some(f) = walk(&p, needle) {
                    return Some(f);
                }
            } else if p.to_string_lossy().contains(needle) {
                return Some(p);
            }
        }
        None
    }
    walk(root, needle)
        .unwrap_or_else(|| panic!("no file matching {needle} under {}", root.display()))
}

fn write(p: &Path, data: impl AsRef<[u8]>) {
    fs::write(p, data).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
}

type Inject = Box<dyn Fn(&Path, &Path, &World)>;

struct Case {
    name: &'static str,
    kind: Kind,
    id: Option<&'static str>,
    inject: Inject,
}

fn cases() -> Vec<Case> {
    let simple = |mc: &Path| vdir(mc, "example.com/simple");
    vec![
        Case {
            name: "temp file left by an interrupted zip download",
            kind: Kind::TempLeftover,
            id: Some("example.com/simple@v1.1.0"),
            inject: Box::new(move |mc, _, _| {
                write(
                    &simple(mc).join("v1.1.0.zip3141592.tmp"),
                    b"PK\x03\x04half a download",
                )
            }),
        },
        Case {
            name: "interrupted extraction (.partial and a half-filled directory)",
            kind: Kind::PartialExtraction,
            id: Some("example.com/Upper/CaseMod@v1.0.1-Beta.2"),
            inject: Box::new(|mc, _, _| {
                write(
                    &vdir(mc, "example.com/!upper/!case!mod").join("v1.0.1-!beta.2.partial"),
                    b"",
                );
                fs::remove_file(mc.join("example.com/!upper/!case!mod@v1.0.1-!beta.2/README.md"))
                    .unwrap();
            }),
        },
        Case {
            name: "zip that is not a zip",
            kind: Kind::ZipInvalid,
            id: Some("example.com/simple@v1.1.0"),
            inject: Box::new(move |mc, _, _| {
                write(
                    &simple(mc).join("v1.1.0.zip"),
                    "<html>captive portal</html>",
                )
            }),
        },
        Case {
            name: "truncated zip",
            kind: Kind::ZipTruncated,
            id: Some("example.com/major/v2@v2.1.0"),
            inject: Box::new(|mc, _, _| {
                let p = vdir(mc, "example.com/major/v2").join("v2.1.0.zip");
                let data = fs::read(&p).unwrap();
                write(&p, &data[..data.len() / 2]);
            }),
        },
        Case {
            name: "zip with a file outside module@version/",
            kind: Kind::ZipUnexpectedFile,
            id: Some("example.com/simple@v1.1.0"),
            inject: Box::new(move |mc, _, _| {
                let mut b = gomod::zip::ZipBuilder::new(std::io::Cursor::new(Vec::new()));
                b.add_file(
                    "example.com/simple@v1.1.0/go.mod",
                    b"module example.com/simple\n",
                )
                .unwrap();
                b.add_file("evil/payload.go", b"package evil\n").unwrap();
                write(
                    &simple(mc).join("v1.1.0.zip"),
                    b.finish().unwrap().into_inner(),
                );
            }),
        },
        Case {
            name: "ziphash missing",
            kind: Kind::ZiphashMissing,
            id: Some("example.com/pseudo@v0.0.0-20240101120000-abcdefabcdef"),
            inject: Box::new(|mc, _, _| {
                fs::remove_file(
                    vdir(mc, "example.com/pseudo")
                        .join("v0.0.0-20240101120000-abcdefabcdef.ziphash"),
                )
                .unwrap()
            }),
        },
        Case {
            name: "torn ziphash",
            kind: Kind::ZiphashTorn,
            id: Some("example.com/simple@v1.1.0"),
            inject: Box::new(move |mc, _, _| {
                write(&simple(mc).join("v1.1.0.ziphash"), "h1:Qm9yaw")
            }),
        },
        Case {
            name: "ziphash not matching the zip",
            kind: Kind::ZiphashMismatch,
            id: Some("example.com/incompat@v2.0.0+incompatible"),
            inject: Box::new(|mc, _, w| {
                let other = &w.set.get("example.com/simple", "v1.0.0").unwrap().zip_h1;
                write(
                    &vdir(mc, "example.com/incompat").join("v2.0.0+incompatible.ziphash"),
                    other,
                );
            }),
        },
        Case {
            name: ".info that is not JSON",
            kind: Kind::InfoUnreadable,
            id: Some("example.com/simple@v1.1.0"),
            inject: Box::new(move |mc, _, _| {
                write(&simple(mc).join("v1.1.0.info"), "{\"Version\":")
            }),
        },
        Case {
            name: ".info naming another version",
            kind: Kind::InfoWrongVersion,
            id: Some("example.com/major/v2@v2.1.0"),
            inject: Box::new(|mc, _, _| {
                write(
                    &vdir(mc, "example.com/major/v2").join("v2.1.0.info"),
                    r#"{"Version":"v2.0.0","Time":"2024-01-01T00:00:00Z"}"#,
                )
            }),
        },
        Case {
            name: ".mod not matching go.sum",
            kind: Kind::GoSumModMismatch,
            id: Some("example.com/simple@v1.1.0"),
            inject: Box::new(move |mc, _, _| {
                write(
                    &simple(mc).join("v1.1.0.mod"),
                    "module example.com/simple\n\ngo 1.21\n\nrequire example.com/evil v1.0.0\n",
                )
            }),
        },
        Case {
            name: "zip and ziphash consistent with each other but not with go.sum",
            kind: Kind::GoSumZipMismatch,
            id: Some("example.com/simple@v1.1.0"),
            inject: Box::new(move |mc, _, _| {
                let evil = testkit::fixtures::ModuleVersion::from_files(
                    "example.com/simple",
                    "v1.1.0",
                    &[
                        ("go.mod", b"module example.com/simple\n".as_slice()),
                        ("evil.go", b"package simple\n".as_slice()),
                    ],
                );
                write(&simple(mc).join("v1.1.0.zip"), &evil.zip);
                write(&simple(mc).join("v1.1.0.ziphash"), &evil.zip_h1);
                common::make_writable_and_remove(&mc.join("example.com/simple@v1.1.0"));
            }),
        },
        Case {
            name: "extracted directory modified",
            kind: Kind::DirModified,
            id: Some("example.com/Upper/CaseMod@v1.0.1-Beta.2"),
            inject: Box::new(|mc, _, _| {
                let d = mc.join("example.com/!upper/!case!mod@v1.0.1-!beta.2");
                write(
                    &d.join("casemod.go"),
                    "package casemod\n\nfunc init() { panic(\"tampered\") }\n",
                );
            }),
        },
        Case {
            name: "extracted directory without zip or ziphash",
            kind: Kind::DirWithoutZiphash,
            id: Some("example.com/simple@v1.0.0"),
            inject: Box::new(|mc, _, _| {
                let st = std::process::Command::new("cp")
                    .arg("-a")
                    .arg(mc.join("example.com/simple@v1.1.0"))
                    .arg(mc.join("example.com/simple@v1.0.0"))
                    .status()
                    .unwrap();
                assert!(st.success());
            }),
        },
        Case {
            name: "empty checksum-database cache file",
            kind: Kind::SumdbCacheEmpty,
            id: None,
            inject: Box::new(|mc, _, _| {
                let p = find_file(&mc.join("cache/download/sumdb"), "/lookup/");
                write(&p, "");
            }),
        },
        Case {
            name: "checksum-database tile of the wrong size",
            kind: Kind::SumdbCacheCorrupt,
            id: None,
            inject: Box::new(|mc, _, _| {
                let p = find_file(&mc.join("cache/download/sumdb"), "/tile/8/0/");
                let data = fs::read(&p).unwrap();
                write(&p, &data[..data.len() - 7]);
            }),
        },
        Case {
            name: "malformed latest tree note",
            kind: Kind::SumdbLatestMalformed,
            id: None,
            inject: Box::new(|_, state, _| {
                let p = state.join(common::DB_NAME).join("latest");
                let data = fs::read_to_string(&p).unwrap();
                write(
                    &p,
                    data.replacen(
                        "go.sum database tree\n",
                        "go.sum database tree\nnot-a-number\n",
                        1,
                    ),
                );
            }),
        },
    ]
}

fn redact(s: &str, mc: &Path, state: &Path, sandbox: &Path) -> String {
    s.replace(&mc.display().to_string(), "[GOMODCACHE]")
        .replace(&state.display().to_string(), "[SUMDB_STATE]")
        .replace(&sandbox.display().to_string(), "[SANDBOX]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_injected_failure_is_found_exactly_and_repaired() {
    let w = World::new().await;
    let mc = w.modcache();
    let state = w.sumdb_state();
    let pristine = w.go.dir().join("pristine-mc");
    let pristine_state = w.go.dir().join("pristine-state");
    copy_tree(&mc, &pristine);
    copy_tree(&state, &pristine_state);
    assert!(
        mc.join("cache/download/sumdb").is_dir(),
        "go cached no checksum-database files"
    );

    // No false positive on a healthy cache.
    let healthy = cache::scan(&w.scan_options(), &NoReporter).unwrap();
    assert!(healthy.findings.is_empty(), "{:#?}", healthy.findings);
    assert!(
        healthy.versions >= 5 && healthy.zips >= 5 && healthy.dirs >= 5,
        "{healthy:#?}"
    );

    let mut rendered = String::new();
    let mut kinds = Vec::new();
    for case in cases() {
        copy_tree(&pristine, &mc);
        copy_tree(&pristine_state, &state);
        (case.inject)(&mc, &state, &w);

        let report = cache::scan(&w.scan_options(), &NoReporter).unwrap();
        assert_eq!(
            report.findings.len(),
            1,
            "{}: {:#?}",
            case.name,
            report.findings
        );
        let f = &report.findings[0];
        assert_eq!(f.kind, case.kind, "{}: {f:#?}", case.name);
        assert_eq!(f.severity, Severity::Problem, "{}", case.name);
        if let Some(id) = case.id {
            assert_eq!(f.id().as_deref(), Some(id), "{}: {f:#?}", case.name);
        }
        kinds.push(f.kind);
        rendered.push_str(&format!("## {}\n", case.name));
        rendered.push_str(&redact(
            &doctor::render::scan(&report),
            &mc,
            &state,
            w.go.dir(),
        ));

        // --json: the report parses back with the same kind.
        let json = serde_json::to_string(&report).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v["findings"][0]["kind"],
            case.kind.as_str(),
            "{}",
            case.name
        );
        assert_eq!(v["findings"][0]["severity"], "problem");

        // --fix --refetch.
        let (fix, todo) = repair::remove_broken(&report, Duration::from_secs(5), &NoReporter);
        assert!(fix.all_ok(), "{}: {fix:#?}", case.name);
        assert!(!fix.actions.is_empty(), "{}: nothing removed", case.name);
        let refetched = repair::refetch(
            &mc,
            &todo,
            &w.refetch_config(),
            Duration::from_secs(5),
            &NoReporter,
        )
        .await;
        assert!(
            refetched
                .iter()
                .all(|a| a.action == repair::ActionKind::Refetched),
            "{}: {refetched:#?}",
            case.name
        );
        let mut shown = fix.clone();
        shown.actions.extend(refetched.iter().cloned());
        shown.needs_download.clear();
        rendered.push_str(&redact(
            &doctor::render::fix(&shown),
            &mc,
            &state,
            w.go.dir(),
        ));
        let after = cache::scan(&w.scan_options(), &NoReporter).unwrap();
        assert!(
            !after.has_problems(),
            "{}: after fix: {:#?}",
            case.name,
            after.findings
        );

        let verify = w.go_offline(&["mod", "verify"]).await;
        assert!(
            verify.success() && verify.stdout.contains("all modules verified"),
            "{}: go mod verify after fix:\n{}{}",
            case.name,
            verify.stdout,
            verify.stderr
        );
        let build = w.go_offline(&["build", "-o", "/dev/null", "."]).await;
        assert!(
            build.success(),
            "{}: offline go build after fix:\n{}",
            case.name,
            build.stderr
        );
    }
    kinds.sort();
    kinds.dedup();
    assert!(kinds.len() >= 12, "{kinds:?}");
    insta::assert_snapshot!("injected_findings", rendered);
    fix_never_follows_a_symlink_out_of_the_cache(&w, &pristine);
}

/// Shares the first test's world (building one costs seconds).
fn fix_never_follows_a_symlink_out_of_the_cache(w: &World, pristine: &Path) {
    let mc = w.modcache();
    copy_tree(pristine, &mc);
    let outside = w.go.dir().join("precious");
    fs::create_dir_all(&outside).unwrap();
    write(&outside.join("keep.txt"), "keep");
    // A broken entry whose extracted directory is a symlink to outside.
    let d = mc.join("example.com/simple@v1.1.0");
    common::make_writable_and_remove(&d);
    std::os::unix::fs::symlink(&outside, &d).unwrap();
    write(
        &vdir(&mc, "example.com/simple").join("v1.1.0.zip"),
        "not a zip",
    );
    let report = cache::scan(&w.scan_options(), &NoReporter).unwrap();
    assert!(
        report.problems().any(|f| f.kind == Kind::ZipInvalid),
        "{:#?}",
        report.findings
    );
    let (fix, _) = repair::remove_broken(&report, Duration::from_secs(5), &NoReporter);
    assert!(fix.all_ok(), "{fix:#?}");
    assert!(outside.join("keep.txt").exists(), "followed the symlink");
    assert!(
        fs::symlink_metadata(&d).is_err(),
        "the symlink itself should be gone"
    );
}

/// Without a go.sum, `--refetch` verifies what it downloads with the checksum
/// database, reached as the go command does (the proxy's
/// `/sumdb/<name>/supported`), through `upstream::SumdbTransport`: a
/// database answer that fails once (503) is retried, not a failed repair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refetch_without_go_sum_is_verified_by_the_checksum_database_with_retries() {
    let w = World::new().await;
    let mc = w.modcache();
    write(
        &vdir(&mc, "example.com/simple").join("v1.1.0.zip"),
        "<html>captive portal</html>",
    );
    let mut opts = w.scan_options();
    opts.gosum = None;
    let report = cache::scan(&opts, &NoReporter).unwrap();
    let (fix, todo) = repair::remove_broken(&report, Duration::from_secs(5), &NoReporter);
    assert!(fix.all_ok() && todo.len() == 1, "{fix:#?} {todo:#?}");

    let db = common::DB_NAME;
    let supported = format!("/sumdb/{db}/supported");
    let lookup = format!("/sumdb/{db}/lookup/example.com/simple@v1.1.0");
    // The go command asked these too, while filling the cache.
    let (supported_before, lookup_before) = (
        w.srv.request_count(&supported),
        w.srv.request_count(&lookup),
    );
    let first = lookup.clone();
    w.srv.set_hook(std::sync::Arc::new(
        move |r: &testkit::server::RequestInfo| {
            if r.path == first && r.count == lookup_before + 1 {
                testkit::server::Behaviour::Status(503)
            } else {
                testkit::server::Behaviour::Normal
            }
        },
    ));
    let mut cfg = w.refetch_config();
    cfg.gosum = None;
    let acts = repair::refetch(&mc, &todo, &cfg, Duration::from_secs(5), &NoReporter).await;
    assert!(
        acts.iter()
            .all(|a| a.action == repair::ActionKind::Refetched)
            && acts
                .iter()
                .any(|a| a.detail == "verified against the checksum database"),
        "{acts:#?}"
    );
    assert_eq!(w.srv.request_count(&supported) - supported_before, 1);
    assert_eq!(
        w.srv.request_count(&lookup) - lookup_before,
        2,
        "the 503 was retried: {:?}",
        w.srv.request_log()
    );
    w.assert_mod_verify().await;
}
