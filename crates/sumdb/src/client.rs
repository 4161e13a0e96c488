//! A verifying checksum database client (golang.org/x/mod/sumdb's `Client`).
//!
//! Nothing leaves this client unproved: a lookup's signed tree note must
//! verify against the configured key, the tree must be consistent with the
//! latest tree this client has verified (else [`Error::Security`]), and the
//! record must hash, through tiles authenticated against that tree, to its
//! root. Tiles are cached in memory only after authentication; the latest
//! verified note is persisted (if a state directory is given) as
//! `<state_dir>/<name>/latest`, like the go command's
//! `$GOPATH/pkg/sumdb/<name>/latest`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use crate::Error;
use crate::note::{self, Verifier, Verifiers};
use crate::tlog::{
    self, HASH_SIZE, Hash, HashReader as _, TILE_HEIGHT, Tile, TileHashReader, TileReader,
    TlogError, Tree,
};

/// Why the transport could not fetch a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The database answered "does not exist" (HTTP 404/410).
    #[error("not found")]
    NotFound,
    /// Anything else (network error, 5xx, ...).
    #[error("{0}")]
    Other(String),
}

/// Fetches database files by path relative to the database root, e.g.
/// `lookup/example.com/!m@v1.0.0`, `tile/8/0/000.p/5`, `latest`.
#[async_trait]
pub trait Transport: Send + Sync {
    /// The bytes at `path`.
    async fn read_remote(&self, path: &str) -> Result<Bytes, TransportError>;
}

/// At most this many authenticated tiles are kept in memory (~32 MiB).
const MAX_CACHED_TILES: usize = 4096;

/// Trees larger than this (2^48 records) are refused as implausible.
pub const MAX_TREE_SIZE: u64 = 1 << 48;

/// A proved lookup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupResult {
    /// The record id in the log.
    pub id: u64,
    /// The zip's `h1:` hash.
    pub zip_h1: String,
    /// The go.mod's `h1:` hash.
    pub gomod_h1: String,
    /// The verified tree the record was proved in.
    pub tree: Tree,
    /// The signed note of `tree`.
    pub note: Vec<u8>,
    /// The database's answer exactly as received (record and the lookup's
    /// own signed note), now verified: what a proxy passes on to the go
    /// command for `/sumdb/<name>/lookup/...`.
    pub body: Bytes,
}

/// The verifying client. Cheap to share behind an `Arc`; all methods take
/// `&self`.
pub struct Client {
    name: String,
    verifiers: Verifiers,
    transport: Arc<dyn Transport>,
    state_file: Option<PathBuf>,
    /// The latest verified tree and its signed note (empty note for size 0).
    latest: Mutex<(Tree, Vec<u8>)>,
    /// Authenticated hash tiles.
    tiles: Mutex<HashMap<Tile, Bytes>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another task panicked mid-update of a
    // cache; the data is still a valid value.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads tiles from the client's authenticated cache or this operation's
/// fetched (not yet trusted) set, reporting missing ones.
struct RoundReader<'a> {
    client: &'a Client,
    fetched: &'a HashMap<Tile, Bytes>,
}

impl TileReader for RoundReader<'_> {
    fn height(&self) -> u32 {
        TILE_HEIGHT
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TlogError> {
        let cache = lock(&self.client.tiles);
        let mut out = Vec::with_capacity(tiles.len());
        let mut missing = Vec::new();
        for t in tiles {
            if let Some(d) = cache.get(t).or_else(|| self.fetched.get(t)) {
                out.push(d.to_vec());
                continue;
            }
            // A cached full tile holds every prefix of itself.
            if let Some(d) = cache.get(&t.full()) {
                let want = t.w as usize * HASH_SIZE;
                if d.len() >= want {
                    out.push(d[..want].to_vec());
                    continue;
                }
            }
            missing.push(*t);
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(TlogError::TilesMissing(missing))
        }
    }

    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        let mut cache = lock(&self.client.tiles);
        for (t, d) in tiles.iter().zip(data) {
            if cache.contains_key(t) {
                continue;
            }
            if cache.len() >= MAX_CACHED_TILES {
                // Bound memory: drop some level-0 tile (upper levels are few
                // and needed by every lookup). Any one will do: a dropped
                // tile is just fetched and authenticated again.
                let victim = cache.keys().find(|k| k.l == 0).copied();
                if let Some(v) = victim {
                    cache.remove(&v);
                }
            }
            cache.insert(*t, Bytes::copy_from_slice(d));
        }
    }
}

