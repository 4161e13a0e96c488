//! One file per subcommand; each returns the process exit code.

use std::process::ExitCode;

use crate::cli::{Cli, Command, ZipCommand};

mod clean;
mod doctor;
mod gc;
mod retry;
mod serve;
mod sum;
mod trace;
mod verify;
mod warm;
mod zip_check;

/// Starts a phase of long work on a progress bar (hidden when stderr is not
/// a terminal): `<phase> [=====>    ] pos/len elapsed`, the phase name
/// right-aligned in `label_width` columns.
pub(crate) fn start_bar_phase(
    bar: &indicatif::ProgressBar,
    phase: &str,
    total: u64,
    label_width: usize,
) {
    bar.reset();
    bar.set_length(total);
    let template = format!("{{msg:>{label_width}}} [{{bar:40}}] {{pos}}/{{len}} {{elapsed}}");
    bar.set_style(
        indicatif::ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(phase.to_string());
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Sum(args) => sum::run(args),
        Command::Zip(ZipCommand::Check(args)) => zip_check::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Clean(args) => clean::run(args),
        Command::Retry(args) => retry::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Warm(args) => warm::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Gc(args) => gc::run(args),
    }
}
