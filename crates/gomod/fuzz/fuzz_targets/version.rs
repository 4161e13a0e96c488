//! Every version parser in gomod on arbitrary input: Go semver, canonical
//! forms, ordering, pseudo-versions, version escaping and path-major checks.
#![no_main]

use std::cmp::Ordering;

use gomod::module;
use gomod::semver::{self, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // Two versions: "a\nb" (b defaults to a fixed one).
    let (a, b) = s.split_once('\n').unwrap_or((s, "v1.2.3-pre"));

    for v in [a, b] {
        let valid = semver::is_valid(v);
        let c = semver::canonical(v);
        assert_eq!(c.is_empty(), !valid, "{v:?}");
        if valid {
            assert!(semver::is_valid(&c));
            assert_eq!(semver::canonical(&c), c);
            assert_eq!(semver::compare(v, &c), Ordering::Equal);
            assert!(!semver::major(v).is_empty());
            assert!(semver::is_valid(&semver::major_minor(v)));
        }
        let _ = semver::prerelease(v);
        let _ = semver::build(v);
        let _ = semver::canonical_version(v);
        let _ = semver::strip_incompatible(v);
        let _ = semver::is_zero_pseudo_version(v);
        if semver::is_pseudo_version(v) {
            assert!(valid);
            assert!(semver::pseudo_version_rev(v).is_ok());
            assert_eq!(semver::pseudo_version_timestamp(v).map(str::len), Ok(14));
        }
        let _ = semver::pseudo_version_time(v);
        if let Ok(base) = semver::pseudo_version_base(v) {
            assert!(
                base.is_empty() || semver::is_valid(&base),
                "{v:?} -> {base:?}"
            );
        }
        match module::escape_version(v) {
            Ok(e) => assert_eq!(module::unescape_version(&e).as_deref(), Ok(v)),
            Err(_) => {}
        }
        if let Ok(u) = module::unescape_version(v) {
            assert_eq!(module::escape_version(&u).as_deref(), Ok(v));
        }
        for pm in ["", "/v2", ".v1", ".v0", ".v1-unstable"] {
            let _ = module::check_path_major(v, pm);
        }
        let _ = module::check("example.com/m/v2", v);
        if let Ok(ver) = v.parse::<Version>() {
            let _ = ver.canonical();
            let _ = ver.is_canonical();
        }
    }

    // Ordering: antisymmetric, consistent with canonical forms.
    let ab = semver::compare(a, b);
    assert_eq!(ab, semver::compare(b, a).reverse());
    if semver::is_valid(a) && semver::is_valid(b) {
        assert_eq!(
            ab,
            semver::compare(&semver::canonical(a), &semver::canonical(b))
        );
    }
    let max = semver::max(a, b);
    assert!(max.is_empty() || semver::is_valid(&max));
    let mut list = vec![a.to_string(), b.to_string(), semver::canonical(a)];
    semver::sort(&mut list);
    for w in list.windows(2) {
        assert_ne!(semver::compare_for_sort(&w[0], &w[1]), Ordering::Greater);
    }
});
