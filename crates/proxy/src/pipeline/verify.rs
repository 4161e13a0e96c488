//! The verdict on a fetched version: a pure function of what was fetched
//! and what the checksum database (or the record already stored) says. No
//! I/O, so every verdict has a unit test.

/// What one source sent, and which upstream (or repository) sent it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent<'a, T> {
    pub(crate) value: T,
    pub(crate) origin: &'a str,
}

/// The hashes a version must have.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expected<'a> {
    /// A proved checksum-database lookup.
    Database {
        name: &'a str,
        gomod_h1: &'a str,
        zip_h1: &'a str,
    },
    /// The record already stored (its `.info` and `.mod` were verified when
    /// it was written); its zip hash if it knows one.
    Record {
        by: &'a str,
        zip_h1: Option<&'a str>,
    },
    /// Stored without checksum verification by policy (`policy:private`,
    /// `policy:nosumdb`).
    Unverified,
}

/// Everything the verdict is made from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Evidence<'a> {
    pub(crate) module: &'a str,
    pub(crate) version: &'a str,
    /// The fetched `.info` (none when the record already has one).
    pub(crate) info: Option<Sent<'a, &'a [u8]>>,
    /// The `h1:` of the fetched go.mod (none when the record has one).
    pub(crate) gomod_h1: Option<Sent<'a, &'a str>>,
    /// The zip check: its `h1:`, or every rule it breaks.
    pub(crate) zip: Option<Sent<'a, Result<&'a str, &'a str>>>,
    pub(crate) expected: Expected<'a>,
}

/// Why a fetched version was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The `.info` is not JSON with a `Version`.
    InfoMalformed,
    /// The `.info` names another version.
    InfoWrongVersion,
    /// The go.mod hash differs from the expected one.
    GomodMismatch,
    /// The zip breaks the module zip rules.
    ZipInvalid,
    /// The zip hash differs from the expected one.
    ZipMismatch,
}

impl Reason {
    /// The metrics label (`verification_failures{reason=...}`).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::InfoMalformed => "info-json",
            Reason::InfoWrongVersion => "info-version",
            Reason::GomodMismatch => "gomod-h1",
            Reason::ZipInvalid => "zip-invalid",
            Reason::ZipMismatch => "zip-h1",
        }
    }
}

/// A refusal: the reason, the origin to blame, and the one line for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) reason: Reason,
    pub(crate) origin: String,
    pub(crate) message: String,
}

/// The `Version` an `.info` (or a query's answer) names.
pub(crate) fn info_version(body: &[u8]) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Version")]
        version: String,
    }
    serde_json::from_slice::<Info>(body).map(|i| i.version)
}

