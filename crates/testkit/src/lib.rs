//! Dev-only test support for modwarden's crates:
//!
//! - [`fixtures`]: module versions built in memory (`.info`, `.mod`, `.zip`,
//!   `h1:` hashes) and sets of them, including filler modules to grow a
//!   checksum database past tile boundaries.
//! - [`server`]: a loopback fixture upstream serving the GOPROXY protocol and
//!   a test checksum database under one base URL, with a request log and
//!   per-request fault-injection hooks.
//! - [`go`]: a sandbox that runs the real `go` command hermetically.
//!
//! ```no_run
//! # async fn demo() {
//! use testkit::{fixtures::FixtureSet, go::GoSandbox, server::FixtureServer};
//! let set = FixtureSet::standard();
//! let (mut db, vkey) = sumdb::server::TreeBuilder::generate("sum.test").unwrap();
//! set.add_to_sumdb(&mut db);
//! let srv = FixtureServer::start(set, Some(db)).await;
//! let go = GoSandbox::new();
//! let out = go
//!     .run(&["mod", "download", "example.com/simple@v1.0.0"], &srv.base_url(), &vkey)
//!     .await;
//! assert!(out.success(), "{}", out.stderr);
//! # }
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod fixtures;
pub mod go;
pub mod redis;
pub mod server;
pub mod util;
pub mod weed;