fn map_tlog(e: TlogError) -> Error {
    match e {
        TlogError::InconsistentTile { path } => Error::BadTile {
            path,
            reason: "does not hash to the signed tree".into(),
        },
        TlogError::BadTile { path, reason } => Error::BadTile { path, reason },
        e => Error::Tlog(e),
    }
}

impl Client {
    /// A client for the database whose verifier key is `vkey`
    /// (`name+hash+key`). With `state_dir`, the latest verified tree note is
    /// loaded from and saved to `<state_dir>/<name>/latest`.
    pub fn new(
        vkey: &str,
        transport: Arc<dyn Transport>,
        state_dir: Option<PathBuf>,
    ) -> Result<Client, Error> {
        let v = Verifier::from_vkey(vkey).map_err(Error::BadKey)?;
        let name = v.name().to_string();
        let verifiers = Verifiers::new(vec![v]);
        let state_file = state_dir.map(|d| d.join(&name).join("latest"));
        let mut latest = (Tree::default(), Vec::new());
        if let Some(path) = &state_file {
            match fs_err::read(path) {
                Ok(msg) if msg.is_empty() => {}
                Ok(msg) => {
                    let corrupt = |reason: String| Error::StateCorrupt {
                        path: path.clone(),
                        reason,
                    };
                    let n = note::open(&msg, &verifiers)
                        .map_err(|e| corrupt(format!("not a tree note signed by {name}: {e}")))?;
                    let tree =
                        tlog::parse_tree(n.text.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
                    latest = (tree, msg);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::State {
                        path: path.clone(),
                        source: e,
                    });
                }
            }
        }
        Ok(Client {
            name,
            verifiers,
            transport,
            state_file,
            latest: Mutex::new(latest),
            tiles: Mutex::new(HashMap::new()),
        })
    }

    /// The database name (from the key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The latest verified tree.
    pub fn latest_tree(&self) -> Tree {
        lock(&self.latest).0
    }

    /// The signed note of the latest verified tree (empty before any).
    pub fn latest_note(&self) -> Vec<u8> {
        lock(&self.latest).1.clone()
    }

    async fn fetch(&self, path: &str) -> Result<Bytes, Error> {
        self.transport
            .read_remote(path)
            .await
            .map_err(|source| Error::Transport {
                path: path.to_string(),
                source,
            })
    }

    /// Fetches `latest` from the database and merges it (verifying the note
    /// and its consistency with what this client has seen).
    pub async fn refresh_latest(&self) -> Result<Tree, Error> {
        let msg = self.fetch("latest").await?;
        self.merge_latest(&msg, "latest").await?;
        Ok(self.latest_tree())
    }

    /// Verifies a signed tree note (e.g. one passed through from elsewhere)
    /// and merges it into this client's timeline.
    pub async fn merge_note(&self, msg: &[u8]) -> Result<Tree, Error> {
        let tree = self.merge_latest(msg, "caller").await?;
        Ok(tree)
    }

