//! Answers with a stored blob: ETag and `If-None-Match`, a single `Range`
//! (parsed by `http-range-header`), HEAD, immutable caching.

use std::ops::Range;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use store::BlobRef;

use super::{AppState, text};
use crate::pipeline::HOT_BLOB_MAX;

/// Why a stored blob could not be answered with.
#[derive(Debug)]
pub(crate) enum BlobError {
    /// The blob is proven gone: missing, or corrupt (and quarantined). The
    /// record may be forgotten and the version fetched and verified again.
    Broken(store::Error),
    /// Any other store failure (I/O, object storage): the record stays.
    Store(store::Error),
}

impl BlobError {
    fn classify(e: store::Error) -> BlobError {
        match e {
            store::Error::NotFound { .. }
            | store::Error::Corrupt { .. }
            | store::Error::MissingBlob { .. } => BlobError::Broken(e),
            e => BlobError::Store(e),
        }
    }

    /// A read error from a blob stream: corruption shows as `InvalidData`
    /// carrying [`store::Error::Corrupt`].
    fn from_io(blob: &BlobRef, e: std::io::Error) -> BlobError {
        if e.kind() == std::io::ErrorKind::InvalidData
            && e.get_ref()
                .and_then(|inner| inner.downcast_ref::<store::Error>())
                .is_some_and(|se| matches!(se, store::Error::Corrupt { .. }))
        {
            return BlobError::Broken(store::Error::Corrupt {
                digest: blob.digest,
                path: e.to_string(),
            });
        }
        BlobError::Store(store::Error::Io {
            path: blob.digest.to_string().into(),
            source: e,
        })
    }
}

impl std::fmt::Display for BlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobError::Broken(e) | BlobError::Store(e) => e.fmt(f),
        }
    }
}

/// What the `Range` header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// The whole body: no header, another unit, or several ranges (which a
    /// server may answer in full).
    Whole,
    /// One satisfiable range.
    Part(Range<u64>),
    /// 416.
    Unsatisfiable,
}

/// Parses a `Range` header against `size` (no arithmetic of ours on the
/// client's numbers: the end may be `u64::MAX`).
pub(crate) fn parse_range(value: &str, size: u64) -> Ranged {
    let value = value.trim();
    if !value.starts_with("bytes=") {
        return Ranged::Whole;
    }
    let Ok(parsed) = http_range_header::parse_range_header(value) else {
        return Ranged::Unsatisfiable;
    };
    if parsed.len() != 1 {
        return Ranged::Whole;
    }
    match parsed.validate(size) {
        Err(_) => Ranged::Unsatisfiable,
        Ok(ranges) => match ranges.first() {
            // Only for an empty blob: answer it whole (empty).
            None => Ranged::Whole,
            Some(r) => match r.end().checked_add(1) {
                Some(end) if end <= size => Ranged::Part(*r.start()..end),
                _ => Ranged::Unsatisfiable,
            },
        },
    }
}

/// Answers with a stored blob.
pub(crate) async fn respond(
    state: &AppState,
    blob: BlobRef,
    ctype: &'static str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, BlobError> {
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
            Ranged::Whole => None,
            Ranged::Part(r) => Some(r),
            Ranged::Unsatisfiable => {
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
    // A range of a blob in memory: `parse_range` proved it within the blob.
    let slice = |bytes: bytes::Bytes| match &range {
        Some(r) => bytes.slice(r.start as usize..r.end as usize),
        None => bytes,
    };
    let body = if *method == Method::HEAD {
        Body::empty()
    } else if let Some(bytes) = state.pipeline.hot_blob(&blob) {
        // Small, hot and already verified: straight from memory.
        Body::from(slice(bytes))
    } else if blob.size <= HOT_BLOB_MAX {
        // The store verifies small blobs whole before returning them.
        let stream = state
            .pipeline
            .store
            .get_blob(&blob.digest, None)
            .await
            .map_err(BlobError::classify)?;
        let bytes = stream
            .bytes()
            .await
            .map_err(|e| BlobError::from_io(&blob, e))?;
        if bytes.len() as u64 != blob.size {
            return Err(BlobError::Broken(store::Error::Corrupt {
                digest: blob.digest,
                path: format!(
                    "{} ({} bytes, record says {})",
                    blob.digest,
                    bytes.len(),
                    blob.size
                ),
            }));
        }
        state.pipeline.keep_hot_blob(&blob, bytes.clone());
        Body::from(slice(bytes))
    } else {
        let stream = state
            .pipeline
            .store
            .get_blob(&blob.digest, range.clone())
            .await
            .map_err(BlobError::classify)?;
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
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ranged::Part(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Ranged::Part(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Ranged::Part(90..100));
        assert_eq!(parse_range("bytes=95-200", 100), Ranged::Part(95..100));
        assert_eq!(parse_range("bytes=100-", 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ranged::Whole);
        assert_eq!(parse_range("items=0-1", 100), Ranged::Whole);
    }

    #[test]
    fn ranges_at_the_limits_of_u64_never_overflow() {
        let max = u64::MAX;
        assert_eq!(
            parse_range(&format!("bytes=1-{max}"), 100),
            Ranged::Part(1..100)
        );
        assert_eq!(
            parse_range(&format!("bytes={max}-"), 100),
            Ranged::Unsatisfiable
        );
        assert_eq!(
            parse_range(&format!("bytes=-{max}"), 100),
            Ranged::Part(0..100)
        );
        assert_eq!(
            parse_range(&format!("bytes={}-{max}", max - 1), 100),
            Ranged::Unsatisfiable
        );
        // An end past u64 is an end past the blob: clamped to its last byte.
        assert_eq!(
            parse_range("bytes=0-99999999999999999999999", 100),
            Ranged::Part(0..100)
        );
        assert_eq!(parse_range("bytes=0-0", 100), Ranged::Part(0..1));
        assert_eq!(parse_range("bytes=-0", 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=abc", 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Ranged::Whole);
    }
}
