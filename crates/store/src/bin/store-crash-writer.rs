//! Test helper for the store's crash and concurrency tests (not a user tool).
//!
//! `store-crash-writer loop <root> <seed>`: writes blobs, records and
//! documents into the local store at `root` forever, printing `ready` once
//! open and then `start <n>` as each version's write begins, until killed.
//!
//! `store-crash-writer same <root> <go-file>`: waits for `go-file` to exist,
//! then writes the same 20 versions every run (same bytes, same records) and
//! exits 0, or 1 with the error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use store::local::LocalStore;
use store::{BlobSource, DocKey, Record, RecordKey, Store};
use time::OffsetDateTime;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    r.fill(&mut v[..]);
    v
}

async fn write_version(
    s: &LocalStore,
    module: &str,
    version: &str,
    zip: BlobSource,
    fetched_at: OffsetDateTime,
) -> Res<()> {
    let zip = s.put_blob(zip).await?;
    let gomod = s
        .put_blob(BlobSource::Bytes(Bytes::from(format!("module {module}\n"))))
        .await?;
    let info = s
        .put_blob(BlobSource::Reader(Box::new(std::io::Cursor::new(
            format!("{{\"Version\":\"{version}\"}}").into_bytes(),
        ))))
        .await?;
    let rec = Record {
        zip: Some(zip),
        gomod,
        info,
        zip_h1: Some(format!("h1:{}", zip.digest.hex())),
        gomod_h1: "h1:gomod".into(),
        verified_by: "policy:test".into(),
        fetched_at,
    };
    s.put_record(&RecordKey::new(module, version), &rec).await?;
    Ok(())
}

async fn run_loop(root: &Path, seed: u64) -> Res<()> {
    let s = LocalStore::open(root).await?;
    let scratch = root.with_extension(format!("scratch-{seed}"));
    std::fs::create_dir_all(&scratch)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = std::io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    for i in 0u64.. {
        let len = if rng.gen_ratio(1, 15) {
            rng.gen_range(1 << 20..2 << 20)
        } else {
            rng.gen_range(0..300_000)
        };
        let bytes = data(seed * 1_000_000 + i, len);
        let src = match i % 3 {
            0 => BlobSource::Bytes(bytes.into()),
            1 => BlobSource::Reader(Box::new(std::io::Cursor::new(bytes))),
            _ => {
                let f = scratch.join("zip");
                std::fs::write(&f, &bytes)?;
                BlobSource::File(f)
            }
        };
        let module = format!("example.com/crash{}", i % 7);
        let version = format!("v1.{seed}.{i}");
        // Announce the write only once its bytes are ready, so a kill that
        // follows this line lands inside the store's work.
        writeln!(out, "start {i}")?;
        out.flush()?;
        write_version(&s, &module, &version, src, OffsetDateTime::now_utc()).await?;
        s.put_doc(
            &DocKey::List(module.clone()),
            Bytes::from(format!("{version}\n")),
            OffsetDateTime::now_utc(),
        )
        .await?;
    }
    Ok(())
}

async fn run_same(root: &Path, go: &Path) -> Res<()> {
    let s = LocalStore::open(root).await?;
    while !go.exists() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let at = OffsetDateTime::from_unix_timestamp(1_700_000_000)?;
    for i in 0..20u64 {
        let src = BlobSource::Bytes(data(i, 200_000).into());
        write_version(&s, "example.com/same", &format!("v1.0.{i}"), src, at).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1..).unwrap_or_default() {
        [mode, root, seed] if mode == "loop" => match seed.parse() {
            Ok(seed) => run_loop(&PathBuf::from(root), seed).await,
            Err(e) => Err(format!("bad seed {seed:?}: {e}").into()),
        },
        [mode, root, go] if mode == "same" => {
            run_same(&PathBuf::from(root), &PathBuf::from(go)).await
        }
        _ => Err("usage: store-crash-writer loop <root> <seed> | same <root> <go-file>".into()),
    };
    if let Err(e) = r {
        eprintln!("store-crash-writer: {e}");
        std::process::exit(1);
    }
}
