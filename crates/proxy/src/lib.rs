//! The modwarden server: a caching Go module proxy (GOPROXY protocol) that
//! also proxies the checksum database, verifying everything it stores.
//!
//! ```no_run
//! # async fn demo(config: proxy::config::ServeConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let app = proxy::App::build(&config).await?;
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! app.serve(listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs, unreachable_pub)]

mod clock;
// The settings' doc comments are also their `--help` text, where `[URL]`
// means "optional", not a link.
#[allow(rustdoc::broken_intra_doc_links)]
pub mod config;
mod coord;
mod error;
mod http;
mod keys;
mod listener;
pub mod metrics;
mod pipeline;
mod source;
mod sumdb_proxy;
mod verifier;
mod zipcheck;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock, jittered};
pub use error::{CacheOutcome, ErrorKind, RETRY_SOON, ServeError, StoreFailure};
pub use http::{AppState, INSTANCE_HEADER, SharedState, StatusInfo};
pub use keys::{FetchKey, FileKind, Mutable};
pub use listener::PeerAddr;
pub use pipeline::{Pipeline, PipelineParts, Timing};
pub use source::{ModuleSource, Policy, ProxyListSource, Sources};
pub use sumdb_proxy::{SumdbProxy, SumdbProxyParts};
pub use verifier::{SumdbHandle, Verifiers};

