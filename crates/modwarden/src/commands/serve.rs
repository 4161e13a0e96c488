//! `modwarden serve`: load the configuration, open the store, serve.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use proxy::config::{self, Defaults, Layer};

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // clap has read the flags and the MODWARDEN_* variables into
    // `args.settings`; the environment here only supplies HOME and
    // XDG_CACHE_HOME for the default store.
    let vars: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let file = load_file(args.config)?;
    let config = config::resolve(args.settings.or(file), &vars, &go_defaults())?;
    crate::logging::init(config.log_json);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let app = proxy::App::build(&config).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr().context("listener has no address")?;
        eprintln!("modwarden serve: listening on http://{addr}");
        eprintln!("  store:      {}", config.store.display());
        if config.offline {
            eprintln!("  upstreams:  none (offline: serving only what the store has)");
        } else {
            eprintln!("  upstreams:  {}", config.upstream);
        }
        if !config.private.is_empty() {
            eprintln!(
                "  private:    {} -> {}",
                config.private.as_str(),
                if config.private_upstream.entries.is_empty() {
                    "(no private upstream)".to_string()
                } else {
                    config.private_upstream.to_string()
                }
            );
        }
        for db in &config.sumdb {
            eprintln!("  sumdb:      {} at {}", db.name, db.url);
        }
        if config.sumdb.is_empty() {
            eprintln!("  sumdb:      off (modules are NOT verified)");
        }
        for w in &config.warnings {
            eprintln!("  warning:    {w}");
        }
        eprintln!("  use it:     GOPROXY=http://{addr} go mod download");
        app.serve(listener, shutdown_signal())
            .await
            .context("server failed")?;
        crate::logging::flush();
        eprintln!("modwarden serve: stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The config file: `--config` / `MODWARDEN_CONFIG`, else
/// `./modwarden.toml` if there is one.
fn load_file(explicit: Option<PathBuf>) -> anyhow::Result<Layer> {
    let path = match explicit {
        Some(p) => p,
        None => {
            let p = PathBuf::from("modwarden.toml");
            if !p.exists() {
                return Ok(Layer::default());
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    Ok(config::parse_file(&path.display().to_string(), &text)?)
}

/// The go command's built-in GOPROXY and GOSUMDB: `go env` with the user's
/// own settings cleared, so a GOPROXY that points at this modwarden cannot
/// make it loop.
fn go_defaults() -> Defaults {
    let go = std::env::var_os("MODWARDEN_GO").unwrap_or_else(|| "go".into());
    let out = std::process::Command::new(go)
        .args(["env", "GOPROXY", "GOSUMDB"])
        .env_remove("GOPROXY")
        .env_remove("GOSUMDB")
        .env_remove("GOFLAGS")
        .env("GOENV", "off")
        .env("GOTOOLCHAIN", "local")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut lines = text.lines().map(|l| l.trim().to_string());
            Defaults {
                goproxy: lines.next().filter(|l| !l.is_empty()),
                gosumdb: lines.next().filter(|l| !l.is_empty()),
            }
        }
        _ => Defaults::default(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    crate::logging::flush();
    eprintln!("modwarden serve: shutting down, draining requests in flight");
}
