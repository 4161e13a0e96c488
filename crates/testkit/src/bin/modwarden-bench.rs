//! Helper binary for `bench/run` (not shipped):
//!
//! ```text
//! modwarden-bench upstream --listen ADDR --work DIR [--latency-ms N]
//!                          [--graph-reps R] [--graph-size N] [--run-id ID] [--quick]
//! modwarden-bench scrub STORE_ROOT
//! ```
//!
//! `upstream` builds the benchmark data in memory, writes it to disk, and
//! serves it as a fixture upstream (GOPROXY protocol plus a test checksum
//! database under `/sumdb/<name>/`) with `--latency-ms` of delay injected
//! before every answer. Written under `--work`:
//!
//! - `sumdb.skey`: the checksum database's signing key, kept across runs so a
//!   peer proxy configured once keeps working;
//! - `tree/`: the same bytes as a GOPROXY tree on disk (for nginx);
//! - `mains/rR/go.mod`: main modules requiring the dependency graph of rep R;
//! - `upstream.env`: `URL=`, `VKEY=`, `SUMDB_NAME=`, `RUN_ID=` for the shell.
//!
//! The big modules are `example.com/big/{z1k,z1m,z50m,z200m}` (stored zips of
//! pseudo-random bytes) and `example.com/big/zmix` (a deflated zip of mixed
//! text and random bytes, for the h1 benchmark). The graph of rep R is
//! `example.com/graph/<run id>/rR/mNNN@v1.0.0`, in layers where each module
//! requires three of the next layer, so the go command has to walk it.
//!
//! `scrub` runs `store::maint::scrub` on a local store and prints
//! `<seconds> <bytes checked> <blobs checked>`.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gomod::zip::{Method, RawOptions, ZipBuilder};
use sumdb::note::Signer;
use sumdb::server::TreeBuilder;
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::server::{Behaviour, FixtureServer};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const SUMDB_NAME: &str = "sum.bench.test";
const MIB: usize = 1 << 20;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modwarden-bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("upstream") => upstream(&args[1..]),
        Some("scrub") => scrub(&args[1..]),
        _ => Err("usage: modwarden-bench upstream --listen ADDR --work DIR [--latency-ms N] [--graph-reps R] [--graph-size N] [--run-id ID] [--quick] | scrub STORE_ROOT".into()),
    }
}

struct Opts {
    listen: String,
    work: PathBuf,
    latency_ms: u64,
    graph_reps: usize,
    graph_size: usize,
    run_id: String,
    quick: bool,
}

fn parse(args: &[String]) -> Res<Opts> {
    let mut o = Opts {
        listen: "127.0.0.1:0".into(),
        work: PathBuf::from("bench/work"),
        latency_ms: 0,
        graph_reps: 1,
        graph_size: 120,
        run_id: "run0".into(),
        quick: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("flag {name} needs a value"))
        };
        match a.as_str() {
            "--listen" => o.listen = val(a)?,
            "--work" => o.work = PathBuf::from(val(a)?),
            "--latency-ms" => o.latency_ms = val(a)?.parse()?,
            "--graph-reps" => o.graph_reps = val(a)?.parse()?,
            "--graph-size" => o.graph_size = val(a)?.parse()?,
            "--run-id" => o.run_id = val(a)?,
            "--quick" => o.quick = true,
            other => return Err(format!("unknown flag {other:?}").into()),
        }
    }
    if !o
        .run_id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        || o.run_id.is_empty()
    {
        return Err(format!(
            "run id {:?}: use lower-case letters and digits only",
            o.run_id
        )
        .into());
    }
    Ok(o)
}

/// xorshift64*: fast deterministic filler bytes.
struct Rng(u64);
impl Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn finish(path: &str, version: &str, gomod: Vec<u8>, zip: Vec<u8>) -> Res<ModuleVersion> {
    let zip_h1 = gomod::dirhash::hash_zip(Cursor::new(&zip))?;
    let gomod_h1 = gomod::dirhash::hash_gomod(&gomod);
    let time = "2024-01-01T00:00:00Z".to_string();
    let info_json = format!("{{\"Version\":\"{version}\",\"Time\":\"{time}\"}}").into_bytes();
    Ok(ModuleVersion {
        path: path.into(),
        version: version.into(),
        time,
        info_json,
        gomod,
        zip,
        zip_h1,
        gomod_h1,
    })
}

