//! Small helpers shared by test suites of several crates.

use std::io;
use std::path::Path;

/// `len` pseudo-random, incompressible bytes (xorshift), the same for the
/// same `len`: zips made of them stay as large as their content.
pub fn incompressible(len: usize) -> Vec<u8> {
    pseudo_random(1, len)
}

/// `len` deterministic pseudo-random bytes (xorshift) from `seed`.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Makes a file writable again (stores mark their files read-only), so a
/// test can damage it.
pub fn make_writable(path: &Path) {
    let mut perm = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(path, perm).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Reads `modwarden serve`'s standard error up to its
/// `modwarden serve: listening on http://...` line and returns the base URL;
/// `seen` gets every line read on the way.
pub fn read_listen_url(
    lines: &mut impl Iterator<Item = io::Result<String>>,
    mut seen: impl FnMut(&str),
) -> String {
    loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .expect("reading serve's stderr");
        seen(&line);
        if let Some(addr) = line.strip_prefix("modwarden serve: listening on ") {
            return addr.trim().to_string();
        }
    }
}
