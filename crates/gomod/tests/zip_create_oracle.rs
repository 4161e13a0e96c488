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

use gomod::dirhash::hash_zip_file;
use gomod::rawzip::ZipArchive;
use gomod::zip::{ZipBuilder, check_zip_file, create_zip_from_dir};

const GO_MAIN: &str = r#"package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"xmodtest/xmod/modfile"

	"xmodtest/xmod/module"
	"xmodtest/xmod/sumdb/dirhash"
	"xmodtest/xmod/zip"
)

func summary(f *modfile.File, err error) string {
	if err != nil {
		return "ERR:" + err.Error()
	}
	var b strings.Builder
	if f.Module != nil {
		fmt.Fprintf(&b, "module=%s dep=%x;", f.Module.Mod.Path, f.Module.Deprecated)
	}
	if f.Go != nil {
		fmt.Fprintf(&b, "go=%s;", f.Go.Version)
	}
	if f.Toolchain != nil {
		fmt.Fprintf(&b, "toolchain=%s;", f.Toolchain.Name)
	}
	for _, g := range f.Godebug {
		fmt.Fprintf(&b, "godebug=%s=%s;", g.Key, g.Value)
	}
	for _, r := range f.Require {
		fmt.Fprintf(&b, "require=%s@%s@%v;", r.Mod.Path, r.Mod.Version, r.Indirect)
	}
	for _, r := range f.Exclude {
		fmt.Fprintf(&b, "exclude=%s@%s;", r.Mod.Path, r.Mod.Version)
	}
	for _, r := range f.Replace {
		fmt.Fprintf(&b, "replace=%s@%s=>%s@%s;", r.Old.Path, r.Old.Version, r.New.Path, r.New.Version)
	}
	for _, r := range f.Retract {
		fmt.Fprintf(&b, "retract=%s,%s,%x;", r.Low, r.High, r.Rationale)
	}
	for _, t := range f.Tool {
		fmt.Fprintf(&b, "tool=%s;", t.Path)
	}
	for _, t := range f.Ignore {
		fmt.Fprintf(&b, "ignore=%s;", t.Path)
	}
	return b.String()
}

