//! HTTP, by concern:
//!
//! - [`goproxy`]: the GOPROXY protocol (`/<module>/@v/...`, `/@latest`) and
//!   the `/sumdb/` proxy paths: request parsing and answers.
//! - [`blob`]: answers with a stored blob (ETag, Range, HEAD).
//! - [`admin`]: purge; loopback only.
//! - [`status`]: the status page.
//! - [`health`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`access`]: the access log and request metrics (outermost layer).
//! - [`auth`]: the slot where authentication goes (a tower middleware
//!   between the access log and the handlers).

mod access;
mod admin;
mod auth;
mod blob;
mod goproxy;
mod health;
mod status;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::{CacheOutcome, ServeError};
use crate::pipeline::Pipeline;
use crate::sumdb_proxy::SumdbProxy;

pub use status::StatusInfo;

/// The header that marks requests sent by a modwarden, to detect loops.
pub const INSTANCE_HEADER: &str = "modwarden-instance";

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
    /// The fetch pipeline.
    pub pipeline: Arc<Pipeline>,
    /// The checksum-database proxy.
    pub sumdb: Arc<SumdbProxy>,
    /// Random per-process prefix of request ids and loop detection.
    pub instance: Arc<str>,
    /// Request counter for ids.
    pub next_id: Arc<AtomicU64>,
    /// What the status page shows.
    pub status: Arc<StatusInfo>,
}

/// What the access log and metrics learn from a handler.
#[derive(Debug, Clone, Default)]
pub(crate) struct Info {
    pub(crate) endpoint: &'static str,
    pub(crate) module: String,
    pub(crate) version: String,
    pub(crate) outcome: CacheOutcome,
}

/// The router.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/", get(status::page))
        .route(
            "/admin/purge/{*module}",
            post(admin::purge).fallback(admin::method_not_allowed),
        )
        .fallback(goproxy::handle)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), access::log))
        .with_state(state)
}

/// A one-line text/plain answer.
pub(crate) fn text(status: StatusCode, msg: &str) -> Response {
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

/// The answer for a failed request: status, `Retry-After` and the one line
/// all come from the error's kind.
pub(crate) fn error_response(e: &ServeError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut r = text(status, &e.message);
    if let Some(ra) = e.retry_after()
        && let Ok(v) = HeaderValue::from_str(&ra.as_secs().max(1).to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
