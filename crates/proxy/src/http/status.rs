//! The status page: what this proxy is configured with and how to use it.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{AppState, text};

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

/// One `name: value` line; a list is joined by spaces, `empty` when empty.
fn line(page: &mut String, name: &str, values: &[String], empty: &str) {
    let value = if values.is_empty() {
        empty.to_string()
    } else {
        values.join(" ")
    };
    let _ = writeln!(page, "{name}: {value}");
}

pub(crate) async fn page(State(state): State<AppState>) -> Response {
    let s = &state.status;
    let mut page = format!(
        "modwarden {}: a verifying, caching Go module proxy\n\n",
        env!("CARGO_PKG_VERSION")
    );
    line(&mut page, "store", std::slice::from_ref(&s.store), "");
    line(&mut page, "upstreams", &s.upstreams, "(none)");
    line(
        &mut page,
        "private upstreams",
        &s.private_upstreams,
        "(none)",
    );
    line(
        &mut page,
        "checksum databases",
        &s.sumdbs,
        "(none: modules are NOT verified)",
    );
    let _ = writeln!(page, "offline: {}", state.pipeline.offline);
    page.push_str("\nUse it: go env -w GOPROXY=http://<this host>/\n");
    text(StatusCode::OK, &page)
}
