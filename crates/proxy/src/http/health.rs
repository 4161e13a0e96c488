//! `/healthz`, `/readyz` and `/metrics`.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, text};

pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.pipeline.store.get_doc(&store::DocKey::Access).await {
        Ok(_) => text(StatusCode::OK, "ready"),
        Err(e) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("store not readable: {e}"),
        ),
    }
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let mut r = state.pipeline.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
