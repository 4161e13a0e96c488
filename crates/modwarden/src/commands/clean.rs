//! `modwarden clean`: remove module versions by pattern, version, age or
//! size budget (least recently used first), toolchains, or everything.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use doctor::{clean, render};

use super::doctor::{load_go_env, modcache_of, print_json};
use super::progress::Progress;
use crate::cli::CleanArgs;

pub fn run(args: CleanArgs) -> anyhow::Result<ExitCode> {
    let any_filter = args.module.is_some()
        || args.version.is_some()
        || args.older_than.is_some()
        || args.max_size.is_some()
        || args.toolchains
        || args.all;
    if !any_filter {
        eprintln!(
            "error: say what to clean: --module, --version, --older-than, --max-size, --toolchains or --all"
        );
        return Ok(ExitCode::from(2));
    }
    let env = load_go_env();
    let opts = clean::CleanOptions {
        modcache: modcache_of(args.modcache, &env)?,
        modules: args.module.as_deref().map(gomod::pattern::Patterns::parse),
        version: args.version,
        older_than: args
            .older_than
            .as_deref()
            .map(crate::units::parse_duration)
            .transpose()
            .context("--older-than")?,
        max_size: args
            .max_size
            .as_deref()
            .map(crate::units::parse_size)
            .transpose()
            .context("--max-size")?,
        toolchains: args.toolchains,
        all: args.all,
        dry_run: args.dry_run,
        lock_wait: Duration::from_secs(10),
        now: None,
    };
    let reporter = Progress::new(!args.json);
    let report = clean::clean(&opts, &reporter).context("cleaning the module cache")?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", render::clean(&report));
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
