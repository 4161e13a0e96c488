//! A checksum database tree builder and signer, answering the paths a Go
//! checksum database serves (golang.org/x/mod/sumdb's `Server`).
//!
//! The builder keeps everything in memory: records, stored hashes, and an
//! index from `module@version` to record id. It does not check that the
//! hashes it is given are right, so tests can build a deliberately wrong
//! database; clone a builder and append different records to make a fork.

use std::collections::HashMap;

use crate::note::{self, NoteError, Signer};
use crate::tlog::{self, Hash, TILE_HEIGHT, Tile, TlogError, Tree};

/// Content type of lookup, latest and data tile answers.
pub const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";
/// Content type of hash tiles.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Why a record could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// The module version already has a record.
    #[error("{module}@{version} already has record {id}")]
    Duplicate {
        /// Module path.
        module: String,
        /// Version.
        version: String,
        /// The existing record.
        id: u64,
    },
    /// The record text is not valid (spaces or newlines in a field, ...).
    #[error("invalid record for {module}@{version}: {reason}")]
    Invalid {
        /// Module path.
        module: String,
        /// Version.
        version: String,
        /// What was wrong.
        reason: String,
    },
}

/// An in-memory, append-only checksum database.
#[derive(Debug, Clone)]
pub struct TreeBuilder {
    signer: Signer,
    records: Vec<Vec<u8>>,
    hashes: Vec<Hash>,
    index: HashMap<(String, String), u64>,
    /// The signed note of the current tree, re-signed on change.
    signed: Option<(u64, Vec<u8>)>,
}

impl TreeBuilder {
    /// An empty database signing with `signer`.
    pub fn new(signer: Signer) -> Self {
        TreeBuilder {
            signer,
            records: Vec::new(),
            hashes: Vec::new(),
            index: HashMap::new(),
            signed: None,
        }
    }

    /// A database with a freshly generated key named `name`; returns the
    /// builder and the verifier key (for GOSUMDB).
    pub fn generate(name: &str) -> Result<(Self, String), NoteError> {
        let (skey, vkey) = note::generate_key(name, &mut rand::rngs::OsRng)?;
        Ok((TreeBuilder::new(Signer::from_skey(&skey)?), vkey))
    }

    /// The database name.
    pub fn name(&self) -> &str {
        self.signer.name()
    }

    /// The verifier key `name+hash+key`.
    pub fn vkey(&self) -> String {
        self.signer.vkey()
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.records.len() as u64
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Adds the record for `module@version` with the given hashes (not
    /// checked: any string without spaces or newlines is taken), in Go's
    /// format `M V h1:..\nM V/go.mod h1:..\n`. Returns the record id.
    pub fn add(
        &mut self,
        module: &str,
        version: &str,
        zip_h1: &str,
        gomod_h1: &str,
    ) -> Result<u64, AddError> {
        let key = (module.to_string(), version.to_string());
        if let Some(&id) = self.index.get(&key) {
            return Err(AddError::Duplicate {
                module: module.into(),
                version: version.into(),
                id,
            });
        }
        let field_ok =
            |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ![module, version, zip_h1, gomod_h1]
            .iter()
            .all(|s| field_ok(s))
        {
            return Err(AddError::Invalid {
                module: module.into(),
                version: version.into(),
                reason: "fields must be non-empty, without spaces or control characters".into(),
            });
        }
        let text = format!("{module} {version} {zip_h1}\n{module} {version}/go.mod {gomod_h1}\n");
        let id = self.append(text.into_bytes());
        self.index.insert(key, id);
        Ok(id)
    }

    fn append(&mut self, text: Vec<u8>) -> u64 {
        let id = self.records.len() as u64;
        // Reading hashes from our own complete storage cannot fail.
        let new = tlog::stored_hashes(id, &text, &self.hashes).unwrap_or_default();
        self.hashes.extend(new);
        self.records.push(text);
        self.signed = None;
        id
    }

    /// The current tree head.
    pub fn tree(&self) -> Tree {
        let n = self.len();
        Tree {
            n,
            hash: tlog::tree_hash(n, &self.hashes).unwrap_or_default(),
        }
    }

    /// The signed note of the current tree.
    pub fn signed_tree(&mut self) -> Vec<u8> {
        let n = self.len();
        if let Some((sn, msg)) = &self.signed
            && *sn == n
        {
            return msg.clone();
        }
        let text = tlog::format_tree(&self.tree());
        // Our text is always a valid note text and our signer name is valid.
        let msg = note::sign(&text, &[&self.signer]).unwrap_or_default();
        self.signed = Some((n, msg.clone()));
        msg
    }

    /// The record id of `module@version`.
    pub fn lookup_id(&self, module: &str, version: &str) -> Option<u64> {
        self.index
            .get(&(module.to_string(), version.to_string()))
            .copied()
    }

    /// The stored hashes (for tests that build proofs directly).
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Answers a database path (relative to its root, no leading `/`):
    /// `lookup/<esc module>@<esc version>`, `tile/8/L/NNN[.p/W]`,
    /// `tile/8/data/NNN[.p/W]`, `latest`. `None` means 404.
    pub fn handle(&mut self, path: &str) -> Option<(&'static str, Vec<u8>)> {
        let path = path.strip_prefix('/').unwrap_or(path);
        if path == "latest" {
            return Some((TEXT_PLAIN, self.signed_tree()));
        }
        if let Some(mv) = path.strip_prefix("lookup/") {
            let (em, ev) = mv.rsplit_once('@')?;
            let module = gomod::escape::unescape_string(em).ok()?;
            let version = gomod::escape::unescape_string(ev).ok()?;
            let id = self.lookup_id(&module, &version)?;
            let mut body = tlog::format_record(id, &self.records[id as usize]).ok()?;
            body.extend(self.signed_tree());
            return Some((TEXT_PLAIN, body));
        }
        if path.starts_with("tile/") {
            let t = Tile::from_path(path).ok()?;
            return self.tile(&t).ok().map(|d| {
                let ct = if t.l == Tile::DATA_LEVEL {
                    TEXT_PLAIN
                } else {
                    OCTET_STREAM
                };
                (ct, d)
            });
        }
        None
    }

    /// The bytes of tile `t`, if the current tree has all its entries.
    pub fn tile(&self, t: &Tile) -> Result<Vec<u8>, TlogError> {
        if t.h != TILE_HEIGHT {
            return Err(TlogError::InvalidInput(format!("tile height {} != 8", t.h)));
        }
        let start = t.n.checked_mul(1 << t.h);
        let end = start.and_then(|s| s.checked_add(u64::from(t.w)));
        let (Some(start), Some(end)) = (start, end) else {
            return Err(TlogError::InvalidInput("tile number too large".into()));
        };
        if t.l == Tile::DATA_LEVEL {
            if end > self.len() {
                return Err(TlogError::InvalidInput("tile beyond tree".into()));
            }
            let mut out = Vec::new();
            for r in &self.records[start as usize..end as usize] {
                out.extend_from_slice(r);
                out.push(b'\n');
            }
            return Ok(out);
        }
        let level_size = self
            .len()
            .checked_shr(TILE_HEIGHT * t.l as u32)
            .unwrap_or(0);
        if end > level_size {
            return Err(TlogError::InvalidInput("tile beyond tree".into()));
        }
        tlog::read_tile_data(t, &self.hashes)
    }
}
