//! go.sum parsing on arbitrary input: never panics; writing what was parsed
//! and parsing it again gives the same file.
#![no_main]

use gomod::gosum::GoSum;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = GoSum::parse("go.sum", data) else {
        return;
    };
    let out = s.to_bytes();
    let again = GoSum::parse("go.sum", &out).expect("re-parsing our own output");
    assert_eq!(again.to_bytes(), out);
});
