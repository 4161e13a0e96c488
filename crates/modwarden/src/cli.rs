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
    /// Run the caching, verifying Go module proxy.
    Serve(Box<ServeArgs>),
    /// Print the go.sum line(s) for a module zip, a go.mod file or an extracted module directory.
    Sum(SumArgs),
    /// Module zip tools.
    #[command(subcommand)]
    Zip(ZipCommand),
    /// Diagnose the Go environment, the network path to GOPROXY and GOSUMDB, and the module cache; `--fix` repairs exactly the broken entries.
    Doctor(DoctorArgs),
    /// Remove module versions from GOMODCACHE by pattern, version, age, size budget (LRU), toolchains, or all.
    Clean(CleanArgs),
    /// Run a go command, retrying network failures with backoff and repairing broken cache entries.
    Retry(RetryArgs),
    /// Run a go command with -x (or read a log) and report where the time went.
    Trace(TraceArgs),
    /// Pre-fetch module versions (module@version, go.sum or go.mod files) through a running modwarden or any GOPROXY URL.
    Warm(WarmArgs),
    /// Re-hash every blob of a proxy store, quarantine corrupt ones and list records that name a missing blob.
    Verify(VerifyArgs),
    /// Remove records of a proxy store by module, age or size budget, then the blobs no record needs.
    Gc(GcArgs),
}

#[derive(Debug, Args)]
pub struct WarmArgs {
    /// The proxy to fetch through [default: $MODWARDEN_PROXY, else the first http(s) entry of `go env GOPROXY`].
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Versions fetched at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,
    /// Timeout of each request in seconds (0: none).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// `module@version` items and/or paths to go.sum or go.mod files.
    #[arg(required = true, value_name = "ARGS")]
    pub items: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The store: a directory, or an object store URL such as s3://bucket/prefix [default: the user's cache directory/modwarden].
    #[arg(long, value_name = "DIR|URL")]
    pub store: Option<String>,
    /// Blobs hashed at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// The store: a directory, or an object store URL such as s3://bucket/prefix [default: the user's cache directory/modwarden].
    #[arg(long, value_name = "DIR|URL")]
    pub store: Option<String>,
    /// Keep stored blobs within this size, least recently used versions first. K, M, G, T are powers of 1024 (5G = 5 GiB), like KiB, MiB, GiB, TiB; kB, MB, GB, TB are powers of 1000 (5GB = 5000000000 bytes); a number alone is bytes; decimals allowed (1.5G).
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Remove versions not served (or fetched) for this long (30d, 12h, 90m, 3600s): a number with s, m (minutes), h, d, w, M (months), y; several add up (1w 3d).
    #[arg(long, value_name = "DURATION")]
    pub unused_for: Option<String>,
    /// Remove every version of modules matching these patterns (GOPRIVATE syntax; repeatable).
    #[arg(long, value_name = "PATTERNS")]
    pub module: Vec<String>,
    /// Report what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Remove the broken entries found (healthy entries are never touched).
    #[arg(long)]
    pub fix: bool,
    /// With --fix: download the removed entries again through GOPROXY, verified against go.sum or the checksum database.
    #[arg(long, requires = "fix")]
    pub refetch: bool,
    /// Only scan the module cache (no environment checks, no network probes).
    #[arg(long)]
    pub cache_only: bool,
    /// Skip the network probes.
    #[arg(long)]
    pub no_probe: bool,
    /// The module cache to scan [default: go env GOMODCACHE].
    #[arg(long, value_name = "DIR")]
    pub modcache: Option<PathBuf>,
    /// The go.sum to compare with [default: the current module's].
    #[arg(long, value_name = "FILE")]
    pub gosum: Option<PathBuf>,
    /// Timeout of each network probe and refetch request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
    /// How long to wait for a running go command's per-version lock, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub lock_wait: u64,
    /// Run the command after `--` twice: as is, then with empty GOMODCACHE, GOPATH and GOCACHE, to tell a broken cache from a broken network.
    #[arg(long)]
    pub sandbox: bool,
    /// The go command for --sandbox.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only modules matching these patterns (GOPRIVATE syntax: comma-separated globs of path prefixes).
    #[arg(long, value_name = "PATTERNS")]
    pub module: Option<String>,
    /// Only this version.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Only entries not used for this long (e.g. 30d, 12h, 2w): a number with s, m (minutes), h, d, w, M (months), y; several add up (1w 3d). Last use = latest atime/mtime of the .mod, .zip, .info and extracted dir.
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Remove least recently used entries until the cache fits (e.g. 5G, 500M). K, M, G, T are powers of 1024 (5G = 5 GiB), like KiB, MiB, GiB, TiB; kB, MB, GB, TB are powers of 1000 (5GB = 5000000000 bytes); a number alone is bytes; decimals allowed (1.5G).
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Only downloaded toolchains (golang.org/toolchain).
    #[arg(long)]
    pub toolchains: bool,
    /// Everything, like `go clean -modcache` (read-only trees included).
    #[arg(long, conflicts_with_all = ["module", "version", "older_than", "max_size", "toolchains"])]
    pub all: bool,
    /// List what would be removed and how many bytes; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The module cache [default: go env GOMODCACHE].
    #[arg(long, value_name = "DIR")]
    pub modcache: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Attempts in all, the first run included.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub attempts: u32,
    /// Delay before the first retry in milliseconds; doubles each retry.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub initial_delay_ms: u64,
    /// Longest delay between attempts in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30000)]
    pub max_delay_ms: u64,
    /// Print the report as JSON (on stdout, after the command's own output).
    #[arg(long)]
    pub json: bool,
    /// The module cache for repairs [default: go env GOMODCACHE].
    #[arg(long, value_name = "DIR")]
    pub modcache: Option<PathBuf>,
    /// The go command to run.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Read a recorded `-x` (or inittrace) log instead of running a command.
    #[arg(long, value_name = "FILE", conflicts_with = "command")]
    pub log: Option<PathBuf>,
    /// Analyse `GODEBUG=inittrace=1` output instead of `-x`.
    #[arg(long)]
    pub inittrace: bool,
    /// How many entries each ranking shows.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The go command to run.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
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
    /// The module path the zip is for (inferred from a GOMODCACHE path or the
    /// zip's common `module@version/` prefix when omitted).
    #[arg(long)]
    pub module: Option<String>,
    /// The version the zip is for (inferred like --module when omitted).
    #[arg(long)]
    pub version: Option<String>,
}

