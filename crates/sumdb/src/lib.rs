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
//! `signed_note`/`tlog_tiles` crates:
//!
//! - Those crates target the C2SP `tlog-tiles`/`checkpoint` specifications,
//!   whose tile layout (`tile/<L>/<N>`, `tile/entries/<N>`) is not the one
//!   Go checksum databases serve (`tile/8/<L>/<N>`, `tile/8/data/<N>`), so
//!   we would be adapting around them at exactly the security-critical seams.
//! - The algorithms are small (a few hundred lines, shaped after
//!   golang.org/x/mod's reference) and fully specified; owning them lets
//!   every error be typed and name the offending input, as our libraries
//!   must.
//! - Go's `TileHashReader` is synchronous. Ours reports the tiles it is
//!   missing ([`tlog::TlogError::TilesMissing`]) so the async client can fetch
//!   them all at once and retry, while authentication stays in one place.
//! - The dependency tree stays at `ed25519-dalek` and `sha2`, which the
//!   workspace already uses.
//!
//! # Guarantees of the client
//!
//! A [`Client`] returns hashes ([`LookupResult`]) and tiles
//! ([`Client::verified_tile`]) only after the signed tree note verified, the
//! tree is consistent with every tree the client saw before (persisted across
//! restarts), and the data hashes through authenticated tiles to that tree's
//! root. A tree inconsistent with the remembered one is
//! [`Error::Security`], carrying both signed notes and the proof. As in the
//! go command, a server that shows an *older* tree on a different timeline
//! cannot serve tiles that authenticate against the newer tree the client
//! holds, so that case surfaces as [`Error::BadTile`].
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
