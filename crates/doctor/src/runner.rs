//! Running a go command: with retries (`retry`), traced with `-x` or
//! `GODEBUG=inittrace=1` (`trace`), or in an empty sandbox cache (`doctor
//! --sandbox`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::Reporter;
use crate::retry::{Verdict, classify};

/// Why a command could not be run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// No command was given.
    #[error("no command given: put it after `--`, e.g. `-- go mod download`")]
    NoCommand,
    /// Spawning failed.
    #[error("cannot run {program:?}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A sandbox directory could not be made.
    #[error("cannot create a sandbox directory: {0}")]
    Sandbox(std::io::Error),
}

/// What one run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutput {
    /// The exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Standard error, as captured.
    pub stderr: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl RunOutput {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `cmd` with extra environment variables, passing stdout through and
/// capturing stderr (each line also goes to `reporter.note`).
pub async fn run(
    cmd: &[OsString],
    env: &[(String, OsString)],
    reporter: &dyn Reporter,
) -> Result<RunOutput, RunError> {
    let (program, args) = cmd.split_first().ok_or(RunError::NoCommand)?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
    let mut stderr = String::new();
    if let Some(err) = child.stderr.take() {
        let mut lines = BufReader::new(err).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            reporter.note(&line);
            stderr.push_str(&line);
            stderr.push('\n');
        }
    }
    let status = child.wait().await.map_err(|source| RunError::Spawn {
        program: program.to_string_lossy().into_owned(),
        source,
    })?;
    Ok(RunOutput {
        code: status.code(),
        stderr,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// How `retry` behaves.
#[derive(Debug, Clone)]
pub struct RetryOptions {
    /// Attempts in all (the first run included).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub initial_delay: Duration,
    /// Delay cap.
    pub max_delay: Duration,
    /// GOMODCACHE, for repairs.
    pub modcache: Option<PathBuf>,
    /// How long to wait for go's lock when repairing.
    pub lock_wait: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_attempts: 4,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            modcache: None,
            lock_wait: Duration::from_secs(10),
        }
    }
}

/// One attempt of `retry`.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// Exit code.
    pub code: Option<i32>,
    /// Seconds.
    pub seconds: f64,
    /// How the failure was classified (absent on success).
    pub verdict: Option<Verdict>,
    /// What was done next, in a sentence.
    pub action: String,
}

/// What `retry` did.
#[derive(Debug, Clone, Serialize)]
pub struct RetryReport {
    /// Each attempt.
    pub attempts: Vec<Attempt>,
    /// Whether the last attempt succeeded.
    pub success: bool,
    /// The last attempt's exit code.
    pub final_code: Option<i32>,
    /// Advice when it stopped on a fatal error.
    pub advice: Option<String>,
}

/// Runs `cmd` until it succeeds, a failure cannot be helped by retrying, or
/// `max_attempts` runs are used. Network failures wait (doubling from
/// `initial_delay`); a broken cache entry is removed (each at most once)
/// before the retry.
pub async fn retry(
    cmd: &[OsString],
    opts: &RetryOptions,
    reporter: &dyn Reporter,
) -> Result<RetryReport, RunError> {
    let mut attempts = Vec::new();
    let mut delay = opts.initial_delay;
    let mut repaired: Vec<(String, String)> = Vec::new();
    let mut advice = None;
    let max = opts.max_attempts.max(1);
    for n in 1..=max {
        let out = run(cmd, &[], reporter).await?;
        let mut a = Attempt {
            number: n,
            code: out.code,
            seconds: out.seconds,
            verdict: None,
            action: String::new(),
        };
        if out.success() {
            a.action = "succeeded".into();
            attempts.push(a);
            return Ok(RetryReport {
                success: true,
                final_code: out.code,
                attempts,
                advice: None,
            });
        }
        let verdict = classify(&out.stderr);
        let last = n == max;
        let mut stop = false;
        match &verdict {
            Verdict::Transient { .. } if last => {
                a.action = format!("network failure; gave up after {max} attempts");
            }
            Verdict::Transient { .. } => {
                a.action = format!("network failure; retrying in {delay:?}");
                reporter.note(&format!("modwarden retry: {}", a.action));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(opts.max_delay);
            }
            Verdict::CorruptCache { entries, .. } => {
                let fresh: Vec<&(String, String)> =
                    entries.iter().filter(|e| !repaired.contains(e)).collect();
                if fresh.is_empty() {
                    a.action = "the same entry is still broken after a repair: the upstream serves it this way or go.sum is wrong; stopping".into();
                    advice = Some("check go.sum against the checksum database (go mod verify) and your GOPROXY".into());
                    stop = true;
                } else if last {
                    a.action = format!("broken cache entry; gave up after {max} attempts");
                } else {
                    let mut did = Vec::new();
                    for (m, v) in fresh {
                        did.push(repair_entry(opts, m, v));
                        repaired.push((m.clone(), v.clone()));
                    }
                    a.action = format!("{}; retrying", did.join("; "));
                    reporter.note(&format!("modwarden retry: {}", a.action));
                }
            }
            Verdict::Fatal { advice: adv, .. } => {
                a.action = "cannot be fixed by retrying; stopping".into();
                advice = Some(adv.clone());
                stop = true;
            }
            Verdict::Unknown => {
                a.action = "failure not recognised as transient; not retrying".into();
                stop = true;
            }
        }
        a.verdict = Some(verdict);
        attempts.push(a);
        if stop || last {
            return Ok(RetryReport {
                success: false,
                final_code: out.code,
                attempts,
                advice,
            });
        }
    }
    Ok(RetryReport {
        success: false,
        final_code: None,
        attempts,
        advice,
    })
}

