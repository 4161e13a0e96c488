//! `modwarden sum`.

use std::process::ExitCode;

pub fn run(_args: crate::cli::SumArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
