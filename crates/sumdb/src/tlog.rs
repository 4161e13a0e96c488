//! Tamper-evident transparency log (golang.org/x/mod/sumdb/tlog): RFC 6962
//! Merkle hashes, stored-hash indexes, tiles, inclusion and consistency
//! proofs, tree notes and lookup records.
//!
//! Hashes are stored in one dense sequence: record `n`'s leaf hash is followed
//! by the hashes of every subtree it completes. [`stored_hash_index`] maps a
//! `(level, n)` tree coordinate to that sequence. Tiles of height `h` group
//! `2^h` consecutive hashes of one tile level.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// Size of a hash in bytes.
pub const HASH_SIZE: usize = 32;

/// The tile height used by Go checksum databases.
pub const TILE_HEIGHT: u32 = 8;

/// Errors from log computations and parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// A proof does not prove what it claims.
    #[error("proof failed: {0}")]
    ProofFailed(&'static str),
    /// Arguments out of range (e.g. record index >= tree size).
    #[error("invalid inputs: {0}")]
    InvalidInput(String),
    /// A tile path could not be parsed.
    #[error("malformed tile path {path:?}: {reason}")]
    BadTilePath {
        /// The path.
        path: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// Tile data has the wrong size or does not contain a hash.
    #[error("bad tile {path}: {reason}")]
    BadTile {
        /// The tile path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// Downloaded tiles do not hash to the trusted tree hash or parent tile.
    #[error("downloaded inconsistent tile {path}: it does not hash to the signed tree")]
    InconsistentTile {
        /// The tile (or the first of the tiles) found to disagree.
        path: String,
    },
    /// A tile reader needs these tiles before it can answer (used by async
    /// readers that fetch in rounds; see [`TileReader`]).
    #[error("tiles not yet fetched: {}", .0.iter().map(Tile::path).collect::<Vec<_>>().join(", "))]
    TilesMissing(Vec<Tile>),
    /// A tile could not be read.
    #[error("reading tile {path}: {reason}")]
    ReadTile {
        /// The tile path.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// A tree note text is malformed.
    #[error("malformed tree note: {0}")]
    BadTree(String),
    /// A lookup record is malformed.
    #[error("malformed record data: {0}")]
    BadRecord(String),
    /// A hash string is malformed.
    #[error("malformed hash {input:?}: want base64 of 32 bytes")]
    BadHash {
        /// The input.
        input: String,
    },
}

/// A SHA-256 hash in the log.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&B64.encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl std::str::FromStr for Hash {
    type Err = TlogError;
    fn from_str(s: &str) -> Result<Self, TlogError> {
        let b = B64.decode(s).map_err(|_| TlogError::BadHash {
            input: s.to_string(),
        })?;
        let a: [u8; HASH_SIZE] = b.try_into().map_err(|_| TlogError::BadHash {
            input: s.to_string(),
        })?;
        Ok(Hash(a))
    }
}

impl Hash {
    /// The first 32 bytes of `b` (zero-padded if shorter; callers check
    /// lengths first, this only keeps a bad length from panicking).
    fn from_slice(b: &[u8]) -> Hash {
        let mut h = [0u8; HASH_SIZE];
        let k = b.len().min(HASH_SIZE);
        h[..k].copy_from_slice(&b[..k]);
        Hash(h)
    }
}

/// The hash of a record: SHA-256(0x00 || data).
pub fn record_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    Hash(h.finalize().into())
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: Hash, right: Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Maps tree coordinates `(level, n)` to the dense stored-hash index.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // Level L's n'th hash is written right after level L+1's 2n+1'th hash.
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    // Level 0's n'th hash is written at n + n/2 + n/4 + ...
    let mut i = 0u64;
    while n > 0 {
        i += n;
        n >>= 1;
    }
    i + u64::from(level)
}

/// The inverse of [`stored_hash_index`]: `(level, n)`.
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    // stored_hash_index(0, n) < 2n, so the n we want is in
    // [index/2, index/2 + log2(index)].
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    loop {
        // Each new record n adds 1 + trailing_zeros(n+1) hashes.
        let x = index_n + 1 + u64::from((n + 1).trailing_zeros());
        if x > index {
            break;
        }
        n += 1;
        index_n = x;
    }
    let level = (index - index_n) as u32;
    (level, n >> level)
}

/// The number of stored hashes a tree of `n` records has.
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut num = stored_hash_index(0, n - 1) + 1;
    let mut i = n - 1;
    while i & 1 != 0 {
        num += 1;
        i >>= 1;
    }
    num
}

/// Reads stored hashes by index.
pub trait HashReader {
    /// The hashes at `indexes`, in the same order.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError>;
}

impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.get(i).copied())
                    .ok_or_else(|| {
                        TlogError::InvalidInput(format!("stored hash index {i} out of range"))
                    })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        self.as_slice().read_hashes(indexes)
    }
}

/// The hashes to append to storage when record `n` (0-based) with data
/// `data` is added to a tree of `n` records.
pub fn stored_hashes<R: HashReader + ?Sized>(
    n: u64,
    data: &[u8],
    r: &R,
) -> Result<Vec<Hash>, TlogError> {
    stored_hashes_for_record_hash(n, record_hash(data), r)
}

