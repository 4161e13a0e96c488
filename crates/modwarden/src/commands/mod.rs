//! One file per subcommand; each returns the process exit code.

use std::process::ExitCode;

use crate::cli::{Cli, Command, ZipCommand};

mod serve;
mod sum;
mod zip_check;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Sum(args) => sum::run(args),
        Command::Zip(ZipCommand::Check(args)) => zip_check::run(args),
    }
}
