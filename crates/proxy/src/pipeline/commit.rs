//! Writing a verified version to the store: blobs first, the record last
//! (create-only), so no reader ever sees a record whose bytes are missing.

use bytes::Bytes;
use store::{BlobRef, BlobSource, Record, RecordKey};
use upstream::FileBody;

use super::{Pipeline, store_error};
use crate::error::ServeError;

/// A version that passed verification, ready to be stored.
pub(super) struct Verified<'a> {
    pub(super) module: &'a str,
    pub(super) version: &'a str,
    /// The fetched `.info` and `.mod` (none when the record has them).
    pub(super) small: Option<(Bytes, Bytes)>,
    /// The `h1:` of the fetched go.mod.
    pub(super) gomod_h1: Option<String>,
    /// The fetched zip, in its staging file.
    pub(super) zip: Option<FileBody>,
    /// The zip's `h1:`, fetched or known from the database.
    pub(super) zip_h1: Option<String>,
    pub(super) verified_by: String,
    /// The record this fetch completes (a go.mod-only record gaining its zip).
    pub(super) existing: Option<&'a Record>,
}

impl Pipeline {
    async fn put_bytes(&self, bytes: Bytes) -> Result<BlobRef, ServeError> {
        self.store
            .put_blob(BlobSource::Bytes(bytes))
            .await
            .map_err(store_error)
    }

    pub(super) async fn commit(&self, v: Verified<'_>) -> Result<(), ServeError> {
        let mv = format!("{}@{}", v.module, v.version);
        let (info_ref, gomod_ref, gomod_h1) = match (v.existing, v.small, v.gomod_h1) {
            (Some(r), _, _) => (r.info, r.gomod, r.gomod_h1.clone()),
            (None, Some((info, gomod)), Some(h1)) => (
                self.put_bytes(info).await?,
                self.put_bytes(gomod).await?,
                h1,
            ),
            _ => {
                return Err(ServeError::internal(format!(
                    "internal error: {mv} has no record and no fetched .info/.mod"
                )));
            }
        };
        let zip_ref = match v.zip {
            None => None,
            Some(body) => {
                let blob = self
                    .store
                    .put_blob(BlobSource::File(body.file.path().to_path_buf()))
                    .await
                    .map_err(store_error)?;
                if blob.size != body.size {
                    return Err(ServeError::internal(format!(
                        "{mv}.zip changed while being stored; retry"
                    )));
                }
                Some(blob)
            }
        };
        let record = Record {
            zip: zip_ref,
            gomod: gomod_ref,
            info: info_ref,
            zip_h1: v.zip_h1,
            gomod_h1,
            verified_by: v.verified_by,
            fetched_at: self.now(),
        };
        let key = RecordKey::new(v.module, v.version);
        match self.store.put_record(&key, &record).await {
            Ok(()) => {}
            Err(store::Error::Conflict { .. }) => {
                // Another instance (or an earlier go.mod-only fetch) wrote it
                // first. Upgrade a record without zip; otherwise keep theirs.
                if let Ok(Some(old)) = self.store.get_record(&key).await
                    && old.zip.is_none()
                    && record.zip.is_some()
                {
                    self.store.delete_record(&key).await.map_err(store_error)?;
                    self.store
                        .put_record(&key, &record)
                        .await
                        .or_else(|e| match e {
                            store::Error::Conflict { .. } => Ok(()),
                            e => Err(e),
                        })
                        .map_err(store_error)?;
                }
            }
            Err(e) => return Err(store_error(e)),
        }
        let total: u64 = record.blobs().map(|b| b.size).sum();
        let before: u64 = v
            .existing
            .iter()
            .flat_map(|r| r.blobs())
            .map(|b| b.size)
            .sum();
        let new_records = i64::from(v.existing.is_none());
        self.metrics
            .store_added(new_records, total.saturating_sub(before) as i64);
        Ok(())
    }
}
