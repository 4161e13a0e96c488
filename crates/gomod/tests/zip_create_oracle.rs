//! Differential test of module zip creation and checking against Go's own
//! `golang.org/x/mod/zip` (the copy vendored in the local Go toolchain, at
//! `$GOROOT/src/cmd/vendor/golang.org/x/mod`, built offline): for a set of
//! tricky source trees, `zip.CreateFromDir` and our `create_zip_from_dir`
//! must include the same files in the same order (so the same h1), or both
//! fail naming the same file; and `zip.CheckZip` must flag the same entries
//! as our checker on the invalid-zip corpus shapes.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::go_bin;
use gomod::dirhash::hash_zip_file;
use gomod::rawzip::ZipArchive;
use gomod::zip::{ZipBuilder, check_zip_file, create_zip_from_dir};

const GO_MAIN: &str = r#"package main

import (
	"fmt"
	"os"

	"xmodtest/xmod/module"
	"xmodtest/xmod/sumdb/dirhash"
	"xmodtest/xmod/zip"
)

func main() {
	m := module.Version{Path: os.Args[3], Version: os.Args[4]}
	switch os.Args[1] {
	case "create":
		f, err := os.Create(os.Args[5])
		if err != nil {
			panic(err)
		}
		if err := zip.CreateFromDir(f, m, os.Args[2]); err != nil {
			fmt.Println("ERR:" + err.Error())
			return
		}
		f.Close()
		h, err := dirhash.HashZip(os.Args[5], dirhash.Hash1)
		if err != nil {
			panic(err)
		}
		fmt.Println(h)
	case "check":
		cf, err := zip.CheckZip(m, os.Args[2])
		for _, e := range cf.Invalid {
			fmt.Printf("INVALID %s\t%v\n", e.Path, e.Err)
		}
		if cf.SizeError != nil {
			fmt.Println("SIZE", cf.SizeError)
		}
		if err != nil && len(cf.Invalid) == 0 && cf.SizeError == nil {
			fmt.Println("ERR", err)
		}
	}
}
"#;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else if entry.path().extension().is_some_and(|x| x == "go") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(
                dest,
                text.replace("\"golang.org/x/mod/", "\"xmodtest/xmod/"),
            )
            .unwrap();
        }
    }
}

