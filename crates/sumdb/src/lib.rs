//! The Go checksum database (sum.golang.org or any GOSUMDB): signed notes,
//! the transparency log, a verifying client, and a tree builder + signer.
//!
//! - [`note`]: signed notes and keys in Go's string forms.
//! - [`tlog`]: record/node hashes, tiles, inclusion and consistency proofs.
//! - [`client`]: looks up `module@version` hashes and returns them only after
//!   the signed tree note is verified and the record is proved, through
//!   authenticated tiles, to be in that tree; remembers the latest tree and
//!   refuses any tree inconsistent with it (fork detection).
//! - [`server`]: builds and signs a tree and answers `lookup`, `tile` and
//!   `latest` requests (test fixtures today, a private checksum DB later).
//!
//! # Why our own note/tlog code
//!
//! We implement notes and the tiled log here instead of depending on the
//! `signed_note`/`tlog_tiles` crates. The algorithms are small (a few hundred
//! lines, ported in shape from golang.org/x/mod's reference), fully specified,
//! and security critical: owning them lets every error be typed and name the
//! offending input, lets the client fetch tiles asynchronously (Go's
//! `TileHashReader` is synchronous; ours reports missing tiles so an async
//! caller can fetch them in one round and retry), and keeps the dependency
//! tree to `ed25519-dalek` and `sha2`, which we already use. Those crates
//! pin older dependency versions and shape their APIs around Go's interfaces.
//!
//! # Example
//!
//! ```
//! use sumdb::{note, server::TreeBuilder, tlog};
//! let (skey, vkey) = note::generate_key("sum.example.test", &mut rand::rngs::OsRng).unwrap();
//! let mut db = TreeBuilder::new(note::Signer::from_skey(&skey).unwrap());
//! db.add("example.com/m", "v1.0.0", "h1:zip=", "h1:mod=").unwrap();
//! let (_, latest) = db.handle("latest").unwrap();
//! let verifiers = note::Verifiers::from_vkeys(&[vkey]).unwrap();
//! let n = note::open(&latest, &verifiers).unwrap();
//! assert_eq!(tlog::parse_tree(n.text.as_bytes()).unwrap().n, 1);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod client;
mod error;
pub mod note;
pub mod server;
pub mod tlog;

pub use client::{Client, LookupResult, Transport, TransportError};
pub use error::Error;

/// The verifier key of the public Go checksum database.
pub const SUM_GOLANG_ORG_KEY: &str =
    "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