/// `modwarden serve`: the config file, and every setting, declared once in
/// [`proxy::config::Layer`] (flag, `MODWARDEN_<NAME>` variable and file key).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML) [default: ./modwarden.toml if it exists].
    #[arg(long, env = "MODWARDEN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: proxy::config::Layer,
}

pub fn parse() -> Cli {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let matches = Cli::command()
        .mut_subcommand("serve", proxy::config::for_process)
        .get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::CommandFactory as _;

    use super::Cli;

    /// The `--flags` in the first column of README.md's `serve` settings
    /// table (`| flag | meaning |`).
    fn readme_flags() -> BTreeSet<String> {
        let readme = include_str!("../../../README.md");
        let table: Vec<&str> = readme
            .lines()
            .skip_while(|l| l.trim() != "| flag | meaning |")
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert!(
            !table.is_empty(),
            "no `| flag | meaning |` table in README.md"
        );
        let mut flags = BTreeSet::new();
        for row in table {
            let first = row
                .trim_start_matches('|')
                .split(" | ")
                .next()
                .unwrap_or("");
            for word in first.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                if let Some(name) = word.strip_prefix("--").filter(|n| !n.is_empty()) {
                    flags.insert(name.to_string());
                }
            }
        }
        flags
    }

    #[test]
    fn readme_settings_table_lists_exactly_the_serve_flags() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        let serve = cli.find_subcommand("serve").expect("a serve subcommand");
        let declared: BTreeSet<String> = serve
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "help")
            .map(str::to_string)
            .collect();
        let documented = readme_flags();
        let undocumented: Vec<_> = declared.difference(&documented).collect();
        let undeclared: Vec<_> = documented.difference(&declared).collect();
        assert!(
            undocumented.is_empty() && undeclared.is_empty(),
            "README.md's serve table is out of date: declared but not in the table: {undocumented:?}; \
             in the table but not declared: {undeclared:?}"
        );
    }
}
