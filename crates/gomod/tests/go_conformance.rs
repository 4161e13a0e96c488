//! Differential test against Go itself: the same inputs go through our
//! `module`, `semver` and `pattern` functions and through
//! `golang.org/x/mod/module`, `golang.org/x/mod/semver` and Go's `path.Match`,
//! and every answer (including error text) must agree.
//!
//! Go's side is built from the copy of x/mod that ships inside the local
//! toolchain (`$GOROOT/src/cmd/vendor/golang.org/x/mod`), so the test needs
//! the go command (`$MODWARDEN_GO`, else `go` on PATH) but no network: it
//! runs with `GOPROXY=off` and temporary GOPATH/GOCACHE.

mod common;

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use gomod::{module, pattern, semver};

/// Go side: reads hex-encoded inputs, one per line, prints one line of
/// `key=value` fields per input.
const GO_MAIN: &str = r#"package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"strings"

	"conformance/xmod/module"
	"conformance/xmod/semver"
)

func e(err error) string {
	if err == nil {
		return "ok"
	}
	return "ERR:" + err.Error()
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for sc.Scan() {
		b, err := hex.DecodeString(sc.Text())
		if err != nil {
			panic(err)
		}
		s := string(b)
		var out []string
		add := func(k, v string) { out = append(out, k+"="+v) }
		add("checkpath", e(module.CheckPath(s)))
		add("checkimport", e(module.CheckImportPath(s)))
		add("checkfile", e(module.CheckFilePath(s)))
		p, m, ok := module.SplitPathVersion(s)
		add("split", fmt.Sprintf("%x %x %v", p, m, ok))
		ep, err := module.EscapePath(s)
		add("escpath", ep+" "+e(err))
		up, err := module.UnescapePath(s)
		add("unescpath", up+" "+e(err))
		ev, err := module.EscapeVersion(s)
		add("escver", ev+" "+e(err))
		uv, err := module.UnescapeVersion(s)
		add("unescver", uv+" "+e(err))
		add("valid", fmt.Sprint(semver.IsValid(s)))
		add("canon", semver.Canonical(s))
		add("canonv", module.CanonicalVersion(s))
		add("major", semver.Major(s))
		add("mm", semver.MajorMinor(s))
		add("pre", semver.Prerelease(s))
		add("build", semver.Build(s))
		add("pseudo", fmt.Sprint(module.IsPseudoVersion(s)))
		add("zero", fmt.Sprint(module.IsZeroPseudoVersion(s)))
		base, err := module.PseudoVersionBase(s)
		add("pbase", base+" "+e(err))
		rev, err := module.PseudoVersionRev(s)
		add("prev", rev+" "+e(err))
		if t, err := module.PseudoVersionTime(s); err == nil {
			add("ptime", fmt.Sprint(t.Unix()))
		} else {
			add("ptime", e(err))
		}
		for _, pm := range []string{"", "/v2", ".v1", ".v0", ".v1-unstable"} {
			add("pm"+pm, e(module.CheckPathMajor(s, pm)))
		}
		add("check", e(module.Check("example.com/m/v2", s)))
		a, bb, found := strings.Cut(s, "\n")
		if !found {
			bb = "example.com/a/b"
		}
		add("prefix", fmt.Sprint(module.MatchPrefixPatterns(a, bb)))
		mt, err := path.Match(a, bb)
		add("match", fmt.Sprint(mt, err != nil))
		if !found {
			bb = "v1.2.3-pre"
		}
		add("cmp", fmt.Sprint(semver.Compare(a, bb)))
		add("max", semver.Max(a, bb))
		fmt.Fprintln(w, hex.EncodeToString([]byte(strings.Join(out, "\t"))))
	}
}
"#;

/// Our side of [`GO_MAIN`], producing the same text.
fn rust_line(s: &str) -> String {
    fn e<T, E: std::fmt::Display>(r: &Result<T, E>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(err) => format!("ERR:{err}"),
        }
    }
    fn hexs(s: &str) -> String {
        s.bytes().fold(String::new(), |mut o, b| {
            let _ = write!(o, "{b:02x}");
            o
        })
    }
    let mut out: Vec<String> = Vec::new();
    let mut add = |k: &str, v: String| out.push(format!("{k}={v}"));
    add("checkpath", e(&module::check_path(s)));
    add("checkimport", e(&module::check_import_path(s)));
    add("checkfile", e(&module::check_file_path(s)));
    let (p, m, ok) = module::split_path_version(s);
    add("split", format!("{} {} {ok}", hexs(p), hexs(m)));
    let r = module::escape_path(s);
    add(
        "escpath",
        format!("{} {}", r.as_deref().unwrap_or(""), e(&r)),
    );
    let r = module::unescape_path(s);
    add(
        "unescpath",
        format!("{} {}", r.as_deref().unwrap_or(""), e(&r)),
    );
    let r = module::escape_version(s);
    add(
        "escver",
        format!("{} {}", r.as_deref().unwrap_or(""), e(&r)),
    );
    let r = module::unescape_version(s);
    add(
        "unescver",
        format!("{} {}", r.as_deref().unwrap_or(""), e(&r)),
    );
    add("valid", semver::is_valid(s).to_string());
    add("canon", semver::canonical(s));
    add("canonv", semver::canonical_version(s));
    add("major", semver::major(s).to_string());
    add("mm", semver::major_minor(s));
    add("pre", semver::prerelease(s).to_string());
    add("build", semver::build(s).to_string());
    add("pseudo", semver::is_pseudo_version(s).to_string());
    add("zero", semver::is_zero_pseudo_version(s).to_string());
    let r = semver::pseudo_version_base(s);
    add("pbase", format!("{} {}", r.as_deref().unwrap_or(""), e(&r)));
    let r = semver::pseudo_version_rev(s);
    add("prev", format!("{} {}", r.as_deref().unwrap_or(""), e(&r)));
    match semver::pseudo_version_time(s) {
        Ok(t) => add("ptime", t.unix_timestamp().to_string()),
        Err(err) => add("ptime", format!("ERR:{err}")),
    }
    for pm in ["", "/v2", ".v1", ".v0", ".v1-unstable"] {
        add(&format!("pm{pm}"), e(&module::check_path_major(s, pm)));
    }
    add("check", e(&module::check("example.com/m/v2", s)));
    let (a, bb) = s.split_once('\n').unwrap_or((s, "example.com/a/b"));
    add("prefix", pattern::match_prefix_patterns(a, bb).to_string());
    let r = pattern::path_match(a, bb);
    add(
        "match",
        format!("{} {}", r.clone().unwrap_or(false), r.is_err()),
    );
    let bb = if s.contains('\n') { bb } else { "v1.2.3-pre" };
    add("cmp", (semver::compare(a, bb) as i8).to_string());
    add("max", semver::max(a, bb));
    out.join("\t")
}

