//! The upstream list client: GOPROXY list semantics, timeouts, retries and a
//! circuit breaker per upstream.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use backon::Retryable;
use bytes::{Bytes, BytesMut};
use gomod::goenv::Fallback;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use url::Url;

use crate::backoff::{FullJitter, RetryConfig, parse_retry_after};
use crate::breaker::{Breaker, BreakerConfig, BreakerState};
use crate::error::FetchError;

/// One upstream in the list.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Base URL: `http`, `https` or `file`.
    pub base: Url,
    /// What to do when it fails: the separator written after it in a GOPROXY
    /// value (`,` [`Fallback::OnNotFound`], `|` [`Fallback::OnAnyError`]).
    pub fallback: Fallback,
}

/// Timeouts and policies, shared by every upstream of a list.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limit for the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Limit from sending the request to the response headers.
    pub first_byte_timeout: Duration,
    /// Limit between two chunks of a body.
    pub idle_read_timeout: Duration,
    /// Limit for one request to one upstream, retries included.
    pub deadline: Duration,
    /// Retries of one upstream.
    pub retry: RetryConfig,
    /// Circuit breaker per upstream.
    pub breaker: BreakerConfig,
    /// Sent as `User-Agent`.
    pub user_agent: String,
    /// Extra headers sent with every request (a proxy marks its own
    /// requests this way to detect loops).
    pub headers: Vec<(String, String)>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(30),
            idle_read_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(120),
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            user_agent: concat!("modwarden/", env!("CARGO_PKG_VERSION")).to_string(),
            headers: Vec::new(),
        }
    }
}

/// Receives what happens upstream, for metrics and logs. Every method has a
/// no-op default.
pub trait Observer: Send + Sync {
    /// One attempt finished (success, or the error).
    fn attempt(&self, _upstream: &str, _result: Result<(), &FetchError>, _elapsed: Duration) {}
    /// An attempt is about to be retried after `delay`.
    fn retry(&self, _upstream: &str, _delay: Duration) {}
    /// A breaker changed state.
    fn breaker(&self, _upstream: &str, _state: BreakerState) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;
impl Observer for NoObserver {}

#[derive(Debug)]
struct Upstream {
    entry: Entry,
    label: String,
    breaker: Breaker,
}

/// A body kept in memory.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    /// The body.
    pub body: T,
    /// The base URL of the upstream that answered.
    pub upstream: String,
}

/// A body downloaded to a staging file, hashed while it was written.
#[derive(Debug)]
pub struct FileBody {
    /// The staging file; deleted when dropped unless persisted.
    pub file: tempfile::NamedTempFile,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes.
    pub sha256: [u8; 32],
}

/// An ordered list of upstreams (a GOPROXY-style list) and the HTTP client to
/// reach them.
#[derive(Clone)]
pub struct UpstreamList {
    upstreams: Arc<Vec<Arc<Upstream>>>,
    http: reqwest::Client,
    config: Arc<ClientConfig>,
    observer: Arc<dyn Observer>,
}

impl std::fmt::Debug for UpstreamList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamList")
            .field("upstreams", &self.labels())
            .finish()
    }
}

/// Building the HTTP client failed (TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the upstream HTTP client: {0}")]
pub struct BuildError(String);