func main() {
	if os.Args[1] == "hashzip" {
		// One zip path per stdin line; prints h1 or ERR.
		sc := bufio.NewScanner(os.Stdin)
		w := bufio.NewWriter(os.Stdout)
		defer w.Flush()
		for sc.Scan() {
			h, err := dirhash.HashZip(sc.Text(), dirhash.Hash1)
			if err != nil {
				fmt.Fprintln(w, "ERR", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Fprintln(w, h)
			}
		}
		return
	}
	if os.Args[1] == "modfile" {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		w := bufio.NewWriter(os.Stdout)
		defer w.Flush()
		for sc.Scan() {
			data, err := hex.DecodeString(sc.Text())
			if err != nil {
				panic(err)
			}
			strict := summary(modfile.Parse("go.mod", data, nil))
			lax := summary(modfile.ParseLax("go.mod", data, nil))
			fmt.Fprintf(w, "%x %x\n", strict, lax)
		}
		return
	}
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

fn build_go_helper(root: &Path) -> PathBuf {
    common::build_with_vendored_xmod(
        root,
        "xmodtest",
        &[
            "module",
            "semver",
            "modfile",
            "zip",
            "sumdb/dirhash",
            "internal/lazyregexp",
        ],
        GO_MAIN,
    )
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
    modfile_matches(&helper);
    hash_zip_matches_on_mutated_zips(&helper, tmp.path());
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

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> String {
    let b: Vec<u8> = (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    String::from_utf8_lossy(&b).into_owned()
}

fn our_summary(r: Result<gomod::modfile::ModFile, gomod::modfile::ModFileErrors>) -> String {
    let f = match r {
        Ok(f) => f,
        Err(e) => return format!("ERR:{e}"),
    };
    let mut b = String::new();
    if let Some(m) = &f.module {
        b += &format!(
            "module={} dep={};",
            m.path,
            hex(m.deprecated.as_deref().unwrap_or(""))
        );
    }
    if let Some(g) = &f.go {
        b += &format!("go={};", g.version);
    }
    if let Some(t) = &f.toolchain {
        b += &format!("toolchain={};", t.name);
    }
    for g in &f.godebug {
        b += &format!("godebug={}={};", g.key, g.value);
    }
    for r in &f.require {
        b += &format!("require={}@{}@{};", r.path, r.version, r.indirect);
    }
    for r in &f.exclude {
        b += &format!("exclude={}@{};", r.path, r.version);
    }
    for r in &f.replace {
        b += &format!(
            "replace={}@{}=>{}@{};",
            r.old_path,
            r.old_version.as_deref().unwrap_or(""),
            r.new_path,
            r.new_version.as_deref().unwrap_or("")
        );
    }
    for r in &f.retract {
        b += &format!("retract={},{},{};", r.low, r.high, hex(&r.rationale));
    }
    for t in &f.tool {
        b += &format!("tool={};", t.path);
    }
    for t in &f.ignore {
        b += &format!("ignore={};", t.path);
    }
    b
}

/// Random go.mod files glued from fragments (xorshift, fixed seed).
fn modfile_inputs() -> Vec<String> {
    const FRAGS: &[&str] = &[
        "module example.com/m",
        "module \"example.com/q\"",
        "module `example.com/raw`",
        "module example.com/m // Deprecated: use x",
        "// Deprecated: gone\n//\n// more",
        "// a comment",
        "",
        "go 1.21",
        "go 1.21.0",
        "go 1.21rc1",
        "go v1.21",
        "go 1.21-pre",
        "go 1.021",
        "go 1",
        "toolchain go1.22.0",
        "toolchain default",
        "toolchain 1.2",
        "godebug a=b",
        "godebug (\n\tx=y\n\tz\n)",
        "require example.com/a v1.2.3",
        "require example.com/a v1.2",
        "require example.com/a/v2 v2.0.0 // indirect",
        "require example.com/a/v2 v1.0.0",
        "require example.com/b v1.0.0+incompatible",
        "require example.com/b/v3 v3.0.0+incompatible",
        "require gopkg.in/yaml.v2 v2.4.0",
        "require gopkg.in/yaml.v2 v3.0.0",
        "require \"example.com/\\u0041\" v1.0.0",
        "require example.com/a master",
        "require (\n\texample.com/c v1.0.0 // indirect; note\n\texample.com/d v0.0.0-20191109021931-daa7c04131f5\n)",
        "require (\n\texample.com/c v1.0.0 extra\n)",
        "require ()",
        "require ( )",
        "require x ( y",
        "exclude example.com/a v1.0.0",
        "exclude example.com/a",
        "replace example.com/a => ../a",
        "replace example.com/a v1.0.0 => example.com/b v1.1.0",
        "replace example.com/a => example.com/b",
        "replace example.com/a => example.com/b@v1.0.0",
        "replace example.com/a => ./b v1.0.0",
        "replace example.com/a => c:\\dir",
        "replace example.com/a => .\\dir",
        "replace (\n\tx => ./y\n)",
        "retract v1.0.0",
        "retract v1.0.0 // why",
        "retract [v1.0.0, v1.2.0]",
        "retract [v1.0.0,v1.2.0] extra",
        "retract [v1.0.0 v1.2.0]",
        "retract (\n\t// block comment\n\tv1.0.1\n\t[v1.1.0, v1.1.1] // inline\n)",
        "// rationale above\nretract v2.0.0",
        "retract (",
        "retract )",
        "tool example.com/a/cmd",
        "tool",
        "ignore ./x",
        "ignore \"./y z\"",
        "frobnicate now",
        "frob (\n\ta\n)",
        "module example.com/m /* c */",
        "require \"unterminated",
        "require x \\ y",
        "\u{1}",
        "require 'x' v1.0.0",
        ")",
        "(",
        "module (\n\texample.com/blockmod\n)",
        "go 1.22\r",
        "\trequire example.com/indent v1.0.0",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out: Vec<String> = FRAGS.iter().map(|f| format!("{f}\n")).collect();
    for _ in 0..3000 {
        let n = 1 + (next() % 7) as usize;
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(FRAGS[(next() % FRAGS.len() as u64) as usize]);
            s.push(if next() % 11 == 0 { ' ' } else { '\n' });
        }
        out.push(s);
    }
    out
}

fn modfile_matches(helper: &Path) {
    use std::io::Write as _;
    let inputs = modfile_inputs();
    let stdin: String = inputs.iter().map(|s| hex(s) + "\n").collect();
    let mut child = Command::new(helper)
        .arg("modfile")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || pipe.write_all(stdin.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), inputs.len());
    let mut bad = Vec::new();
    for (src, line) in inputs.iter().zip(lines) {
        let (gs, gl) = line.split_once(' ').unwrap();
        let (gs, gl) = (unhex(gs), unhex(gl));
        let os = our_summary(gomod::modfile::parse("go.mod", src.as_bytes()));
        let ol = our_summary(gomod::modfile::parse_lax("go.mod", src.as_bytes()));
        if gs != os {
            bad.push(format!("strict {src:?}\n  go:   {gs:?}\n  ours: {os:?}"));
        }
        if gl != ol {
            bad.push(format!("lax {src:?}\n  go:   {gl:?}\n  ours: {ol:?}"));
        }
    }
    let n = bad.len();
    bad.truncate(12);
    assert!(
        n == 0,
        "{n} go.mod mismatches, first ones:\n{}",
        bad.join("\n")
    );
}

/// Our streaming zip reader against Go's archive/zip (through dirhash.HashZip)
/// on a valid module zip with bytes flipped, truncated or overwritten: both
/// must fail, or both succeed with the same h1.
fn hash_zip_matches_on_mutated_zips(helper: &Path, tmp: &Path) {
    use std::io::Write as _;
    let p = "example.com/m@v1.0.0/";
    let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
    zb.add_dir(p).unwrap();
    zb.add_file(&format!("{p}go.mod"), b"module example.com/m\n")
        .unwrap();
    zb.add_reader(
        &format!("{p}a/b.go"),
        &b"package b\n// padding padding\n".repeat(20)[..],
    )
    .unwrap();
    zb.add_raw(
        format!("{p}s.txt").as_bytes(),
        b"stored",
        &gomod::zip::RawOptions {
            method: gomod::zip::Method::Store,
            ..Default::default()
        },
    )
    .unwrap();
    let base = zb.finish().unwrap().into_inner();
    let dir = tmp.join("mutants");
    std::fs::create_dir_all(&dir).unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut paths = Vec::new();
    let mut what = Vec::new();
    for i in 0..2000 {
        let mut z = base.clone();
        match i % 4 {
            0 => {
                let k = (next() % z.len() as u64) as usize;
                z[k] ^= 1 << (next() % 8);
            }
            1 => {
                let k = (next() % z.len() as u64) as usize;
                z[k] = next() as u8;
                let k = (next() % z.len() as u64) as usize;
                z[k] = 0xff;
            }
            2 => {
                let k = (next() % z.len() as u64) as usize;
                z.truncate(k);
            }
            _ => {
                let k = (next() % z.len() as u64) as usize;
                let n = 1 + (next() % 4) as usize;
                for b in z.iter_mut().skip(k).take(n) {
                    *b = 0;
                }
            }
        }
        let diff: Vec<String> = (0..base.len())
            .filter(|&k| z.get(k) != Some(&base[k]))
            .take(4)
            .map(|k| format!("@{k}/{}: {:02x}->{:?}", base.len(), base[k], z.get(k)))
            .collect();
        what.push(diff.join(" "));
        let zp = dir.join(format!("{i}.zip"));
        std::fs::write(&zp, &z).unwrap();
        paths.push(zp);
    }
    let stdin: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
    let mut child = Command::new(helper)
        .arg("hashzip")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || pipe.write_all(stdin.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut bad = Vec::new();
    let mut agreed_ok = 0;
    for ((zp, go), what) in paths.iter().zip(text.lines()).zip(&what) {
        let ours = hash_zip_file(zp).map_err(|e| e.to_string());
        match (go, &ours) {
            (g, Err(_)) if g.starts_with("ERR") => {}
            (g, Ok(h)) if g == h => agreed_ok += 1,
            _ => bad.push(format!("{} [{what}]: go {go} ours {ours:?}", zp.display())),
        }
    }
    assert_eq!(text.lines().count(), paths.len());
    let n = bad.len();
    bad.truncate(10);
    assert!(
        n == 0,
        "{n} of {} mutated zips disagree:\n{}",
        paths.len(),
        bad.join("\n")
    );
    assert!(agreed_ok > 0);
}
