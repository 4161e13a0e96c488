//! Classifying a failed go command from its output (the texts of
//! docs/protocol.md §6, as `cmd/go` prints them).

use serde::Serialize;

/// What a failure means for a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "class", rename_all = "kebab-case")]
pub enum Verdict {
    /// A network or upstream hiccup: retry after a backoff.
    Transient {
        /// The line that says so.
        evidence: String,
    },
    /// A broken cache entry: repair it, then retry.
    CorruptCache {
        /// `(module, version)` of each entry to repair.
        entries: Vec<(String, String)>,
        /// The line that says so.
        evidence: String,
    },
    /// Retrying cannot help: stop and say what to do.
    Fatal {
        /// The line that says so.
        evidence: String,
        /// What the user should do.
        advice: String,
    },
    /// Not a failure we know: not retried.
    Unknown,
}

const FATAL: &[(&str, &str)] = &[
    (
        "missing go.sum entry",
        "go.sum lacks a needed line: run `go mod tidy` (or `go mod download <module>`) and commit go.sum; retrying cannot add it",
    ),
    (
        "malformed module path",
        "a module path in go.mod or an import is invalid (the first element needs a dot, like example.com/x); fix the path",
    ),
    (
        "module lookup disabled by GOPROXY=off",
        "GOPROXY=off forbids downloads: set GOPROXY (e.g. to your proxy) or pre-fill the module cache",
    ),
    (
        "go.sum database server misbehavior",
        "the checksum database showed an inconsistent tree: do not retry; report it and check $GOPATH/pkg/sumdb",
    ),
    (
        "invalid version: unknown revision",
        "the version does not exist upstream: check the version in go.mod",
    ),
    (
        "errors parsing go.mod",
        "go.mod itself is malformed: fix the reported line",
    ),
    (
        "410 Gone",
        "the checksum database does not know this module (a private module?): add it to GOPRIVATE or GONOSUMDB",
    ),
    (
        "requires go >=",
        "the module needs a newer go: upgrade go or allow GOTOOLCHAIN to fetch one",
    ),
];

const TRANSIENT: &[&str] = &[
    "i/o timeout",
    "connection refused",
    "connection reset by peer",
    "TLS handshake timeout",
    "no such host",
    "temporary failure in name resolution",
    "network is unreachable",
    "unexpected EOF",
    "context deadline exceeded",
    "Client.Timeout exceeded",
    "timeout awaiting response headers",
    "500 Internal Server Error",
    "502 Bad Gateway",
    "503 Service Unavailable",
    "504 Gateway Timeout",
    "429 Too Many Requests",
    "stream error",
    "server closed idle connection",
];

const CORRUPT: &[&str] = &[
    "checksum mismatch",
    "zip: not a valid zip file",
    "unexpected ziphash",
    "zip has been modified",
    "dir has been modified",
    "missing ziphash",
    "zip: checksum error",
    "has unexpected file",
];

/// Classifies the combined output of a failed go command.
pub fn classify(output: &str) -> Verdict {
    for line in output.lines() {
        for (pat, advice) in FATAL {
            if line.contains(pat) {
                return Verdict::Fatal {
                    evidence: line.trim().to_string(),
                    advice: (*advice).to_string(),
                };
            }
        }
    }
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut evidence = None;
    for line in output.lines() {
        if CORRUPT.iter().any(|p| line.contains(p))
            && let Some(mv) = module_version_in(line)
        {
            if !entries.contains(&mv) {
                entries.push(mv);
            }
            evidence.get_or_insert_with(|| line.trim().to_string());
        }
    }
    if let Some(evidence) = evidence {
        return Verdict::CorruptCache { entries, evidence };
    }
    for line in output.lines() {
        if TRANSIENT.iter().any(|p| line.contains(p)) {
            return Verdict::Transient {
                evidence: line.trim().to_string(),
            };
        }
    }
    Verdict::Unknown
}

/// Finds the module version a go error line is about: a module cache path
/// (`.../cache/download/<esc mod>/@v/<v>.zip`), an extracted directory,
/// `verifying M@V[/go.mod]:`, `M@V:`, `zip for M@V has`, or `M V: zip has
/// been modified`.
pub fn module_version_in(line: &str) -> Option<(String, String)> {
    for word in line.split(|c: char| c.is_whitespace() || c == '"' || c == '(' || c == ')') {
        let w = word.trim_end_matches(':');
        if w.contains("/cache/download/")
            && let Some((mv, _)) = gomod::cachepath::from_download_path(std::path::Path::new(w))
        {
            return Some((mv.module, mv.version));
        }
    }
    let candidates = line
        .split_whitespace()
        .map(|w| w.trim_end_matches(':').trim_end_matches("/go.mod"));
    for w in candidates {
        if let Some((m, v)) = w.rsplit_once('@')
            && gomod::module::check(m, v).is_ok()
        {
            return Some((m.to_string(), v.to_string()));
        }
    }
    // `go mod verify`: "M V: zip has been modified (...)"
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() >= 2 {
        let v = f[1].trim_end_matches(':');
        if gomod::module::check(f[0], v).is_ok() {
            return Some((f[0].to_string(), v.to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_line() {
        assert_eq!(
            module_version_in("example.com/m v1.0.0: zip has been modified (/x/y.zip)"),
            Some(("example.com/m".into(), "v1.0.0".into()))
        );
        assert_eq!(
            module_version_in("verifying example.com/m@v1.0.0/go.mod: checksum mismatch"),
            Some(("example.com/m".into(), "v1.0.0".into()))
        );
        assert_eq!(
            module_version_in(
                "go: example.com/a@v1.2.0: read /h/go/pkg/mod/cache/download/example.com/!a/@v/v1.2.0.zip: zip: not a valid zip file"
            ),
            Some(("example.com/A".into(), "v1.2.0".into()))
        );
    }
}
