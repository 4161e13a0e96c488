//! `modwarden verify`: re-hash every blob of a proxy store, quarantine the
//! corrupt ones, and list records that name a missing or wrong-size blob
//! (`modwarden serve` refetches those versions). Safe while a `serve` uses
//! the same store.
//!
//! Also the helpers `gc` shares: opening an existing store without creating
//! one, and progress bars for `store::maint`.

use std::collections::BTreeMap;
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
fn store_location(flag: Option<String>) -> anyhow::Result<store::Location> {
    let text = match flag.filter(|s| !s.is_empty()) {
        Some(s) => s,
        None => {
            let vars: BTreeMap<String, String> = ["MODWARDEN_STORE", "XDG_CACHE_HOME", "HOME"]
                .into_iter()
                .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
                .collect();
            match vars.get("MODWARDEN_STORE").filter(|s| !s.is_empty()) {
                Some(s) => s.clone(),
                None => match proxy::config::default_store(&vars) {
                    Some(d) => d.display().to_string(),
                    None => anyhow::bail!("no store given and HOME is unset: pass --store DIR|URL"),
                },
            }
        }
    };
    Ok(store::Location::parse(&text)?)
}

/// Opens an existing store; never creates one. A missing directory, or one
/// (or a bucket prefix) without the store's `meta.toml`, is an error naming
/// the location ([`store::Error::NoStore`]).
pub(super) async fn open_existing(flag: Option<String>) -> anyhow::Result<OpenedStore> {
    let location = store_location(flag)?;
    let store = store::open(&location, &store::OpenOptions::existing()).await?;
    Ok(OpenedStore {
        store,
        location: location.to_string(),
        root: location.dir().map(Into::into),
    })
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
