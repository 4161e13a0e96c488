//! The checksum database's [`sumdb::client::Transport`] over an
//! [`UpstreamList`]: the one way the proxy and the doctor read database files,
//! with the list's timeouts, retries and circuit breaker.

use async_trait::async_trait;
use bytes::Bytes;
use sumdb::client::{Transport, TransportError};

use crate::UpstreamList;

/// Reads checksum-database files (`lookup/...`, `tile/...`, `latest`)
/// relative to the base URLs of an [`UpstreamList`] (the database's own URL,
/// or a proxy's `<proxy>/sumdb/<name>/`).
///
/// 404 and 410 are [`TransportError::NotFound`]; every other failure (after
/// the list's retries) is [`TransportError::Other`] with the
/// [`crate::FetchError`]'s text, which names the URL.
///
/// ```no_run
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use upstream::{ClientConfig, Entry, Fallback, NoObserver, SumdbTransport, UpstreamList};
/// let list = UpstreamList::new(
///     vec![Entry { base: "https://sum.golang.org/".parse()?, fallback: Fallback::OnNotFound }],
///     ClientConfig::default(),
///     Arc::new(NoObserver),
/// )?;
/// let vkey = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
/// let client = sumdb::Client::new(vkey, Arc::new(SumdbTransport::new(list)), None)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SumdbTransport {
    list: UpstreamList,
    limit: u64,
}

impl SumdbTransport {
    /// The largest file read by default: 16 MiB (a full tile is 8 KiB, a
    /// lookup answer a few hundred bytes).
    pub const DEFAULT_LIMIT: u64 = 16 << 20;

    /// A transport reading through `list`, refusing files over
    /// [`SumdbTransport::DEFAULT_LIMIT`].
    pub fn new(list: UpstreamList) -> SumdbTransport {
        SumdbTransport {
            list,
            limit: Self::DEFAULT_LIMIT,
        }
    }

    /// The same, refusing files over `limit` bytes.
    pub fn with_limit(mut self, limit: u64) -> SumdbTransport {
        self.limit = limit;
        self
    }

    /// The list it reads through.
    pub fn list(&self) -> &UpstreamList {
        &self.list
    }
}

#[async_trait]
impl Transport for SumdbTransport {
    async fn read_remote(&self, path: &str) -> Result<Bytes, TransportError> {
        match self.list.fetch_bytes(path, self.limit).await {
            Ok(f) => Ok(f.body),
            Err(e) if e.is_not_found() => Err(TransportError::NotFound),
            Err(e) => Err(TransportError::Other(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{ClientConfig, Entry, Fallback, NoObserver};

    fn transport(dir: &std::path::Path) -> SumdbTransport {
        let list = UpstreamList::new(
            vec![Entry {
                base: url::Url::from_directory_path(dir).unwrap(),
                fallback: Fallback::OnNotFound,
            }],
            ClientConfig::default(),
            Arc::new(NoObserver),
        )
        .unwrap();
        SumdbTransport::new(list)
    }

    #[tokio::test]
    async fn files_not_found_and_too_large() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("latest"), b"go.sum database tree\n").unwrap();
        let t = transport(dir.path());
        assert_eq!(
            t.read_remote("latest").await.unwrap(),
            Bytes::from_static(b"go.sum database tree\n")
        );
        assert_eq!(
            t.read_remote("lookup/example.com/m@v1.0.0").await,
            Err(TransportError::NotFound)
        );
        let small = t.clone().with_limit(4);
        match small.read_remote("latest").await {
            Err(TransportError::Other(m)) => {
                assert!(m.contains("latest") && m.contains("4-byte limit"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(small.list().labels().len(), 1);
    }
}
