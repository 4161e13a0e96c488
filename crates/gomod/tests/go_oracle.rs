//! The real go command is the oracle for `h1:` hashes: every module version
//! below is served from a GOPROXY=file:// tree, downloaded with
//! `go mod download -json`, and our hashes must equal Go's `Sum` and `GoModSum`.

mod common;

use std::io::Cursor;
use std::path::Path;

use common::{FileProxy, field, go_mod_download, run_go_in};
use gomod::dirhash::{hash_dir, hash_gomod, hash_zip_file};
use gomod::gosum::GoSum;
use gomod::zip::{Method, RawOptions, ZipBuilder, check_zip_file, create_zip_from_dir};

struct Case {
    module: &'static str,
    version: &'static str,
    gomod: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
    dir_entries: bool,
    stored: bool,
}

fn case(module: &'static str, version: &'static str) -> Case {
    Case {
        module,
        version,
        gomod: format!(
            "module {}\n\ngo 1.21\n",
            module.trim_end_matches("+incompatible")
        )
        .into_bytes(),
        files: vec![("a.go".into(), b"package a\n".to_vec())],
        dir_entries: false,
        stored: false,
    }
}

fn with(mut c: Case, name: &str, data: &[u8]) -> Case {
    c.files.push((name.to_string(), data.to_vec()));
    c
}

fn zip_bytes(c: &Case) -> Vec<u8> {
    let prefix = format!("{}@{}/", c.module, c.version);
    let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
    if c.dir_entries {
        zb.add_dir(&prefix).unwrap();
        let mut dirs: Vec<String> = Vec::new();
        for (name, _) in &c.files {
            let mut acc = String::new();
            let parts: Vec<&str> = name.split('/').collect();
            for p in &parts[..parts.len() - 1] {
                acc.push_str(p);
                acc.push('/');
                if !dirs.contains(&acc) {
                    dirs.push(acc.clone());
                }
            }
        }
        for d in dirs {
            zb.add_dir(&format!("{prefix}{d}")).unwrap();
        }
    }
    for (i, (name, data)) in c.files.iter().enumerate() {
        let full = format!("{prefix}{name}");
        if c.stored {
            zb.add_raw(
                full.as_bytes(),
                data,
                &RawOptions {
                    method: Method::Store,
                    ..RawOptions::default()
                },
            )
            .unwrap();
        } else if i % 2 == 0 {
            zb.add_file(&full, data).unwrap();
        } else {
            zb.add_reader(&full, &data[..]).unwrap();
        }
    }
    zb.finish().unwrap().into_inner()
}

