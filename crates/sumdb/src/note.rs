//! Signed notes (golang.org/x/mod/sumdb/note): parse, verify, sign, and keys
//! in Go's string forms.
//!
//! A signed note is UTF-8 text ending in `\n`, a blank line, then one line per
//! signature: `— <name> <base64(4-byte key hash || 64-byte Ed25519 sig)>\n`.
//! The signature covers the text including its final newline.
//!
//! ```
//! use sumdb::note::{self, Signer, Verifier, Verifiers};
//! let (skey, vkey) = note::generate_key("example.test", &mut rand::rngs::OsRng).unwrap();
//! let signer = Signer::from_skey(&skey).unwrap();
//! let msg = note::sign("hello\n", &[&signer]).unwrap();
//! let verifiers = Verifiers::new(vec![Verifier::from_vkey(&vkey).unwrap()]);
//! let n = note::open(&msg, &verifiers).unwrap();
//! assert_eq!(n.text, "hello\n");
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// The only key algorithm Go's notes define: Ed25519.
const ALG_ED25519: u8 = 1;

/// At most this many signature lines are parsed (as in Go).
pub const MAX_SIGNATURES: usize = 100;

/// The prefix of each signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Everything that can be wrong with a note, a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note's syntax is wrong.
    #[error("malformed note: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("malformed note: more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// None of the note's signatures is by a known key.
    #[error("note has no verifiable signatures (signed by: {})", names(.unverified))]
    Unverified {
        /// The signatures by unknown keys.
        unverified: Vec<Signature>,
    },
    /// A signature by a known key does not verify.
    #[error("invalid signature for key {name}+{hash:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key hash.
        hash: u32,
    },
    /// Two known verifiers share the name and key hash of a signature.
    #[error("ambiguous key {name}+{hash:08x}")]
    AmbiguousKey {
        /// Key name.
        name: String,
        /// Key hash.
        hash: u32,
    },
    /// A verifier key string could not be parsed.
    #[error("malformed verifier key {key:?}: {reason}")]
    BadVerifierKey {
        /// The key string.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// A signer key string could not be parsed (the key itself is not echoed).
    #[error("malformed signer key: {reason}")]
    BadSignerKey {
        /// What was wrong.
        reason: String,
    },
    /// A key or signer name is empty, contains a space or a `+`.
    #[error("invalid key name {name:?}: must be non-empty, without spaces or '+'")]
    InvalidName {
        /// The name.
        name: String,
    },
}

fn names(sigs: &[Signature]) -> String {
    if sigs.is_empty() {
        return "nobody".to_string();
    }
    sigs.iter()
        .map(|s| format!("{}+{:08x}", s.name, s.hash))
        .collect::<Vec<_>>()
        .join(", ")
}

fn malformed(reason: impl Into<String>) -> NoteError {
    NoteError::Malformed {
        reason: reason.into(),
    }
}

/// Splits `name+hash+key` (the part of a key string after any prefix):
/// the name, the 32-bit key hash and the decoded key bytes, or why not.
fn split_key<'a>(s: &'a str, shape: &'static str) -> Result<(&'a str, u32, Vec<u8>), &'static str> {
    let (name, rest) = s.split_once('+').ok_or(shape)?;
    let (hash16, key64) = rest.split_once('+').ok_or(shape)?;
    if !is_valid_name(name) {
        return Err("invalid name");
    }
    if hash16.len() != 8 || !hash16.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("key hash must be 8 hex digits");
    }
    let hash = u32::from_str_radix(hash16, 16).map_err(|_| "bad key hash")?;
    let key = B64.decode(key64).map_err(|_| "key is not valid base64")?;
    if key.is_empty() {
        return Err("empty key");
    }
    Ok((name, hash, key))
}

/// Go's `isValidName`: non-empty, no Unicode white space, no `+`.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_whitespace) && !name.contains('+')
}