fn repair_entry(opts: &RetryOptions, module: &str, version: &str) -> String {
    let Some(mc) = &opts.modcache else {
        return format!("cannot repair {module}@{version}: GOMODCACHE unknown");
    };
    let Some(e) = crate::cache::Entry::new(mc, module, version) else {
        return format!("cannot repair {module}@{version}: not a valid module version");
    };
    match crate::clean::remove_entry(mc, &e, opts.lock_wait) {
        Ok(bytes) => format!("removed the cached {module}@{version} ({bytes} bytes)"),
        Err(err) => format!("could not remove {module}@{version}: {err}"),
    }
}

/// `GOFLAGS` with `flag` added to what the environment already has.
pub fn goflags_with(flag: &str) -> OsString {
    let mut v = std::env::var_os("GOFLAGS").unwrap_or_default();
    if !v.is_empty() {
        v.push(" ");
    }
    v.push(flag);
    v
}

/// Runs `cmd` with `-x` (through GOFLAGS) and parses its trace.
pub async fn trace(
    cmd: &[OsString],
    reporter: &dyn Reporter,
) -> Result<(RunOutput, crate::trace::TraceReport), RunError> {
    let out = run(cmd, &[("GOFLAGS".into(), goflags_with("-x"))], reporter).await?;
    let report = crate::trace::parse(&out.stderr, Some(out.seconds));
    Ok((out, report))
}

/// Runs `cmd` with `GODEBUG=inittrace=1` and ranks the package inits.
pub async fn inittrace(
    cmd: &[OsString],
    top: usize,
    reporter: &dyn Reporter,
) -> Result<(RunOutput, crate::inittrace::InitReport), RunError> {
    let mut godebug = std::env::var_os("GODEBUG").unwrap_or_default();
    if !godebug.is_empty() {
        godebug.push(",");
    }
    godebug.push("inittrace=1");
    let out = run(cmd, &[("GODEBUG".into(), godebug)], reporter).await?;
    let report = crate::inittrace::parse(&out.stderr, top);
    Ok((out, report))
}

/// The two runs of `doctor --sandbox` and what they say together.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxReport {
    /// The command as the user runs it.
    pub original: RunOutput,
    /// The same command with an empty GOMODCACHE, GOPATH and GOCACHE.
    pub sandbox: RunOutput,
    /// `cache`, `network`, `neither` or `both-fine`.
    pub culprit: String,
    /// The verdict in a sentence.
    pub verdict: String,
}

/// Runs `cmd` as is, then again with a temporary, empty GOMODCACHE, GOPATH
/// and GOCACHE (everything else the same), to tell a broken cache from a
/// broken network or proxy. `base_env` is added to the inherited
/// environment of both runs.
pub async fn sandbox(
    cmd: &[OsString],
    base_env: &[(String, OsString)],
    reporter: &dyn Reporter,
) -> Result<SandboxReport, RunError> {
    let original = run(cmd, base_env, reporter).await?;
    let dir = tempfile::Builder::new()
        .prefix("modwarden-sandbox-")
        .tempdir()
        .map_err(RunError::Sandbox)?;
    let goflags = match base_env.iter().rev().find(|(k, _)| k == "GOFLAGS") {
        Some((_, v)) => {
            let mut v = v.clone();
            v.push(" -modcacherw");
            v
        }
        None => goflags_with("-modcacherw"),
    };
    let mut env: Vec<(String, OsString)> = base_env.to_vec();
    env.extend([
        ("GOMODCACHE".into(), dir.path().join("mod").into()),
        ("GOPATH".into(), dir.path().join("gopath").into()),
        ("GOCACHE".into(), dir.path().join("gocache").into()),
        // So the sandbox can be deleted afterwards.
        ("GOFLAGS".into(), goflags),
    ]);
    let sandbox = run(cmd, &env, reporter).await?;
    let (culprit, verdict) = match (original.success(), sandbox.success()) {
        (false, true) => (
            "cache",
            "The command fails with your caches and works with empty ones: your module or build cache is broken. Run `modwarden doctor --fix`.",
        ),
        (false, false) => (
            "network",
            "The command fails even with empty caches: the network, the proxy (GOPROXY), the checksum database or the code itself is at fault, not your cache. Try `modwarden doctor` for the environment and `modwarden trace` for the network.",
        ),
        (true, false) => (
            "network",
            "The command works with your caches but not with empty ones: something it needs can no longer be downloaded (proxy, network or a vanished version); your cache is what keeps it working.",
        ),
        (true, true) => (
            "neither",
            "The command works both with your caches and with empty ones.",
        ),
    };
    Ok(SandboxReport {
        original,
        sandbox,
        culprit: culprit.into(),
        verdict: verdict.into(),
    })
}