/// Like [`stored_hashes`] given the record hash.
pub fn stored_hashes_for_record_hash<R: HashReader + ?Sized>(
    n: u64,
    h: Hash,
    r: &R,
) -> Result<Vec<Hash>, TlogError> {
    let mut hashes = vec![h];
    // Each trailing 1 bit of n completes a subtree.
    let m = (n + 1).trailing_zeros();
    let mut indexes = vec![0u64; m as usize];
    for i in 0..m {
        indexes[(m - 1 - i) as usize] = stored_hash_index(i, (n >> i) - 1);
    }
    let old = r.read_hashes(&indexes)?;
    if old.len() != indexes.len() {
        return Err(TlogError::InvalidInput(
            "hash reader returned wrong count".into(),
        ));
    }
    let mut h = h;
    for i in 0..m as usize {
        h = node_hash(old[m as usize - 1 - i], h);
        hashes.push(h);
    }
    Ok(hashes)
}

/// The largest power of two smaller than `n` (n >= 2), and its log2.
fn maxpow2(n: u64) -> (u64, u32) {
    let mut l = 0u32;
    while (1u64 << (l + 1)) < n {
        l += 1;
    }
    (1u64 << l, l)
}

fn sub_tree_index(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let (k, level) = maxpow2(hi - lo + 1);
        debug_assert!(lo & (k - 1) == 0);
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

fn sub_tree_hash(mut lo: u64, hi: u64, hashes: &[Hash]) -> Result<(Hash, &[Hash]), TlogError> {
    let mut num = 0usize;
    while lo < hi {
        let (k, _) = maxpow2(hi - lo + 1);
        num += 1;
        lo += k;
    }
    if hashes.len() < num || num == 0 {
        return Err(TlogError::InvalidInput(
            "bad index math in sub_tree_hash".into(),
        ));
    }
    let mut h = hashes[num - 1];
    for i in (0..num - 1).rev() {
        h = node_hash(hashes[i], h);
    }
    Ok((h, &hashes[num..]))
}

/// The root hash of the tree of the first `n` records.
pub fn tree_hash<R: HashReader + ?Sized>(n: u64, r: &R) -> Result<Hash, TlogError> {
    if n == 0 {
        return Ok(Hash::default());
    }
    let mut idx = Vec::new();
    sub_tree_index(0, n, &mut idx);
    let hashes = r.read_hashes(&idx)?;
    check_len(&hashes, &idx)?;
    Ok(sub_tree_hash(0, n, &hashes)?.0)
}

fn check_len(h: &[Hash], idx: &[u64]) -> Result<(), TlogError> {
    if h.len() != idx.len() {
        return Err(TlogError::InvalidInput(format!(
            "hash reader returned {} hashes, want {}",
            h.len(),
            idx.len()
        )));
    }
    Ok(())
}

/// A proof that a record is in a tree.
pub type RecordProof = Vec<Hash>;

/// A proof that a tree is a prefix of a larger one.
pub type TreeProof = Vec<Hash>;

/// Proves that record `n` is in the tree of size `t`.
pub fn prove_record<R: HashReader + ?Sized>(
    t: u64,
    n: u64,
    r: &R,
) -> Result<RecordProof, TlogError> {
    if n >= t {
        return Err(TlogError::InvalidInput(format!(
            "record {n} not in tree of size {t}"
        )));
    }
    let mut idx = Vec::new();
    leaf_proof_index(0, t, n, &mut idx);
    if idx.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = r.read_hashes(&idx)?;
    check_len(&hashes, &idx)?;
    Ok(leaf_proof(0, t, n, &hashes)?.0)
}

fn leaf_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if lo + 1 == hi {
        return;
    }
    let (k, _) = maxpow2(hi - lo);
    if n < lo + k {
        leaf_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        leaf_proof_index(lo + k, hi, n, need);
    }
}

fn leaf_proof(
    lo: u64,
    hi: u64,
    n: u64,
    hashes: &[Hash],
) -> Result<(RecordProof, &[Hash]), TlogError> {
    if lo + 1 == hi {
        return Ok((Vec::new(), hashes));
    }
    let (k, _) = maxpow2(hi - lo);
    let (mut p, th, rest);
    if n < lo + k {
        let (p1, h1) = leaf_proof(lo, lo + k, n, hashes)?;
        let (t1, h2) = sub_tree_hash(lo + k, hi, h1)?;
        (p, th, rest) = (p1, t1, h2);
    } else {
        let (t1, h1) = sub_tree_hash(lo, lo + k, hashes)?;
        let (p1, h2) = leaf_proof(lo + k, hi, n, h1)?;
        (p, th, rest) = (p1, t1, h2);
    }
    p.push(th);
    Ok((p, rest))
}

/// Checks that `p` proves record `n` with hash `h` is in the tree of size
/// `t` with root hash `th`.
pub fn check_record(p: &[Hash], t: u64, th: Hash, n: u64, h: Hash) -> Result<(), TlogError> {
    if n >= t {
        return Err(TlogError::ProofFailed("record index not in tree"));
    }
    let th2 = run_record_proof(p, 0, t, n, h)?;
    if th2 == th {
        Ok(())
    } else {
        Err(TlogError::ProofFailed(
            "record proof does not hash to the tree root",
        ))
    }
}

