//! The authentication slot: every request passes through [`authenticate`]
//! after the access log and before the handlers. Today every request is
//! anonymous and allowed; authentication, credentials and per-module policy
//! go here (a refusal answers from here and is still logged).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// Who sent a request, as far as this proxy knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// No credentials (the only kind today).
    Anonymous,
}

/// Attaches the request's [`Principal`] and lets it through.
pub(crate) async fn authenticate(
    State(_state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    req.extensions_mut().insert(Principal::Anonymous);
    next.run(req).await
}
