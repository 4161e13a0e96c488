//! The `modwarden` binary: parses the command line and hands each subcommand
//! to its file under `commands/`. No business logic lives here.

// cli.rs's doc comments are clap's --help text (`[default: ...]`, `[URL]`),
// not rustdoc: brackets there are not links.
#[allow(rustdoc::broken_intra_doc_links)]
mod cli;
mod commands;
mod logging;
mod units;

use std::process::ExitCode;

fn main() -> ExitCode {
    match commands::run(cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
