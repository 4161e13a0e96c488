//! A corpus of invalid module zips, one per rule. The real go command must
//! reject each (served from a GOPROXY=file:// tree), and our checker must
//! reject it for the same reason: each case names a keyword that must appear
//! in go's error and the violation kind our checker must report. Valid zips
//! pass both.

mod common;

use std::io::{Cursor, Read, Seek, SeekFrom, Write};

use common::{FileProxy, field, go_mod_download};
use gomod::zip::{Method, RawOptions, ViolationKind, ZipBuilder, check_zip_file};

const V: &str = "v1.0.0";

enum Item {
    File(&'static str, Vec<u8>),
    Raw(Vec<u8>, Vec<u8>, RawOptions),
    Dir(&'static str),
}

struct Case {
    name: &'static str,
    items: Vec<Item>,
    /// Whole-file override (not built from items).
    bytes: Option<Vec<u8>>,
    /// Build as a sparse file of this many extra zero bytes in one stored entry.
    huge: Option<u64>,
    go_keyword: &'static str,
    ours: Option<ViolationKind>,
}

fn module_of(name: &str) -> String {
    format!("example.com/corpus/{name}")
}

fn file(n: &'static str, d: &[u8]) -> Item {
    Item::File(n, d.to_vec())
}

fn raw(n: &[u8], d: &[u8], o: RawOptions) -> Item {
    Item::Raw(n.to_vec(), d.to_vec(), o)
}

fn c(name: &'static str, items: Vec<Item>, go_keyword: &'static str, ours: ViolationKind) -> Case {
    Case {
        name,
        items,
        bytes: None,
        huge: None,
        go_keyword,
        ours: Some(ours),
    }
}

fn build(case: &Case, module: &str) -> Vec<u8> {
    if let Some(b) = &case.bytes {
        return b.clone();
    }
    let prefix = format!("{module}@{V}/");
    let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
    zb.add_file(
        &format!("{prefix}go.mod"),
        format!("module {module}\n").as_bytes(),
    )
    .unwrap();
    for it in &case.items {
        match it {
            Item::File(n, d) => {
                let name = match n.strip_prefix("{P}") {
                    Some(rest) => rest.to_string(),
                    None => format!("{prefix}{n}"),
                };
                zb.add_file(&name, d).unwrap();
            }
            Item::Raw(n, d, o) => {
                let mut name = prefix.as_bytes().to_vec();
                name.extend_from_slice(n);
                zb.add_raw(&name, d, o).unwrap();
            }
            Item::Dir(n) => zb.add_dir(&format!("{prefix}{n}")).unwrap(),
        }
    }
    zb.finish().unwrap().into_inner()
}

/// A zip whose one stored entry is `zeros` bytes of zeros, written sparsely.
fn write_huge(path: &std::path::Path, module: &str, zeros: u64) {
    let name = format!("{module}@{V}/zeros.bin");
    let mut crc = crc32fast::Hasher::new();
    let chunk = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        crc.update(&chunk[..k]);
        left -= k as u64;
    }
    let crc = crc.finalize();
    let mut f = std::fs::File::create(path).unwrap();
    let mut lh = Vec::new();
    lh.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    lh.extend_from_slice(&20u16.to_le_bytes());
    lh.extend_from_slice(&0u16.to_le_bytes());
    lh.extend_from_slice(&0u16.to_le_bytes());
    lh.extend_from_slice(&0u16.to_le_bytes());
    lh.extend_from_slice(&0x21u16.to_le_bytes());
    lh.extend_from_slice(&crc.to_le_bytes());
    lh.extend_from_slice(&(zeros as u32).to_le_bytes());
    lh.extend_from_slice(&(zeros as u32).to_le_bytes());
    lh.extend_from_slice(&(name.len() as u16).to_le_bytes());
    lh.extend_from_slice(&0u16.to_le_bytes());
    lh.extend_from_slice(name.as_bytes());
    f.write_all(&lh).unwrap();
    f.seek(SeekFrom::Current(zeros as i64)).unwrap();
    let dir_start = lh.len() as u64 + zeros;
    let mut cd = Vec::new();
    cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    cd.extend_from_slice(&20u16.to_le_bytes());
    cd.extend_from_slice(&20u16.to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes());
    cd.extend_from_slice(&0x21u16.to_le_bytes());
    cd.extend_from_slice(&crc.to_le_bytes());
    cd.extend_from_slice(&(zeros as u32).to_le_bytes());
    cd.extend_from_slice(&(zeros as u32).to_le_bytes());
    cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
    cd.extend_from_slice(&[0u8; 8]);
    cd.extend_from_slice(&0u32.to_le_bytes());
    cd.extend_from_slice(&0u32.to_le_bytes());
    cd.extend_from_slice(name.as_bytes());
    let cd_len = cd.len() as u32;
    cd.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    cd.extend_from_slice(&[0u8; 4]);
    cd.extend_from_slice(&1u16.to_le_bytes());
    cd.extend_from_slice(&1u16.to_le_bytes());
    cd.extend_from_slice(&cd_len.to_le_bytes());
    cd.extend_from_slice(&(dir_start as u32).to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes());
    f.write_all(&cd).unwrap();
}

fn lie_size(n: u64) -> RawOptions {
    RawOptions {
        uncompressed_size: Some(n),
        ..RawOptions::default()
    }
}

fn corpus() -> Vec<Case> {
    use ViolationKind as K;
    let mut v = vec![
        c(
            "prefixmodule",
            vec![file("{P}example.com/other@v1.0.0/a.go", b"x")],
            "unexpected file",
            K::Prefix,
        ),
        c(
            "prefixversion",
            vec![Item::Raw(b"".to_vec(), b"".to_vec(), RawOptions::default())],
            "",
            K::Prefix,
        ),
        c(
            "quote",
            vec![file("a\"b.go", b"x")],
            "invalid char",
            K::FilePath,
        ),
        c(
            "star",
            vec![file("a*b.go", b"x")],
            "invalid char",
            K::FilePath,
        ),
        c(
            "colon",
            vec![file("a:b.go", b"x")],
            "invalid char",
            K::FilePath,
        ),
        c(
            "backslash",
            vec![file("a\\b.go", b"x")],
            "invalid char",
            K::FilePath,
        ),
        c(
            "control",
            vec![file("a\u{1}b.go", b"x")],
            "invalid char",
            K::FilePath,
        ),
        c(
            "newline",
            vec![file("a\nb.go", b"x")],
            "filenames with newlines are not supported",
            K::FilePath,
        ),
        c(
            "lessthan",
            vec![file("a<b.go", b"x")],
            "invalid char",
            K::FilePath,
        ),
        c(
            "reservedcon",
            vec![file("CON.go", b"x")],
            "reserved",
            K::FilePath,
        ),
        c(
            "reservedcom1",
            vec![file("sub/com1.txt", b"x")],
            "reserved",
            K::FilePath,
        ),
        c(
            "reservedaux",
            vec![file("Aux/x.go", b"x")],
            "reserved",
            K::FilePath,
        ),
        c(
            "reservedlpt9",
            vec![file("lpt9", b"x")],
            "reserved",
            K::FilePath,
        ),
        c(
            "trailingdot",
            vec![file("file.", b"x")],
            "trailing dot",
            K::FilePath,
        ),
        c(
            "trailingdotdir",
            vec![file("dir./a.go", b"x")],
            "trailing dot",
            K::FilePath,
        ),
        c(
            "dotdot",
            vec![file("../a.go", b"x")],
            "invalid path element",
            K::FilePath,
        ),
        c(
            "dots",
            vec![file("x/.../a.go", b"x")],
            "invalid path element",
            K::FilePath,
        ),
        c(
            "unclean",
            vec![file("a/../b.go", b"x")],
            "not clean",
            K::NotClean,
        ),
        c(
            "dotslash",
            vec![file("./a.go", b"x")],
            "not clean",
            K::NotClean,
        ),
        c(
            "doubleslash",
            vec![file("a//b.go", b"x")],
            "not clean",
            K::NotClean,
        ),
        c(
            "leadingslash",
            vec![file("/a.go", b"x")],
            "empty path element",
            K::FilePath,
        ),
        c(
            "casefold",
            vec![file("A.go", b"x"), file("a.go", b"y")],
            "case-insensitive file name collision",
            K::CaseCollision,
        ),
        c(
            "kelvin",
            vec![file("\u{212A}.go", b"x"), file("k.go", b"y")],
            "case-insensitive file name collision",
            K::CaseCollision,
        ),
        c(
            "casefolddir",
            vec![file("Dir/a.go", b"x"), file("dir/b.go", b"y")],
            "case-insensitive file name collision",
            K::CaseCollision,
        ),
        c(
            "fileanddir",
            vec![file("x", b"x"), file("x/y.go", b"y")],
            "both a file and a directory",
            K::FileAndDirectory,
        ),
        c(
            "fileanddirentry",
            vec![Item::Dir("x/"), file("x", b"y")],
            "both a file and a directory",
            K::FileAndDirectory,
        ),
        c(
            "duplicate",
            vec![file("a.go", b"x"), file("a.go", b"y")],
            "multiple entries for file",
            K::DuplicateFile,
        ),
        c(
            "nestedgomod",
            vec![file("sub/go.mod", b"module x\n")],
            "go.mod file not in module root directory",
            K::GoModNotAtRoot,
        ),
        c(
            "nestedupper",
            vec![file("sub/GO.MOD", b"module x\n")],
            "go.mod file not in module root directory",
            K::GoModNotAtRoot,
        ),
        c(
            "gomodcase",
            vec![file("GO.MOD", b"module x\n")],
            "go.mod files must have lowercase names",
            K::GoModCase,
        ),
        c(
            "sizelarger",
            vec![raw(
                b"a.go",
                b"package a // more than declared\n",
                lie_size(3),
            )],
            "not a valid zip file",
            K::SizeMismatch,
        ),
        c(
            "sizesmaller",
            vec![raw(b"a.go", b"package a\n", lie_size(1000))],
            "unexpected EOF",
            K::SizeMismatch,
        ),
        c(
            "crc",
            vec![raw(
                b"a.go",
                b"package a\n",
                RawOptions {
                    crc32: Some(0xdead_beef),
                    ..RawOptions::default()
                },
            )],
            "checksum error",
            K::Checksum,
        ),
        c(
            "gomodtoolarge",
            vec![],
            "go.mod file too large",
            K::GoModTooLarge,
        ),
        c(
            "licensetoolarge",
            vec![],
            "LICENSE file too large",
            K::LicenseTooLarge,
        ),
        c(
            "totaltoolarge",
            vec![],
            "total uncompressed size of module contents too large",
            K::TotalTooLarge,
        ),
        c(
            "sizelargerlie",
            vec![raw(b"go.sum", b"lots of content here\n", lie_size(3))],
            "not a valid zip file",
            K::SizeMismatch,
        ),
        c(
            "method",
            vec![raw(
                b"a.go",
                b"package a\n",
                RawOptions {
                    method: Method::Store,
                    method_number: Some(12),
                    ..RawOptions::default()
                },
            )],
            "unsupported compression algorithm",
            K::Unreadable,
        ),
        c(
            "nonutf8",
            vec![raw(b"a\xff.go", b"x", RawOptions::default())],
            "invalid UTF-8",
            K::FilePath,
        ),
        c(
            "baddirname",
            vec![Item::Dir("bad:dir/")],
            "invalid char",
            K::FilePath,
        ),
        c(
            "dirwithdata",
            vec![raw(
                b"d/",
                b"data",
                RawOptions {
                    method: Method::Store,
                    ..RawOptions::default()
                },
            )],
            "not a valid zip file",
            K::Unreadable,
        ),
    ];
    // Real (not declared) oversize files: they deflate to almost nothing.
    let spaces = |n: u64| std::io::repeat(b' ').take(n);
    for case in v.iter_mut() {
        let module = module_of(case.name);
        let prefix = format!("{module}@{V}/");
        if case.name == "gomodtoolarge" {
            let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
            zb.add_reader(
                &format!("{prefix}go.mod"),
                Read::chain(format!("module {module}\n").as_bytes(), spaces(16 << 20)),
            )
            .unwrap();
            case.bytes = Some(zb.finish().unwrap().into_inner());
        }
        if case.name == "licensetoolarge" {
            let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
            zb.add_file(
                &format!("{prefix}go.mod"),
                format!("module {module}\n").as_bytes(),
            )
            .unwrap();
            zb.add_reader(&format!("{prefix}LICENSE"), spaces((16 << 20) + 1))
                .unwrap();
            case.bytes = Some(zb.finish().unwrap().into_inner());
        }
        if case.name == "totaltoolarge" {
            let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
            zb.add_file(
                &format!("{prefix}go.mod"),
                format!("module {module}\n").as_bytes(),
            )
            .unwrap();
            zb.add_reader(&format!("{prefix}a.txt"), spaces(300 << 20))
                .unwrap();
            zb.add_reader(&format!("{prefix}b.txt"), spaces(201 << 20))
                .unwrap();
            case.bytes = Some(zb.finish().unwrap().into_inner());
        }
        if case.name == "gomodcase" {
            let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
            zb.add_file(
                &format!("{prefix}GO.MOD"),
                format!("module {module}\n").as_bytes(),
            )
            .unwrap();
            case.bytes = Some(zb.finish().unwrap().into_inner());
        }
        if case.name == "prefixversion" {
            let module = module_of(case.name);
            let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
            zb.add_file(&format!("{module}@{V}/go.mod"), b"module x\n")
                .unwrap();
            zb.add_file(&format!("{module}@v1.0.1/a.go"), b"package a\n")
                .unwrap();
            case.bytes = Some(zb.finish().unwrap().into_inner());
            case.go_keyword = "unexpected file";
        }
    }
    v.push(Case {
        name: "notazip",
        items: vec![],
        bytes: Some(b"this is not a zip file, just text\n".repeat(10)),
        huge: None,
        go_keyword: "not a valid zip file",
        ours: None,
    });
    v.push(Case {
        name: "ziptoolarge",
        items: vec![],
        bytes: None,
        huge: Some((500 << 20) + 1),
        go_keyword: "too large",
        ours: Some(K::ZipTooLarge),
    });
    v
}

#[test]
fn go_and_our_checker_reject_each_invalid_zip_for_the_same_reason() {
    let proxy = FileProxy::new();
    let cases = corpus();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut args = Vec::new();
    let mut paths = Vec::new();
    for case in &cases {
        let module = module_of(case.name);
        let zp = if let Some(n) = case.huge {
            let zp = proxy.add(&module, V, format!("module {module}\n").as_bytes(), b"");
            write_huge(&zp, &module, n);
            zp
        } else {
            proxy.add(
                &module,
                V,
                format!("module {module}\n").as_bytes(),
                &build(case, &module),
            )
        };
        args.push(format!("{module}@{V}"));
        paths.push(zp);
    }
    let dl = go_mod_download(&proxy.url(), &args);
    assert!(
        !dl.status.success(),
        "go accepted the corpus:\n{}",
        dl.stderr
    );
    let mut failures = Vec::new();
    for (case, zp) in cases.iter().zip(&paths) {
        let module = module_of(case.name);
        let obj = dl
            .objects
            .iter()
            .find(|o| field(o, "Path") == module)
            .unwrap_or_else(|| panic!("no go output for {module}"));
        let go_err = field(obj, "Error");
        if std::env::var_os("CORPUS_DEBUG").is_some() {
            eprintln!("{}: go: {go_err}", case.name);
        }
        if go_err.is_empty() {
            failures.push(format!("{}: go accepted it", case.name));
            continue;
        }
        if !go_err.contains(case.go_keyword) {
            failures.push(format!(
                "{}: go's error lacks {:?}: {go_err}",
                case.name, case.go_keyword
            ));
        }
        match (check_zip_file(zp, &module, V), case.ours) {
            (Ok(rep), Some(kind)) => {
                if std::env::var_os("CORPUS_DEBUG").is_some() {
                    for v in &rep.violations {
                        eprintln!("{}:   ours: {v} ({:?})", case.name, v.kind);
                    }
                }
                if !rep.violations.iter().any(|v| v.kind == kind) {
                    failures.push(format!(
                        "{}: our checker did not report {kind:?}: {:?}",
                        case.name, rep.violations
                    ));
                }
                // Go's keyword appears in one of our messages too, where Go's
                // wording is one we reproduce.
                let our_keyword = match case.name {
                    // Go trips over the newline while hashing, before its name checks.
                    "newline" => "invalid char '\\n'",
                    _ => case.go_keyword,
                };
                if !our_keyword.is_empty()
                    && !rep
                        .violations
                        .iter()
                        .any(|v| v.to_string().contains(our_keyword))
                {
                    failures.push(format!(
                        "{}: none of our messages contains {:?}: {:?}",
                        case.name, our_keyword, rep.violations
                    ));
                }
            }
            (Ok(rep), None) => failures.push(format!(
                "{}: expected an unreadable zip, got report {:?}",
                case.name, rep.violations
            )),
            (Err(e), None) => {
                if !e.to_string().contains(case.go_keyword) {
                    failures.push(format!(
                        "{}: our error lacks {:?}: {e}",
                        case.name, case.go_keyword
                    ));
                }
            }
            (Err(e), Some(_)) => failures.push(format!("{}: our checker failed: {e}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn valid_zips_pass_go_and_our_checker() {
    let proxy = FileProxy::new();
    let mut args = Vec::new();
    for (i, extra) in [
        vec![file("a.go", b"package a\n")],
        vec![
            Item::Dir("sub/"),
            file("sub/b.go", b"package sub\n"),
            file("LICENSE", b"MIT\n"),
        ],
        vec![
            file("dir with space/x (1).txt", b"ok\n"),
            file("vendor/modules.txt", b"# x\n"),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let name: &'static str = ["valid0", "valid1", "valid2"][i];
        let case = Case {
            name,
            items: extra,
            bytes: None,
            huge: None,
            go_keyword: "",
            ours: None,
        };
        let module = module_of(name);
        let zp = proxy.add(
            &module,
            V,
            format!("module {module}\n").as_bytes(),
            &build(&case, &module),
        );
        let rep = check_zip_file(&zp, &module, V).unwrap();
        assert!(rep.is_valid(), "{name}: {:?}", rep.violations);
        assert!(rep.h1.is_some());
        args.push(format!("{module}@{V}"));
    }
    let dl = go_mod_download(&proxy.url(), &args);
    assert!(dl.status.success(), "{}", dl.stderr);
    for o in &dl.objects {
        assert!(field(o, "Error").is_empty(), "{}", field(o, "Error"));
    }
}

#[test]
fn every_violation_is_reported_not_just_the_first() {
    let module = "example.com/many/bad";
    let p = format!("{module}@{V}/");
    let mut zb = ZipBuilder::new(Cursor::new(Vec::new()));
    zb.add_file(&format!("{p}go.mod"), b"module example.com/many/bad\n")
        .unwrap();
    zb.add_file(&format!("{p}a:b.go"), b"x").unwrap();
    zb.add_file(&format!("{p}CON"), b"x").unwrap();
    zb.add_file(&format!("{p}X.go"), b"x").unwrap();
    zb.add_file(&format!("{p}x.go"), b"x").unwrap();
    zb.add_file(&format!("{p}sub/go.mod"), b"x").unwrap();
    zb.add_file("other@v1.0.0/z.go", b"x").unwrap();
    zb.add_raw(format!("{p}lie.go").as_bytes(), b"0123456789", &lie_size(2))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zp = dir.path().join("m.zip");
    std::fs::write(&zp, zb.finish().unwrap().into_inner()).unwrap();
    let rep = check_zip_file(&zp, module, V).unwrap();
    let kinds: Vec<_> = rep.violations.iter().map(|v| v.kind).collect();
    assert_eq!(
        kinds,
        [
            ViolationKind::FilePath,
            ViolationKind::FilePath,
            ViolationKind::CaseCollision,
            ViolationKind::GoModNotAtRoot,
            ViolationKind::Prefix,
            ViolationKind::SizeMismatch,
        ],
        "{:#?}",
        rep.violations
    );
    assert!(rep.h1.is_none());
    assert_eq!(rep.valid.len(), 2, "{:?}", rep.valid);
}
