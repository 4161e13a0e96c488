//! The GOPROXY protocol: `/<module>/@v/list`, `/@v/<version>.info|.mod|.zip`,
//! `/@latest`, and the `/sumdb/<name>/...` paths; the `/cached-only/` prefix
//! and `Disable-Module-Fetch: true` make a request store-only.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use super::blob::{self, BlobError};
use super::{AppState, Info, error_response, text};
use crate::error::{CacheOutcome, ErrorKind, ServeError, StoreFailure};
use crate::keys::{FileKind, Mutable};
use crate::pipeline::is_canonical_version;

/// A parsed GOPROXY request.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    List(String),
    Latest(String),
    File(String, String, FileKind),
    Sumdb(String, String),
}

const MAX_PATH: usize = 4096;

/// A module path from its escaped, percent-encoded request form.
pub(crate) fn decode_module(escaped: &str) -> Result<String, ServeError> {
    let mut decoded = Vec::new();
    for seg in escaped.split('/') {
        decoded.push(
            gomod::module::percent_decode(seg).map_err(|e| {
                ServeError::invalid(format!("malformed module path in request: {e}"))
            })?,
        );
    }
    let joined = decoded.join("/");
    gomod::module::unescape_path(&joined)
        .map_err(|e| ServeError::invalid(format!("malformed module path {joined:?}: {e}")))
}

fn parse_target(raw: &str) -> Result<Target, ServeError> {
    if raw.len() > MAX_PATH {
        return Err(ServeError::invalid(format!(
            "request path longer than {MAX_PATH} bytes"
        )));
    }
    if let Some(rest) = raw.strip_prefix("sumdb/") {
        let (name, rest) = rest
            .split_once('/')
            .ok_or_else(|| ServeError::not_found("want /sumdb/<name>/<endpoint>"))?;
        let name = gomod::module::percent_decode(name)
            .map_err(|e| ServeError::invalid(format!("malformed checksum database name: {e}")))?;
        let mut parts = Vec::new();
        for seg in rest.split('/') {
            let seg = gomod::module::percent_decode(seg).map_err(|e| {
                ServeError::invalid(format!("malformed checksum database path: {e}"))
            })?;
            if seg.is_empty() || seg == "." || seg == ".." {
                return Err(ServeError::invalid(format!(
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
        .map_err(|e| ServeError::invalid(format!("malformed version in request: {e}")))?;
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
    let version = gomod::module::unescape_version(v)
        .map_err(|e| ServeError::invalid(format!("malformed version {v:?} for {module}: {e}")))?;
    Ok(Target::File(module, version, kind))
}

/// The fallback handler: every path that is not health, status or admin.
pub(crate) async fn handle(State(state): State<AppState>, req: Request) -> Response {
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
    let mut resp = match parse_target(raw) {
        Err(e) => {
            info.endpoint = "invalid";
            failed(&mut info, &e)
        }
        Ok(target) => answer(&state, target, offline, method, headers, &mut info).await,
    };
    resp.extensions_mut().insert(info);
    resp
}

/// Notes the failure for the access log and answers it.
fn failed(info: &mut Info, e: &ServeError) -> Response {
    info.outcome = CacheOutcome::Error(e.kind);
    error_response(e)
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
            let r = p.mutable(&module, &Mutable::List, offline).await;
            mutable_response(r, "text/plain; charset=utf-8", method, info)
        }
        Target::Latest(module) => {
            info.endpoint = "latest";
            info.module = module.clone();
            let r = p.mutable(&module, &Mutable::Latest, offline).await;
            mutable_response(r, "application/json", method, info)
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
                    return failed(info, &e);
                }
                let r = p.mutable(&module, &Mutable::Query(version), offline).await;
                return mutable_response(r, "application/json", method, info);
            }
            match version_file(state, &module, &version, kind, offline, method, headers).await {
                Ok((r, outcome)) => {
                    info.outcome = outcome;
                    p.served(&module, &version);
                    r
                }
                Err(e) => failed(info, &e),
            }
        }
        Target::Sumdb(name, rest) => {
            info.endpoint = "sumdb";
            match state.sumdb.request(&name, &rest, offline).await {
                Err(e) => failed(info, &e),
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

/// A version's `.info`, `.mod` or `.zip`. A blob proven gone (corrupt and
/// quarantined, or removed) is fetched again, once, and kept only if it is
/// the one the record names (else the version is fetched and verified
/// again). Any other store failure keeps the
/// record and is a 503 with `Retry-After`: a client's odd request or one
/// failed read never costs a stored version.
async fn version_file(
    state: &AppState,
    module: &str,
    version: &str,
    kind: FileKind,
    offline: bool,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(Response, CacheOutcome), ServeError> {
    let p = &state.pipeline;
    // Formatted only for an error: a warm answer allocates no message.
    let what = || format!("{module}@{version}{}", kind.ext());
    let mut refetched = false;
    loop {
        let (rec, outcome) = p.record(module, version, kind, offline).await?;
        let (blob, ctype) = match kind {
            FileKind::Info => (rec.info, "application/json"),
            FileKind::Mod => (rec.gomod, "text/plain; charset=utf-8"),
            FileKind::Zip => match rec.zip {
                Some(z) => (z, "application/zip"),
                None => {
                    return Err(ServeError::internal(format!(
                        "{}: record without zip",
                        what()
                    )));
                }
            },
        };
        match blob::respond(state, blob, ctype, method, headers).await {
            Ok(r) => return Ok((r, outcome)),
            Err(BlobError::Store(e)) => {
                tracing::warn!(module, version, error = %e, "stored file could not be read; the record is kept");
                return Err(ServeError::new(
                    ErrorKind::Store(StoreFailure::Transient),
                    format!(
                        "{}: the store could not be read ({e}); retry shortly",
                        what()
                    ),
                ));
            }
            Err(BlobError::Broken(e)) if !refetched && !offline && !p.offline => {
                tracing::warn!(module, version, error = %e, "stored file is gone; fetching it again");
                refetched = true;
                // The one file, checked against the digest the record names;
                // the record (and the version's other files) stay.
                let had_zip = rec.zip.is_some();
                if !p.repair_blob(module, version, kind, rec).await? && had_zip {
                    // Forgotten: fetch it whole again, so the version keeps
                    // its zip and not only the file asked for.
                    p.record(module, version, FileKind::Zip, offline).await?;
                }
            }
            Err(BlobError::Broken(e)) => {
                return Err(ServeError::new(
                    ErrorKind::Store(StoreFailure::Other),
                    format!(
                        "{}: the stored copy is gone ({e}) and could not be fetched again",
                        what()
                    ),
                ));
            }
        }
    }
}

fn mutable_response(
    result: Result<(Bytes, CacheOutcome), ServeError>,
    ctype: &'static str,
    method: &Method,
    info: &mut Info,
) -> Response {
    match result {
        Err(e) => failed(info, &e),
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
        Response::new(axum::body::Body::empty())
    } else {
        Response::new(axum::body::Body::from(body))
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
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
            assert_eq!(e.status(), 400, "{bad}: {e}");
        }
        let long = format!("example.com/{}/@v/list", "a".repeat(5000));
        assert_eq!(parse_target(&long).unwrap_err().status(), 400);
        assert_eq!(parse_target("robots.txt").unwrap_err().status(), 404);
    }
}
