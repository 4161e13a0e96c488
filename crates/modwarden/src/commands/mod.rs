//! One file per subcommand; each returns the process exit code.

use std::process::ExitCode;

use crate::cli::{Cli, Command, ZipCommand};

mod clean;
mod doctor;
mod gc;
mod progress;
mod retry;
mod serve;
mod sum;
mod trace;
mod verify;
mod warm;
mod zip_check;

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
