use std::io;
use std::path::PathBuf;

use crate::{Digest, RecordKey};

/// Errors of the store. Each names the blob, key or path it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The blob, record or document is not stored.
    #[error("not found in the store: {what}")]
    NotFound {
        /// What was looked for (a digest or key).
        what: String,
    },

    /// A different record already exists under this key.
    #[error(
        "conflict: the store already holds a different record for {key}; the existing one was kept"
    )]
    Conflict {
        /// The record key.
        key: RecordKey,
    },

    /// A record names a blob that is not stored (blobs must be written first).
    #[error("record {key} names blob {digest} ({size} bytes), which is not in the store")]
    MissingBlob {
        /// The record key.
        key: RecordKey,
        /// The missing blob.
        digest: Digest,
        /// The size the record expects.
        size: u64,
    },

    /// Stored bytes do not hash to their name (or a document to its checksum).
    #[error("corrupt data at {path}: content does not match {digest}; it was not served")]
    Corrupt {
        /// The expected digest.
        digest: Digest,
        /// File path or object key of the bad copy.
        path: String,
    },

    /// The store was written by a newer modwarden with a layout we do not know.
    #[error(
        "store at {path} has layout version {found}, but this modwarden understands up to {supported}; \
         upgrade modwarden or point it at another directory (the store was not touched)"
    )]
    LayoutTooNew {
        /// Layout version found in `meta.toml`.
        found: u32,
        /// Highest version this code supports.
        supported: u32,
        /// The `meta.toml` path or key.
        path: String,
    },

    /// The directory is not empty and has no `meta.toml`.
    #[error(
        "{path} is not empty and has no meta.toml, so it is not a modwarden store; \
         refusing to use it (pick an empty or new directory)"
    )]
    NotAStore {
        /// The directory.
        path: PathBuf,
    },

    /// [`crate::open`] with [`crate::Mode::Existing`] found no store there;
    /// nothing was created or changed.
    #[error("{}", crate::open::no_store_message(.location, .why))]
    NoStore {
        /// The directory or URL.
        location: String,
        /// What is there instead.
        why: crate::NoStore,
    },

    /// A store location that cannot be used (unknown scheme, bad URL, no bucket).
    #[error("invalid store location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// What is wrong and what to write instead.
        reason: String,
    },

    /// A file or object had content we could not parse.
    #[error("malformed {path}: {reason}")]
    Malformed {
        /// File path or object key.
        path: String,
        /// What was wrong.
        reason: String,
    },

    /// A module path, version, document name or digest cannot be used as a key.
    #[error("invalid store key {input:?}: {reason}")]
    InvalidKey {
        /// The input.
        input: String,
        /// What was wrong.
        reason: String,
    },

    /// A byte range outside the blob.
    #[error("invalid range {start}..{end} for blob {digest} of {size} bytes")]
    InvalidRange {
        /// The blob.
        digest: Digest,
        /// Range start.
        start: u64,
        /// Range end (exclusive).
        end: u64,
        /// Blob size.
        size: u64,
    },

    /// A local I/O error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },

    /// The disk is full. Nothing partial was left behind.
    #[error(
        "no space left on the device holding {path}; nothing was stored \
         (free some space, or run `modwarden gc` with a size budget)"
    )]
    NoSpace {
        /// The file being written.
        path: PathBuf,
    },

    /// An error from the object store.
    #[error("object store error on {key}: {source}")]
    Backend {
        /// The object key.
        key: String,
        /// The error.
        #[source]
        source: Box<object_store::Error>,
    },
}

impl Error {
    /// Maps an I/O error on `path`, recognising a full disk.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        let path = path.into();
        if is_no_space(&source) {
            Error::NoSpace { path }
        } else {
            Error::Io { path, source }
        }
    }

    /// Maps an object store error on `key`.
    pub(crate) fn backend(key: impl Into<String>, source: object_store::Error) -> Error {
        let key = key.into();
        match source {
            object_store::Error::NotFound { .. } => Error::NotFound { what: key },
            other => Error::Backend {
                key,
                source: Box::new(other),
            },
        }
    }

    /// Whether this is [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

pub(crate) fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::QuotaExceeded
}