fn run_record_proof(p: &[Hash], lo: u64, hi: u64, n: u64, leaf: Hash) -> Result<Hash, TlogError> {
    if lo + 1 == hi {
        if !p.is_empty() {
            return Err(TlogError::ProofFailed("record proof has extra hashes"));
        }
        return Ok(leaf);
    }
    let Some((last, rest)) = p.split_last() else {
        return Err(TlogError::ProofFailed("record proof too short"));
    };
    let (k, _) = maxpow2(hi - lo);
    if n < lo + k {
        let th = run_record_proof(rest, lo, lo + k, n, leaf)?;
        Ok(node_hash(th, *last))
    } else {
        let th = run_record_proof(rest, lo + k, hi, n, leaf)?;
        Ok(node_hash(*last, th))
    }
}

/// Proves that the tree of size `n` is a prefix of the tree of size `t`.
pub fn prove_tree<R: HashReader + ?Sized>(t: u64, n: u64, r: &R) -> Result<TreeProof, TlogError> {
    if t < 1 || n < 1 || n > t {
        return Err(TlogError::InvalidInput(format!(
            "cannot prove tree of size {n} within tree of size {t}"
        )));
    }
    let mut idx = Vec::new();
    tree_proof_index(0, t, n, &mut idx);
    if idx.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = r.read_hashes(&idx)?;
    check_len(&hashes, &idx)?;
    Ok(tree_proof(0, t, n, &hashes)?.0)
}

fn tree_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if n == hi {
        if lo != 0 {
            sub_tree_index(lo, hi, need);
        }
        return;
    }
    let (k, _) = maxpow2(hi - lo);
    if n <= lo + k {
        tree_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        tree_proof_index(lo + k, hi, n, need);
    }
}

fn tree_proof(
    lo: u64,
    hi: u64,
    n: u64,
    hashes: &[Hash],
) -> Result<(TreeProof, &[Hash]), TlogError> {
    if n == hi {
        if lo == 0 {
            return Ok((Vec::new(), hashes));
        }
        let (th, rest) = sub_tree_hash(lo, hi, hashes)?;
        return Ok((vec![th], rest));
    }
    let (k, _) = maxpow2(hi - lo);
    let (mut p, th, rest);
    if n <= lo + k {
        let (p1, h1) = tree_proof(lo, lo + k, n, hashes)?;
        let (t1, h2) = sub_tree_hash(lo + k, hi, h1)?;
        (p, th, rest) = (p1, t1, h2);
    } else {
        let (t1, h1) = sub_tree_hash(lo, lo + k, hashes)?;
        let (p1, h2) = tree_proof(lo + k, hi, n, h1)?;
        (p, th, rest) = (p1, t1, h2);
    }
    p.push(th);
    Ok((p, rest))
}

/// Checks that `p` proves the tree of size `n` with hash `h` is a prefix of
/// the tree of size `t` with hash `th`.
pub fn check_tree(p: &[Hash], t: u64, th: Hash, n: u64, h: Hash) -> Result<(), TlogError> {
    if t < 1 || n < 1 || n > t {
        return Err(TlogError::ProofFailed("tree sizes out of range"));
    }
    let (h2, th2) = run_tree_proof(p, 0, t, n, h)?;
    if th2 == th && h2 == h {
        Ok(())
    } else {
        Err(TlogError::ProofFailed(
            "tree proof does not hash to both roots",
        ))
    }
}

fn run_tree_proof(
    p: &[Hash],
    lo: u64,
    hi: u64,
    n: u64,
    old: Hash,
) -> Result<(Hash, Hash), TlogError> {
    if n == hi {
        if lo == 0 {
            if !p.is_empty() {
                return Err(TlogError::ProofFailed("tree proof has extra hashes"));
            }
            return Ok((old, old));
        }
        if p.len() != 1 {
            return Err(TlogError::ProofFailed("tree proof has wrong length"));
        }
        return Ok((p[0], p[0]));
    }
    let Some((last, rest)) = p.split_last() else {
        return Err(TlogError::ProofFailed("tree proof too short"));
    };
    let (k, _) = maxpow2(hi - lo);
    if n <= lo + k {
        let (oh, th) = run_tree_proof(rest, lo, lo + k, n, old)?;
        Ok((oh, node_hash(th, *last)))
    } else {
        let (oh, th) = run_tree_proof(rest, lo + k, hi, n, old)?;
        Ok((node_hash(*last, oh), node_hash(*last, th)))
    }
}

/// A tile: a run of up to `2^h` hashes of one tile level (or, at level
/// [`Tile::DATA_LEVEL`], the record texts of that run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Height (1..=30); Go's sumdb uses 8.
    pub h: u32,
    /// Tile level (-1 is the data level).
    pub l: i32,
    /// Tile number within the level.
    pub n: u64,
    /// Width: number of hashes, 1..=2^h (2^h is a full tile).
    pub w: u32,
}

impl Tile {
    /// The level number of data tiles.
    pub const DATA_LEVEL: i32 = -1;