impl UpstreamList {
    /// A list of upstreams. An empty list is valid: every fetch then fails
    /// with [`FetchError::NoUpstream`] (offline).
    pub fn new(
        entries: Vec<Entry>,
        config: ClientConfig,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, BuildError> {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &config.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| BuildError(format!("header name {k:?}: {e}")))?;
            let value = http::HeaderValue::from_str(v)
                .map_err(|e| BuildError(format!("header {k:?} value: {e}")))?;
            headers.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // Like the go command: at most 10 redirects, never https -> http.
                if attempt.previous().len() >= 10 {
                    attempt.error("stopped after 10 redirects")
                } else if attempt.previous().last().map(|u| u.scheme()) == Some("https")
                    && attempt.url().scheme() == "http"
                {
                    attempt.error("refusing redirect from https to http")
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        let upstreams = entries
            .into_iter()
            .map(|entry| {
                Arc::new(Upstream {
                    label: redact(&entry.base),
                    breaker: Breaker::new(config.breaker),
                    entry,
                })
            })
            .collect();
        Ok(UpstreamList {
            upstreams: Arc::new(upstreams),
            http,
            config: Arc::new(config),
            observer,
        })
    }

    /// The base URLs, credentials removed, for logs and status pages.
    pub fn labels(&self) -> Vec<String> {
        self.upstreams.iter().map(|u| u.label.clone()).collect()
    }

    /// The rest of the list after the upstream labelled `label`, if that
    /// entry falls through on any error (`|`): where to go next when its
    /// answer arrived but failed verification. The entries keep their
    /// breakers.
    pub fn after_failed(&self, label: &str) -> Option<UpstreamList> {
        let idx = self.upstreams.iter().position(|u| u.label == label)?;
        if self.upstreams[idx].entry.fallback != Fallback::OnAnyError {
            return None;
        }
        let rest: Vec<Arc<Upstream>> = self.upstreams[idx + 1..].to_vec();
        if rest.is_empty() {
            return None;
        }
        Some(UpstreamList {
            upstreams: Arc::new(rest),
            http: self.http.clone(),
            config: self.config.clone(),
            observer: self.observer.clone(),
        })
    }

    /// Whether there is no upstream at all.
    pub fn is_empty(&self) -> bool {
        self.upstreams.is_empty()
    }

    /// The breaker state of each upstream, by label.
    pub fn breaker_states(&self) -> Vec<(String, BreakerState)> {
        self.upstreams
            .iter()
            .map(|u| (u.label.clone(), u.breaker.state()))
            .collect()
    }

    /// Fetches `path` (relative to each base, already case-escaped) into
    /// memory, refusing bodies over `limit` bytes.
    pub async fn fetch_bytes(&self, path: &str, limit: u64) -> Result<Fetched<Bytes>, FetchError> {
        self.try_list(|up| async move {
            let mut sink = MemSink {
                buf: BytesMut::new(),
            };
            self.attempt(up, path, limit, &mut sink).await?;
            Ok(sink.buf.freeze())
        })
        .await
    }

    /// Fetches `path` into a new staging file in `dir`, hashing it with
    /// SHA-256 as it is written, refusing bodies over `limit` bytes. A failed
    /// attempt leaves no file behind.
    pub async fn fetch_to_file(
        &self,
        path: &str,
        dir: &Path,
        limit: u64,
    ) -> Result<Fetched<FileBody>, FetchError> {
        self.try_list(|up| async move {
            let (file, std_file) = new_staging_file(dir)?;
            let mut sink = FileSink {
                out: tokio::io::BufWriter::with_capacity(
                    256 * 1024,
                    tokio::fs::File::from_std(std_file),
                ),
                path: file.path().to_path_buf(),
                hasher: Sha256::new(),
                size: 0,
            };
            self.attempt(up, path, limit, &mut sink).await?;
            sink.out.flush().await.map_err(|e| io_err(&sink.path, e))?;
            Ok(FileBody {
                file,
                size: sink.size,
                sha256: sink.hasher.finalize().into(),
            })
        })
        .await
    }

    /// Go's list semantics: `,` falls through only on 404/410, `|` on any
    /// error; when all fail, the most helpful error wins.
    async fn try_list<'a, T, F, Fut>(&'a self, op: F) -> Result<Fetched<T>, FetchError>
    where
        F: Fn(&'a Upstream) -> Fut,
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        let mut best: Option<FetchError> = None;
        for up in self.upstreams.iter() {
            let result = self.with_retries(up, &op).await;
            match result {
                Ok(body) => {
                    return Ok(Fetched {
                        body,
                        upstream: up.label.clone(),
                    });
                }
                Err(err) => {
                    let falls_through =
                        err.is_not_found() || up.entry.fallback == Fallback::OnAnyError;
                    if best.as_ref().is_none_or(|b| err.rank() >= b.rank()) {
                        best = Some(err);
                    }
                    if !falls_through {
                        break;
                    }
                }
            }
        }
        Err(best.unwrap_or(FetchError::NoUpstream))
    }

