//! `modwarden trace -- <go command>` / `trace --log FILE`: where the time of
//! a go command went (`-x` requests), or `--inittrace` for package inits.

use std::process::ExitCode;

use anyhow::Context as _;
use doctor::{render, runner};

use super::doctor::{print_json, runtime};
use super::progress::Progress;
use crate::cli::TraceArgs;

pub fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let (text, wall, code) = match (&args.log, args.command.is_empty()) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (text, None, Some(0))
        }
        (None, true) => {
            eprintln!("error: give a command after `--` or a recorded log with --log FILE");
            return Ok(ExitCode::from(2));
        }
        (None, false) => {
            // Show go's own messages, not the trace lines we analyse.
            let reporter = Progress::new(false).echo_notes(if args.inittrace {
                |l: &str| !l.starts_with("init ")
            } else {
                |l: &str| !l.starts_with("# get ")
            });
            let out = if args.inittrace {
                runtime()?
                    .block_on(runner::inittrace(&args.command, args.top, &reporter))?
                    .0
            } else {
                runtime()?
                    .block_on(runner::trace(&args.command, &reporter))?
                    .0
            };
            (out.stderr.clone(), Some(out.seconds), out.code)
        }
    };
    if args.inittrace {
        let r = doctor::inittrace::parse(&text, args.top);
        if args.json {
            print_json(&r)?;
        } else {
            print!("{}", render::inittrace(&r));
        }
    } else {
        let mut r = doctor::trace::parse(&text, wall);
        r.slowest.truncate(args.top);
        if args.json {
            print_json(&r)?;
        } else {
            print!("{}", render::trace(&r));
        }
    }
    Ok(if code == Some(0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