    /// Whether this tile has all `2^h` entries.
    pub fn is_full(&self) -> bool {
        self.w == 1 << self.h
    }

    /// This tile with full width.
    pub fn full(&self) -> Tile {
        Tile {
            w: 1 << self.h,
            ..*self
        }
    }

    /// The path `tile/H/L/NNN[.p/W]` (Go's `Tile.Path`).
    pub fn path(&self) -> String {
        let mut n = self.n;
        let mut s = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            s = format!("x{:03}/{s}", n % 1000);
        }
        let p = if self.is_full() {
            String::new()
        } else {
            format!(".p/{}", self.w)
        };
        let l = if self.l == Self::DATA_LEVEL {
            "data".to_string()
        } else {
            self.l.to_string()
        };
        format!("tile/{}/{l}/{s}{p}", self.h)
    }

    /// Parses a tile path; accepts only the canonical form [`Tile::path`]
    /// produces.
    pub fn from_path(path: &str) -> Result<Tile, TlogError> {
        let bad = |reason| TlogError::BadTilePath {
            path: path.to_string(),
            reason,
        };
        let mut f: Vec<&str> = path.split('/').collect();
        if f.len() < 4 || f[0] != "tile" {
            return Err(bad("want tile/H/L/NNN[.p/W]"));
        }
        let h: u32 = parse_dec(f[1]).ok_or_else(|| bad("bad height"))?;
        if !(1..=30).contains(&h) {
            return Err(bad("height out of range 1..30"));
        }
        let l: i32 = if f[2] == "data" {
            Self::DATA_LEVEL
        } else {
            let l: u32 = parse_dec(f[2]).ok_or_else(|| bad("bad level"))?;
            if l >= 64 {
                return Err(bad("level out of range"));
            }
            l as i32
        };
        let mut w: u32 = 1 << h;
        let k = f.len() - 2;
        if let Some(stem) = f[k].strip_suffix(".p") {
            let ww: u32 = parse_dec(f[k + 1]).ok_or_else(|| bad("bad partial width"))?;
            if ww == 0 || ww >= w {
                return Err(bad("partial width out of range"));
            }
            w = ww;
            f[k] = stem;
            f.pop();
        }
        let mut n: u64 = 0;
        for s in &f[3..] {
            let nn: u64 = parse_dec(s.strip_prefix('x').unwrap_or(s))
                .ok_or_else(|| bad("bad tile number"))?;
            if nn >= 1000 {
                return Err(bad("tile number group >= 1000"));
            }
            n = n
                .checked_mul(1000)
                .and_then(|n| n.checked_add(nn))
                .ok_or_else(|| bad("tile number overflows"))?;
        }
        let t = Tile { h, l, n, w };
        if t.path() != path {
            return Err(bad("not in canonical form"));
        }
        Ok(t)
    }

    fn level_u32(&self) -> u32 {
        self.l.max(0) as u32
    }
}

fn parse_dec<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The tile of height `h` holding stored hash `index`, with the width that
/// just includes it.
pub fn tile_for_index(h: u32, index: u64) -> Tile {
    tile_for_index_range(h, index).0
}

fn tile_for_index_range(h: u32, index: u64) -> (Tile, usize, usize) {
    let (level, n) = split_stored_hash_index(index);
    let tl = level / h;
    let level = level - tl * h; // level within tile
    let tn = (n << level) >> h;
    let n = n - ((tn << h) >> level); // n within tile at level
    let w = ((n + 1) << level) as u32;
    let start = (n << level) as usize * HASH_SIZE;
    let end = ((n + 1) << level) as usize * HASH_SIZE;
    (
        Tile {
            h,
            l: tl as i32,
            n: tn,
            w,
        },
        start,
        end,
    )
}

/// Reads stored hash `index` out of tile `t`'s `data`.
pub fn hash_from_tile(t: &Tile, data: &[u8], index: u64) -> Result<Hash, TlogError> {
    if t.h < 1 || t.h > 30 || t.l < 0 || t.l >= 64 || t.w < 1 || t.w > 1 << t.h {
        return Err(TlogError::BadTile {
            path: t.path(),
            reason: "invalid tile coordinates".into(),
        });
    }
    if data.len() < t.w as usize * HASH_SIZE {
        return Err(TlogError::BadTile {
            path: t.path(),
            reason: format!("{} bytes, want {}", data.len(), t.w as usize * HASH_SIZE),
        });
    }
    let (t1, start, end) = tile_for_index_range(t.h, index);
    if t.l != t1.l || t.n != t1.n || t.w < t1.w {
        return Err(TlogError::BadTile {
            path: t.path(),
            reason: format!("stored hash {index} is in {}", t1.path()),
        });
    }
    Ok(tile_hash(&data[start..end]))
}

fn tile_hash(data: &[u8]) -> Hash {
    if data.len() <= HASH_SIZE {
        return Hash::from_slice(data);
    }
    let n = data.len() / 2;
    node_hash(tile_hash(&data[..n]), tile_hash(&data[n..]))
}

