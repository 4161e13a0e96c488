//! HTTP: request parsing, answers with ETag/Range/HEAD, the access log,
//! health, metrics and the status page.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use store::BlobRef;

use crate::error::ServeError;
use crate::pipeline::{FileKind, Mutable, Pipeline, is_canonical_version};

/// Shared by every handler; one reference count to clone per request.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    /// Wraps the shared parts.
    pub fn new(s: SharedState) -> AppState {
        AppState(Arc::new(s))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct SharedState {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Random per-process prefix of request ids and loop detection.
    pub instance: Arc<str>,
    /// Request counter for ids.
    pub next_id: Arc<AtomicU64>,
    /// What the status page shows.
    pub status: Arc<StatusInfo>,
}

/// Facts for the status page.
#[derive(Debug, Default)]
pub struct StatusInfo {
    /// Store location.
    pub store: String,
    /// Upstream labels.
    pub upstreams: Vec<String>,
    /// Private upstream labels.
    pub private_upstreams: Vec<String>,
    /// Checksum databases.
    pub sumdbs: Vec<String>,
}

/// What the access log and metrics learn from a handler.
#[derive(Debug, Clone, Default)]
struct Info {
    endpoint: &'static str,
    module: String,
    version: String,
    outcome: &'static str,
}

/// The header that marks requests sent by a modwarden, to detect loops.
pub const INSTANCE_HEADER: &str = "modwarden-instance";

/// The router.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/", get(status_page))
        .route("/admin/purge/{*module}", post(purge))
        .fallback(proxy)
        .layer(middleware::from_fn_with_state(state.clone(), access_log))
        .with_state(state)
}

