//! `modwarden sum` and `modwarden zip check` on files laid out like a GOMODCACHE.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use gomod::dirhash::{hash_gomod, hash_zip_file};
use gomod::zip::ZipBuilder;

fn modwarden() -> Command {
    Command::new(env!("CARGO_BIN_EXE_modwarden"))
}

fn write_zip(path: &Path, prefix: &str, extra: &[(&str, &[u8])]) {
    let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
    zb.add_file(&format!("{prefix}go.mod"), b"module example.com/Upper/m\n")
        .unwrap();
    for (n, d) in extra {
        zb.add_file(&format!("{prefix}{n}"), d).unwrap();
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, zb.finish().unwrap().into_inner()).unwrap();
}

#[test]
fn sum_infers_module_version_from_a_cache_path() {
    let d = tempfile::tempdir().unwrap();
    let vdir = d.path().join("cache/download/example.com/!upper/m/@v");
    let zip = vdir.join("v1.0.0-!r!c1.zip");
    write_zip(
        &zip,
        "example.com/Upper/m@v1.0.0-RC1/",
        &[("a.go", b"package m\n")],
    );
    std::fs::write(
        vdir.join("v1.0.0-!r!c1.mod"),
        b"module example.com/Upper/m\n",
    )
    .unwrap();
    let out = modwarden().arg("sum").arg(&zip).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!(
        "example.com/Upper/m v1.0.0-RC1 {}\nexample.com/Upper/m v1.0.0-RC1/go.mod {}\n",
        hash_zip_file(&zip).unwrap(),
        hash_gomod(b"module example.com/Upper/m\n")
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);

    // The .mod alone.
    let out = modwarden()
        .arg("sum")
        .arg(vdir.join("v1.0.0-!r!c1.mod"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "example.com/Upper/m v1.0.0-RC1/go.mod {}\n",
            hash_gomod(b"module example.com/Upper/m\n")
        )
    );
}

#[test]
fn sum_uses_the_zip_prefix_and_needs_flags_for_a_bare_gomod() {
    let d = tempfile::tempdir().unwrap();
    let zip = d.path().join("anything.zip");
    write_zip(&zip, "example.com/Upper/m@v1.2.3/", &[]);
    let out = modwarden().arg("sum").arg(&zip).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("example.com/Upper/m v1.2.3 h1:"));

    let gomod = d.path().join("go.mod");
    std::fs::write(&gomod, b"").unwrap();
    let out = modwarden().arg("sum").arg(&gomod).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("go.mod") && err.contains("--module"), "{err}");
    let out = modwarden()
        .args(["sum", "--module", "example.com/x", "--version", "v1.0.0"])
        .arg(&gomod)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "example.com/x v1.0.0/go.mod h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY=\n"
    );
}

#[test]
fn sum_of_a_missing_file_names_it_and_exits_2() {
    let out = modwarden()
        .args(["sum", "/nonexistent/x.zip"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.zip"));
}

#[test]
fn zip_check_lists_each_violation_and_exits_1() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.zip");
    write_zip(&good, "example.com/m@v1.0.0/", &[("a.go", b"package m\n")]);
    let out = modwarden()
        .args([
            "zip",
            "check",
            "--module",
            "example.com/m",
            "--version",
            "v1.0.0",
        ])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok"));

    let bad = d.path().join("bad.zip");
    write_zip(
        &bad,
        "example.com/m@v1.0.0/",
        &[
            ("a:b.go", b"x"),
            ("sub/go.mod", b"x"),
            ("A.go", b"x"),
            ("a.go", b"y"),
        ],
    );
    let out = modwarden()
        .args([
            "zip",
            "check",
            "--module",
            "example.com/m",
            "--version",
            "v1.0.0",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "invalid char ':'",
        "go.mod file not in module root directory",
        "case-insensitive file name collision",
        "3 problem(s)",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }

    let out = modwarden()
        .args([
            "zip",
            "check",
            "--module",
            "example.com/m",
            "--version",
            "v1.0",
        ])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not canonical"));
}