/// The tiles of height `h` that a tree growing from `old` to `new` records
/// adds or changes.
pub fn new_tiles(h: u32, old: u64, new: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    let mut level = 0u32;
    while h * level < 64 && new >> (h * level) > 0 {
        let old_n = old >> (h * level);
        let new_n = new >> (h * level);
        if old_n != new_n {
            for n in (old_n >> h)..(new_n >> h) {
                tiles.push(Tile {
                    h,
                    l: level as i32,
                    n,
                    w: 1 << h,
                });
            }
            let n = new_n >> h;
            let w = (new_n - (n << h)) as u32;
            if w > 0 {
                tiles.push(Tile {
                    h,
                    l: level as i32,
                    n,
                    w,
                });
            }
        }
        level += 1;
    }
    tiles
}

/// The bytes of hash tile `t` read from stored hashes.
pub fn read_tile_data<R: HashReader + ?Sized>(t: &Tile, r: &R) -> Result<Vec<u8>, TlogError> {
    let start = t.n << t.h;
    let idx: Vec<u64> = (0..u64::from(t.w))
        .map(|i| stored_hash_index(t.h * t.level_u32(), start + i))
        .collect();
    let hashes = r.read_hashes(&idx)?;
    check_len(&hashes, &idx)?;
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// A source of (not yet trusted) tiles for [`TileHashReader`].
///
/// An implementation that must fetch asynchronously can answer
/// [`TlogError::TilesMissing`] from `read_tiles`; the caller fetches those and
/// retries (each [`HashReader::read_hashes`] call asks for all its tiles in one
/// `read_tiles` call).
pub trait TileReader {
    /// The tile height.
    fn height(&self) -> u32;
    /// The data of each tile, in order. Must be exactly `w * 32` bytes each.
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TlogError>;
    /// Called with tiles once they are authenticated against the tree.
    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]);
}

/// A [`HashReader`] that reads hashes from tiles and authenticates every tile
/// against a trusted tree (size and root hash) before returning a hash.
pub struct TileHashReader<'a, R: TileReader + ?Sized> {
    tree: Tree,
    tr: &'a R,
}

impl<'a, R: TileReader + ?Sized> TileHashReader<'a, R> {
    /// A reader for `tree` (which must already be trusted, e.g. from a
    /// verified signed note).
    pub fn new(tree: Tree, tr: &'a R) -> Self {
        TileHashReader { tree, tr }
    }
}

/// The `k`th tile parent of `t` in a tree of `n` records, or `None`.
fn tile_parent(t: Tile, k: u32, n: u64) -> Option<Tile> {
    let mut t = t;
    t.l += k as i32;
    t.n >>= k * t.h;
    t.w = 1 << t.h;
    let shift = t.level_u32() * t.h;
    let max = if shift >= 64 { 0 } else { n >> shift };
    if (t.n << t.h) + u64::from(t.w) >= max {
        if t.n << t.h >= max {
            return None;
        }
        t.w = (max - (t.n << t.h)) as u32;
    }
    Some(t)
}

impl<R: TileReader + ?Sized> HashReader for TileHashReader<'_, R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        let h = self.tr.height();
        let n = self.tree.n;
        let mut order: HashMap<Tile, usize> = HashMap::new();
        let mut tiles: Vec<Tile> = Vec::new();
        let internal = |m: &str| TlogError::InvalidInput(format!("tile math: {m}"));

        // Tiles needed to recompute the tree hash: if it matches, they are
        // authenticated.
        let mut stx = Vec::new();
        sub_tree_index(0, n, &mut stx);
        let mut stx_order = Vec::with_capacity(stx.len());
        for &x in &stx {
            let t = tile_for_index(h, x);
            let t = tile_parent(t, 0, n).ok_or_else(|| internal("no tile for tree hash"))?;
            let j = *order.entry(t).or_insert_with(|| {
                tiles.push(t);
                tiles.len() - 1
            });
            stx_order.push(j);
        }

        // Tiles holding the indexes, plus parents needed to authenticate them.
        let mut index_order = vec![0usize; indexes.len()];
        let end = stored_hash_index(0, n);
        for (i, &x) in indexes.iter().enumerate() {
            if x >= end {
                return Err(TlogError::InvalidInput(format!(
                    "stored hash {x} not in tree of size {n}"
                )));
            }
            let t = tile_for_index(h, x);
            let mut k = 0u32;
            loop {
                let p = tile_parent(t, k, n).ok_or_else(|| internal("lost parent"))?;
                if let Some(&j) = order.get(&p) {
                    if k == 0 {
                        index_order[i] = j;
                    }
                    break;
                }
                k += 1;
            }
            // Walk back down, recording children after parents.
            while k > 0 {
                k -= 1;
                let p = tile_parent(t, k, n).ok_or_else(|| internal("lost child"))?;
                if !p.is_full() {
                    return Err(internal("tile with a parent is not full"));
                }
                order.insert(p, tiles.len());
                if k == 0 {
                    index_order[i] = tiles.len();
                }
                tiles.push(p);
            }
        }

        let data = self.tr.read_tiles(&tiles)?;
        if data.len() != tiles.len() {
            return Err(internal("tile reader returned wrong count"));
        }
        for (t, d) in tiles.iter().zip(&data) {
            if d.len() != t.w as usize * HASH_SIZE {
                return Err(TlogError::BadTile {
                    path: t.path(),
                    reason: format!("{} bytes, want {}", d.len(), t.w as usize * HASH_SIZE),
                });
            }
        }

        // Authenticate the tree-hash tiles (parents come before children).
        if let Some(last) = stx.len().checked_sub(1) {
            let j = stx_order[last];
            let mut th = hash_from_tile(&tiles[j], &data[j], stx[last])?;
            for i in (0..last).rev() {
                let j = stx_order[i];
                th = node_hash(hash_from_tile(&tiles[j], &data[j], stx[i])?, th);
            }
            if th != self.tree.hash {
                return Err(TlogError::InconsistentTile {
                    path: tiles[stx_order[last]].path(),
                });
            }
        }

        // Authenticate the remaining full tiles against their parents.
        for i in stx.len()..tiles.len() {
            let t = tiles[i];
            let p = tile_parent(t, 1, n).ok_or_else(|| internal("lost parent"))?;
            let j = *order.get(&p).ok_or_else(|| internal("lost parent"))?;
            let ph = hash_from_tile(&p, &data[j], stored_hash_index(p.level_u32() * p.h, t.n))?;
            if ph != tile_hash(&data[i]) {
                return Err(TlogError::InconsistentTile { path: t.path() });
            }
        }

        self.tr.save_tiles(&tiles, &data);

        indexes
            .iter()
            .zip(&index_order)
            .map(|(&x, &j)| hash_from_tile(&tiles[j], &data[j], x))
            .collect()
    }
}