fn pseudo_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 3 == 0 {
                b'a' + (x % 26) as u8
            } else {
                x as u8
            }
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let gm = |c: &Case| c.files.iter().any(|(n, _)| n == "go.mod");
    let add_gomod = |mut c: Case| {
        if !gm(&c) {
            let g = c.gomod.clone();
            c.files.push(("go.mod".into(), g));
        }
        c
    };
    v.push(add_gomod(case("example.com/simple", "v1.0.0")));
    v.push(add_gomod(with(
        case("example.com/Upper/Case", "v1.2.3"),
        "Docs/README.md",
        b"# Upper\n",
    )));
    v.push(add_gomod(case("example.com/mod/v2", "v2.0.0")));
    v.push(add_gomod(case("example.com/mod/v3", "v3.1.4-beta.1")));
    // +incompatible: no go.mod in the zip, a synthesized .mod.
    let mut inc = case("example.com/incompat", "v2.0.0+incompatible");
    inc.gomod = b"module example.com/incompat\n".to_vec();
    v.push(inc);
    v.push(add_gomod(case(
        "example.com/pseudo",
        "v0.0.0-20191109021931-daa7c04131f5",
    )));
    v.push(add_gomod(case(
        "example.com/pseudo",
        "v1.2.4-0.20191109021931-daa7c04131f5",
    )));
    v.push(add_gomod(case(
        "example.com/pseudo",
        "v1.2.3-pre.0.20191109021931-daa7c04131f5",
    )));
    v.push(add_gomod(case(
        "example.com/pseudo/v2",
        "v2.0.1-0.20191109021931-daa7c04131f5",
    )));
    v.push(add_gomod(with(
        with(
            case("example.com/chars", "v1.0.0"),
            "dir with space/file !#$%&()+,-.=@[]^_{}~.txt",
            b"odd\n",
        ),
        "x/{a}[b](c)=d+e,f@g^h~i.go",
        b"package x\n",
    )));
    let mut dirs = add_gomod(with(
        with(
            case("example.com/dirs", "v1.0.0"),
            "p/q/r.go",
            b"package q\n",
        ),
        "p/s.go",
        b"package p\n",
    ));
    dirs.dir_entries = true;
    v.push(dirs);
    let mut empty = case("example.com/emptymod", "v1.0.0");
    empty.gomod = Vec::new();
    empty.files.push(("go.mod".into(), Vec::new()));
    v.push(empty);
    v.push(add_gomod(with(
        case("example.com/unicode", "v1.0.0"),
        "données/été.txt",
        "héllo\n".as_bytes(),
    )));
    v.push(add_gomod(case("example.com/rc", "v1.0.0-RC1")));
    v.push(add_gomod(case("gopkg.in/yaml.v3", "v3.0.1")));
    let mut stored = add_gomod(with(
        case("example.com/stored", "v1.0.0"),
        "data.bin",
        &pseudo_bytes(100_000, 1),
    ));
    stored.stored = true;
    v.push(stored);
    v.push(add_gomod(with(
        case("example.com/big", "v1.0.0"),
        "big.bin",
        &pseudo_bytes(3 << 20, 2),
    )));
    let mut many = add_gomod(case("example.com/many", "v1.0.0"));
    for i in 0..200 {
        many.files.push((
            format!("pkg{}/f{i}.go", i % 7),
            format!("package pkg{}\n// {i}\n", i % 7).into_bytes(),
        ));
    }
    v.push(many);
    v.push(add_gomod(with(
        case("example.com/emptyfile", "v1.0.0"),
        "empty.txt",
        b"",
    )));
    v.push(add_gomod(with(
        case("example.com/deep", "v1.0.0"),
        "a/b/c/d/e/f/g/h/i/j/k.go",
        b"package k\n",
    )));
    v.push(add_gomod(with(
        with(
            with(
                case("example.com/sorting", "v1.0.0"),
                "B.go",
                b"package a\n",
            ),
            "_x.go",
            b"package a\n",
        ),
        "a-b.go",
        b"package a\n",
    )));
    v.push(add_gomod(with(
        case("example.com/MixedCase/v2", "v2.0.0-Alpha.1"),
        "LICENSE",
        b"Copyright\n",
    )));
    v.push(add_gomod(with(
        case("example.com/tilde", "v1.0.0"),
        "PROGRA~1.go",
        b"package a\n",
    )));
    v
}

