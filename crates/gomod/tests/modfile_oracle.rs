//! The go command is the oracle for go.mod parsing: `go mod edit -json`
//! must report the same errors (text and position) as our strict parser, and
//! for valid files the same directives.

mod common;

use std::process::Command;

use common::go_bin;
use gomod::modfile;

fn go_mod_edit_json(src: &str) -> Result<serde_json::Value, String> {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("go.mod"), src).unwrap();
    let out = Command::new(go_bin())
        .args(["mod", "edit", "-json"])
        .current_dir(d.path())
        .env("GOTOOLCHAIN", "local")
        .env("GOENV", "off")
        .env("GOWORK", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOCACHE", d.path().join("gocache"))
        .env("GOPATH", d.path().join("gopath"))
        .output()
        .unwrap();
    if out.status.success() {
        return Ok(serde_json::from_slice(&out.stdout).unwrap());
    }
    let dir = format!("{}/", d.path().display());
    let err = String::from_utf8_lossy(&out.stderr).replace(&dir, "");
    Err(err
        .trim_start_matches("go: errors parsing go.mod:\n")
        .trim_end()
        .to_string())
}

const BAD: &[&str] = &[
    "module example.com/m\n\nfoo bar\n",
    "module example.com/m\nrequire example.com/x banana\n",
    "module example.com/m\nrequire (\n\tx v1.0.0\n",
    "module \"example.com/m\n",
    "module example.com/m\n\trequire example.com/x/v2 v1.0.0\n",
    "module example.com/m\nretract [v1.0.0, v1.1.0\n",
    "module example.com/m\nreplace example.com/a => example.com/b\n",
    "module example.com/m\nreplace example.com/a => example.com/b@v1.0.0\n",
    "module example.com/m\nreplace example.com/a => ./b v1.0.0\n",
    "module example.com/m\ntoolchain 1.21\n",
    "module example.com/m\nrequire (\n\texample.com/x v1.0.0 extra\n)\n",
    "module example.com/m\nunknown (\n)\n",
    "module example.com/m\nrequire x {\n",
    "module example.com/m\ngo 1.21\ngo 1.22\n",
    "module example.com/m\ngo 1.21.x\n",
    "module example.com/m\nmodule example.com/n\n",
    "module example.com/m\ngodebug foo\n",
    "module example.com/m\nretract v1.0.0 extra\n",
    "module example.com/m\nretract (\n\tv1.0.0\n) x\n",
    "module example.com/m\ntool a b\n",
    "module example.com/m\nrequire 'x' v1.0.0\n",
    "module example.com/m /* c */\n",
];

#[test]
fn strict_parse_errors_match_go_mod_edit() {
    let mut mismatches = Vec::new();
    for src in BAD {
        let go = go_mod_edit_json(src);
        let ours = modfile::parse("go.mod", src.as_bytes());
        match (go, ours) {
            (Err(g), Err(o)) => {
                let o = o.to_string();
                if g != o {
                    mismatches.push(format!("{src:?}\n  go:   {g}\n  ours: {o}"));
                }
            }
            (g, o) => mismatches.push(format!("{src:?}\n  go:   {g:?}\n  ours: {o:?}")),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

const GOOD: &str = r#"// Deprecated: use example.com/new instead.
module example.com/m

go 1.23.0

toolchain go1.23.4

godebug (
	default=go1.21
	panicnil=1
)

require (
	example.com/a v1.2.3
	example.com/b/v2 v2.0.0 // indirect
	"example.com/quoted" v1.0
	example.com/c v1.0.0-20191109021931-daa7c04131f5 // indirect; pinned
)

exclude example.com/a v1.2.2

replace (
	example.com/a v1.2.3 => example.com/fork v1.2.4
	example.com/b/v2 => ../b
)

// Published by mistake.
retract v1.0.1

// Block rationale.
retract (
	[v1.1.0, v1.1.9] // broken builds
	v1.2.0
)

tool example.com/a/cmd/x

ignore ./node_modules
"#;

#[test]
fn valid_file_matches_go_mod_edit_json() {
    let g = go_mod_edit_json(GOOD).unwrap();
    let f = modfile::parse("go.mod", GOOD.as_bytes()).unwrap();
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let m = f.module.unwrap();
    assert_eq!(s(&g["Module"]["Path"]), m.path);
    assert_eq!(
        s(&g["Module"]["Deprecated"]),
        m.deprecated.unwrap_or_default()
    );
    assert_eq!(s(&g["Go"]), f.go.unwrap().version);
    assert_eq!(s(&g["Toolchain"]), f.toolchain.unwrap().name);
    let gd: Vec<_> = g["GoDebug"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (s(&x["Key"]), s(&x["Value"])))
        .collect();
    let od: Vec<_> = f
        .godebug
        .iter()
        .map(|x| (x.key.clone(), x.value.clone()))
        .collect();
    assert_eq!(gd, od);
    let gr: Vec<_> = g["Require"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                s(&x["Path"]),
                s(&x["Version"]),
                x["Indirect"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let or: Vec<_> = f
        .require
        .iter()
        .map(|r| (r.path.clone(), r.version.clone(), r.indirect))
        .collect();
    assert_eq!(gr, or);
    let ge: Vec<_> = g["Exclude"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (s(&x["Path"]), s(&x["Version"])))
        .collect();
    let oe: Vec<_> = f
        .exclude
        .iter()
        .map(|r| (r.path.clone(), r.version.clone()))
        .collect();
    assert_eq!(ge, oe);
    let grp: Vec<_> = g["Replace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                s(&x["Old"]["Path"]),
                s(&x["Old"]["Version"]),
                s(&x["New"]["Path"]),
                s(&x["New"]["Version"]),
            )
        })
        .collect();
    let orp: Vec<_> = f
        .replace
        .iter()
        .map(|r| {
            (
                r.old_path.clone(),
                r.old_version.clone().unwrap_or_default(),
                r.new_path.clone(),
                r.new_version.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(grp, orp);
    let grt: Vec<_> = g["Retract"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (s(&x["Low"]), s(&x["High"]), s(&x["Rationale"])))
        .collect();
    let ort: Vec<_> = f
        .retract
        .iter()
        .map(|r| (r.low.clone(), r.high.clone(), r.rationale.clone()))
        .collect();
    assert_eq!(grt, ort);
    let gt: Vec<_> = g["Tool"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(&x["Path"]))
        .collect();
    assert_eq!(
        gt,
        f.tool.iter().map(|t| t.path.clone()).collect::<Vec<_>>()
    );
    let gi: Vec<_> = g["Ignore"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(&x["Path"]))
        .collect();
    assert_eq!(
        gi,
        f.ignore.iter().map(|t| t.path.clone()).collect::<Vec<_>>()
    );
}
