//! Genuine sum.golang.org data: signed tree notes and lookup answers captured
//! from the real database (published in public repositories' docs and tests),
//! checked against the built-in public key. Changing any byte must make
//! verification fail.

use sumdb::SUM_GOLANG_ORG_KEY;
use sumdb::note::{self, NoteError, Verifiers};
use sumdb::tlog;

/// (tree size, root hash, signature) of real signed tree heads.
const TREES: &[(u64, &str, &str)] = &[
    (
        65209736,
        "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=",
        "Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=",
    ),
    (
        6476701,
        "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=",
        "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=",
    ),
    (
        28891140,
        "++pUIeKTwGvykMUkmM3AT97PwQipMT6H/p7t86E0Sp0=",
        "Az3grqNvOILDz7xwAKugtVFZwd+I9IyB/mHrUYzcVaS9zKsRVdRLNGLFpnAcLhyoBBkdIYEzK/+7Eu4wanYttLrPsQo=",
    ),
];

/// Real lookup answers: (module, version, body).
const LOOKUPS: &[(&str, &str, &str)] = &[
    (
        "golang.org/x/text",
        "v0.13.0",
        "19383665\n\
golang.org/x/text v0.13.0 h1:ablQoSUd0tRdKxZewP80B+BaqeKJuVhuRxj/dkrun3k=\n\
golang.org/x/text v0.13.0/go.mod h1:TvPlkZtksWOMsz7fbANvkp4WM8x/WCo/om8BMLbz+aE=\n\
\n\
go.sum database tree\n\
19777102\n\
+g50vJoV4VVGa6aiQF3LYGUZHEP4pvGkW38vlR7WKtU=\n\
\n\
\u{2014} sum.golang.org Az3griMTLHyRzj7jMuyEt85a2JnegVME6Lx3xLEBdzTd3FMDiD5y3bHV24rcl0yijOtWxV0zyygwTdo/rnaennuoqgU=\n",
    ),
    (
        "github.com/google/uuid",
        "v1.2.0",
        "2580307\n\
github.com/google/uuid v1.2.0 h1:qJYtXnJRWmpe7m/3XlyhrsLrEURqHRM2kxzoxXqyUDs=\n\
github.com/google/uuid v1.2.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n\
\n\
go.sum database tree\n\
3935567\n\
SapHtgdNCeF00Cx8kqztePV24kgzNg++Xovae42HAMw=\n\
\n\
\u{2014} sum.golang.org Az3grsm7Wm4CVNR1RHq9BFnu9jzcRlU2uw7lr0gfUWgO6+rqPNjT+fUTl9gH0NRTgdwW9nItuQSMbhSaLCsk8YeYSAs=\n",
    ),
    (
        "golang.org/x/tools",
        "v0.44.0",
        "52253027\n\
golang.org/x/tools v0.44.0 h1:UP4ajHPIcuMjT1GqzDWRlalUEoY+uzoZKnhOjbIPD2c=\n\
golang.org/x/tools v0.44.0/go.mod h1:KA0AfVErSdxRZIsOVipbv3rQhVXTnlU6UhKxHd1seDI=\n\
\n\
go.sum database tree\n\
52544510\n\
+TGlZfnTizQCJgyZR56QixD8+X4dd8Wefy8U1w6k0Ig=\n\
\n\
\u{2014} sum.golang.org Az3grn6d1PSjcypDf9bfcFVU5fvJB7VkLc0MAbz8jqeQVnSbAj9pKcsB5dJt5VdswPDUtiFar5LPRBu+uEQAT1CDfAc=\n",
    ),
];

fn signed_tree(n: u64, hash: &str, sig: &str) -> String {
    format!("go.sum database tree\n{n}\n{hash}\n\n\u{2014} sum.golang.org {sig}\n")
}

fn key() -> Verifiers {
    Verifiers::from_vkeys(&[SUM_GOLANG_ORG_KEY]).unwrap()
}

/// Every single-byte change of `msg` must fail to verify (or, where it
/// still parses, yield a different tree).
fn assert_every_byte_matters(msg: &[u8]) {
    let v = key();
    let orig = note::open(msg, &v).unwrap();
    for i in 0..msg.len() {
        for delta in [1u8, 0x80] {
            let mut m = msg.to_vec();
            m[i] = m[i].wrapping_add(delta);
            if let Ok(n) = note::open(&m, &v) {
                // Only a change in the signature line's *unverified*
                // position could parse; none may change the signed text.
                panic!("byte {i} changed by {delta} still verifies: {n:?} vs {orig:?}");
            }
        }
    }
}

#[test]
fn real_tree_notes_verify_with_builtin_key() {
    for &(n, hash, sig) in TREES {
        let msg = signed_tree(n, hash, sig);
        let note = note::open(msg.as_bytes(), &key()).unwrap();
        assert_eq!(note.sigs.len(), 1);
        assert_eq!(note.sigs[0].name, "sum.golang.org");
        assert_eq!(note.sigs[0].hash, 0x033de0ae);
        let tree = tlog::parse_tree(note.text.as_bytes()).unwrap();
        assert_eq!(tree.n, n);
        assert_eq!(tree.hash.to_string(), hash);
        assert_every_byte_matters(msg.as_bytes());
    }
}

#[test]
fn real_lookups_parse_and_their_notes_verify() {
    for &(module, version, body) in LOOKUPS {
        let (id, text, note_msg) = tlog::parse_record(body.as_bytes()).unwrap();
        let note = note::open(note_msg, &key()).unwrap();
        let tree = tlog::parse_tree(note.text.as_bytes()).unwrap();
        assert!(id < tree.n);
        let text = std::str::from_utf8(text).unwrap();
        assert!(
            text.starts_with(&format!("{module} {version} h1:")),
            "{text}"
        );
        assert!(
            text.contains(&format!("\n{module} {version}/go.mod h1:")),
            "{text}"
        );
        assert_every_byte_matters(note_msg);
    }
}

#[test]
fn real_note_rejected_under_other_key_or_name() {
    let (n, hash, sig) = TREES[0];
    let msg = signed_tree(n, hash, sig);
    let (_, other) = note::generate_key("sum.golang.org", &mut rand::rngs::OsRng).unwrap();
    let e = note::open(msg.as_bytes(), &Verifiers::from_vkeys(&[other]).unwrap()).unwrap_err();
    assert!(matches!(e, NoteError::Unverified { .. }), "{e}");
    let renamed = msg.replace("sum.golang.org Az3g", "sum.golang.org.evil Az3g");
    let e = note::open(renamed.as_bytes(), &key()).unwrap_err();
    assert!(matches!(e, NoteError::Unverified { .. }), "{e}");
}
