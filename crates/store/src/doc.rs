//! The byte format of a stored document: one header line, then the content.
//!
//! ```text
//! mwdoc1 <fetched_at, unix nanoseconds> <sha256 of content, hex>\n<content>
//! ```
//! One object holds both the time and the bytes, so they change together
//! atomically; the checksum turns a damaged document into an error instead of
//! a wrong answer.

use bytes::Bytes;
use time::OffsetDateTime;

use crate::{Digest, Doc, Error, Result};

const MAGIC: &str = "mwdoc1";

pub(crate) fn encode(bytes: &[u8], fetched_at: OffsetDateTime) -> Vec<u8> {
    let header = format!(
        "{MAGIC} {} {}\n",
        fetched_at.unix_timestamp_nanos(),
        Digest::of(bytes).hex()
    );
    let mut out = Vec::with_capacity(header.len() + bytes.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(bytes);
    out
}

pub(crate) fn decode(raw: Bytes, path: &str) -> Result<Doc> {
    let malformed = |reason: &str| Error::Malformed {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let nl = raw
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| malformed("no header line"))?;
    let header = std::str::from_utf8(&raw[..nl]).map_err(|_| malformed("header is not UTF-8"))?;
    let mut parts = header.split(' ');
    if parts.next() != Some(MAGIC) {
        return Err(malformed("header does not start with \"mwdoc1\""));
    }
    let nanos: i128 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed("bad fetch time in header"))?;
    let fetched_at = OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|e| malformed(&format!("fetch time out of range: {e}")))?;
    let digest = parts
        .next()
        .and_then(|s| Digest::parse(s).ok())
        .ok_or_else(|| malformed("bad checksum in header"))?;
    if parts.next().is_some() {
        return Err(malformed("extra fields in header"));
    }
    let bytes = raw.slice(nl + 1..);
    if Digest::of(&bytes) != digest {
        return Err(Error::Corrupt {
            digest,
            path: path.to_string(),
        });
    }
    Ok(Doc { bytes, fetched_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_nanoseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let raw = encode(b"v1.0.0\nv1.1.0\n", t);
        let d = decode(raw.into(), "x").unwrap();
        assert_eq!(d.fetched_at, t);
        assert_eq!(&d.bytes[..], b"v1.0.0\nv1.1.0\n");
    }

    #[test]
    fn damaged_document_is_corrupt() {
        let mut raw = encode(b"hello", OffsetDateTime::UNIX_EPOCH);
        let n = raw.len();
        raw[n - 1] ^= 1;
        assert!(matches!(
            decode(raw.into(), "x"),
            Err(Error::Corrupt { .. })
        ));
    }
}