/// A tree head: size and root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tree {
    /// Number of records.
    pub n: u64,
    /// Root hash.
    pub hash: Hash,
}

const TREE_PREFIX: &str = "go.sum database tree\n";

/// Formats a tree note text: `go.sum database tree\n<N>\n<hash>\n`.
pub fn format_tree(tree: &Tree) -> String {
    format!("{TREE_PREFIX}{}\n{}\n", tree.n, tree.hash)
}

/// Parses a tree note text (extra lines after the hash are ignored).
pub fn parse_tree(text: &[u8]) -> Result<Tree, TlogError> {
    let bad = |m: &str| TlogError::BadTree(m.to_string());
    if text.len() > 1_000_000 {
        return Err(bad("longer than 1 MB"));
    }
    let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8"))?;
    let rest = text
        .strip_prefix(TREE_PREFIX)
        .ok_or_else(|| bad("does not start with \"go.sum database tree\""))?;
    let mut lines = rest.splitn(3, '\n');
    let (Some(n), Some(h), Some(_)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(bad("want 3 lines: header, size, hash"));
    };
    let n: u64 = parse_dec(n).ok_or_else(|| bad("tree size is not a decimal number"))?;
    if n.to_string() != rest.split('\n').next().unwrap_or_default() || n > i64::MAX as u64 {
        return Err(bad("tree size is not canonical"));
    }
    let hash: Hash = h
        .parse()
        .map_err(|_| bad("root hash is not base64 of 32 bytes"))?;
    Ok(Tree { n, hash })
}

/// Checks record text: valid UTF-8, no control characters but `\n`, ends in
/// `\n`, no blank lines.
pub fn is_valid_record_text(text: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(text) else {
        return false;
    };
    !s.is_empty()
        && s.ends_with('\n')
        && !s.contains("\n\n")
        && !s.starts_with('\n')
        && !s.chars().any(|c| (c as u32) < 0x20 && c != '\n')
}

/// Formats a record for a lookup answer: `<id>\n<text>\n`.
pub fn format_record(id: u64, text: &[u8]) -> Result<Vec<u8>, TlogError> {
    if !is_valid_record_text(text) {
        return Err(TlogError::BadRecord(
            "record text must be UTF-8 lines without control characters or blank lines".into(),
        ));
    }
    let mut out = format!("{id}\n").into_bytes();
    out.extend_from_slice(text);
    out.push(b'\n');
    Ok(out)
}

/// Parses `<id>\n<text>\n` at the start of `msg`, returning `(id, text,
/// rest)`; for a lookup answer, `rest` is the signed tree note.
pub fn parse_record(msg: &[u8]) -> Result<(u64, &[u8], &[u8]), TlogError> {
    let bad = |m: &str| TlogError::BadRecord(m.to_string());
    let i = msg
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad("no record id line"))?;
    let id: u64 = std::str::from_utf8(&msg[..i])
        .ok()
        .and_then(parse_dec)
        .ok_or_else(|| bad("record id is not a decimal number"))?;
    let msg = &msg[i + 1..];
    let j = msg
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or_else(|| bad("record text not followed by a blank line"))?;
    let (text, rest) = (&msg[..j + 1], &msg[j + 2..]);
    if !is_valid_record_text(text) {
        return Err(bad("record text has control characters or is not UTF-8"));
    }
    Ok((id, text, rest))
}