    /// Looks up `module@version` (unescaped; the client escapes) and returns
    /// its hashes once proved.
    pub async fn lookup(&self, module: &str, version: &str) -> Result<LookupResult, Error> {
        let bad = |reason: String| Error::BadLookup {
            module: module.to_string(),
            version: version.to_string(),
            reason,
        };
        let invalid = |s: &str| {
            s.is_empty()
                || s.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        };
        if invalid(module) || invalid(version) || version.contains('/') {
            return Err(bad("invalid module path or version".into()));
        }
        let path = format!(
            "lookup/{}@{}",
            gomod::escape::escape_string(module),
            gomod::escape::escape_string(version)
        );
        let data = match self.transport.read_remote(&path).await {
            Ok(d) => d,
            Err(TransportError::NotFound) => {
                return Err(Error::NotFound {
                    module: module.to_string(),
                    version: version.to_string(),
                });
            }
            Err(source) => return Err(Error::Transport { path, source }),
        };
        let (id, text, note_msg) = tlog::parse_record(&data).map_err(|e| bad(e.to_string()))?;
        self.merge_latest(note_msg, &path).await?;

        let (tree, note) = lock(&self.latest).clone();
        if id >= tree.n {
            return Err(bad(format!(
                "record {id} is not in the signed tree of size {}",
                tree.n
            )));
        }
        let idx = tlog::stored_hash_index(0, id);
        let hashes = self
            .with_tiles(|r| TileHashReader::new(tree, r).read_hashes(&[idx]))
            .await?;
        if hashes.first() != Some(&tlog::record_hash(text)) {
            return Err(bad(format!(
                "record {id} does not hash to the signed tree of size {}: cannot authenticate the record data",
                tree.n
            )));
        }

        let text = std::str::from_utf8(text).map_err(|_| bad("record is not UTF-8".into()))?;
        let zip_prefix = format!("{module} {version} ");
        let mod_prefix = format!("{module} {version}/go.mod ");
        let mut zip_h1 = None;
        let mut gomod_h1 = None;
        for line in text.lines() {
            if let Some(h) = line.strip_prefix(&zip_prefix) {
                zip_h1 = Some(h.to_string());
            } else if let Some(h) = line.strip_prefix(&mod_prefix) {
                gomod_h1 = Some(h.to_string());
            }
        }
        let check = |h: Option<String>, what: &str| -> Result<String, Error> {
            match h {
                Some(h) if !h.is_empty() && !h.contains(' ') => Ok(h),
                _ => Err(bad(format!(
                    "proved record {id} has no {what} line for this module version"
                ))),
            }
        };
        Ok(LookupResult {
            id,
            zip_h1: check(zip_h1, "zip hash")?,
            gomod_h1: check(gomod_h1, "go.mod hash")?,
            tree,
            note,
            body: data.clone(),
        })
    }

