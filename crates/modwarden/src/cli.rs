//! The command line, declared with clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// modwarden: a verifying, caching Go module proxy and a doctor for Go module caches.
#[derive(Debug, Parser)]
#[command(name = "modwarden", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the go.sum line(s) for a module zip, a go.mod file or an extracted module directory.
    Sum(SumArgs),
    /// Module zip tools.
    #[command(subcommand)]
    Zip(ZipCommand),
}

#[derive(Debug, Args)]
pub struct SumArgs {
    /// Module zips (`*.zip`), go.mod files, or extracted module directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Module path, where it cannot be inferred from the file.
    #[arg(long)]
    pub module: Option<String>,
    /// Module version, where it cannot be inferred from the file.
    #[arg(long)]
    pub version: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ZipCommand {
    /// Check a module zip against every rule the go command enforces; exit 1 listing each violation.
    Check(ZipCheckArgs),
}

#[derive(Debug, Args)]
pub struct ZipCheckArgs {
    /// The module zip to check.
    pub path: PathBuf,
    /// The module path the zip is for.
    #[arg(long)]
    pub module: String,
    /// The version the zip is for.
    #[arg(long)]
    pub version: String,
}

pub fn parse() -> Cli {
    Cli::parse()
}