fn go_env(cmd: &mut Command, root: &Path) {
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

fn build_go_helper(root: &Path) -> PathBuf {
    let go = go_bin();
    let mut cmd = Command::new(&go);
    cmd.args(["env", "GOROOT"]);
    go_env(&mut cmd, root);
    let out = cmd.output().unwrap();
    let goroot = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let vendor = goroot.join("src/cmd/vendor/golang.org/x/mod");
    assert!(vendor.is_dir(), "no vendored x/mod in {}", goroot.display());
    let src = root.join("src");
    for d in [
        "module",
        "semver",
        "modfile",
        "zip",
        "sumdb/dirhash",
        "internal/lazyregexp",
    ] {
        copy_dir(&vendor.join(d), &src.join("xmod").join(d));
    }
    std::fs::write(src.join("go.mod"), "module xmodtest\n\ngo 1.24\n").unwrap();
    std::fs::write(src.join("main.go"), GO_MAIN).unwrap();
    let bin = root.join("xmodtest");
    let mut cmd = Command::new(&go);
    cmd.arg("build")
        .arg("-o")
        .arg(&bin)
        .arg(".")
        .current_dir(&src);
    go_env(&mut cmd, root);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

fn entry_names(zip: &Path) -> Vec<String> {
    let z = ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    z.entries().iter().map(|e| e.name_lossy()).collect()
}

type Tree = (&'static str, Vec<(&'static str, &'static str)>);

fn trees() -> Vec<Tree> {
    vec![
        (
            "basic",
            vec![
                ("go.mod", "module example.com/m\n\ngo 1.22\n"),
                ("a.go", "package m\n"),
                ("a/b.go", "package a\n"),
                ("LICENSE", "MIT\n"),
            ],
        ),
        (
            "vendor123",
            vec![
                ("go.mod", "module example.com/m\n\ngo 1.23\n"),
                ("vendor/modules.txt", "# x\n"),
                ("vendor/example.com/x/x.go", "package x\n"),
                ("vendor/top.go", "package vendor\n"),
                ("pkg/vendor/vendor.go", "package vendor\n"),
                ("pkg/vendor/sub/s.go", "package sub\n"),
            ],
        ),
        (
            "vendor124",
            vec![
                ("go.mod", "module example.com/m\n\ngo 1.24.1\n"),
                ("vendor/modules.txt", "# x\n"),
                ("vendor/example.com/x/x.go", "package x\n"),
                ("pkg/vendor/vendor.go", "package vendor\n"),
                ("pkg/vendor/sub/s.go", "package sub\n"),
            ],
        ),
        (
            "nested",
            vec![
                ("go.mod", "module example.com/m\n"),
                ("sub/go.mod", "module example.com/m/sub\n"),
                ("sub/s.go", "package sub\n"),
                ("other/GO.MOD", "module x\n"),
                ("other/o.go", "package other\n"),
                (".git/config", "x"),
                (".hg/x", "x"),
                (".svn/x", "x"),
                (".bzr/x", "x"),
                (".hg_archival.txt", "repo\n"),
                ("deep/.hg_archival.txt", "kept\n"),
                ("a.go", "package m\n"),
            ],
        ),
        (
            "names",
            vec![
                ("go.mod", "module example.com/m\n"),
                ("dir with space/f !#$%&()+,-.=@[]^_{}~.txt", "x"),
                ("données/été.go", "package d\n"),
                ("a.go", "package m\n"),
                ("a-b/c.go", "package c\n"),
                ("a.b/c.go", "package c\n"),
            ],
        ),
        (
            "badchar",
            vec![("go.mod", "module example.com/m\n"), ("a:b.go", "x")],
        ),
        (
            "reserved",
            vec![("go.mod", "module example.com/m\n"), ("aux.go", "x")],
        ),
        (
            "gomodcase",
            vec![("GO.MOD", "module example.com/m\n"), ("a.go", "x")],
        ),
        (
            "collision",
            vec![
                ("go.mod", "module example.com/m\n"),
                ("A.go", "x"),
                ("a.go", "y"),
            ],
        ),
        (
            "nogomod",
            vec![("a.go", "package m\n"), ("vendor/x/y.go", "package y\n")],
        ),
    ]
}

/// One build of the Go helper serves both comparisons.
#[test]
fn creation_and_checking_match_golang_x_mod_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let helper = build_go_helper(tmp.path());
    create_from_dir_matches(&helper, tmp.path());
    check_zip_flags_the_same_entries(&helper, tmp.path());
}

fn create_from_dir_matches(helper: &Path, tmp: &Path) {
    let mut failures = Vec::new();
    for (name, files) in trees() {
        let dir = tmp.join("trees").join(name);
        for (p, data) in &files {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, data).unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink("a.go", dir.join("link.go")).unwrap();
        let go_zip = tmp.join(format!("{name}.go.zip"));
        let out = Command::new(helper)
            .arg("create")
            .arg(&dir)
            .args(["example.com/m", "v1.0.0"])
            .arg(&go_zip)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let go_out = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let our_zip = tmp.join(format!("{name}.ours.zip"));
        let ours = create_zip_from_dir(
            &dir,
            "example.com/m",
            "v1.0.0",
            std::fs::File::create(&our_zip).unwrap(),
        );
        match (go_out.strip_prefix("ERR:"), ours) {
            (None, Ok(_)) => {
                let (gn, on) = (entry_names(&go_zip), entry_names(&our_zip));
                if gn != on {
                    failures.push(format!(
                        "{name}: entries differ\n  go:   {gn:?}\n  ours: {on:?}"
                    ));
                }
                let h = hash_zip_file(&our_zip).unwrap();
                if h != go_out {
                    failures.push(format!("{name}: h1 go {go_out} ours {h}"));
                }
            }
            (Some(g), Err(e)) => {
                // Both refuse; the offending file and reason appear in both.
                let e = e.to_string();
                let g_reason = g.rsplit(": ").next().unwrap_or(g);
                if !e.contains(g_reason) {
                    failures.push(format!("{name}: go: {g}\n  ours: {e}"));
                }
            }
            (g, o) => failures.push(format!("{name}: go {g:?} vs ours {:?}", o.map(|r| r.files))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check_zip_flags_the_same_entries(helper: &Path, tmp: &Path) {
    let m = "example.com/m";
    let p = format!("{m}@v1.0.0/");
    let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
    for (n, d) in [
        (format!("{p}go.mod"), "module example.com/m\n"),
        (format!("{p}a:b.go"), "x"),
        (format!("{p}CON"), "x"),
        (format!("{p}X.go"), "x"),
        (format!("{p}x.go"), "x"),
        (format!("{p}sub/go.mod"), "x"),
        (format!("{p}sub/GO.MOD"), "x"),
        ("other@v1.0.0/z.go".to_string(), "x"),
        (format!("{p}f"), "x"),
        (format!("{p}f/g.go"), "x"),
        (format!("{p}d./e.go"), "x"),
        (format!("{p}a/../b.go"), "x"),
        (format!("{p}ok.go"), "x"),
        (format!("{p}ok.go"), "x"),
        (format!("{p}K.go"), "x"),
        (format!("{p}\u{212A}.go"), "x"),
    ] {
        zb.add_file(&n, d.as_bytes()).unwrap();
    }
    zb.add_dir(&format!("{p}emptydir/")).unwrap();
    let zp = tmp.join("bad.zip");
    std::fs::write(&zp, zb.finish().unwrap().into_inner()).unwrap();
    let out = Command::new(helper)
        .arg("check")
        .arg(&zp)
        .args([m, "v1.0.0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let go: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("INVALID "))
        .map(|l| {
            let (path, err) = l.split_once('\t').unwrap();
            format!("{path}: {err}")
        })
        .collect();
    let rep = check_zip_file(&zp, m, "v1.0.0").unwrap();
    let ours: Vec<String> = rep
        .violations
        .iter()
        .filter(|v| v.kind != gomod::zip::ViolationKind::Prefix)
        .map(|v| v.to_string())
        .collect();
    // Go's prefix message differs (we use the go command's wording), so compare those by entry.
    let go_non_prefix: Vec<String> = go
        .iter()
        .filter(|l| !l.contains("path does not have prefix"))
        .cloned()
        .collect();
    assert_eq!(ours, go_non_prefix);
    let go_prefix = go
        .iter()
        .filter(|l| l.contains("path does not have prefix"))
        .count();
    let our_prefix = rep
        .violations
        .iter()
        .filter(|v| v.kind == gomod::zip::ViolationKind::Prefix)
        .count();
    assert_eq!(go_prefix, our_prefix);
}
