//! `modwarden verify`: re-hash every blob of a proxy store, quarantine the
//! corrupt ones, and list records that name a missing or wrong-size blob
//! (`modwarden serve` refetches those versions). Safe while a `serve` uses
//! the same store.
//!
//! Also the helpers `gc` shares: opening an existing store without creating
//! one, and progress bars for `store::maint`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use doctor::render;
use store::Store;
use store::maint::{self, ScrubOptions, ScrubReport, Stats};

use super::doctor::{print_json, runtime};
use super::progress::Progress;
use crate::cli::VerifyArgs;

/// An opened store and where it is.
pub(super) struct OpenedStore {
    pub store: Arc<dyn Store>,
    /// The directory or URL, for messages.
    pub location: String,
    /// The directory of a local store.
    pub root: Option<PathBuf>,
}

/// The store named by `--store`, else `$MODWARDEN_STORE`, else serve's
/// default (`$XDG_CACHE_HOME/modwarden` or `~/.cache/modwarden`).
fn store_location(flag: Option<String>) -> anyhow::Result<String> {
    if let Some(s) = flag.filter(|s| !s.is_empty()) {
        return Ok(s);
    }
    if let Some(s) = std::env::var("MODWARDEN_STORE")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Ok(s);
    }
    if let Some(x) = std::env::var("XDG_CACHE_HOME")
        .ok()
        .filter(|v| v.starts_with('/'))
    {
        return Ok(PathBuf::from(x).join("modwarden").display().to_string());
    }
    match std::env::var("HOME").ok().filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(h)
            .join(".cache")
            .join("modwarden")
            .display()
            .to_string()),
        None => anyhow::bail!("no store given and HOME is unset: pass --store DIR|URL"),
    }
}

/// Whether `s` is an object store URL rather than a directory.
fn is_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Opens an existing store; never creates one. A missing directory, or one
/// without the store's `meta.toml`, is an error naming the path.
pub(super) async fn open_existing(flag: Option<String>) -> anyhow::Result<OpenedStore> {
    let location = store_location(flag)?;
    if is_url(&location) {
        if !object_store_has_meta(&location).await? {
            anyhow::bail!(
                "{location} is not a modwarden store (no {} there); \
                 `modwarden serve --store {location}` creates one",
                store::keys::META
            );
        }
        let s =
            store::object::ObjectStoreBackend::from_url(&location, Vec::<(String, String)>::new())
                .await
                .with_context(|| format!("cannot open the store {location}"))?;
        return Ok(OpenedStore {
            store: Arc::new(s),
            location,
            root: None,
        });
    }
    let root = PathBuf::from(&location);
    match std::fs::metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => anyhow::bail!("the store {} is not a directory", root.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("the store directory {} does not exist", root.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", root.display())),
    }
    if !root.join(store::keys::META).is_file() {
        anyhow::bail!(
            "{} is not a modwarden store (no {} in it)",
            root.display(),
            store::keys::META
        );
    }
    let s = store::local::LocalStore::open(&root)
        .await
        .with_context(|| format!("cannot open the store {}", root.display()))?;
    Ok(OpenedStore {
        store: Arc::new(s),
        location,
        root: Some(root),
    })
}

/// Whether the object store at `url` has a `meta.toml` under its prefix.
/// Checked before opening, since opening writes one for a new store.
async fn object_store_has_meta(url: &str) -> anyhow::Result<bool> {
    use object_store::ObjectStore;
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url} is not a valid URL"))?;
    let (s, prefix): (Box<dyn ObjectStore>, String) = if matches!(parsed.scheme(), "s3" | "s3a") {
        let s = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url)
            .build()
            .with_context(|| format!("cannot open {url}"))?;
        (Box::new(s), parsed.path().to_string())
    } else {
        let (s, p) =
            object_store::parse_url(&parsed).with_context(|| format!("cannot open {url}"))?;
        (s, p.to_string())
    };
    let prefix = prefix.trim_matches('/');
    let meta = if prefix.is_empty() {
        object_store::path::Path::from(store::keys::META)
    } else {
        object_store::path::Path::from(format!("{prefix}/{}", store::keys::META))
    };
    match s.head(&meta).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot read {url}/{}", store::keys::META)),
    }
}

