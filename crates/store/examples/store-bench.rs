//! Benchmark helper run by `bench/store.sh`; one operation per process so the
//! peak RSS it prints belongs to that operation.
//!
//! `store-bench put <root> <file>`   -> `<seconds> <peak RSS KiB> <digest hex>`
//! `store-bench get <root> <digest>` -> `<seconds> <peak RSS KiB> <bytes>`

use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;
use store::local::LocalStore;
use store::{BlobSource, Digest, Store};
use tokio::io::AsyncWriteExt;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (op, root, arg) = match &args[1..] {
        [op, root, arg] => (op.as_str(), PathBuf::from(root), arg.clone()),
        _ => return Err("usage: store-bench put|get <root> <file|digest>".into()),
    };
    let s = LocalStore::open(&root).await?;
    match op {
        "put" => {
            let t = Instant::now();
            let b = s.put_blob(BlobSource::File(PathBuf::from(arg))).await?;
            let secs = t.elapsed().as_secs_f64();
            println!("{secs:.6} {} {}", peak_rss_kib(), b.digest.hex());
        }
        "get" => {
            let d = Digest::parse(&arg)?;
            let mut out = tokio::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .await?;
            let t = Instant::now();
            let mut st = s.get_blob(&d, None).await?;
            let mut n = 0u64;
            while let Some(c) = st.next().await {
                let c = c?;
                n += c.len() as u64;
                out.write_all(&c).await?;
            }
            let secs = t.elapsed().as_secs_f64();
            println!("{secs:.6} {} {n}", peak_rss_kib());
        }
        _ => return Err(format!("unknown op {op:?}").into()),
    }
    Ok(())
}