/// First four bytes (big-endian) of SHA-256(name || "\n" || alg || key).
fn key_hash(name: &str, alg_and_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(alg_and_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A public key that verifies signatures of one name.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    hash: u32,
    key: VerifyingKey,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({})", self.vkey())
    }
}

impl Verifier {
    /// Parses `name+hash+key` (Go's `note.NewVerifier`).
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let bad = |reason: &str| NoteError::BadVerifierKey {
            key: vkey.to_string(),
            reason: reason.to_string(),
        };
        let (name, hash, key) = split_key(vkey, "want name+hash+key").map_err(bad)?;
        if hash != key_hash(name, &key) {
            return Err(bad("key hash does not match name and key"));
        }
        if key[0] != ALG_ED25519 {
            return Err(bad("unknown key algorithm"));
        }
        let raw: [u8; 32] = key[1..]
            .try_into()
            .map_err(|_| bad("Ed25519 key must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| bad("invalid Ed25519 point"))?;
        Ok(Verifier {
            name: name.to_string(),
            hash,
            key,
        })
    }

    /// The key name (e.g. `sum.golang.org`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key hash.
    pub fn key_hash(&self) -> u32 {
        self.hash
    }

    /// The key in Go's `name+hash+key` form.
    pub fn vkey(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.hash, B64.encode(k))
    }

    /// Verifies a raw 64-byte Ed25519 signature of `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        // Cofactorless verification with canonical S, as Go's crypto/ed25519.
        ed25519_dalek::Verifier::verify(&self.key, msg, &sig).is_ok()
    }
}

/// A private key that signs notes under one name.
#[derive(Clone)]
pub struct Signer {
    name: String,
    hash: u32,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({}+{:08x})", self.name, self.hash)
    }
}

