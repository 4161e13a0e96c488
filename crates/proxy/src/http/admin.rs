//! Admin calls: loopback only (an admin credential comes with
//! authentication).

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::goproxy::decode_module;
use super::{AppState, error_response, text};

pub(crate) async fn purge(
    State(state): State<AppState>,
    ConnectInfo(crate::listener::PeerAddr(peer)): ConnectInfo<crate::listener::PeerAddr>,
    Path(module): Path<String>,
) -> Response {
    if !peer.ip().is_loopback() {
        return text(
            StatusCode::FORBIDDEN,
            "admin calls are accepted from loopback only",
        );
    }
    let module = match decode_module(&module) {
        Ok(m) => m,
        Err(e) => return error_response(&e),
    };
    match state.pipeline.purge(&module).await {
        Ok(n) => text(
            StatusCode::OK,
            &format!("purged {n} cached answers of {module}"),
        ),
        Err(e) => error_response(&e),
    }
}
