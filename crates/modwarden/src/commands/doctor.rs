//! `modwarden doctor`: environment, network, disk and module cache; `--fix`
//! and `--refetch` repair; `--sandbox` reruns a command with empty caches.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use doctor::env::{GoEnv, Level};
use doctor::{cache, render, repair};

use super::progress::Progress;
use crate::cli::DoctorArgs;

/// The go binary: `$MODWARDEN_GO`, else `go`.
pub(super) fn go_binary() -> std::ffi::OsString {
    std::env::var_os("MODWARDEN_GO")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "go".into())
}

/// The effective Go environment: `go env -json` when go runs, else the
/// process environment with Go's defaults.
pub(super) fn load_go_env() -> GoEnv {
    let out = std::process::Command::new(go_binary())
        .args(["env", "-json"])
        .stderr(std::process::Stdio::null())
        .output();
    if let Ok(o) = out
        && o.status.success()
        && let Ok(env) = GoEnv::from_go_env_json(&String::from_utf8_lossy(&o.stdout))
    {
        return env;
    }
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir().unwrap_or_default();
    GoEnv::from_process(&vars, &cwd)
}

pub(super) fn modcache_of(flag: Option<PathBuf>, env: &GoEnv) -> anyhow::Result<PathBuf> {
    flag.or_else(|| env.modcache())
        .context("GOMODCACHE is unknown: pass --modcache DIR")
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(super) fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).context("writing JSON")?;
    writeln!(out).context("writing JSON")?;
    Ok(())
}

#[derive(serde::Serialize)]
struct DoctorJson<'a> {
    env: Option<&'a GoEnv>,
    env_findings: &'a [doctor::env::EnvFinding],
    probes: &'a [doctor::probe::Probe],
    disk: Option<Disk>,
    cache: Option<&'a cache::ScanReport>,
    fix: Option<&'a repair::FixReport>,
    healthy: bool,
}

#[derive(serde::Serialize)]
struct Disk {
    path: PathBuf,
    free_bytes: u64,
    total_bytes: u64,
}

const LOW_DISK: u64 = 1 << 30;

pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    if args.sandbox {
        return run_sandbox(args);
    }
    if !args.command.is_empty() {
        anyhow::bail!("a command after `--` is only used with --sandbox");
    }
    let env = load_go_env();
    let modcache = modcache_of(args.modcache.clone(), &env)?;
    let mut problems = false;
    let mut text = String::new();

    let (env_findings, probes, disk) = if args.cache_only {
        (Vec::new(), Vec::new(), None)
    } else {
        let findings = doctor::env::diagnose(&env);
        problems |= findings.iter().any(|f| f.level != Level::Info);
        text.push_str(&render::env(&env, &findings));
        text.push('\n');
        let probes = if args.no_probe {
            Vec::new()
        } else {
            match (
                gomod::goenv::ProxyList::parse(env.goproxy()),
                gomod::goenv::SumdbSpec::parse(env.gosumdb()),
            ) {
                (Ok(list), Ok(db)) => runtime()?.block_on(doctor::probe::probe_all(
                    &list,
                    &db,
                    Duration::from_secs(args.timeout),
                )),
                _ => Vec::new(),
            }
        };
        if !probes.is_empty() {
            problems |= probes
                .iter()
                .any(|p| p.verdict != doctor::probe::Verdict::Ok);
            text.push_str(&render::probes(&probes));
            text.push('\n');
        }
        let disk = doctor::env::disk_space(&modcache).map(|(free, total)| Disk {
            path: modcache.clone(),
            free_bytes: free,
            total_bytes: total,
        });
        if let Some(d) = &disk {
            text.push_str(&format!(
                "Disk\n  {} free of {} where GOMODCACHE lives{}\n\n",
                render::bytes(d.free_bytes),
                render::bytes(d.total_bytes),
                if d.free_bytes < LOW_DISK {
                    problems = true;
                    "  (low: downloads and builds may fail with \"no space left on device\")"
                } else {
                    ""
                }
            ));
        }
        (findings, probes, disk)
    };

    let gosum_path = args.gosum.clone().or_else(|| env.gosum());
    let gosum = match &gosum_path {
        Some(p) => doctor::gosum::GoSumFile::read(p)?,
        None => None,
    };
    let mut opts = cache::ScanOptions::new(modcache.clone());
    opts.sumdb_state = env.sumdb_state();
    opts.gosum = gosum.clone();
    opts.lock_wait = Duration::from_secs(args.lock_wait);
    let reporter = Progress::new(!args.json);
    let report = match cache::scan(&opts, &reporter) {
        Ok(r) => Some(r),
        Err(cache::ScanError::NoCache { path }) => {
            text.push_str(&format!(
                "Module cache {}\n  does not exist yet (nothing downloaded)\n",
                path.display()
            ));
            None
        }
        Err(e) => return Err(e).context("scanning the module cache"),
    };
    let mut fix_report = None;
    if let Some(r) = &report {
        text.push_str(&render::scan(r));
        if args.fix && r.has_problems() {
            let (mut fr, todo) = repair::remove_broken(r, opts.lock_wait, &reporter);
            if args.refetch && !todo.is_empty() {
                let cfg = repair::RefetchConfig {
                    goproxy: gomod::goenv::ProxyList::parse(env.goproxy()).context("GOPROXY")?,
                    gosumdb: gomod::goenv::SumdbSpec::parse(env.gosumdb()).context("GOSUMDB")?,
                    nosumdb: gomod::pattern::Patterns::parse(env.nosumdb()),
                    gosum,
                    timeout: Duration::from_secs(args.timeout),
                };
                let actions = runtime()?.block_on(repair::refetch(
                    &modcache,
                    &todo,
                    &cfg,
                    opts.lock_wait,
                    &reporter,
                ));
                let refetched: Vec<String> = actions
                    .iter()
                    .filter(|a| a.action == repair::ActionKind::Refetched)
                    .filter_map(|a| a.id.clone())
                    .collect();
                fr.needs_download.retain(|id| !refetched.contains(id));
                fr.actions.extend(actions);
            }
            text.push('\n');
            text.push_str(&render::fix(&fr));
            if !fr.all_ok() {
                problems = true;
            }
            fix_report = Some(fr);
        } else if r.has_problems() {
            problems = true;
        }
    }

    if args.json {
        print_json(&DoctorJson {
            env: (!args.cache_only).then_some(&env),
            env_findings: &env_findings,
            probes: &probes,
            disk,
            cache: report.as_ref(),
            fix: fix_report.as_ref(),
            healthy: !problems,
        })?;
    } else {
        print!("{text}");
    }
    Ok(if problems {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_sandbox(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    if args.command.is_empty() {
        anyhow::bail!(
            "--sandbox needs a command after `--`, e.g. `modwarden doctor --sandbox -- go build ./...`"
        );
    }
    let reporter = if args.json {
        Progress::new(false)
    } else {
        Progress::new(false).echo_notes(|_| true)
    };
    let report = runtime()?.block_on(doctor::runner::sandbox(&args.command, &[], &reporter))?;
    if args.json {
        print_json(&report)?;
    } else {
        eprint!("{}", render::sandbox(&report));
    }
    Ok(if report.original.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