use config::ServeConfig;
use gomod::goenv::{ProxyKind, ProxyList};
use metrics::Metrics;
use upstream::{ClientConfig, Entry, Fallback, UpstreamList};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("cannot open the store at {path}: {source}")]
    Store {
        /// The store location.
        path: String,
        /// Why.
        #[source]
        source: store::Error,
    },
    /// A checksum database could not be set up.
    #[error("checksum database {name}: {source}")]
    Sumdb {
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: sumdb::Error,
    },
    /// Redis is configured but cannot be reached.
    #[error(
        "cannot connect to redis at {url}: {source}; fix --redis or leave it out to run without coordination"
    )]
    Redis {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
    /// The upstream client could not be built.
    #[error(transparent)]
    Upstream(#[from] upstream::BuildError),
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A built server, ready to serve on a listener.
pub struct App {
    state: AppState,
    max_connections: usize,
    access_flusher: tokio::task::JoinHandle<()>,
}

/// How often the last-served times are written to the store.
const ACCESS_FLUSH_EVERY: Duration = Duration::from_secs(60);

struct UpstreamMetrics(Arc<Metrics>);

impl upstream::Observer for UpstreamMetrics {
    fn attempt(&self, up: &str, result: Result<(), &upstream::FetchError>, elapsed: Duration) {
        use metrics::Attempt;
        use upstream::FetchError as E;
        let attempt = match result {
            Ok(()) => Attempt::Ok,
            Err(E::NotFound { .. }) => Attempt::NotFound,
            Err(e) if e.is_refusal() => Attempt::Refused,
            Err(e) => Attempt::Failed(match e {
                E::Status { .. } => "status",
                E::Timeout { .. } => "timeout",
                E::Connect { .. } => "connect",
                E::Body { .. } => "body",
                E::TooLarge { .. } => "too_large",
                E::CircuitOpen { .. } => "circuit_open",
                _ => "other",
            }),
        };
        self.0.upstream(up, attempt, elapsed);
    }
    fn retry(&self, up: &str, _delay: Duration) {
        self.0.retry(up);
    }
    fn breaker(&self, up: &str, state: upstream::BreakerState) {
        self.0.breaker(up, state.as_gauge());
    }
}

fn entries(list: &ProxyList) -> Vec<Entry> {
    list.entries
        .iter()
        .filter_map(|e| match &e.kind {
            ProxyKind::Url(u) => Some(Entry {
                base: u.clone(),
                fallback: e.fallback,
            }),
            _ => None,
        })
        .collect()
}

impl App {
    /// Opens the store and sets up upstreams and checksum databases.
    pub async fn build(config: &ServeConfig) -> Result<App, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`App::build`], judging time by `clock`.
    pub async fn build_with_clock(
        config: &ServeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<App, StartError> {
        let location = match &config.store_url {
            Some(url) => store::Location::Url(url.clone()),
            None => store::Location::Dir(config.store.clone()),
        };
        let options = store::OpenOptions::create().reverify_after(config.reverify_after);
        let store = store::open(&location, &options)
            .await
            .map_err(|source| StartError::Store {
                path: location.to_string(),
                source,
            })?;
        // Downloads are staged in the state directory (the store directory
        // for a local store: the same file system); a crash can leave only
        // `upstream-*.tmp` files, removed here at start.
        let staging = config.state_dir.join("downloads");
        std::fs::create_dir_all(&staging).map_err(|source| StartError::Io {
            path: staging.display().to_string(),
            source,
        })?;
        if let Ok(dir) = std::fs::read_dir(&staging) {
            for entry in dir.flatten() {
                if entry.file_name().to_string_lossy().ends_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Self::build_with_store(config, store, staging, clock).await
    }

    /// Like [`App::build`] with a given store and staging directory.
    pub async fn build_with_store(
        config: &ServeConfig,
        store: Arc<dyn store::Store>,
        staging: std::path::PathBuf,
        clock: Arc<dyn Clock>,
    ) -> Result<App, StartError> {
        let instance: Arc<str> = Arc::from(format!("{:08x}", rand::random::<u32>()));
        let metrics = Arc::new(Metrics::default());
        let observer: Arc<dyn upstream::Observer> = Arc::new(UpstreamMetrics(metrics.clone()));
        let client_config = ClientConfig {
            first_byte_timeout: config.upstream_timeout,
            idle_read_timeout: config.upstream_timeout,
            deadline: config.request_deadline,
            headers: vec![(INSTANCE_HEADER.to_string(), instance.to_string())],
            retry: upstream::RetryConfig {
                max_attempts: config.upstream_attempts,
                ..upstream::RetryConfig::default()
            },
            breaker: upstream::BreakerConfig {
                failure_threshold: config.breaker_threshold,
                open_for: config.breaker_cooldown,
            },
            ..ClientConfig::default()
        };
        let public = UpstreamList::new(
            entries(&config.upstream),
            client_config.clone(),
            observer.clone(),
        )?;
        let private = UpstreamList::new(
            entries(&config.private_upstream),
            client_config.clone(),
            observer.clone(),
        )?;
        let state_dir = config.state_dir.join("sumdb-state");
        std::fs::create_dir_all(&state_dir).map_err(|source| StartError::Io {
            path: state_dir.display().to_string(),
            source,
        })?;
        let mut sumdbs = Vec::new();
        for db in &config.sumdb {
            // Like the go command: through each upstream proxy's
            // /sumdb/<name>/ first (a proxy that does not serve it answers
            // 404 and we move on), then the database itself.
            let mut db_entries = Vec::new();
            if !db.explicit_url {
                for e in entries(&config.upstream) {
                    let mut base = e.base.clone();
                    let path = format!("{}/sumdb/{}", base.path().trim_end_matches('/'), db.name);
                    base.set_path(&path);
                    db_entries.push(Entry {
                        base,
                        fallback: Fallback::OnAnyError,
                    });
                }
            }
            db_entries.push(Entry {
                base: db.url.clone(),
                fallback: Fallback::OnNotFound,
            });
            let list = UpstreamList::new(db_entries, client_config.clone(), observer.clone())?;
            let handle = SumdbHandle::new(&db.name, &db.key, list, Some(state_dir.clone()))
                .map_err(|source| StartError::Sumdb {
                    name: db.name.clone(),
                    source,
                })?;
            sumdbs.push(Arc::new(handle));
        }
        let public_source: Arc<dyn ModuleSource> = Arc::new(ProxyListSource::new(public));
        let private_source: Option<Arc<dyn ModuleSource>> = (!private.is_empty())
            .then(|| Arc::new(ProxyListSource::new(private)) as Arc<dyn ModuleSource>);
        let sources = Arc::new(Sources::new(
            public_source,
            private_source,
            config.private.clone(),
            config.nosumdb.clone(),
            !sumdbs.is_empty(),
        ));
        let verifiers = Arc::new(Verifiers::new(sumdbs, store.clone(), clock.clone()));
        let status = StatusInfo {
            store: config.store.display().to_string(),
            upstreams: sources.public_labels(),
            private_upstreams: sources.private_labels(),
            sumdbs: config
                .sumdb
                .iter()
                .map(|d| format!("{} at {}", d.name, d.url))
                .collect(),
        };
        // The store-size gauges start from one scan in the background and
        // then follow what the pipeline adds.
        {
            let (store, metrics) = (store.clone(), metrics.clone());
            tokio::spawn(async move {
                match store::maint::stats(&*store).await {
                    Ok(s) => metrics.store_added(
                        i64::try_from(s.records).unwrap_or(i64::MAX),
                        i64::try_from(s.blob_bytes).unwrap_or(i64::MAX),
                    ),
                    Err(e) => tracing::warn!(error = %e, "could not measure the store"),
                }
            });
        }
        let coordinator = match &config.redis {
            None => None,
            Some(url) => Some(
                coord::Coordinator::connect(url, &instance, "modwarden")
                    .await
                    .map_err(|source| StartError::Redis {
                        url: url.clone(),
                        source,
                    })?,
            ),
        };
        // When each version was last served, for gc's least-recently-used
        // order and --unused-for: in memory per request, written once a
        // minute and at shutdown.
        let access = Arc::new(store::AccessTracker::new(store.clone()));
        let access_flusher = access.spawn_flusher(ACCESS_FLUSH_EVERY);
        let sumdb = Arc::new(SumdbProxy::new(SumdbProxyParts {
            verifiers: verifiers.clone(),
            store: store.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            sources: sources.clone(),
            offline: config.offline,
            stale_if_error: config.stale_if_error,
        }));
        let pipeline = Pipeline::new(PipelineParts {
            store,
            sources,
            verifiers,
            staging,
            offline: config.offline,
            timing: Timing {
                list_ttl: config.list_ttl,
                negative_ttl: config.negative_ttl,
                probe_negative_ttl: config.negative_ttl * 5,
                stale_if_error: config.stale_if_error,
                coordination_wait: config.request_deadline,
            },
            max_upstream_concurrency: config.max_upstream_concurrency,
            metrics,
            clock,
            coordinator,
            hot_cache_bytes: config.hot_cache_mib.saturating_mul(1 << 20),
            access: Some(access),
        });
        Ok(App {
            state: AppState::new(SharedState {
                pipeline,
                sumdb,
                instance,
                next_id: Arc::new(AtomicU64::new(1)),
                status: Arc::new(status),
            }),
            max_connections: config.max_connections,
            access_flusher,
        })
    }

    /// The pipeline, for tests and maintenance.
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.state.pipeline
    }

    /// Serves until `shutdown` completes, then drains requests in flight.
    ///
    /// The connection loop is hyper's own rather than `axum::serve` so that
    /// the per-connection write buffer can be bounded: with hyper's default
    /// (~400 KiB queued per connection) 200 slow clients of one large zip
    /// would hold ~80 MiB of queued chunks.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::Listener as _;
        use tower::ServiceExt as _;

        let pipeline = self.state.pipeline.clone();
        let router = http::router(self.state);
        let mut listener = listener::LimitedListener::new(listener, self.max_connections);
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        builder
            .http1()
            .max_buf_size(WRITE_BUFFER)
            .timer(hyper_util::rt::TokioTimer::new());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (io, addr) = tokio::select! {
                conn = listener.accept() => conn,
                () = &mut shutdown => break,
            };
            let router = router.clone();
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(PeerAddr(addr)));
                    router.clone().oneshot(req)
                },
            );
            let conn = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(peer = %addr, error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        graceful.shutdown().await;
        self.access_flusher.abort();
        pipeline.flush_access().await;
        Ok(())
    }
}

/// Bytes of response hyper may queue per connection before it stops pulling
/// the body (hyper's minimum is 8 KiB).
const WRITE_BUFFER: usize = 32 << 10;
