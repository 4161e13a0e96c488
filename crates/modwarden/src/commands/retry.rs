//! `modwarden retry -- <go command>`: retries network failures with backoff,
//! repairs broken cache entries, stops at once on what retrying cannot fix.

use std::process::ExitCode;
use std::time::Duration;

use doctor::{render, runner};

use super::doctor::{load_go_env, print_json, runtime};
use super::progress::Progress;
use crate::cli::RetryArgs;

pub fn run(args: RetryArgs) -> anyhow::Result<ExitCode> {
    let modcache = args.modcache.or_else(|| load_go_env().modcache());
    let opts = runner::RetryOptions {
        max_attempts: args.attempts,
        initial_delay: Duration::from_millis(args.initial_delay_ms),
        max_delay: Duration::from_millis(args.max_delay_ms),
        modcache,
        lock_wait: Duration::from_secs(10),
    };
    let reporter = Progress::new(false).echo_notes(|_| true);
    let report = runtime()?.block_on(runner::retry(&args.command, &opts, &reporter))?;
    eprint!("{}", render::retry(&report));
    if args.json {
        print_json(&report)?;
    }
    Ok(if report.success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
