//! Log parsers on arbitrary input: tile paths, tree note texts, lookup
//! records, data tiles, and `hash_from_tile` over arbitrary tile bytes.
//! Besides "no panic": tile paths and tree notes round-trip through their
//! formatters, and parsed records re-format to the bytes they came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sumdb::tlog::{self, Tile};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = Tile::from_path(s) {
            assert_eq!(t.path(), s);
            // Read some hash out of the path's own bytes as tile data.
            let level = (t.l.max(0) as u32) * t.h;
            if level < 40 {
                let idx = tlog::stored_hash_index(level, (t.n % (1 << 20)) << t.h.min(20));
                let _ = tlog::hash_from_tile(&t, data, idx);
            }
        }
    }
    if let Ok(tree) = tlog::parse_tree(data) {
        let text = tlog::format_tree(&tree);
        assert_eq!(tlog::parse_tree(text.as_bytes()).unwrap(), tree);
        assert!(data.starts_with(text.as_bytes()));
    }
    if let Ok((id, text, rest)) = tlog::parse_record(data) {
        let mut again = tlog::format_record(id, text).unwrap();
        again.extend_from_slice(rest);
        // The id may have had leading zeros; everything after it matches.
        assert!(data.ends_with(&again[again.iter().position(|&b| b == b'\n').unwrap()..]));
    }
    if let Ok(records) = tlog::split_data_tile(data) {
        let joined: Vec<u8> = records.iter().flat_map(|r| r.iter().copied().chain([b'\n'])).collect();
        assert_eq!(joined, data);
    }
});
