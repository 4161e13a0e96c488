//! Repairing a record whose blob is proven gone (missing, or corrupt and
//! quarantined): the one file is fetched again and kept only if its SHA-256
//! is the digest the record names, so the record, its hashes and its other
//! blobs stay as verified. Only when the source's bytes differ (an `.info`
//! written differently by another proxy) is the record forgotten and the
//! version fetched and verified again from scratch.

use std::sync::Arc;

use futures::FutureExt;
use store::{BlobRef, BlobSource, Record, RecordKey};

use super::fetch::source_error;
use super::{Pipeline, store_error};
use crate::error::ServeError;
use crate::keys::{FetchKey, FileKind};

impl Pipeline {
    /// Restores the blob of `kind` that `rec` names. `Ok(true)`: restored;
    /// `Ok(false)`: the source sent other bytes, and the record was
    /// forgotten so the next [`Pipeline::record`] fetches it all again.
    pub(crate) async fn repair_blob(
        self: &Arc<Self>,
        module: &str,
        version: &str,
        kind: FileKind,
        rec: Arc<Record>,
    ) -> Result<bool, ServeError> {
        let blob = match kind {
            FileKind::Info => rec.info,
            FileKind::Mod => rec.gomod,
            FileKind::Zip => match rec.zip {
                Some(z) => z,
                None => return Ok(false),
            },
        };
        let this = self.clone();
        let (m, v) = (module.to_string(), version.to_string());
        let key = FetchKey::version(module, version, kind);
        self.record_flights
            .run(&self.pool, key, move || {
                async move { this.restore(&m, &v, kind, blob).await }.boxed()
            })
            .await?;
        // The flight's result is in the store: is the blob back?
        match self.store.stat_blob(&blob.digest).await {
            Ok(Some(info)) if info.size == blob.size => Ok(true),
            _ => {
                self.forget_broken_record(module, version).await;
                Ok(false)
            }
        }
    }

    async fn restore(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
        blob: BlobRef,
    ) -> Result<(), ServeError> {
        let what = format!("{module}@{version}{}", kind.ext());
        let source = self.source_of(module)?;
        let differ = || {
            tracing::warn!(record = %RecordKey::new(module, version), file = kind.ext(), "the source's bytes differ from the stored record's; fetching the version again");
        };
        if kind == FileKind::Zip {
            let z = source
                .zip(module, version, &self.staging)
                .await
                .map_err(|e| source_error(&what, e))?;
            if store::Digest(z.body.sha256) != blob.digest {
                differ();
                return Ok(());
            }
            let path = z.body.file.path().to_path_buf();
            self.store
                .put_blob(BlobSource::File(path))
                .await
                .map_err(store_error)?;
        } else {
            let f = source
                .file(module, version, kind)
                .await
                .map_err(|e| source_error(&what, e))?;
            if store::Digest::of(&f.body) != blob.digest {
                differ();
                return Ok(());
            }
            self.store
                .put_blob(BlobSource::Bytes(f.body))
                .await
                .map_err(store_error)?;
        }
        self.hot.invalidate(&blob.digest);
        tracing::info!(record = %RecordKey::new(module, version), file = kind.ext(), "restored a missing blob from the source");
        Ok(())
    }
}
