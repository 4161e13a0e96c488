//! Property tests for the Go-module formats: escaping round-trips, version
//! ordering, sorting, pseudo-versions, pattern parsing.

use std::cmp::Ordering;

use gomod::goenv::ProxyList;
use gomod::module;
use gomod::pattern::{Patterns, match_prefix_patterns};
use gomod::semver::{self, Version};
use proptest::prelude::*;

/// Module paths that pass `check_path` (filtered: the generator also makes
/// some that do not, e.g. Windows names, `x~1`, `/v1`).
fn module_path() -> impl Strategy<Value = String> {
    let first = "[a-z0-9][a-z0-9-]{0,8}(\\.[a-z0-9-]{1,6}){1,2}";
    let elem = "[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}[A-Za-z0-9_~-]";
    (first, prop::collection::vec(elem, 0..4))
        .prop_map(|(f, rest)| {
            let mut p = f;
            for e in rest {
                p.push('/');
                p.push_str(&e);
            }
            p
        })
        .prop_filter("valid module path", |p| module::check_path(p).is_ok())
}

/// A prerelease identifier: alphanumerics and '-', numeric ones without
/// leading zeros.
fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z-][A-Za-z0-9-]{0,6}",
        "[1-9][0-9]{0,4}",
        Just("0".to_string()),
    ]
}

