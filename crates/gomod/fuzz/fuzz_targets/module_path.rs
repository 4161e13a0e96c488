//! Every path-like parser in gomod on arbitrary input: module/import/file
//! path checks, escaping, percent-decoding, GOPRIVATE patterns and
//! `path.Match`, GOPROXY and GOSUMDB values. Besides "no panic", checks the
//! round-trip and consistency properties the rest of modwarden relies on.
#![no_main]

use gomod::goenv::{ProxyList, SumdbSpec};
use gomod::module::{self, ModulePath};
use gomod::pattern::{self, Patterns};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    let path_ok = module::check_path(s).is_ok();
    let import_ok = module::check_import_path(s).is_ok();
    let file_ok = module::check_file_path(s).is_ok();
    // Module paths are import paths are file paths.
    assert!(!path_ok || import_ok, "{s:?}");
    assert!(!import_ok || file_ok, "{s:?}");

    let (prefix, major, _) = module::split_path_version(s);
    assert_eq!(format!("{prefix}{major}"), s);

    match module::escape_path(s) {
        Ok(esc) => {
            assert!(path_ok);
            assert!(!esc.bytes().any(|b| b.is_ascii_uppercase()));
            assert_eq!(module::unescape_path(&esc).as_deref(), Ok(s));
        }
        Err(_) => assert!(!path_ok),
    }
    if let Ok(p) = module::unescape_path(s) {
        assert_eq!(module::escape_path(&p).as_deref(), Ok(s));
    }
    if let Ok(p) = s.parse::<ModulePath>() {
        let _ = p.split_version();
        assert_eq!(ModulePath::from_escaped(&p.escaped()).as_ref(), Ok(&p));
    }
    if let Ok(d) = module::percent_decode(s) {
        assert!(!d.contains('\0'));
        let _ = module::unescape_path(&d);
        let _ = module::unescape_version(&d);
    }

    // Patterns: "globs\ntarget".
    let (globs, target) = s.split_once('\n').unwrap_or((s, "example.com/a/b"));
    let parsed = Patterns::parse(globs);
    assert_eq!(
        parsed.matches(target),
        pattern::match_prefix_patterns(globs, target),
        "{globs:?} {target:?}"
    );
    let _ = parsed.matches_everything();
    let _ = pattern::path_match(globs, target);

    if let Ok(list) = ProxyList::parse(s) {
        let again = ProxyList::parse(&list.to_string());
        assert_eq!(again.as_ref(), Ok(&list), "{s:?} -> {list}");
    }
    if let Ok(db) = SumdbSpec::parse(s) {
        assert_eq!(SumdbSpec::parse(&db.to_string()).as_ref(), Ok(&db), "{s:?}");
    }
});
