//! The access log (one line per request, target `modwarden::access`) and
//! the request metrics; the outermost layer, so it sees every answer,
//! refusals included.

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{AppState, INSTANCE_HEADER, Info, text};

pub(crate) async fn log(State(state): State<AppState>, req: Request, next: Next) -> Response {
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
    let outcome = info.outcome.label();
    let metrics = &state.pipeline.metrics;
    metrics.request(endpoint, status, elapsed);
    if !outcome.is_empty() {
        metrics.cache(endpoint, outcome);
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
        cache = outcome,
        bytes = bytes,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    resp
}