#[test]
fn h1_hashes_match_go_mod_download() {
    let proxy = FileProxy::new();
    let cs = cases();
    assert!(cs.len() >= 20, "only {} cases", cs.len());
    let mut zips = Vec::new();
    let mut args = Vec::new();
    for c in &cs {
        let zb = zip_bytes(c);
        let zp = proxy.add(c.module, c.version, &c.gomod, &zb);
        // Our checker accepts everything we serve here.
        let rep = check_zip_file(&zp, c.module, c.version).unwrap();
        assert!(
            rep.is_valid(),
            "{}@{}: {:?}",
            c.module,
            c.version,
            rep.violations
        );
        zips.push(zp);
        args.push(format!("{}@{}", c.module, c.version));
    }

    // A zip made by our own create_zip_from_dir.
    let src = tempfile::tempdir().unwrap();
    let sp = src.path();
    std::fs::write(sp.join("go.mod"), "module example.com/created\n\ngo 1.24\n").unwrap();
    std::fs::create_dir_all(sp.join("vendor/example.com/dep")).unwrap();
    std::fs::write(sp.join("vendor/example.com/dep/d.go"), "package dep\n").unwrap();
    std::fs::write(sp.join("vendor/modules.txt"), "# example.com/dep\n").unwrap();
    std::fs::write(sp.join("main.go"), "package main\n").unwrap();
    let mut created = Vec::new();
    create_zip_from_dir(
        sp,
        "example.com/created",
        "v1.0.0",
        Cursor::new(&mut created),
    )
    .unwrap();
    let zp = proxy.add(
        "example.com/created",
        "v1.0.0",
        b"module example.com/created\n\ngo 1.24\n",
        &created,
    );
    zips.push(zp);
    args.push("example.com/created@v1.0.0".into());

    let dl = go_mod_download(&proxy.url(), &args);
    assert!(dl.status.success(), "go mod download failed: {}", dl.stderr);
    assert_eq!(dl.objects.len(), args.len(), "{}", dl.stderr);
    let mut checked_dirs = 0;
    for (i, o) in dl.objects.iter().enumerate() {
        let path = field(o, "Path");
        let version = field(o, "Version");
        assert!(
            field(o, "Error").is_empty(),
            "{path}@{version}: {}",
            field(o, "Error")
        );
        let mv = format!("{path}@{version}");
        let idx = args.iter().position(|a| *a == mv).unwrap_or(i);
        let ours = hash_zip_file(&zips[idx]).unwrap();
        assert_eq!(ours, field(o, "Sum"), "zip h1 of {mv}");
        // The zip Go cached is byte-identical, so hashing it agrees too.
        assert_eq!(hash_zip_file(Path::new(field(o, "Zip"))).unwrap(), ours);
        let gomod = std::fs::read(field(o, "GoMod")).unwrap();
        assert_eq!(
            hash_gomod(&gomod),
            field(o, "GoModSum"),
            "go.mod h1 of {mv}"
        );
        let dir = Path::new(field(o, "Dir"));
        let dir_h1 = hash_dir(dir, &mv).unwrap();
        let has_dir_entries = idx < cs.len() && cs[idx].dir_entries;
        if has_dir_entries {
            // Go's own `go mod verify` reports such a directory as modified.
            assert_ne!(dir_h1, ours, "{mv}: dir entries count only in the zip hash");
        } else {
            assert_eq!(dir_h1, ours, "dir h1 of {mv}");
            checked_dirs += 1;
        }
    }
    assert!(checked_dirs >= 20);
    // The empty go.mod hash that docs/protocol.md §4.1 quotes.
    assert_eq!(
        hash_gomod(b""),
        "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY="
    );
    let _ = &dl.modcache;

    // go.sum: `go get` in a module writes one; ours parses it, writes the same
    // bytes back, and agrees with every hash in it.
    let work = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("go.mod"),
        "module example.com/main\n\ngo 1.21\n",
    )
    .unwrap();
    let mut get: Vec<&str> = vec!["get"];
    let picks = [
        "example.com/simple@v1.0.0",
        "example.com/Upper/Case@v1.2.3",
        "example.com/mod/v2@v2.0.0",
        "example.com/incompat@v2.0.0+incompatible",
        "example.com/pseudo@v1.2.3-pre.0.20191109021931-daa7c04131f5",
        "example.com/rc@v1.0.0-RC1",
        "example.com/MixedCase/v2@v2.0.0-Alpha.1",
    ];
    get.extend(picks);
    let out = run_go_in(work.path(), cache.path(), &proxy.url(), &get);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second version of one module: go.sum keeps both.
    let out = run_go_in(
        work.path(),
        cache.path(),
        &proxy.url(),
        &[
            "get",
            "example.com/pseudo@v1.2.4-0.20191109021931-daa7c04131f5",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::fs::read(work.path().join("go.sum")).unwrap();
    let sum = GoSum::parse("go.sum", &raw).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sum.to_bytes()),
        String::from_utf8_lossy(&raw)
    );
    let mut zip_lines = 0;
    for (m, v, h) in sum.lines() {
        if let Some(v) = v.strip_suffix("/go.mod") {
            let c = cs.iter().find(|c| c.module == m && c.version == v).unwrap();
            assert_eq!(hash_gomod(&c.gomod), h, "{m} {v}/go.mod");
        } else {
            let idx = args.iter().position(|a| *a == format!("{m}@{v}")).unwrap();
            assert_eq!(hash_zip_file(&zips[idx]).unwrap(), h, "{m} {v}");
            zip_lines += 1;
        }
    }
    assert!(
        zip_lines >= 2,
        "go.sum had {zip_lines} zip lines:\n{}",
        String::from_utf8_lossy(&raw)
    );
}