async fn access_log(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = format!(
        "{}-{}",
        state.instance,
        state.next_id.fetch_add(1, Ordering::Relaxed)
    );
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let looped = req
        .headers()
        .get(INSTANCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == &*state.instance);
    let mut resp = if looped {
        text(
            StatusCode::LOOP_DETECTED,
            "modwarden received its own upstream request: an upstream points back at this proxy; fix --upstream",
        )
    } else {
        next.run(req).await
    };
    let info = resp.extensions_mut().remove::<Info>().unwrap_or_default();
    let status = resp.status().as_u16();
    let bytes = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let elapsed = started.elapsed();
    let endpoint = if info.endpoint.is_empty() {
        "other"
    } else {
        info.endpoint
    };
    let metrics = &state.pipeline.metrics;
    metrics.request(endpoint, status, elapsed);
    if !info.outcome.is_empty() {
        metrics.cache(endpoint, info.outcome);
    }
    if method != Method::HEAD {
        metrics.bytes_served(bytes);
    }
    tracing::info!(
        target: "modwarden::access",
        request_id = id.as_str(),
        method = method.as_str(),
        path = path.as_str(),
        module = info.module.as_str(),
        version = info.version.as_str(),
        endpoint = endpoint,
        status = status,
        cache = info.outcome,
        bytes = bytes,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.pipeline.store.get_doc(&store::DocKey::Access).await {
        Ok(_) => text(StatusCode::OK, "ready"),
        Err(e) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("store not readable: {e}"),
        ),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut r = state.pipeline.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn status_page(State(state): State<AppState>) -> Response {
    let s = &state.status;
    let mut page = format!(
        "modwarden {}: a verifying, caching Go module proxy\n\nstore: {}\nupstreams: {}\nprivate upstreams: {}\nchecksum databases: {}\noffline: {}\n",
        env!("CARGO_PKG_VERSION"),
        s.store,
        if s.upstreams.is_empty() {
            "(none)".to_string()
        } else {
            s.upstreams.join(" ")
        },
        if s.private_upstreams.is_empty() {
            "(none)".to_string()
        } else {
            s.private_upstreams.join(" ")
        },
        if s.sumdbs.is_empty() {
            "(none: modules are NOT verified)".to_string()
        } else {
            s.sumdbs.join(" ")
        },
        state.pipeline.offline,
    );
    page.push_str("\nUse it: go env -w GOPROXY=http://<this host>/\n");
    text(StatusCode::OK, &page)
}

async fn purge(
    State(state): State<AppState>,
    ConnectInfo(crate::PeerAddr(peer)): ConnectInfo<crate::PeerAddr>,
    axum::extract::Path(module): axum::extract::Path<String>,
) -> Response {
    if !peer.ip().is_loopback() {
        return text(
            StatusCode::FORBIDDEN,
            "admin calls are accepted from loopback only",
        );
    }
    let module = match decode_module(&module) {
        Ok(m) => m,
        Err(e) => return error_response(e),
    };
    match state.pipeline.purge(&module).await {
        Ok(n) => text(
            StatusCode::OK,
            &format!("purged {n} cached answers of {module}"),
        ),
        Err(e) => error_response(e),
    }
}

fn text(status: StatusCode, msg: &str) -> Response {
    let mut body = msg.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn error_response(e: ServeError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut r = text(status, &e.message);
    if let Some(ra) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&ra.as_secs().max(1).to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A parsed GOPROXY request.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    List(String),
    Latest(String),
    File(String, String, FileKind),
    Sumdb(String, String),
}

const MAX_PATH: usize = 4096;

fn decode_module(escaped: &str) -> Result<String, ServeError> {
    let mut decoded = Vec::new();
    for seg in escaped.split('/') {
        decoded.push(gomod::module::percent_decode(seg).map_err(|e| {
            ServeError::bad_request(format!("malformed module path in request: {e}"))
        })?);
    }
    let joined = decoded.join("/");
    gomod::module::unescape_path(&joined)
        .map_err(|e| ServeError::bad_request(format!("malformed module path {joined:?}: {e}")))
}

fn parse_target(raw: &str) -> Result<Target, ServeError> {
    if raw.len() > MAX_PATH {
        return Err(ServeError::bad_request(format!(
            "request path longer than {MAX_PATH} bytes"
        )));
    }
    if let Some(rest) = raw.strip_prefix("sumdb/") {
        let (name, rest) = rest
            .split_once('/')
            .ok_or_else(|| ServeError::not_found("want /sumdb/<name>/<endpoint>"))?;
        let name = gomod::module::percent_decode(name).map_err(|e| {
            ServeError::bad_request(format!("malformed checksum database name: {e}"))
        })?;
        let mut parts = Vec::new();
        for seg in rest.split('/') {
            let seg = gomod::module::percent_decode(seg).map_err(|e| {
                ServeError::bad_request(format!("malformed checksum database path: {e}"))
            })?;
            if seg.is_empty() || seg == "." || seg == ".." {
                return Err(ServeError::bad_request(format!(
                    "malformed checksum database path {rest:?}"
                )));
            }
            parts.push(seg);
        }
        return Ok(Target::Sumdb(name, parts.join("/")));
    }
    if let Some(m) = raw.strip_suffix("/@latest") {
        return Ok(Target::Latest(decode_module(m)?));
    }
    let Some((m, file)) = raw.rsplit_once("/@v/") else {
        return Err(ServeError::not_found(format!(
            "not a module proxy path: /{raw} (want /<module>/@v/list, /@v/<version>.info|.mod|.zip or /@latest)"
        )));
    };
    let module = decode_module(m)?;
    if file == "list" {
        return Ok(Target::List(module));
    }
    let file = gomod::module::percent_decode(file)
        .map_err(|e| ServeError::bad_request(format!("malformed version in request: {e}")))?;
    let (v, kind) = if let Some(v) = file.strip_suffix(".info") {
        (v, FileKind::Info)
    } else if let Some(v) = file.strip_suffix(".mod") {
        (v, FileKind::Mod)
    } else if let Some(v) = file.strip_suffix(".zip") {
        (v, FileKind::Zip)
    } else {
        return Err(ServeError::not_found(format!(
            "unknown file {file:?} for {module}: want list, <version>.info, .mod or .zip"
        )));
    };
    let version = gomod::module::unescape_version(v).map_err(|e| {
        ServeError::bad_request(format!("malformed version {v:?} for {module}: {e}"))
    })?;
    Ok(Target::File(module, version, kind))
}

async fn proxy(State(state): State<AppState>, req: Request) -> Response {
    // The request is borrowed, not split into extractors (which clone the
    // header map and URI on every request).
    let (method, headers, uri) = (req.method(), req.headers(), req.uri());
    if method != Method::GET && method != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are supported",
        );
    }
    let mut raw = uri.path().trim_start_matches('/');
    let mut offline = headers
        .get("disable-module-fetch")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(rest) = raw.strip_prefix("cached-only/") {
        raw = rest;
        offline = true;
    }
    let mut info = Info::default();
    let resp = match parse_target(raw) {
        Err(e) => {
            info.endpoint = "invalid";
            info.outcome = e.outcome;
            error_response(e)
        }
        Ok(target) => answer(&state, target, offline, method, headers, &mut info).await,
    };
    let mut resp = resp;
    resp.extensions_mut().insert(info);
    resp
}

async fn answer(
    state: &AppState,
    target: Target,
    offline: bool,
    method: &Method,
    headers: &HeaderMap,
    info: &mut Info,
) -> Response {
    let p = &state.pipeline;
    match target {
        Target::List(module) => {
            info.endpoint = "list";
            info.module = module.clone();
            mutable_response(
                p.mutable(&module, &Mutable::List, offline).await,
                "text/plain; charset=utf-8",
                method,
                info,
            )
        }
        Target::Latest(module) => {
            info.endpoint = "latest";
            info.module = module.clone();
            mutable_response(
                p.mutable(&module, &Mutable::Latest, offline).await,
                "application/json",
                method,
                info,
            )
        }
        Target::File(module, version, kind) => {
            info.endpoint = match kind {
                FileKind::Info => "info",
                FileKind::Mod => "mod",
                FileKind::Zip => "zip",
            };
            info.module = module.clone();
            info.version = version.clone();
            if !is_canonical_version(&version) {
                if kind != FileKind::Info {
                    let e = ServeError::not_found(format!(
                        "{module}@{version}: {} is served only for canonical versions; resolve the query with {version}.info first",
                        kind.ext()
                    ));
                    info.outcome = e.outcome;
                    return error_response(e);
                }
                return mutable_response(
                    p.mutable(&module, &Mutable::Query(version), offline).await,
                    "application/json",
                    method,
                    info,
                );
            }
            // A record whose blob has gone (corrupt and quarantined, or
            // removed by hand) is forgotten and fetched again, verified, once.
            for attempt in 0..2 {
                match p.record(&module, &version, kind, offline).await {
                    Err(e) => {
                        info.outcome = e.outcome;
                        return error_response(e);
                    }
                    Ok((rec, outcome)) => {
                        info.outcome = outcome;
                        let (blob, ctype) = match kind {
                            FileKind::Info => (rec.info, "application/json"),
                            FileKind::Mod => (rec.gomod, "text/plain; charset=utf-8"),
                            FileKind::Zip => match rec.zip {
                                Some(z) => (z, "application/zip"),
                                None => {
                                    return error_response(ServeError::new(
                                        500,
                                        "record without zip",
                                        "error",
                                    ));
                                }
                            },
                        };
                        match blob_response(state, blob, ctype, method, headers).await {
                            Ok(r) => return r,
                            Err(e) if attempt == 0 && !offline && !p.offline => {
                                tracing::warn!(module, version, error = %e, "stored file unreadable; fetching it again");
                                p.forget_record(&module, &version).await;
                            }
                            Err(e) => {
                                return error_response(ServeError::new(
                                    502,
                                    format!(
                                        "{module}@{version}{}: stored copy is unreadable ({e}) and could not be fetched again",
                                        kind.ext()
                                    ),
                                    "store-error",
                                ));
                            }
                        }
                    }
                }
            }
            error_response(ServeError::new(500, "internal error: retry loop", "error"))
        }
        Target::Sumdb(name, rest) => {
            info.endpoint = "sumdb";
            match p.sumdb_request(&name, &rest, offline).await {
                Err(e) => {
                    info.outcome = e.outcome;
                    error_response(e)
                }
                Ok(a) => {
                    info.outcome = a.outcome;
                    let mut r = bytes_response(a.body, a.content_type, method);
                    r.headers_mut().insert(
                        header::CACHE_CONTROL,
                        HeaderValue::from_static(if a.immutable {
                            "public, max-age=31536000, immutable"
                        } else {
                            "public, max-age=60"
                        }),
                    );
                    r
                }
            }
        }
    }
}

fn mutable_response(
    result: Result<(Bytes, &'static str), ServeError>,
    ctype: &'static str,
    method: &Method,
    info: &mut Info,
) -> Response {
    match result {
        Err(e) => {
            info.outcome = e.outcome;
            error_response(e)
        }
        Ok((body, outcome)) => {
            info.outcome = outcome;
            let mut r = bytes_response(body, ctype, method);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            );
            r
        }
    }
}

fn bytes_response(body: Bytes, ctype: &'static str, method: &Method) -> Response {
    let len = body.len();
    let mut r = if *method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body))
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// Parses a single `bytes=` range against `size`. `Ok(None)`: no usable
/// range header (serve everything); `Err(())`: unsatisfiable (416).
fn parse_range(value: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multiple ranges: allowed to answer with the whole body.
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        size.saturating_sub(n)..size
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size
        } else {
            let e: u64 = b.parse().map_err(|_| ())?;
            if e < start {
                return Err(());
            }
            (e + 1).min(size)
        };
        if start >= size {
            return Err(());
        }
        start..end
    };
    Ok(Some(range))
}