/// Accepts the evidence, or says what is wrong with it (the first problem,
/// in the order `.info`, go.mod, zip).
pub(crate) fn verdict(ev: &Evidence<'_>) -> Result<(), Rejection> {
    let mv = format!("{}@{}", ev.module, ev.version);
    let reject = |reason, origin: &str, message: String| Rejection {
        reason,
        origin: origin.to_string(),
        message,
    };
    if let Some(info) = ev.info {
        match info_version(info.value) {
            Err(e) => {
                return Err(reject(
                    Reason::InfoMalformed,
                    info.origin,
                    format!(
                        "{mv}.info from {} is not valid JSON: {e}; nothing was cached",
                        info.origin
                    ),
                ));
            }
            Ok(v) if v != ev.version => {
                return Err(reject(
                    Reason::InfoWrongVersion,
                    info.origin,
                    format!(
                        "{mv}.info from {} names version {:?} instead of {:?}; nothing was cached",
                        info.origin, v, ev.version
                    ),
                ));
            }
            Ok(_) => {}
        }
    }
    if let (Some(got), Expected::Database { name, gomod_h1, .. }) = (ev.gomod_h1, ev.expected)
        && got.value != gomod_h1
    {
        return Err(reject(
            Reason::GomodMismatch,
            got.origin,
            format!(
                "verifying {mv}/go.mod: checksum mismatch: checksum database {name} has {gomod_h1}, upstream {} sent {}; nothing was cached",
                got.origin, got.value
            ),
        ));
    }
    if let Some(zip) = ev.zip {
        let got = match zip.value {
            Err(problems) => {
                return Err(reject(
                    Reason::ZipInvalid,
                    zip.origin,
                    format!(
                        "{mv}.zip from {} is not a valid module zip: {problems}; nothing was cached",
                        zip.origin
                    ),
                ));
            }
            Ok(h1) => h1,
        };
        let want = match ev.expected {
            Expected::Database { name, zip_h1, .. } => Some((name, zip_h1)),
            Expected::Record {
                by,
                zip_h1: Some(h),
            } => Some((by, h)),
            _ => None,
        };
        if let Some((by, want)) = want
            && want != got
        {
            return Err(reject(
                Reason::ZipMismatch,
                zip.origin,
                format!(
                    "verifying {mv}: checksum mismatch: checksum database {by} has {want}, upstream {} sent {got}; nothing was cached",
                    zip.origin
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = "http://up.example";
    const INFO: &[u8] = br#"{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}"#;
    const DB: Expected<'static> = Expected::Database {
        name: "sum.test",
        gomod_h1: "h1:mod=",
        zip_h1: "h1:zip=",
    };

    fn sent<T>(value: T) -> Option<Sent<'static, T>> {
        Some(Sent { value, origin: UP })
    }

    fn full(expected: Expected<'static>) -> Evidence<'static> {
        Evidence {
            module: "example.com/m",
            version: "v1.0.0",
            info: sent(INFO),
            gomod_h1: sent("h1:mod="),
            zip: sent(Ok("h1:zip=")),
            expected,
        }
    }

    fn reason(ev: Evidence<'_>) -> Reason {
        let r = verdict(&ev).unwrap_err();
        assert_eq!(r.origin, UP);
        assert!(r.message.contains("example.com/m@v1.0.0"), "{}", r.message);
        assert!(r.message.contains("nothing was cached"), "{}", r.message);
        r.reason
    }

    #[test]
    fn matching_hashes_are_accepted() {
        assert_eq!(verdict(&full(DB)), Ok(()));
        // A go.mod-only fetch: no zip yet.
        assert_eq!(
            verdict(&Evidence {
                zip: None,
                ..full(DB)
            }),
            Ok(())
        );
        // Adding the zip to a stored record: only the zip is checked.
        let add_zip = Evidence {
            info: None,
            gomod_h1: None,
            ..full(Expected::Record {
                by: "sum.test",
                zip_h1: Some("h1:zip="),
            })
        };
        assert_eq!(verdict(&add_zip), Ok(()));
    }

    #[test]
    fn unverified_policy_checks_only_the_info_and_the_zip_rules() {
        let ev = Evidence {
            gomod_h1: sent("h1:anything="),
            zip: sent(Ok("h1:other=")),
            ..full(Expected::Unverified)
        };
        assert_eq!(verdict(&ev), Ok(()));
        let bad = Evidence {
            zip: sent(Err("file name too long")),
            ..full(Expected::Unverified)
        };
        assert_eq!(reason(bad), Reason::ZipInvalid);
    }

    #[test]
    fn info_that_is_not_json_or_names_another_version_is_refused() {
        let ev = Evidence {
            info: sent(b"<html>".as_slice()),
            ..full(DB)
        };
        assert_eq!(reason(ev), Reason::InfoMalformed);
        let ev = Evidence {
            info: sent(br#"{"Version":"v1.0.1"}"#.as_slice()),
            ..full(DB)
        };
        assert_eq!(reason(ev), Reason::InfoWrongVersion);
    }

    #[test]
    fn gomod_mismatch_names_both_hashes() {
        let ev = Evidence {
            gomod_h1: sent("h1:evil="),
            ..full(DB)
        };
        let r = verdict(&ev).unwrap_err();
        assert_eq!(r.reason, Reason::GomodMismatch);
        assert!(r.message.contains("h1:mod=") && r.message.contains("h1:evil="));
        assert_eq!(Reason::GomodMismatch.label(), "gomod-h1");
    }

    #[test]
    fn invalid_zip_lists_its_problems() {
        let ev = Evidence {
            zip: sent(Err("go.mod missing; a.go: case-fold collision")),
            ..full(DB)
        };
        let r = verdict(&ev).unwrap_err();
        assert_eq!(r.reason, Reason::ZipInvalid);
        assert!(r.message.contains("case-fold collision"), "{}", r.message);
    }

    #[test]
    fn zip_mismatch_against_the_database_or_the_record() {
        let ev = Evidence {
            zip: sent(Ok("h1:evil=")),
            ..full(DB)
        };
        assert_eq!(reason(ev), Reason::ZipMismatch);
        let ev = Evidence {
            info: None,
            gomod_h1: None,
            zip: sent(Ok("h1:evil=")),
            ..full(Expected::Record {
                by: "sum.test",
                zip_h1: Some("h1:zip="),
            })
        };
        assert_eq!(reason(ev), Reason::ZipMismatch);
        // A record that knows no zip hash (stored by policy) accepts any
        // valid zip.
        let ev = Evidence {
            info: None,
            gomod_h1: None,
            zip: sent(Ok("h1:evil=")),
            ..full(Expected::Record {
                by: "policy:nosumdb",
                zip_h1: None,
            })
        };
        assert_eq!(verdict(&ev), Ok(()));
    }

    #[test]
    fn the_first_problem_is_reported() {
        let ev = Evidence {
            info: sent(b"{}".as_slice()),
            gomod_h1: sent("h1:evil="),
            zip: sent(Ok("h1:evil=")),
            ..full(DB)
        };
        assert_eq!(reason(ev), Reason::InfoMalformed);
    }
}