impl Signer {
    /// Parses `PRIVATE+KEY+name+hash+key` (Go's `note.NewSigner`).
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        let bad = |reason: &str| NoteError::BadSignerKey {
            reason: reason.to_string(),
        };
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("must start with PRIVATE+KEY+"))?;
        let (name, hash, key) = split_key(rest, "want PRIVATE+KEY+name+hash+key").map_err(bad)?;
        if key[0] != ALG_ED25519 {
            return Err(bad("unknown key algorithm"));
        }
        let seed: [u8; 32] = key[1..]
            .try_into()
            .map_err(|_| bad("Ed25519 seed must be 32 bytes"))?;
        let key = SigningKey::from_bytes(&seed);
        // The hash in a signer key is of the *public* key, as in Go.
        let mut pubk = vec![ALG_ED25519];
        pubk.extend_from_slice(key.verifying_key().as_bytes());
        if hash != key_hash(name, &pubk) {
            return Err(bad("key hash does not match name and key"));
        }
        Ok(Signer {
            name: name.to_string(),
            hash,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key hash.
    pub fn key_hash(&self) -> u32 {
        self.hash
    }

    /// The matching verifier key string `name+hash+key`.
    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            hash: self.hash,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `msg`, returning the raw 64-byte Ed25519 signature.
    pub fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// Generates a new Ed25519 key pair, returned as `(skey, vkey)` strings in
/// Go's formats (`PRIVATE+KEY+name+hash+key`, `name+hash+key`).
pub fn generate_key<R: RngCore + CryptoRng>(
    name: &str,
    rng: &mut R,
) -> Result<(String, String), NoteError> {
    if !is_valid_name(name) {
        return Err(NoteError::InvalidName {
            name: name.to_string(),
        });
    }
    let key = SigningKey::generate(rng);
    let mut pubk = vec![ALG_ED25519];
    pubk.extend_from_slice(key.verifying_key().as_bytes());
    let hash = key_hash(name, &pubk);
    let mut privk = vec![ALG_ED25519];
    privk.extend_from_slice(&key.to_bytes());
    let skey = format!("PRIVATE+KEY+{name}+{hash:08x}+{}", B64.encode(privk));
    let vkey = format!("{name}+{hash:08x}+{}", B64.encode(pubk));
    Ok((skey, vkey))
}

/// A set of known verifier keys.
#[derive(Debug, Clone, Default)]
pub struct Verifiers {
    list: Vec<Verifier>,
}

impl Verifiers {
    /// A set of the given verifiers (duplicates are reported as ambiguous
    /// only when a note's signature needs them).
    pub fn new(list: Vec<Verifier>) -> Self {
        Verifiers { list }
    }

    /// Parses each `name+hash+key` string.
    pub fn from_vkeys<S: AsRef<str>>(vkeys: &[S]) -> Result<Self, NoteError> {
        let list = vkeys
            .iter()
            .map(|k| Verifier::from_vkey(k.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Verifiers { list })
    }

    /// The verifier for `name` and `hash`: `Ok(None)` if unknown, an error if
    /// more than one matches.
    pub fn get(&self, name: &str, hash: u32) -> Result<Option<&Verifier>, NoteError> {
        let mut found = None;
        for v in &self.list {
            if v.name == name && v.hash == hash {
                if found.is_some() {
                    return Err(NoteError::AmbiguousKey {
                        name: name.to_string(),
                        hash,
                    });
                }
                found = Some(v);
            }
        }
        Ok(found)
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Key name.
    pub name: String,
    /// Key hash.
    pub hash: u32,
    /// The base64 of key hash and signature, as in the note.
    pub base64: String,
}

/// A note whose signatures were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text (ends with `\n`).
    pub text: String,
    /// Signatures by known keys, all verified.
    pub sigs: Vec<Signature>,
    /// Signatures by keys not in the verifier set (not checked).
    pub unverified_sigs: Vec<Signature>,
}

/// Parses `msg` and verifies its signatures against `known`.
///
/// Succeeds only if at least one signature is by a known key, and every
/// signature by a known key verifies.
pub fn open(msg: &[u8], known: &Verifiers) -> Result<Note, NoteError> {
    let msg = std::str::from_utf8(msg)
        .map_err(|e| malformed(format!("invalid UTF-8 at byte offset {}", e.valid_up_to())))?;
    if let Some((i, c)) = msg
        .char_indices()
        .find(|&(_, c)| (c as u32) < 0x20 && c != '\n')
    {
        return Err(malformed(format!(
            "control character {:#04x} at byte offset {i}",
            c as u32
        )));
    }
    let split = msg
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line before the signatures"))?;
    let text = &msg[..split + 1];
    let mut sigs = &msg[split + 2..];
    if sigs.is_empty() {
        return Err(malformed("no signature lines"));
    }
    if !sigs.ends_with('\n') {
        return Err(malformed("signature block does not end with a newline"));
    }

    let mut note = Note {
        text: text.to_string(),
        sigs: Vec::new(),
        unverified_sigs: Vec::new(),
    };
    let mut seen: Vec<(String, u32)> = Vec::new();
    let mut seen_unverified: Vec<String> = Vec::new();
    let mut count = 0usize;
    while let Some(i) = sigs.find('\n') {
        let line = &sigs[..i];
        sigs = &sigs[i + 1..];
        let body = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            malformed(format!(
                "signature line {line:?} does not start with \"\u{2014} \""
            ))
        })?;
        let (name, b64) = body.split_once(' ').unwrap_or((body, ""));
        if !is_valid_name(name) {
            return Err(malformed(format!("invalid signer name {name:?}")));
        }
        let raw = B64
            .decode(b64)
            .map_err(|_| malformed(format!("signature by {name} is not valid base64")))?;
        if b64.is_empty() || raw.len() < 5 {
            return Err(malformed(format!("signature by {name} is too short")));
        }
        count += 1;
        if count > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let hash = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let sig = &raw[4..];
        let sigrec = Signature {
            name: name.to_string(),
            hash,
            base64: b64.to_string(),
        };
        match known.get(name, hash)? {
            None => {
                if !seen_unverified.iter().any(|l| l == body) {
                    seen_unverified.push(body.to_string());
                    note.unverified_sigs.push(sigrec);
                }
            }
            Some(v) => {
                if seen.iter().any(|(n, h)| n == name && *h == hash) {
                    continue;
                }
                seen.push((name.to_string(), hash));
                if !v.verify(text.as_bytes(), sig) {
                    return Err(NoteError::InvalidSignature {
                        name: name.to_string(),
                        hash,
                    });
                }
                note.sigs.push(sigrec);
            }
        }
    }
    if note.sigs.is_empty() {
        return Err(NoteError::Unverified {
            unverified: note.unverified_sigs,
        });
    }
    Ok(note)
}

/// Signs `text` with each signer, returning the full signed note.
///
/// `text` must end in `\n` and contain no control characters but `\n`.
pub fn sign(text: &str, signers: &[&Signer]) -> Result<Vec<u8>, NoteError> {
    if !text.ends_with('\n') {
        return Err(malformed("text does not end with a newline"));
    }
    if let Some((i, c)) = text
        .char_indices()
        .find(|&(_, c)| (c as u32) < 0x20 && c != '\n')
    {
        return Err(malformed(format!(
            "control character {:#04x} at byte offset {i}",
            c as u32
        )));
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    let mut out = text.as_bytes().to_vec();
    out.push(b'\n');
    for s in signers {
        if !is_valid_name(&s.name) {
            return Err(NoteError::InvalidName {
                name: s.name.clone(),
            });
        }
        let sig = s.sign_raw(text.as_bytes());
        let mut raw = s.hash.to_be_bytes().to_vec();
        raw.extend_from_slice(&sig);
        out.extend_from_slice(SIG_PREFIX.as_bytes());
        out.extend_from_slice(s.name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(B64.encode(raw).as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from golang.org/x/mod/sumdb/note's tests (data only).
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter() -> Verifiers {
        Verifiers::from_vkeys(&[PETER_VKEY]).unwrap()
    }

    #[test]
    fn verifier_key_round_trips_and_mangling_fails() {
        let v = Verifier::from_vkey(PETER_VKEY).unwrap();
        assert_eq!(v.vkey(), PETER_VKEY);
        assert_eq!(v.key_hash(), 0xc74f20a3);
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                let s = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(Verifier::from_vkey(s).is_err(), "{s:?} accepted");
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let s = String::from_utf8(m).unwrap();
            assert!(Verifier::from_vkey(&s).is_err(), "{s:?} accepted");
        }
        // Wrong length and unknown algorithm, each with an adjusted key hash.
        for k in [
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            let e = Verifier::from_vkey(k).unwrap_err();
            assert!(matches!(e, NoteError::BadVerifierKey { .. }), "{e}");
        }
    }

    #[test]
    fn signer_key_parses_and_matches_verifier() {
        let s = Signer::from_skey(PETER_SKEY).unwrap();
        assert_eq!(s.vkey(), PETER_VKEY);
        let b = PETER_SKEY.as_bytes();
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let s = String::from_utf8(m).unwrap();
            assert!(Signer::from_skey(&s).is_err(), "{s:?} accepted");
        }
        // Errors never echo the secret.
        let e = Signer::from_skey(&PETER_SKEY.replace("c74f20a3", "c74f20a4")).unwrap_err();
        assert!(!e.to_string().contains("AYEKFALV"), "{e}");
    }

    #[test]
    fn sign_matches_go_output() {
        let s = Signer::from_skey(PETER_SKEY).unwrap();
        let msg = sign(TEXT, &[&s]).unwrap();
        assert_eq!(
            String::from_utf8(msg).unwrap(),
            format!("{TEXT}\n{PETER_SIG}")
        );
        assert!(matches!(
            sign("abc", &[&s]),
            Err(NoteError::Malformed { .. })
        ));
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        let (skey, vkey) = generate_key("EnochRoot", &mut rand::rngs::OsRng).unwrap();
        let s = Signer::from_skey(&skey).unwrap();
        assert_eq!(s.vkey(), vkey);
        let msg = sign(TEXT, &[&s]).unwrap();
        let n = open(&msg, &Verifiers::from_vkeys(&[vkey]).unwrap()).unwrap();
        assert_eq!(n.text, TEXT);
        assert!(generate_key("bad name", &mut rand::rngs::OsRng).is_err());
    }

    #[test]
    fn open_one_verified_one_not() {
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let n = open(msg.as_bytes(), &peter()).unwrap();
        assert_eq!(n.text, TEXT);
        assert_eq!(n.sigs.len(), 1);
        assert_eq!(n.sigs[0].hash, 0xc74f20a3);
        assert_eq!(n.unverified_sigs.len(), 1);
        assert_eq!(n.unverified_sigs[0].name, "EnochRoot");

        let both = Verifiers::from_vkeys(&[PETER_VKEY, ENOCH_VKEY]).unwrap();
        let n = open(msg.as_bytes(), &both).unwrap();
        assert_eq!(n.sigs.len(), 2);
    }

    #[test]
    fn open_with_no_known_key_is_unverified() {
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let e = open(msg.as_bytes(), &Verifiers::default()).unwrap_err();
        match e {
            NoteError::Unverified { unverified } => assert_eq!(unverified.len(), 2),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn open_duplicate_known_verifier_is_ambiguous() {
        let list = Verifiers::from_vkeys(&[ENOCH_VKEY, PETER_VKEY, ENOCH_VKEY]).unwrap();
        let msg = format!("{TEXT}\n{ENOCH_SIG}");
        assert!(matches!(
            open(msg.as_bytes(), &list),
            Err(NoteError::AmbiguousKey { .. })
        ));
        let msg = format!("{TEXT}\n{PETER_SIG}");
        open(msg.as_bytes(), &list).unwrap();
    }

    #[test]
    fn open_rejects_more_than_100_signatures() {
        let msg = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
        assert_eq!(
            open(msg.as_bytes(), &peter()),
            Err(NoteError::TooManySignatures)
        );
        assert_eq!(
            open(msg.as_bytes(), &Verifiers::default()),
            Err(NoteError::TooManySignatures)
        );
        let msg = format!("{TEXT}\n{}", PETER_SIG.repeat(100));
        assert_eq!(open(msg.as_bytes(), &peter()).unwrap().sigs.len(), 1);
    }

    #[test]
    fn open_rejects_bad_signature() {
        let s = PETER_SIG;
        // Byte offset 60 is inside the base64 (the em dash is 3 bytes).
        let msg = format!("{TEXT}\n{}ABCD{}", &s[..60], &s[60..]);
        assert!(matches!(
            open(msg.as_bytes(), &peter()),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn open_rejects_malformed_notes() {
        let bad = [
            TEXT.to_string(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!("{TEXT}\n\u{2014} PeterNeumann\n"),
            format!("{TEXT}\n- PeterNeumann x08go/ZJkuBS9UG=\n"),
            format!("{TEXT}\n\u{2014} Peter+Neumann x08go/ZJkuBS9UG=\n"),
            format!("{TEXT}\n\u{2014} PeterNeumann x08g\n"),
            format!("{TEXT}\n\u{2014} PeterNeumann x08go!ZJkuBS9UG=\n"),
        ];
        for m in &bad {
            let e = open(m.as_bytes(), &peter()).unwrap_err();
            assert!(matches!(e, NoteError::Malformed { .. }), "{m:?}: {e}");
        }
        let mut bytes = format!("{TEXT}\n{PETER_SIG}").into_bytes();
        bytes[3] = 0xff;
        assert!(matches!(
            open(&bytes, &peter()),
            Err(NoteError::Malformed { .. })
        ));
    }
}
