//! The zip checker and hasher on arbitrary bytes: never panic; a zip the
//! checker finds valid hashes to the same h1 as `hash_zip`.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use gomod::dirhash::hash_zip;
use gomod::zip::check_zip_reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = check_zip_reader(
        Cursor::new(data),
        Path::new("fuzz.zip"),
        "example.com/m",
        "v1.0.0",
    );
    let hash = hash_zip(Cursor::new(data));
    if let Ok(r) = report {
        for v in &r.violations {
            let _ = v.to_string();
        }
        if r.is_valid() {
            assert_eq!(r.h1.as_deref(), hash.as_ref().ok().map(String::as_str));
        }
    }
});
