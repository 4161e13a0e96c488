//! go.mod parsing on arbitrary input: never panics; a file the strict parser
//! accepts, the lax parser accepts too, with the same module and requires.
#![no_main]

use gomod::modfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let strict = modfile::parse("go.mod", data);
    let lax = modfile::parse_lax("go.mod", data);
    if let Err(e) = &strict {
        let _ = e.to_string();
    }
    if let Ok(s) = strict {
        let l = lax.expect("strict accepted but lax rejected");
        assert_eq!(s.module, l.module);
        assert_eq!(s.require, l.require);
        assert_eq!(s.go, l.go);
    }
});
