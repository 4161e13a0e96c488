//! `modwarden gc`: remove records of a proxy store by module pattern, age
//! and size budget, then every blob no remaining record needs
//! (`store::maint::gc`). Safe while a `serve` uses the same store: a removed
//! version is simply fetched again on its next request.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use doctor::render;
use store::maint::{self, GcOptions, GcReport};

use super::doctor::{print_json, runtime};
use super::progress::Progress;
use super::verify::open_existing;
use crate::cli::GcArgs;

#[derive(serde::Serialize)]
struct GcJson<'a> {
    store: &'a str,
    criteria: bool,
    orphan_grace_secs: u64,
    #[serde(flatten)]
    report: &'a GcReport,
}

pub fn run(args: GcArgs) -> anyhow::Result<ExitCode> {
    let max_bytes = args
        .max_size
        .as_deref()
        .map(crate::units::parse_size)
        .transpose()
        .context("--max-size")?;
    let max_unused = args
        .unused_for
        .as_deref()
        .map(crate::units::parse_duration)
        .transpose()
        .context("--unused-for")?;
    for p in &args.module {
        let parsed = gomod::pattern::Patterns::parse(p);
        if let Some(bad) = parsed.invalid().first() {
            anyhow::bail!(
                "--module: invalid pattern {bad:?} in {p:?} (GOPRIVATE syntax: comma-separated globs of module path prefixes)"
            );
        }
        if parsed.is_empty() {
            anyhow::bail!("--module: empty pattern list {p:?}");
        }
    }
    let opts = GcOptions {
        max_bytes,
        max_unused,
        modules: args.module.clone(),
        dry_run: args.dry_run,
        ..GcOptions::default()
    };
    let criteria = max_bytes.is_some() || max_unused.is_some() || !args.module.is_empty();
    runtime()?.block_on(async move {
        let opened = open_existing(args.store).await?;
        let bar = Progress::new(!args.json).label_width(20);
        let report = maint::gc(opened.store.as_ref(), &opts, &bar)
            .await
            .with_context(|| format!("collecting garbage in the store {}", opened.location))?;
        if args.json {
            print_json(&GcJson {
                store: &opened.location,
                criteria,
                orphan_grace_secs: opts.orphan_grace.as_secs(),
                report: &report,
            })?;
        } else {
            print!(
                "{}",
                render_text(&opened.location, &opts, criteria, &report)
            );
        }
        Ok(if report.unreadable_records.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

fn render_text(location: &str, opts: &GcOptions, criteria: bool, r: &GcReport) -> String {
    let mut out = format!(
        "gc of {location}{}\n",
        if r.dry_run {
            " (DRY RUN: nothing was removed; this is what would be)"
        } else {
            ""
        }
    );
    if !criteria {
        out.push_str(&format!(
            "  no criterion given (--max-size, --unused-for, --module): only blobs that no record needs and that are older than {} are removed\n",
            human_duration(opts.orphan_grace)
        ));
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    let mut section = |title: String, keys: &[store::RecordKey], sort: bool| {
        let mut keys = keys.to_vec();
        if sort {
            keys.sort();
        }
        out.push_str(&format!("  {title}: {} versions\n", keys.len()));
        for k in keys {
            out.push_str(&format!("    {k}\n"));
        }
    };
    if !opts.modules.is_empty() {
        section(
            format!("{verb}, module matches {}", opts.modules.join(" ")),
            &r.records_by_module,
            true,
        );
    }
    if let Some(age) = opts.max_unused {
        section(
            format!("{verb}, unused for over {}", human_duration(age)),
            &r.records_by_age,
            true,
        );
    }
    if let Some(b) = opts.max_bytes {
        section(
            format!(
                "{verb} to fit {} ({b} bytes), least recently used first",
                render::bytes(b)
            ),
            &r.records_by_size,
            false,
        );
    }
    out.push_str(&format!(
        "  {verb}: {} blobs, {} freed\n  blob bytes left{}: {}\n",
        r.blobs_removed,
        render::bytes(r.bytes_freed),
        if r.dry_run { " after" } else { "" },
        render::bytes(r.bytes_after)
    ));
    if !r.unreadable_records.is_empty() {
        out.push_str(&format!(
            "  no blob was removed: {} records could not be read (run `modwarden verify`):\n",
            r.unreadable_records.len()
        ));
        for u in &r.unreadable_records {
            out.push_str(&format!("    {u}\n"));
        }
    }
    out
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= n && s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_their_largest_whole_unit() {
        assert_eq!(human_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(human_duration(Duration::from_secs(5400)), "90m");
        assert_eq!(human_duration(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(human_duration(Duration::from_secs(61)), "61s");
    }
}