    /// Fetches tile `path` (`tile/8/L/NNN[.p/W]` or `tile/8/data/...`) and
    /// returns it only once authenticated against the latest verified tree
    /// (refreshing `latest` once if the tile lies beyond it).
    pub async fn verified_tile(&self, path: &str) -> Result<Bytes, Error> {
        let tile = Tile::from_path(path).map_err(|e| Error::BadTile {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if tile.h != TILE_HEIGHT {
            return Err(Error::BadTile {
                path: path.to_string(),
                reason: format!("tile height must be {TILE_HEIGHT}"),
            });
        }
        let covered = |tree: Tree| {
            let level_size = if tile.l == Tile::DATA_LEVEL {
                tree.n
            } else {
                tree.n.checked_shr(TILE_HEIGHT * tile.l as u32).unwrap_or(0)
            };
            tile.n
                .checked_mul(1 << TILE_HEIGHT)
                .and_then(|s| s.checked_add(u64::from(tile.w)))
                .is_some_and(|end| end <= level_size)
        };
        let mut tree = self.latest_tree();
        if !covered(tree) {
            tree = self.refresh_latest().await?;
            if !covered(tree) {
                return Err(Error::TileNotInTree {
                    path: path.to_string(),
                    tree_size: tree.n,
                });
            }
        }
        let start = tile.n << TILE_HEIGHT;
        if tile.l == Tile::DATA_LEVEL {
            return self.verified_data_tile(tile, tree).await;
        }
        let level = TILE_HEIGHT * tile.l as u32;
        let idx: Vec<u64> = (0..u64::from(tile.w))
            .map(|i| tlog::stored_hash_index(level, start + i))
            .collect();
        let hashes = self
            .with_tiles(|r| TileHashReader::new(tree, r).read_hashes(&idx))
            .await?;
        Ok(hashes.iter().flat_map(|h| h.0).collect::<Vec<u8>>().into())
    }

    async fn verified_data_tile(&self, tile: Tile, tree: Tree) -> Result<Bytes, Error> {
        let start = tile.n << TILE_HEIGHT;
        let idx: Vec<u64> = (0..u64::from(tile.w))
            .map(|i| tlog::stored_hash_index(0, start + i))
            .collect();
        let hashes = self
            .with_tiles(|r| TileHashReader::new(tree, r).read_hashes(&idx))
            .await?;
        let data = self.fetch_tile(tile).await?;
        let bad = |reason: String| Error::BadTile {
            path: tile.path(),
            reason,
        };
        let records = tlog::split_data_tile(&data).map_err(|e| bad(e.to_string()))?;
        if records.len() < hashes.len() {
            return Err(bad(format!(
                "{} records, want {}",
                records.len(),
                hashes.len()
            )));
        }
        let mut out = Vec::new();
        for (i, (r, h)) in records.iter().zip(&hashes).enumerate() {
            if tlog::record_hash(r) != *h {
                return Err(bad(format!(
                    "record {} does not hash to the signed tree",
                    start + i as u64
                )));
            }
            out.extend_from_slice(r);
            out.push(b'\n');
        }
        Ok(out.into())
    }

    /// Fetches a tile; a partial tile the server no longer has is read as a
    /// prefix of the full one.
    async fn fetch_tile(&self, tile: Tile) -> Result<Bytes, Error> {
        let path = tile.path();
        match self.transport.read_remote(&path).await {
            Ok(d) => Ok(d),
            Err(TransportError::NotFound) if !tile.is_full() => {
                let full = self.fetch(&tile.full().path()).await?;
                if tile.l == Tile::DATA_LEVEL {
                    return Ok(full);
                }
                let want = tile.w as usize * HASH_SIZE;
                Ok(full.slice(..want.min(full.len())))
            }
            Err(source) => Err(Error::Transport { path, source }),
        }
    }

    /// Runs `f` over tiles, fetching whatever it reports missing (in
    /// parallel) and retrying. Tiles are trusted only by what `f`'s
    /// [`TileHashReader`] authenticates.
    async fn with_tiles<T>(
        &self,
        f: impl Fn(&RoundReader<'_>) -> Result<T, TlogError>,
    ) -> Result<T, Error> {
        let mut fetched: HashMap<Tile, Bytes> = HashMap::new();
        // Each read_hashes call asks for all of its tiles at once, so one
        // fetch round per call suffices; allow a few for callers that read
        // more than once.
        for _ in 0..8 {
            let r = RoundReader {
                client: self,
                fetched: &fetched,
            };
            match f(&r) {
                Err(TlogError::TilesMissing(missing)) => {
                    let got =
                        futures::future::join_all(missing.iter().map(|t| self.fetch_tile(*t)))
                            .await;
                    for (t, d) in missing.into_iter().zip(got) {
                        fetched.insert(t, d?);
                    }
                }
                other => return other.map_err(map_tlog),
            }
        }
        Err(Error::Tlog(TlogError::InvalidInput(
            "tile fetching did not converge".into(),
        )))
    }

    /// Verifies `msg` and merges its tree into the timeline.
    async fn merge_latest(&self, msg: &[u8], origin: &str) -> Result<Tree, Error> {
        let n = note::open(msg, &self.verifiers).map_err(|source| Error::BadNote {
            origin: origin.to_string(),
            source,
        })?;
        let tree = tlog::parse_tree(n.text.as_bytes()).map_err(|source| Error::BadTree {
            origin: origin.to_string(),
            source,
        })?;
        if tree.n > MAX_TREE_SIZE {
            // Keeps all index arithmetic far from overflow, even if a key
            // were ever misused to sign nonsense.
            return Err(Error::BadTree {
                origin: origin.to_string(),
                source: TlogError::BadTree(format!("implausible tree size {}", tree.n)),
            });
        }
        loop {
            let (latest, latest_msg) = lock(&self.latest).clone();
            if tree.n <= latest.n {
                self.check_trees(tree, msg, latest, &latest_msg).await?;
                return Ok(tree);
            }
            self.check_trees(latest, &latest_msg, tree, msg).await?;
            let mut cur = lock(&self.latest);
            if cur.0 == latest {
                // Persist first: if that fails, memory keeps the old tree
                // and the caller sees the error.
                self.persist(msg)?;
                *cur = (tree, msg.to_vec());
                return Ok(tree);
            }
            // Someone else moved the timeline; go around again.
        }
    }

    fn persist(&self, msg: &[u8]) -> Result<(), Error> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let io = |source| Error::State {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).map_err(io)?;
        }
        // Unique per write: several clients (in one process or several) may
        // share a state directory, and must never rename each other's file.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{seq}", std::process::id()));
        fs_err::write(&tmp, msg).map_err(io)?;
        fs_err::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        fs_err::rename(&tmp, path).map_err(io)?;
        Ok(())
    }

    /// Checks that `older` is a prefix of `newer` (both already verified).
    async fn check_trees(
        &self,
        older: Tree,
        older_msg: &[u8],
        newer: Tree,
        newer_msg: &[u8],
    ) -> Result<(), Error> {
        if older == newer || older.n == 0 {
            return Ok(());
        }
        if older.n == newer.n {
            // Two signed trees of one size with different hashes: a fork,
            // proved by the notes alone.
            return Err(Error::Security {
                old_note: older_msg.to_vec(),
                new_note: newer_msg.to_vec(),
                proof: Vec::new(),
            });
        }
        let h = self
            .with_tiles(|r| tlog::tree_hash(older.n, &TileHashReader::new(newer, r)))
            .await?;
        if h == older.hash {
            return Ok(());
        }
        // A fork. Gather the proof from the (already fetched) tiles: the
        // newer tree's hash at the older size plus its consistency proof.
        let mut proof = vec![h];
        if let Ok(p) = self
            .with_tiles(|r| tlog::prove_tree(newer.n, older.n, &TileHashReader::new(newer, r)))
            .await
            && tlog::check_tree(&p, newer.n, newer.hash, older.n, h).is_ok()
        {
            proof.extend(p);
        }
        Err(Error::Security {
            old_note: older_msg.to_vec(),
            new_note: newer_msg.to_vec(),
            proof,
        })
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("latest", &self.latest_tree())
            .field("state_file", &self.state_file)
            .finish_non_exhaustive()
    }
}

/// Verifies that `hash` is a well-formed `h1:` hash string.
pub fn is_h1(hash: &str) -> bool {
    hash.strip_prefix("h1:")
        .and_then(|b| b.parse::<Hash>().ok())
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The proxy awaits these inside axum handlers, which need `Send`.
    #[test]
    fn client_futures_are_send() {
        struct Never;
        #[async_trait]
        impl Transport for Never {
            async fn read_remote(&self, _: &str) -> Result<Bytes, TransportError> {
                Err(TransportError::NotFound)
            }
        }
        let c = Client::new(crate::SUM_GOLANG_ORG_KEY, Arc::new(Never), None).unwrap();
        assert_send(&c.lookup("m", "v1.0.0"));
        assert_send(&c.verified_tile("tile/8/0/000"));
        assert_send(&c.refresh_latest());
        let c: Arc<Client> = Arc::new(c);
        fn assert_sync<T: Send + Sync>(_: &T) {}
        assert_sync(&c);
    }
}