/// A module whose zip is about `size` bytes: go.mod plus stored files of
/// pseudo-random bytes (at most 1 MiB each).
fn big_stored(path: &str, size: usize, seed: u64) -> Res<ModuleVersion> {
    let version = "v1.0.0";
    let gomod = format!("module {path}\n\ngo 1.21\n").into_bytes();
    let mut z = ZipBuilder::new(Vec::with_capacity(size + 4096));
    z.add_file(&format!("{path}@{version}/go.mod"), &gomod)?;
    let mut rng = Rng(seed | 1);
    let store = RawOptions {
        method: Method::Store,
        ..RawOptions::default()
    };
    let overhead = 200;
    let mut left = size.saturating_sub(overhead);
    let mut buf = vec![0u8; MIB];
    let mut i = 0;
    while left > 0 {
        let n = left.min(MIB);
        let name = format!("{path}@{version}/data/blob{i:04}.bin");
        let chunk = &mut buf[..n];
        rng.fill(chunk);
        z.add_raw(name.as_bytes(), chunk, &store)?;
        left = left.saturating_sub(n + 100 + name.len());
        i += 1;
    }
    finish(path, version, gomod, z.finish()?)
}

/// A deflated module of about `size` bytes of mixed content (Go-like text
/// and random bytes, in files of 16 KiB to 512 KiB).
fn big_mixed(path: &str, size: usize) -> Res<ModuleVersion> {
    let version = "v1.0.0";
    let gomod = format!("module {path}\n\ngo 1.21\n").into_bytes();
    let mut z = ZipBuilder::new(Vec::with_capacity(size));
    z.add_file(&format!("{path}@{version}/go.mod"), &gomod)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let words: [&[u8]; 10] = [
        b"package ",
        b"func ",
        b"return ",
        b"struct {\n",
        b"interface{} ",
        b"err != nil ",
        b"if ",
        b"for i := range ",
        b"}\n",
        b"x := y + z\n",
    ];
    let mut written = 0usize;
    let mut i = 0;
    let mut r8 = [0u8; 8];
    while written < size {
        rng.fill(&mut r8);
        let n = 16 * 1024 + (u64::from_le_bytes(r8) as usize % (496 * 1024));
        let mut data = vec![0u8; n / 2];
        rng.fill(&mut data);
        while data.len() < n {
            rng.fill(&mut r8);
            data.extend_from_slice(words[r8[0] as usize % words.len()]);
        }
        z.add_file(&format!("{path}@{version}/pkg{}/file{i}.go", i % 50), &data)?;
        // Random halves do not compress; text compresses about 8x.
        written += n / 2 + n / 16;
        i += 1;
    }
    finish(path, version, gomod, z.finish()?)
}

fn graph_path(run_id: &str, rep: usize, i: usize) -> String {
    format!("example.com/graph/{run_id}/r{rep}/m{i:03}")
}

/// Layers of 20; module i of layer k requires modules (i + j*7) % width of
/// layer k+1 for j in 0..3.
fn graph(run_id: &str, rep: usize, size: usize) -> Vec<ModuleVersion> {
    let width = 20usize.min(size.max(1));
    let mut out = Vec::with_capacity(size);
    for i in 0..size {
        let path = graph_path(run_id, rep, i);
        let layer = i / width;
        let pos = i % width;
        let mut reqs = Vec::new();
        for j in 0..3 {
            let t = (layer + 1) * width + (pos + j * 7) % width;
            if t < size && !reqs.contains(&t) {
                reqs.push(t);
            }
        }
        let mut gomod = format!("module {path}\n\ngo 1.16\n");
        if !reqs.is_empty() {
            gomod.push_str("\nrequire (\n");
            for t in &reqs {
                gomod.push_str(&format!("\t{} v1.0.0\n", graph_path(run_id, rep, *t)));
            }
            gomod.push_str(")\n");
        }
        let pkg = format!("m{i:03}");
        let src = format!("package {pkg}\n\n// N is the fixture's number.\nconst N = {i}\n");
        out.push(ModuleVersion::from_files(
            &path,
            "v1.0.0",
            &[
                ("go.mod", gomod.as_bytes()),
                (&format!("{pkg}.go"), src.as_bytes()),
            ],
        ));
    }
    out
}

fn write(path: &Path, data: &[u8]) -> Res<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(path, data).map_err(|e| format!("write {}: {e}", path.display()).into())
}

