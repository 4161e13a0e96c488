//! Admin calls: loopback only (an admin credential comes with
//! authentication).

use std::net::IpAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::goproxy::decode_module;
use super::{AppState, error_response, text};
use crate::error::ServeError;
use crate::listener::PeerAddr;

/// Whether `ip` is this machine, also as an IPv4-mapped IPv6 address (a
/// dual-stack listener sees `::ffff:127.0.0.1`).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        IpAddr::V4(v4) => v4.is_loopback(),
    }
}

/// The module of an admin path, as written (`github.com/BurntSushi/toml`)
/// or in the proxy's escaped form (`github.com/!burnt!sushi/toml`).
fn admin_module(raw: &str) -> Result<String, ServeError> {
    let escaped = decode_module(raw);
    if escaped.is_ok() {
        return escaped;
    }
    let mut decoded = Vec::new();
    for seg in raw.split('/') {
        decoded.push(
            gomod::module::percent_decode(seg)
                .map_err(|e| ServeError::invalid(format!("malformed module path: {e}")))?,
        );
    }
    let path = decoded.join("/");
    gomod::module::check_path(&path)
        .map_err(|e| ServeError::invalid(format!("malformed module path {path:?}: {e}")))?;
    Ok(path)
}

pub(crate) async fn purge(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    Path(module): Path<String>,
) -> Response {
    if !is_loopback(peer.ip()) {
        return text(
            StatusCode::FORBIDDEN,
            "admin calls are accepted from loopback only",
        );
    }
    let module = match admin_module(&module) {
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

/// Any other method on an admin path.
pub(crate) async fn method_not_allowed() -> Response {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "admin calls are POST requests: curl -X POST http://<this host>/admin/purge/<module>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_also_as_ipv4_mapped_ipv6() {
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.1.2.3"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1"] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn module_paths_as_written_or_escaped() {
        assert_eq!(
            admin_module("github.com/BurntSushi/toml").unwrap(),
            "github.com/BurntSushi/toml"
        );
        assert_eq!(
            admin_module("github.com/!burnt!sushi/toml").unwrap(),
            "github.com/BurntSushi/toml"
        );
        assert_eq!(admin_module("example.com/m").unwrap(), "example.com/m");
        assert!(admin_module("example.com/../etc").is_err());
        assert!(admin_module("/etc/passwd").is_err());
    }
}