/// Deterministic inputs: the Go test vectors' shapes, pieces of versions,
/// paths and globs glued at random (xorshift with a fixed seed).
fn inputs() -> Vec<String> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let vt = [
        "v",
        "v1",
        "v0",
        "v2",
        "v10",
        ".",
        "0",
        "1",
        "01",
        "2",
        "9",
        "-",
        "--",
        "pre",
        "RC1",
        "rc",
        ".0.",
        "0.",
        "20060102150405",
        "20061302150405",
        "20040229235959",
        "20040229240000",
        "00010101000000",
        "-abcdef123456",
        "-hash",
        "hash",
        "+",
        "+incompatible",
        "+meta",
        "+meta-x",
        ".x",
        "x",
        "é",
        "Z",
        "-0.",
        "-0",
        "99",
        "000000000000",
    ];
    let pt = [
        "example.com",
        "gopkg.in/",
        "yaml",
        ".v1",
        ".v0",
        "-unstable",
        "/v2",
        "/v1",
        "/v02",
        "/",
        "//",
        ".",
        "..",
        "A",
        "Azure",
        "!a",
        "!",
        "~1",
        "~",
        "con",
        "aux.x",
        "_",
        "-",
        "+",
        " ",
        "é",
        "☺",
        "ͪ",
        "\u{a0}",
        "\t",
        "%2F",
        "x",
        "z~09z",
    ];
    let gt = [
        "*", "?", "[", "]", "^", "\\", "-", "/", "a", "b", "é", "☺", ",", "rsc", ".io", "quote",
        "[a-z]", "[^/]", "\\*", "*/", "**",
    ];
    let tt = [
        "rsc.io", "/quote", "/v3", "a", "b", "é", "/", "-", "*", "x.y", "/z", "]",
    ];
    let mut glue = |set: &[&str], max: usize| -> String {
        let n = 1 + next(max);
        (0..n).map(|_| set[next(set.len())]).collect()
    };
    let mut out = Vec::new();
    for _ in 0..6000 {
        out.push(glue(&vt, 9));
    }
    for _ in 0..1500 {
        out.push(format!("{}\n{}", glue(&vt, 7), glue(&vt, 7)));
    }
    for _ in 0..6000 {
        out.push(glue(&pt, 8));
    }
    for _ in 0..4000 {
        let globs = format!("{},{}", glue(&gt, 5), glue(&gt, 4));
        out.push(format!("{globs}\n{}", glue(&tt, 6)));
    }
    out.extend(
        [
            "x.y/z",
            "gopkg.in/yaml.v2-unstable",
            "github.com/GoogleCloudPlatform/omega",
            "github.com/!google!cloud!platform/omega",
            "v1.2.3-pre.0.20060102150405-hash+incompatible",
            "v0.0.0-00010101000000-000000000000",
            "v1.0.0-0.20060102150405-hash",
            "*/quote\nrsc.io/quote",
            "[a-ζ]*\nα",
            "a[\nab",
        ]
        .map(String::from),
    );
    out
}

#[test]
fn agrees_with_golang_x_mod() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = common::build_with_vendored_xmod(
        tmp.path(),
        "conformance",
        &["module", "semver", "internal/lazyregexp"],
        GO_MAIN,
    );

    let inputs = inputs();
    let stdin: String = inputs
        .iter()
        .map(|s| {
            let mut h = s.bytes().fold(String::new(), |mut o, b| {
                let _ = write!(o, "{b:02x}");
                o
            });
            h.push('\n');
            h
        })
        .collect();
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || pipe.write_all(stdin.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    let go_lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let bytes: Vec<u8> = (0..l.len() / 2)
                .map(|i| u8::from_str_radix(&l[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    assert_eq!(go_lines.len(), inputs.len());

    let mut mismatches = Vec::new();
    for (input, go_line) in inputs.iter().zip(&go_lines) {
        let ours = rust_line(input);
        for (g, r) in go_line.split('\t').zip(ours.split('\t')) {
            if g == r {
                continue;
            }
            // Documented difference: for a non-ASCII letter in a version Go's
            // EscapeVersion says "internal error: inconsistency in
            // EscapePath"; ours calls the version disallowed.
            if g == "escver= ERR:internal error: inconsistency in EscapePath"
                && r.ends_with("invalid: disallowed version string")
            {
                continue;
            }
            mismatches.push(format!("input {input:?}\n  go:   {g}\n  ours: {r}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} answers differ from Go's over {} inputs; first ones:\n{}",
        mismatches.len(),
        inputs.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}