#[derive(serde::Serialize)]
struct VerifyJson<'a> {
    store: &'a str,
    clean: bool,
    scrub: &'a ScrubReport,
    /// Where each quarantined blob was, for a local store.
    corrupt_paths: Vec<String>,
    stats: &'a Stats,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let opened = open_existing(args.store).await?;
        let bar = Progress::new(!args.json).label_width(20);
        let report = maint::scrub(
            opened.store.as_ref(),
            &ScrubOptions {
                concurrency: args.jobs.max(1),
            },
            &bar,
        )
        .await
        .with_context(|| format!("verifying the store {}", opened.location))?;
        let stats = maint::stats(opened.store.as_ref())
            .await
            .with_context(|| format!("counting the store {}", opened.location))?;
        let corrupt_paths: Vec<String> = report
            .quarantined
            .iter()
            .map(|q| match &opened.root {
                Some(r) => r.join(store::keys::blob(&q.digest)).display().to_string(),
                None => format!("{}/{}", opened.location, store::keys::blob(&q.digest)),
            })
            .collect();
        let clean = report.is_clean();
        if args.json {
            print_json(&VerifyJson {
                store: &opened.location,
                clean,
                scrub: &report,
                corrupt_paths,
                stats: &stats,
            })?;
        } else {
            print!(
                "{}",
                render_text(&opened.location, &report, &corrupt_paths, &stats)
            );
        }
        Ok(if clean {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

fn render_text(location: &str, r: &ScrubReport, corrupt_paths: &[String], s: &Stats) -> String {
    let mut out = format!("Store {location}\n");
    out.push_str(&format!(
        "  blobs checked:   {} ({})\n",
        r.blobs_checked,
        render::bytes(r.bytes_checked)
    ));
    out.push_str(&format!(
        "  corrupt blobs:   {}{}\n",
        r.quarantined.len(),
        if r.quarantined.is_empty() {
            ""
        } else {
            " (moved to quarantine; never served)"
        }
    ));
    for (q, from) in r.quarantined.iter().zip(corrupt_paths) {
        out.push_str(&format!("    {from}\n      -> {}\n", q.to));
    }
    out.push_str(&format!(
        "  dangling records: {}{}\n",
        r.records_missing_blobs.len(),
        if r.records_missing_blobs.is_empty() {
            ""
        } else {
            " (a blob is missing or has the wrong size; serve fetches these versions again on their next read from the store)"
        }
    ));
    for k in &r.records_missing_blobs {
        out.push_str(&format!("    {k}\n"));
    }
    if !r.quarantined_records.is_empty() {
        out.push_str(&format!(
            "  damaged records: {} (moved to quarantine; serve fetches and verifies these versions again when asked)\n",
            r.quarantined_records.len()
        ));
        for q in &r.quarantined_records {
            out.push_str(&format!("    {}: {}\n      -> {}\n", q.key, q.error, q.to));
        }
    }
    if !r.unreadable_records.is_empty() {
        out.push_str(&format!(
            "  unreadable records: {}\n",
            r.unreadable_records.len()
        ));
        for u in &r.unreadable_records {
            out.push_str(&format!("    {u}\n"));
        }
    }
    out.push_str(&format!(
        "  stored:          {} records, {} blobs, {}\n",
        s.records,
        s.blobs,
        render::bytes(s.blob_bytes)
    ));
    out.push_str(if r.is_clean() {
        "OK: every blob matches its digest and every record's blobs are present\n"
    } else {
        "PROBLEMS FOUND (see above)\n"
    });
    out
}
