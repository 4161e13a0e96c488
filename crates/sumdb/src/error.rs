//! The crate's public error type.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::client::TransportError;
use crate::note::NoteError;
use crate::tlog::{Hash, TlogError};

/// Errors from the checksum database client and server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database showed two trees that cannot both be true: the newer one
    /// does not contain the older one. This is evidence of a server
    /// misbehaving (or being impersonated); both signed notes are kept.
    #[error("{}", security_message(old_note, new_note, proof))]
    Security {
        /// The signed note of the smaller (or equal-size) tree.
        old_note: Vec<u8>,
        /// The signed note of the larger tree.
        new_note: Vec<u8>,
        /// Evidence: first the hash the newer tree implies for the older
        /// tree's size (which differs from the older note's hash), then a
        /// consistency proof of that hash within the newer tree. Empty if the
        /// proof could not be built.
        proof: Vec<Hash>,
    },
    /// The database has no record for `module@version`.
    #[error("{module}@{version}: not found in the checksum database")]
    NotFound {
        /// Module path.
        module: String,
        /// Version.
        version: String,
    },
    /// Fetching `path` from the database failed.
    #[error("reading checksum database {path}: {source}")]
    Transport {
        /// Path relative to the database root.
        path: String,
        /// Why.
        #[source]
        source: TransportError,
    },
    /// A signed tree note did not verify or is malformed.
    #[error("verifying tree note from {origin}: {source}")]
    BadNote {
        /// Where the note came from.
        origin: String,
        /// Why.
        #[source]
        source: NoteError,
    },
    /// A verified note's text is not a tree head.
    #[error("reading tree from {origin}: {source}")]
    BadTree {
        /// Where the note came from.
        origin: String,
        /// Why.
        #[source]
        source: TlogError,
    },
    /// A tile is malformed or does not authenticate against the signed tree.
    #[error("checksum database tile {path}: {reason}")]
    BadTile {
        /// The tile path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A requested tile is beyond the latest verified tree.
    #[error("checksum database tile {path} is not in the latest verified tree (size {tree_size})")]
    TileNotInTree {
        /// The tile path.
        path: String,
        /// Size of the latest verified tree.
        tree_size: u64,
    },
    /// A lookup answer is malformed or its record could not be proved.
    #[error("checksum database lookup of {module}@{version}: {reason}")]
    BadLookup {
        /// Module path.
        module: String,
        /// Version.
        version: String,
        /// What was wrong.
        reason: String,
    },
    /// The persisted latest tree note cannot be used.
    #[error(
        "checksum database state file {path} is corrupt: {reason}\nhint: if you trust the database, delete {path} to start over (this forgets the tree this client had verified)",
        path = path.display()
    )]
    StateCorrupt {
        /// The state file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Reading or writing the state file failed.
    #[error("checksum database state file {path}: {source}", path = path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The verifier key given to the client is malformed.
    #[error("checksum database key: {0}")]
    BadKey(#[source] NoteError),
    /// A log computation failed (bad inputs).
    #[error(transparent)]
    Tlog(#[from] TlogError),
}

fn indent(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\n', "\n\t")
}

fn security_message(old: &[u8], new: &[u8], proof: &[Hash]) -> String {
    let mut s = String::from("SECURITY ERROR\ngo.sum database server misbehavior detected!\n\n");
    let _ = writeln!(s, "old database:\n\t{}", indent(old));
    let _ = writeln!(s, "new database:\n\t{}", indent(new));
    s.push_str("proof of misbehavior:");
    if proof.is_empty() {
        s.push_str("\n\t(unavailable)");
    }
    for h in proof {
        let _ = write!(s, "\n\t{h}");
    }
    s
}
