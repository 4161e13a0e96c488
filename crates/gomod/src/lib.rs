//! Pure Go-module formats: module paths and their case-escaping, Go semver,
//! GOPRIVATE-style patterns, GOPROXY/GOSUMDB values, go.mod and go.sum,
//! `h1:` hashes and module zips.
//!
//! Nothing here does network or async work; the only disk access is what a
//! caller hands in (a zip file to check, a directory to hash or zip).
#![warn(missing_docs, unreachable_pub)]

pub mod cachepath;
pub mod dirhash;
pub mod escape;
mod fold_table;
pub mod goenv;
pub mod gosum;
pub mod modfile;
pub mod module;
pub mod pattern;
mod quote;
pub mod rawzip;
pub mod semver;
pub mod zip;