    /// One upstream: breaker, retries with backoff and `Retry-After`, deadline.
    async fn with_retries<'a, T, F, Fut>(
        &'a self,
        up: &'a Upstream,
        op: &F,
    ) -> Result<T, FetchError>
    where
        F: Fn(&'a Upstream) -> Fut,
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        let deadline = Instant::now() + self.config.deadline;
        let attempt = || async {
            let Some(permit) = up.breaker.try_acquire() else {
                return Err(FetchError::CircuitOpen {
                    url: up.label.clone(),
                });
            };
            let started = Instant::now();
            let result = match tokio::time::timeout_at(deadline, op(up)).await {
                Ok(r) => r,
                Err(_) => Err(FetchError::Timeout {
                    url: up.label.clone(),
                    phase: "before the request deadline",
                    after: self.config.deadline,
                }),
            };
            self.observer
                .attempt(&up.label, result.as_ref().map(|_| ()), started.elapsed());
            let healthy = match &result {
                Ok(_) => true,
                Err(e) => !e.counts_against_upstream(),
            };
            if let Some(state) = permit.record(healthy) {
                self.observer.breaker(&up.label, state);
            }
            result
        };
        attempt
            .retry(FullJitter::new(self.config.retry))
            .sleep(tokio::time::sleep)
            .when(|e: &FetchError| e.is_retryable())
            .adjust(|e: &FetchError, delay| {
                crate::backoff::next_delay(e.retry_after(), delay, Instant::now(), deadline)
            })
            .notify(|_e: &FetchError, delay| self.observer.retry(&up.label, delay))
            .await
    }

    /// One attempt against one upstream.
    async fn attempt(
        &self,
        up: &Upstream,
        path: &str,
        limit: u64,
        sink: &mut dyn Sink,
    ) -> Result<(), FetchError> {
        let url = join(&up.entry.base, path);
        if up.entry.base.scheme() == "file" {
            return read_file_url(&url, limit, sink).await;
        }
        let label = redact(&url);
        let response = match tokio::time::timeout(
            self.config.first_byte_timeout,
            self.http.get(url.clone()).send(),
        )
        .await
        {
            Err(_) => {
                return Err(FetchError::Timeout {
                    url: label,
                    phase: "waiting for response headers",
                    after: self.config.first_byte_timeout,
                });
            }
            Ok(Err(e)) if e.is_timeout() || e.is_connect() && is_timeout_source(&e) => {
                return Err(FetchError::Timeout {
                    url: label,
                    phase: "connecting",
                    after: self.config.connect_timeout,
                });
            }
            Ok(Err(e)) => {
                return Err(FetchError::Connect {
                    url: label,
                    detail: error_chain(&e),
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if status != 200 {
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let message = read_message(response, self.config.idle_read_timeout).await;
            return Err(if status == 404 || status == 410 {
                FetchError::NotFound {
                    url: label,
                    status,
                    message,
                }
            } else {
                FetchError::Status {
                    url: label,
                    status,
                    message,
                    retry_after,
                }
            });
        }
        if let Some(len) = response.content_length()
            && len > limit
        {
            return Err(FetchError::TooLarge { url: label, limit });
        }
        let expected = response.content_length();
        let mut response = response;
        let mut got = 0u64;
        loop {
            let chunk =
                match tokio::time::timeout(self.config.idle_read_timeout, response.chunk()).await {
                    Err(_) => {
                        return Err(FetchError::Timeout {
                            url: label,
                            phase: "reading the body",
                            after: self.config.idle_read_timeout,
                        });
                    }
                    Ok(Err(e)) => {
                        return Err(FetchError::Body {
                            url: label,
                            detail: error_chain(&e),
                        });
                    }
                    Ok(Ok(None)) => break,
                    Ok(Ok(Some(c))) => c,
                };
            got += chunk.len() as u64;
            if got > limit {
                return Err(FetchError::TooLarge { url: label, limit });
            }
            sink.write(&chunk).await?;
        }
        if let Some(expected) = expected
            && got != expected
        {
            return Err(FetchError::Body {
                url: label,
                detail: format!("got {got} bytes, Content-Length said {expected}"),
            });
        }
        Ok(())
    }
}

trait Sink: Send {
    fn write<'a>(
        &'a mut self,
        chunk: &'a [u8],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), FetchError>> + Send + 'a>>;
}

struct MemSink {
    buf: BytesMut,
}

impl Sink for MemSink {
    fn write<'a>(
        &'a mut self,
        chunk: &'a [u8],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), FetchError>> + Send + 'a>>
    {
        self.buf.extend_from_slice(chunk);
        Box::pin(async { Ok(()) })
    }
}

struct FileSink {
    out: tokio::io::BufWriter<tokio::fs::File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl Sink for FileSink {
    fn write<'a>(
        &'a mut self,
        chunk: &'a [u8],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), FetchError>> + Send + 'a>>
    {
        Box::pin(async move {
            self.hasher.update(chunk);
            self.size += chunk.len() as u64;
            self.out
                .write_all(chunk)
                .await
                .map_err(|e| io_err(&self.path, e))
        })
    }
}

fn new_staging_file(dir: &Path) -> Result<(tempfile::NamedTempFile, std::fs::File), FetchError> {
    let file = tempfile::Builder::new()
        .prefix("upstream-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| io_err(dir, e))?;
    let std_file = file.reopen().map_err(|e| io_err(file.path(), e))?;
    Ok((file, std_file))
}

fn io_err(path: &Path, source: std::io::Error) -> FetchError {
    FetchError::Io {
        path: path.display().to_string(),
        source,
    }
}

async fn read_file_url(url: &Url, limit: u64, sink: &mut dyn Sink) -> Result<(), FetchError> {
    let label = url.to_string();
    let path = url.to_file_path().map_err(|()| FetchError::Connect {
        url: label.clone(),
        detail: "not a local file URL".into(),
    })?;
    let data = match tokio::fs::read(&path).await {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(FetchError::NotFound {
                url: label,
                status: 404,
                message: String::new(),
            });
        }
        Err(e) => return Err(io_err(&path, e)),
    };
    if data.len() as u64 > limit {
        return Err(FetchError::TooLarge { url: label, limit });
    }
    sink.write(&data).await
}

/// Reads the first line of a text/plain error body, bounded in size and time.
async fn read_message(mut response: reqwest::Response, idle: Duration) -> String {
    let plain = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !plain {
        return String::new();
    }
    let mut buf = Vec::new();
    while buf.len() < 1024 {
        match tokio::time::timeout(idle.min(Duration::from_secs(5)), response.chunk()).await {
            Ok(Ok(Some(c))) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(300).collect()
}

fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url
}

/// A URL without user info, for logs and error messages.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    u.to_string().trim_end_matches('/').to_string()
}

fn is_timeout_source(e: &reqwest::Error) -> bool {
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if s.to_string().contains("timed out") {
            return true;
        }
        src = s.source();
    }
    false
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}