/// Valid Go semver strings, canonical or not.
fn version() -> impl Strategy<Value = String> {
    let num = prop_oneof![Just(0u64), Just(1), Just(2), 0u64..20, any::<u64>()];
    (
        num.clone(),
        num.clone(),
        num,
        prop::option::of(prop::collection::vec(ident(), 1..4)),
        prop::option::of(prop_oneof![
            Just("incompatible".to_string()),
            "[A-Za-z0-9-]{1,5}(\\.[A-Za-z0-9-]{1,5}){0,2}"
        ]),
        0u8..4,
    )
        .prop_map(|(ma, mi, pa, pre, build, shape)| match shape {
            0 => format!("v{ma}"),
            1 => format!("v{ma}.{mi}"),
            _ => {
                let mut v = format!("v{ma}.{mi}.{pa}");
                if let Some(pre) = pre {
                    v.push('-');
                    v.push_str(&pre.join("."));
                }
                if let Some(b) = build {
                    v.push('+');
                    v.push_str(&b);
                }
                v
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn escape_path_round_trips(p in module_path()) {
        let esc = module::escape_path(&p).unwrap();
        prop_assert!(!esc.bytes().any(|b| b.is_ascii_uppercase()));
        prop_assert_eq!(module::unescape_path(&esc).unwrap(), p.clone());
        let typed: module::ModulePath = p.parse().unwrap();
        prop_assert_eq!(typed.escaped(), esc);
    }

    #[test]
    fn escape_agrees_with_check_on_any_string(s in "\\PC{0,24}") {
        match module::escape_path(&s) {
            Ok(esc) => prop_assert_eq!(module::unescape_path(&esc).unwrap(), s.clone()),
            Err(_) => prop_assert!(module::check_path(&s).is_err()),
        }
        if let Ok(p) = module::unescape_path(&s) {
            prop_assert_eq!(module::escape_path(&p).unwrap(), s);
        }
    }

    #[test]
    fn escape_version_round_trips(v in version()) {
        let esc = module::escape_version(&v).unwrap();
        prop_assert!(!esc.bytes().any(|b| b.is_ascii_uppercase()));
        prop_assert_eq!(module::unescape_version(&esc).unwrap(), v);
    }

    #[test]
    fn percent_decoding_inverts_encoding(p in module_path()) {
        let esc = module::escape_path(&p).unwrap();
        let encoded: String = esc
            .bytes()
            .map(|b| if b == b'!' || b == b'~' { format!("%{b:02X}") } else { (b as char).to_string() })
            .collect();
        prop_assert_eq!(module::percent_decode(&encoded).unwrap(), esc);
    }

    #[test]
    fn generated_versions_are_valid(v in version()) {
        prop_assert!(semver::is_valid(&v), "{}", v);
        let c = semver::canonical(&v);
        prop_assert!(semver::is_valid(&c));
        prop_assert_eq!(semver::canonical(&c), c.clone());
        prop_assert!(semver::build(&c).is_empty());
        prop_assert_eq!(semver::compare(&v, &c), Ordering::Equal);
    }

    #[test]
    fn ordering_is_consistent_with_canonical_form(a in version(), b in version()) {
        let ab = semver::compare(&a, &b);
        prop_assert_eq!(ab, semver::compare(&b, &a).reverse());
        prop_assert_eq!(ab, semver::compare(&semver::canonical(&a), &semver::canonical(&b)));
        // Equal precedence iff equal canonical forms.
        prop_assert_eq!(ab == Ordering::Equal, semver::canonical(&a) == semver::canonical(&b));
        let (va, vb) = (Version::new(a.clone()).unwrap(), Version::new(b.clone()).unwrap());
        prop_assert_eq!(va.cmp(&vb) == Ordering::Equal, a == b);
        if ab != Ordering::Equal {
            prop_assert_eq!(va.cmp(&vb), ab);
        }
        let m = semver::max(&a, &b);
        prop_assert_ne!(semver::compare(&m, &a), Ordering::Less);
        prop_assert_ne!(semver::compare(&m, &b), Ordering::Less);
    }

    #[test]
    fn ordering_is_transitive(a in version(), b in version(), c in version()) {
        let mut v = [a, b, c];
        v.sort_by(|x, y| semver::compare(x, y));
        prop_assert_ne!(semver::compare(&v[0], &v[1]), Ordering::Greater);
        prop_assert_ne!(semver::compare(&v[1], &v[2]), Ordering::Greater);
        prop_assert_ne!(semver::compare(&v[0], &v[2]), Ordering::Greater);
    }

    #[test]
    fn sort_is_deterministic_and_stable(
        list in prop::collection::vec(prop_oneof![version(), "[a-z0-9.+-]{0,6}"], 0..24),
        seed in any::<u64>(),
    ) {
        let mut sorted = list.clone();
        semver::sort(&mut sorted);
        // Any permutation of the input sorts to the same list: the order is
        // total, so even an unstable sort cannot reorder ties.
        let mut shuffled = list.clone();
        let n = shuffled.len();
        let mut x = seed | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        semver::sort_versions_like_go_list(&mut shuffled);
        prop_assert_eq!(&shuffled, &sorted);
        // Sorting is idempotent and agrees with compare_for_sort.
        let mut again = sorted.clone();
        semver::sort(&mut again);
        prop_assert_eq!(&again, &sorted);
        for w in sorted.windows(2) {
            prop_assert_ne!(semver::compare_for_sort(&w[0], &w[1]), Ordering::Greater);
        }
        // Invalid versions come first.
        let first_valid = sorted.iter().position(|v| semver::is_valid(v)).unwrap_or(sorted.len());
        prop_assert!(sorted[first_valid..].iter().all(|v| semver::is_valid(v)));
    }

    #[test]
    fn pseudo_versions_round_trip(
        major in 0u32..5,
        base in prop::option::of(version()),
        secs in 0i64..253_402_300_799, // 1970 .. 9999-12-31
        rev in "[0-9a-f]{12}",
    ) {
        let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let older = base.map(|b| semver::canonical_version(&b)).unwrap_or_default();
        let major = if older.is_empty() { format!("v{major}") } else { semver::major(&older).to_string() };
        let pv = semver::pseudo_version(&major, &older, t, &rev);
        prop_assert!(semver::is_pseudo_version(&pv), "{}", pv);
        prop_assert_eq!(semver::pseudo_version_rev(&pv).unwrap(), rev.as_str());
        prop_assert_eq!(semver::pseudo_version_time(&pv).unwrap(), t);
        prop_assert_eq!(semver::pseudo_version_base(&pv).unwrap(), older.clone());
        // A pseudo-version sorts after its base.
        if !older.is_empty() {
            prop_assert_eq!(semver::compare(&pv, &older), Ordering::Greater);
        }
    }

    #[test]
    fn parsed_patterns_match_like_the_string_form(
        globs in prop::collection::vec("[a-z*?.\\[\\]^/\\\\-]{0,8}", 0..4),
        target in "[a-z.]{1,6}(/[a-z.]{1,4}){0,3}",
    ) {
        let globs = globs.join(",");
        prop_assert_eq!(Patterns::parse(&globs).matches(&target), match_prefix_patterns(&globs, &target));
    }

    #[test]
    fn a_path_matches_its_own_prefixes(p in module_path()) {
        let mut prefix = String::new();
        for (i, elem) in p.split('/').enumerate() {
            if i > 0 { prefix.push('/'); }
            prefix.push_str(elem);
            prop_assert!(match_prefix_patterns(&prefix, &p), "{} !~ {}", prefix, p);
        }
        prop_assert!(Patterns::parse("*").matches(&p));
    }

    #[test]
    fn goproxy_display_round_trips(
        entries in prop::collection::vec(
            prop_oneof![
                "[a-z]{1,8}\\.example(:[0-9]{2,4})?(/[a-z]{1,5}){0,2}",
                "https?://[a-z]{1,8}\\.example/[a-z]{0,4}",
                "file:///[a-z]{1,6}",
                Just("direct".to_string()),
                Just("off".to_string()),
                Just(String::new()),
            ],
            0..5,
        ),
        seps in prop::collection::vec(prop_oneof![Just(','), Just('|')], 5),
    ) {
        let mut value = String::new();
        for (i, e) in entries.iter().enumerate() {
            value.push_str(e);
            value.push(seps[i]);
        }
        let list = ProxyList::parse(&value).unwrap();
        prop_assert_eq!(ProxyList::parse(&list.to_string()).unwrap(), list);
    }
}
