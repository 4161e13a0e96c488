//! `modwarden zip_check`.

use std::process::ExitCode;

pub fn run(_args: crate::cli::ZipCheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