fn write_tree(root: &Path, set: &FixtureSet) -> Res<()> {
    let mut paths: Vec<&str> = set.iter().map(|m| m.path.as_str()).collect();
    paths.dedup();
    for p in paths {
        let esc = gomod::escape::escape_string(p);
        let dir = root.join(&esc).join("@v");
        let mut list = set.list(p).join("\n");
        list.push('\n');
        write(&dir.join("list"), list.as_bytes())?;
    }
    for mv in set.iter() {
        let esc = gomod::escape::escape_string(&mv.path);
        let ev = gomod::escape::escape_string(&mv.version);
        let dir = root.join(&esc).join("@v");
        write(&dir.join(format!("{ev}.info")), &mv.info_json)?;
        write(&dir.join(format!("{ev}.mod")), &mv.gomod)?;
        let zp = dir.join(format!("{ev}.zip"));
        let same = std::fs::metadata(&zp).map(|m| m.len() == mv.zip.len() as u64);
        // Big zips are deterministic: skip rewriting an identical-size file.
        if !(same.unwrap_or(false) && mv.path.starts_with("example.com/big/")) {
            write(&zp, &mv.zip)?;
        }
    }
    Ok(())
}

fn load_or_make_key(work: &Path) -> Res<TreeBuilder> {
    let f = work.join("sumdb.skey");
    let skey = match std::fs::read_to_string(&f) {
        Ok(s) => s.trim().to_string(),
        Err(_) => {
            let (skey, _vkey) = sumdb::note::generate_key(SUMDB_NAME, &mut rand::rngs::OsRng)?;
            write(&f, skey.as_bytes())?;
            skey
        }
    };
    Ok(TreeBuilder::new(Signer::from_skey(&skey)?))
}

fn upstream(args: &[String]) -> Res<()> {
    let o = parse(args)?;
    std::fs::create_dir_all(&o.work)?;
    let t0 = Instant::now();
    let mut set = FixtureSet::new();
    set.add(big_stored("example.com/big/z1k", 1024, 1)?);
    set.add(big_stored("example.com/big/z1m", MIB, 2)?);
    set.add(big_stored("example.com/big/z50m", 50 * MIB, 3)?);
    if !o.quick {
        set.add(big_stored("example.com/big/z200m", 200 * MIB, 4)?);
        set.add(big_mixed("example.com/big/zmix", 64 * MIB)?);
    } else {
        set.add(big_stored("example.com/big/z200m", 20 * MIB, 4)?);
        set.add(big_mixed("example.com/big/zmix", 8 * MIB)?);
    }
    for rep in 0..o.graph_reps {
        for mv in graph(&o.run_id, rep, o.graph_size) {
            set.add(mv);
        }
        let width = 20usize.min(o.graph_size.max(1));
        let mut gomod = format!("module example.com/benchmain/r{rep}\n\ngo 1.16\n\nrequire (\n");
        for i in 0..width.min(o.graph_size) {
            gomod.push_str(&format!("\t{} v1.0.0\n", graph_path(&o.run_id, rep, i)));
        }
        gomod.push_str(")\n");
        write(
            &o.work.join(format!("mains/r{rep}/go.mod")),
            gomod.as_bytes(),
        )?;
    }
    let mut db = load_or_make_key(&o.work)?;
    set.add_to_sumdb(&mut db);
    let vkey = db.vkey();
    write_tree(&o.work.join("tree"), &set)?;
    eprintln!(
        "modwarden-bench upstream: {} module versions, data ready in {:.1}s",
        set.len(),
        t0.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let srv = FixtureServer::start_on(&o.listen, set, Some(db)).await?;
        if o.latency_ms > 0 {
            let d = Duration::from_millis(o.latency_ms);
            srv.set_hook(Arc::new(move |_| Behaviour::Delay(d)));
        }
        let env = format!(
            "URL={}\nVKEY={vkey}\nSUMDB_NAME={SUMDB_NAME}\nRUN_ID={}\nGRAPH_REPS={}\nGRAPH_SIZE={}\nLATENCY_MS={}\n",
            srv.base_url(),
            o.run_id,
            o.graph_reps,
            o.graph_size,
            o.latency_ms
        );
        write(&o.work.join("upstream.env"), env.as_bytes())?;
        eprintln!(
            "modwarden-bench upstream: serving on {} ({} ms latency)",
            srv.base_url(),
            o.latency_ms
        );
        tokio::signal::ctrl_c().await?;
        srv.stop().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

fn scrub(args: &[String]) -> Res<()> {
    let [root] = args else {
        return Err("usage: modwarden-bench scrub STORE_ROOT".into());
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let s = store::local::LocalStore::open(Path::new(root)).await?;
        let t = Instant::now();
        let r = store::maint::scrub(
            &s,
            &store::maint::ScrubOptions::default(),
            &store::maint::NoReporter,
        )
        .await?;
        let secs = t.elapsed().as_secs_f64();
        if !r.is_clean() {
            return Err(format!("store {root} is not clean: {r:?}").into());
        }
        println!("{secs:.6} {} {}", r.bytes_checked, r.blobs_checked);
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