/// Answers with a stored blob. `Err` when the blob cannot be read (missing
/// or corrupt): the caller forgets the record and fetches again.
async fn blob_response(
    state: &AppState,
    blob: BlobRef,
    ctype: &'static str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, store::Error> {
    let mut quoted = [b'"'; 66];
    let mut hex = [0u8; 64];
    quoted[1..65].copy_from_slice(blob.digest.hex_into(&mut hex).as_bytes());
    let etag = std::str::from_utf8(&quoted).unwrap_or_default();
    let etag_value = HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\""));
    let cache_control = HeaderValue::from_static("public, max-age=31536000, immutable");
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && (inm.trim() == "*"
            || inm
                .split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag))
    {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r.headers_mut().insert(header::ETAG, etag_value);
        r.headers_mut().insert(header::CACHE_CONTROL, cache_control);
        return Ok(r);
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => match parse_range(v, blob.size) {
            Ok(r) => r,
            Err(()) => {
                let mut r = text(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "requested range not satisfiable",
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", blob.size)) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(r);
            }
        },
    };
    let (status, len) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, blob.size),
    };
    let body = if *method == Method::HEAD {
        Body::empty()
    } else if let Some(bytes) = state.pipeline.hot_blob(&blob) {
        // Small, hot and already verified: straight from memory.
        match &range {
            Some(r) => Body::from(bytes.slice(r.start as usize..r.end as usize)),
            None => Body::from(bytes),
        }
    } else if blob.size <= crate::pipeline::HOT_BLOB_MAX {
        // The store verifies small blobs whole before returning them.
        let bytes = state
            .pipeline
            .store
            .get_blob(&blob.digest, None)
            .await?
            .bytes()
            .await
            .map_err(|e| store::Error::Io {
                path: blob.digest.to_string().into(),
                source: e,
            })?;
        if bytes.len() as u64 != blob.size {
            return Err(store::Error::Corrupt {
                digest: blob.digest,
                path: format!(
                    "{} ({} bytes, record says {})",
                    blob.digest,
                    bytes.len(),
                    blob.size
                ),
            });
        }
        state.pipeline.keep_hot_blob(&blob, bytes.clone());
        match &range {
            Some(r) => Body::from(bytes.slice(r.start as usize..r.end as usize)),
            None => Body::from(bytes),
        }
    } else {
        let stream = state
            .pipeline
            .store
            .get_blob(&blob.digest, range.clone())
            .await?;
        Body::from_stream(stream.into_inner())
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ETAG, etag_value);
    h.insert(header::CACHE_CONTROL, cache_control);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(r) = range
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            r.start,
            r.end.saturating_sub(1),
            blob.size
        ))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_like_the_go_client_sends_them() {
        assert_eq!(
            parse_target("github.com/!azure/go/@v/v1.0.0-!r!c1.zip").unwrap(),
            Target::File(
                "github.com/Azure/go".into(),
                "v1.0.0-RC1".into(),
                FileKind::Zip
            )
        );
        assert_eq!(
            parse_target("github.com/%21azure/go/@v/list").unwrap(),
            Target::List("github.com/Azure/go".into())
        );
        assert_eq!(
            parse_target("example.com/m/@latest").unwrap(),
            Target::Latest("example.com/m".into())
        );
        assert_eq!(
            parse_target("sumdb/sum.golang.org/lookup/example.com/!m@v1.0.0").unwrap(),
            Target::Sumdb(
                "sum.golang.org".into(),
                "lookup/example.com/!m@v1.0.0".into()
            )
        );
    }

    #[test]
    fn malformed_paths_are_400() {
        for bad in [
            "github.com/Azure/go/@v/list",
            "example.com/../etc/@v/list",
            "example.com/m/@v/v1.0.0%zz.info",
            "example.com/m%2Fx/@v/list",
            "example.com/m/@v/v1!.info",
            "/etc/passwd/@v/list",
            "sumdb/x/../../etc",
        ] {
            let e = parse_target(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}: {e}");
        }
        let long = format!("example.com/{}/@v/list", "a".repeat(5000));
        assert_eq!(parse_target(&long).unwrap_err().status, 400);
        assert_eq!(parse_target("robots.txt").unwrap_err().status, 404);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=95-200", 100), Ok(Some(95..100)));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=5-1", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }
}