/// Splits a data tile into its record texts (each record is followed by a
/// blank line).
pub fn split_data_tile(data: &[u8]) -> Result<Vec<&[u8]>, TlogError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let j = rest.windows(2).position(|w| w == b"\n\n").ok_or_else(|| {
            TlogError::BadRecord("data tile record not followed by a blank line".into())
        })?;
        let text = &rest[..j + 1];
        if !is_valid_record_text(text) {
            return Err(TlogError::BadRecord(
                "data tile record text is invalid".into(),
            ));
        }
        out.push(text);
        rest = &rest[j + 2..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn build(n: u64) -> (Vec<Hash>, Vec<Hash>) {
        let mut storage: Vec<Hash> = Vec::new();
        let mut roots = Vec::new();
        for i in 0..n {
            let h = stored_hashes(i, format!("leaf {i}").as_bytes(), &storage).unwrap();
            storage.extend(h);
            assert_eq!(stored_hash_count(i + 1), storage.len() as u64);
            roots.push(tree_hash(i + 1, &storage).unwrap());
        }
        (storage, roots)
    }

    /// Reference: RFC 6962 MTH computed recursively from leaves.
    fn mth(leaves: &[Hash]) -> Hash {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let (k, _) = maxpow2(leaves.len() as u64);
        node_hash(mth(&leaves[..k as usize]), mth(&leaves[k as usize..]))
    }

    #[test]
    fn stored_hash_index_round_trips() {
        for idx in 0..5000u64 {
            let (l, n) = split_stored_hash_index(idx);
            assert_eq!(stored_hash_index(l, n), idx);
        }
    }

    #[test]
    fn tree_hash_matches_rfc6962_and_proofs_check() {
        let (storage, roots) = build(100);
        let leaves: Vec<Hash> = (0..100)
            .map(|i| record_hash(format!("leaf {i}").as_bytes()))
            .collect();
        for t in 1..=100u64 {
            assert_eq!(roots[t as usize - 1], mth(&leaves[..t as usize]), "t={t}");
            for n in 0..t {
                let p = prove_record(t, n, &storage).unwrap();
                check_record(&p, t, roots[t as usize - 1], n, leaves[n as usize]).unwrap();
                assert!(
                    check_record(
                        &p,
                        t,
                        roots[t as usize - 1],
                        n,
                        leaves[(n as usize + 1) % 100]
                    )
                    .is_err()
                        || t == 1 && n == 0 && leaves.len() == 1
                );
            }
            for n in 1..=t {
                let p = prove_tree(t, n, &storage).unwrap();
                check_tree(&p, t, roots[t as usize - 1], n, roots[n as usize - 1]).unwrap();
                if n < t {
                    assert!(
                        check_tree(&p, t, roots[t as usize - 1], n, roots[t as usize - 1]).is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn tree_note_format_and_parse() {
        let golden =
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
        let t = parse_tree(golden.as_bytes()).unwrap();
        assert_eq!(t.n, 123456789012);
        assert_eq!(format_tree(&t), golden);
        let extra = format!("{golden}more\nlines\n");
        assert_eq!(parse_tree(extra.as_bytes()).unwrap(), t);
        for bad in [
            "go.sum database tree\n0xabcdef\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n",
            "go.sum database tree!\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
            "go.sum database tree\n0123\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
            "go.sum database tree\n-1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=",
        ] {
            assert!(
                matches!(parse_tree(bad.as_bytes()), Err(TlogError::BadTree(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tile_paths_round_trip() {
        let cases = [
            (
                "tile/4/0/001",
                Tile {
                    h: 4,
                    l: 0,
                    n: 1,
                    w: 16,
                },
            ),
            (
                "tile/4/0/001.p/5",
                Tile {
                    h: 4,
                    l: 0,
                    n: 1,
                    w: 5,
                },
            ),
            (
                "tile/3/5/x123/x456/078",
                Tile {
                    h: 3,
                    l: 5,
                    n: 123456078,
                    w: 8,
                },
            ),
            (
                "tile/3/5/x123/x456/078.p/2",
                Tile {
                    h: 3,
                    l: 5,
                    n: 123456078,
                    w: 2,
                },
            ),
            (
                "tile/1/0/x003/x057/500",
                Tile {
                    h: 1,
                    l: 0,
                    n: 3057500,
                    w: 2,
                },
            ),
            (
                "tile/8/data/x001/x234/067.p/9",
                Tile {
                    h: 8,
                    l: -1,
                    n: 1234067,
                    w: 9,
                },
            ),
            (
                "tile/8/2/000",
                Tile {
                    h: 8,
                    l: 2,
                    n: 0,
                    w: 256,
                },
            ),
        ];
        for (p, t) in cases {
            assert_eq!(Tile::from_path(p).unwrap(), t, "{p}");
            assert_eq!(t.path(), p);
        }
        for bad in [
            "tile/3/5/123/456/078",
            "tile/3/-1/123/456/078",
            "tile/8/0/001.p/256",
            "tile/8/0/001.p/0",
            "tile/8/0/1",
            "tile/8/0/x000/001",
            "tile/0/0/001",
            "tile/31/0/001",
            "tile/8/0",
            "tiles/8/0/001",
            "tile/8/0/001.p/05",
            "tile/8/0/001.p/",
            "tile/8/64/000",
            "tile/+8/0/000",
        ] {
            assert!(
                matches!(Tile::from_path(bad), Err(TlogError::BadTilePath { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn new_tiles_counts_match_go() {
        for (old, new, want) in [
            (1, 1, 0),
            (100, 101, 1),
            (1023, 1025, 3),
            (1024, 1030, 1),
            (1030, 2000, 1),
            (1030, 10000, 10),
            (49516517, 49516586, 3),
        ] {
            assert_eq!(new_tiles(10, old, new).len(), want, "{old}-{new}");
        }
    }

    struct MemTiles {
        h: u32,
        m: HashMap<Tile, Vec<u8>>,
        saved: RefCell<usize>,
    }

    impl TileReader for MemTiles {
        fn height(&self) -> u32 {
            self.h
        }
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TlogError> {
            Ok(tiles
                .iter()
                .map(|t| self.m.get(t).cloned().unwrap_or_default())
                .collect())
        }
        fn save_tiles(&self, tiles: &[Tile], _: &[Vec<u8>]) {
            *self.saved.borrow_mut() += tiles.len();
        }
    }

    #[test]
    fn tile_hash_reader_reads_and_authenticates() {
        let h = 2;
        let n = 100u64;
        let (storage, roots) = build(n);
        let mut m = HashMap::new();
        for t in new_tiles(h, 0, n) {
            // every prefix of each tile must be servable
            for w in 1..=t.w {
                let tt = Tile { w, ..t };
                m.insert(tt, read_tile_data(&tt, &storage).unwrap());
            }
        }
        let tree = Tree {
            n,
            hash: roots[n as usize - 1],
        };
        let mt = MemTiles {
            h,
            m,
            saved: RefCell::new(0),
        };
        let thr = TileHashReader::new(tree, &mt);
        assert_eq!(tree_hash(n, &thr).unwrap(), tree.hash);
        for i in 0..stored_hash_index(0, n) {
            assert_eq!(thr.read_hashes(&[i]).unwrap()[0], storage[i as usize]);
        }
        for old in 1..n {
            let p = prove_tree(n, old, &thr).unwrap();
            check_tree(&p, n, tree.hash, old, roots[old as usize - 1]).unwrap();
            assert_eq!(tree_hash(old, &thr).unwrap(), roots[old as usize - 1]);
        }
        assert!(*mt.saved.borrow() > 0);

        // A corrupted tile is detected.
        let mut bad = MemTiles {
            h,
            m: mt.m.clone(),
            saved: RefCell::new(0),
        };
        for v in bad.m.values_mut() {
            v[0] ^= 1;
        }
        let thr = TileHashReader::new(tree, &bad);
        assert!(matches!(
            thr.read_hashes(&[0]),
            Err(TlogError::InconsistentTile { .. })
        ));
        assert_eq!(*bad.saved.borrow(), 0);
    }

    #[test]
    fn hash_from_tile_rejects_wrong_tile() {
        let (storage, _) = build(20);
        let t = tile_for_index(2, 0);
        let data = read_tile_data(&t, &storage).unwrap();
        assert_eq!(hash_from_tile(&t, &data, 0).unwrap(), storage[0]);
        assert!(hash_from_tile(&t, &data, 30).is_err());
        assert!(hash_from_tile(&t, &data[..10], 0).is_err());
    }

    #[test]
    fn records_format_parse_and_split() {
        let text = b"m v h1:x\nm v/go.mod h1:y\n";
        let msg = format_record(7, text).unwrap();
        let (id, t, rest) = parse_record(&msg).unwrap();
        assert_eq!((id, t, rest), (7, &text[..], &b""[..]));
        assert!(format_record(1, b"a\n\nb\n").is_err());
        assert!(format_record(1, b"a").is_err());
        assert!(parse_record(b"x\na\n\n").is_err());
        assert!(parse_record(b"1\na\n").is_err());
        let tile = b"a\n\nb\nc\n\n";
        assert_eq!(
            split_data_tile(tile).unwrap(),
            vec![&b"a\n"[..], &b"b\nc\n"[..]]
        );
        assert!(split_data_tile(b"a\n").is_err());
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn tile_path_round_trips(h in 1u32..=30, l in -1i32..64, n in 0u64..1_000_000_000_000_000, w in 1u32..=256) {
                let w = w.min(1 << h);
                let t = Tile { h, l, n, w };
                prop_assert_eq!(Tile::from_path(&t.path()).unwrap(), t);
            }

            #[test]
            fn tile_from_path_never_panics(s in "tile/[0-9]{1,3}/(data|[0-9]{1,3})/(x[0-9]{3}/)*[0-9x]{1,4}(\\.p/[0-9]{1,4})?") {
                if let Ok(t) = Tile::from_path(&s) {
                    prop_assert_eq!(t.path(), s);
                }
            }

            #[test]
            fn split_stored_hash_index_inverts(level in 0u32..40, n in 0u64..(1u64 << 20)) {
                prop_assert_eq!(split_stored_hash_index(stored_hash_index(level, n)), (level, n));
            }

            #[test]
            fn tile_for_index_contains_index(index in 0u64..10_000_000) {
                let t = tile_for_index(8, index);
                let (level, n) = split_stored_hash_index(index);
                prop_assert_eq!(t.l as u32, level / 8);
                prop_assert!(t.w >= 1 && t.w <= 256);
                prop_assert_eq!(t.n, (n << (level % 8)) >> 8);
            }
        }
    }
}
