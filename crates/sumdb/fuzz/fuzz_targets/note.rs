//! Signed notes and key strings on arbitrary input: `note::open` against the
//! public sum.golang.org key and a test key, `Verifier::from_vkey`,
//! `Signer::from_skey`. Besides "no panic": anything that opens has text
//! ending in `\n` and at least one verified signature, and re-signing the
//! opened text with the test key opens to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sumdb::note::{self, Signer, Verifier, Verifiers};

const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

fuzz_target!(|data: &[u8]| {
    let signer = Signer::from_skey(SKEY).unwrap();
    let v = Verifiers::new(vec![
        Verifier::from_vkey(sumdb::SUM_GOLANG_ORG_KEY).unwrap(),
        signer.verifier(),
    ]);
    if let Ok(n) = note::open(data, &v) {
        assert!(n.text.ends_with('\n'));
        assert!(!n.sigs.is_empty());
        assert!(n.sigs.len() + n.unverified_sigs.len() <= note::MAX_SIGNATURES);
        let again = note::sign(&n.text, &[&signer]).unwrap();
        assert_eq!(note::open(&again, &v).unwrap().text, n.text);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(k) = Verifier::from_vkey(s) {
            assert_eq!(k.vkey(), s);
        }
        let _ = Signer::from_skey(s);
    }
});
