//! The one reading of sizes and durations given on the command line
//! (`clean --max-size`, `--older-than`; `gc --max-size`, `--unused-for`).
//!
//! Sizes: a bare suffix is binary, `5G` = 5 GiB = 5 * 2^30 bytes, as
//! `du`/`df`/`sort -h`, Docker's and systemd's size options read it, and as
//! modwarden prints sizes (`render::bytes` writes `5.0 GiB`), so a budget
//! copied from a report means what it says. The explicit forms keep their
//! exact meaning: `KiB`/`MiB`/`GiB`/`TiB` are powers of 1024, `kB`/`MB`/`GB`/
//! `TB` powers of 1000.
//!
//! Durations are humantime's (a maintained crate; its grammar is a superset
//! of what these options took before).

use std::time::Duration;

/// What [`parse_size`] accepts, for `--help` and error messages.
pub(crate) const SIZE_FORMS: &str = "bytes (1048576), or a number with a unit: K, M, G, T or \
     KiB, MiB, GiB, TiB (powers of 1024: 5G = 5GiB = 5368709120 bytes), kB, MB, GB, TB \
     (powers of 1000: 5GB = 5000000000 bytes), B (bytes); case-insensitive, decimals allowed \
     (1.5G)";

/// What [`parse_duration`] accepts, for `--help` and error messages.
pub(crate) const DURATION_FORMS: &str = "a number with a unit: s, m (minutes), h, d, w, \
     M (months of 30.44 days), y (years of 365.25 days), or their names (3days); \
     several add up (1w 3d); e.g. 90m, 12h, 30d, 2w";

/// Parses a size (see the module documentation): `1048576`, `500M`, `5G`,
/// `1.5GiB`, `5GB`, `2 kB`. Leading and trailing spaces, and spaces between
/// the number and the unit, are ignored.
pub(crate) fn parse_size(s: &str) -> anyhow::Result<u64> {
    let bad = || anyhow::anyhow!("invalid size {s:?}: want {SIZE_FORMS}");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (num.contains('.') && !digits(frac)) {
        return Err(bad());
    }
    let mult: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    // Exact: (int.frac * 10^len(frac)) * mult / 10^len(frac), rounded to the
    // nearest byte.
    if frac.len() > 12 {
        return Err(bad());
    }
    let scale = 10u128.pow(frac.len() as u32);
    let whole: u128 = format!("{int}{frac}").parse().map_err(|_| bad())?;
    let bytes = whole
        .checked_mul(mult)
        .map(|b| (b + scale / 2) / scale)
        .ok_or_else(bad)?;
    u64::try_from(bytes).map_err(|_| bad())
}

/// Parses a duration (humantime's grammar): `30d`, `12h`, `90m`, `3600s`,
/// `2w`, `1w 3d`, `6M`, `1y`.
pub(crate) fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(s.trim())
        .map_err(|e| anyhow::anyhow!("invalid duration {s:?}: {e}; want {DURATION_FORMS}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_suffixes_are_binary() {
        assert_eq!(parse_size("5G").unwrap(), 5 << 30);
        assert_eq!(parse_size("5g").unwrap(), 5 << 30);
        assert_eq!(parse_size("500M").unwrap(), 500 << 20);
        assert_eq!(parse_size("2K").unwrap(), 2048);
        assert_eq!(parse_size("1T").unwrap(), 1 << 40);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
    }

    #[test]
    fn explicit_units_keep_their_meaning() {
        assert_eq!(parse_size("5GiB").unwrap(), 5 << 30);
        assert_eq!(parse_size("5GB").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("5gb").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("500MiB").unwrap(), 500 << 20);
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("2KiB").unwrap(), 2048);
        assert_eq!(parse_size("2kB").unwrap(), 2000);
        assert_eq!(parse_size("2KB").unwrap(), 2000);
        assert_eq!(parse_size("1TiB").unwrap(), 1 << 40);
        assert_eq!(parse_size("1TB").unwrap(), 1_000_000_000_000);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
    }

    #[test]
    fn bytes_spaces_and_fractions() {
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("7B").unwrap(), 7);
        assert_eq!(parse_size(" 1 TiB ").unwrap(), 1 << 40);
        assert_eq!(parse_size("2 kB").unwrap(), 2000);
        // Exact, rounded to the nearest byte: no floating point.
        assert_eq!(parse_size("0.1K").unwrap(), 102);
        assert_eq!(parse_size("0.001kB").unwrap(), 1);
        assert_eq!(
            parse_size("16383.999999999999T").unwrap(),
            18_014_398_509_481_983
        );
        assert_eq!(parse_size("18446744073709551615").unwrap(), u64::MAX);
    }

    #[test]
    fn size_errors_name_the_input_and_the_forms() {
        for bad in [
            "",
            " ",
            "M",
            "lots",
            "-1",
            "+1G",
            "1.5.2G",
            "10X",
            "5Gi",
            "5 G B",
            "1.G",
            ".5G",
            "1,5G",
            "1e3",
            "18446744073709551616",
            "99999999999999999999",
            "16777216T",
            "0.0000000000001",
        ] {
            let e = parse_size(bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid size {bad:?}: want ")),
                "{e}"
            );
            assert!(
                e.contains("5G = 5GiB") && e.contains("5GB = 5000000000"),
                "{e}"
            );
        }
    }

    #[test]
    fn durations() {
        let d = |s| parse_duration(s).unwrap();
        assert_eq!(d("30d"), Duration::from_secs(30 * 86_400));
        assert_eq!(d("12h"), Duration::from_secs(12 * 3600));
        assert_eq!(d("90m"), Duration::from_secs(5400));
        assert_eq!(d("3600s"), Duration::from_secs(3600));
        assert_eq!(d("2w"), Duration::from_secs(14 * 86_400));
        assert_eq!(d("0s"), Duration::ZERO);
        assert_eq!(d(" 1w 3d "), Duration::from_secs(10 * 86_400));
        assert_eq!(d("3days"), Duration::from_secs(3 * 86_400));
        assert_eq!(d("1.5h"), Duration::from_secs(5400));
        assert_eq!(d("6M"), Duration::from_secs(6 * 2_630_016));
        assert_eq!(d("1y"), Duration::from_secs(31_557_600));
    }

    #[test]
    fn duration_errors_name_the_input_and_the_forms() {
        for bad in ["", "30", "d", "-1d", "10x", "30D", "99999999999999999999d"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid duration {bad:?}: ")), "{e}");
            assert!(
                e.contains("want a number with a unit") && e.contains("30d"),
                "{e}"
            );
        }
    }
}
