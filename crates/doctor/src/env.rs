//! The effective Go environment and its risky or broken settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The variables the doctor reads.
pub const VARS: &[&str] = &[
    "GOPROXY",
    "GOSUMDB",
    "GONOSUMDB",
    "GONOPROXY",
    "GOPRIVATE",
    "GOINSECURE",
    "GOFLAGS",
    "GOTOOLCHAIN",
    "GOMODCACHE",
    "GOPATH",
    "GOCACHE",
    "GOMOD",
    "GOVERSION",
    "GOENV",
];

/// Where the values came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvSource {
    /// `go env -json` (go.env, the user's go env file and the process
    /// environment, as go itself resolves them).
    GoEnvJson,
    /// The process environment and Go's defaults (no go command found).
    Process,
}

/// The effective Go environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoEnv {
    /// Where it came from.
    pub source: EnvSource,
    /// The values.
    pub vars: BTreeMap<String, String>,
}

impl GoEnv {
    /// Parses `go env -json` output.
    pub fn from_go_env_json(json: &str) -> Result<GoEnv, serde_json::Error> {
        let all: BTreeMap<String, String> = serde_json::from_str(json)?;
        Ok(GoEnv {
            source: EnvSource::GoEnvJson,
            vars: all
                .into_iter()
                .filter(|(k, _)| VARS.contains(&k.as_str()))
                .collect(),
        })
    }

    /// From process variables, with Go's defaults for what is unset.
    pub fn from_process(env: &BTreeMap<String, String>, cwd: &Path) -> GoEnv {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let home = get("HOME").unwrap_or_default();
        let mut vars = BTreeMap::new();
        for k in VARS {
            if let Some(v) = get(k) {
                vars.insert(k.to_string(), v);
            }
        }
        // GOPROXY's built-in default lives in the go distribution
        // ($GOROOT/go.env); without a go command it stays unset and
        // `diagnose` says so rather than guessing.
        vars.entry("GOSUMDB".into())
            .or_insert_with(|| gomod::goenv::DEFAULT_GOSUMDB.into());
        vars.entry("GOTOOLCHAIN".into())
            .or_insert_with(|| "auto".into());
        let gopath = vars
            .entry("GOPATH".into())
            .or_insert_with(|| format!("{home}/go"))
            .clone();
        let first = std::env::split_paths(&gopath).next().unwrap_or_default();
        vars.entry("GOMODCACHE".into())
            .or_insert_with(|| first.join("pkg/mod").display().to_string());
        vars.entry("GOCACHE".into()).or_insert_with(|| {
            get("XDG_CACHE_HOME")
                .map(|x| format!("{x}/go-build"))
                .unwrap_or_else(|| format!("{home}/.cache/go-build"))
        });
        // GOMOD: the nearest go.mod upwards.
        let mut dir = Some(cwd);
        while let Some(d) = dir {
            if d.join("go.mod").is_file() {
                vars.insert("GOMOD".into(), d.join("go.mod").display().to_string());
                break;
            }
            dir = d.parent();
        }
        GoEnv {
            source: EnvSource::Process,
            vars,
        }
    }

    /// A value ("" when unset).
    pub fn get(&self, k: &str) -> &str {
        self.vars.get(k).map(String::as_str).unwrap_or("")
    }

    /// GOMODCACHE.
    pub fn modcache(&self) -> Option<PathBuf> {
        Some(self.get("GOMODCACHE"))
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    }

    /// `$GOPATH/pkg/sumdb` (first GOPATH entry), where `<name>/latest` lives.
    pub fn sumdb_state(&self) -> Option<PathBuf> {
        let gp = std::env::split_paths(self.get("GOPATH")).next()?;
        (!gp.as_os_str().is_empty()).then(|| gp.join("pkg/sumdb"))
    }

    /// The go.sum of the current module, when there is one.
    pub fn gosum(&self) -> Option<PathBuf> {
        let gomod = self.get("GOMOD");
        if gomod.is_empty() || gomod == "/dev/null" || gomod == "NUL" {
            return None;
        }
        Path::new(gomod).parent().map(|d| d.join("go.sum"))
    }

    /// GOPROXY as go reports it; empty only when it is unset and there is
    /// no go command to tell its built-in default.
    pub fn goproxy(&self) -> &str {
        self.get("GOPROXY")
    }

    /// GOSUMDB as go uses it.
    pub fn gosumdb(&self) -> &str {
        match self.get("GOSUMDB") {
            "" => gomod::goenv::DEFAULT_GOSUMDB,
            v => v,
        }
    }

    /// GONOSUMDB, or GOPRIVATE when unset (go's rule).
    pub fn nosumdb(&self) -> &str {
        match self.get("GONOSUMDB") {
            "" => self.get("GOPRIVATE"),
            v => v,
        }
    }
}

/// How bad an environment finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// The go command will fail with this setting.
    Error,
    /// Works, but weakens security or reliability.
    Warning,
    /// Worth knowing.
    Info,
}

/// One remark about the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvFinding {
    /// Severity.
    pub level: Level,
    /// The variable.
    pub variable: String,
    /// What is wrong and what to do.
    pub message: String,
}

fn f(level: Level, variable: &str, message: impl Into<String>) -> EnvFinding {
    EnvFinding {
        level,
        variable: variable.into(),
        message: message.into(),
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Flags syntax errors and risky settings.
pub fn diagnose(env: &GoEnv) -> Vec<EnvFinding> {
    let mut out = Vec::new();
    match gomod::goenv::ProxyList::parse(env.goproxy()) {
        _ if env.goproxy().is_empty() => out.push(f(
            Level::Warning,
            "GOPROXY",
            "GOPROXY is unset and there is no go command to tell its built-in default: set GOPROXY (or install go) so it can be checked and probed",
        )),
        Err(e) => out.push(f(Level::Error, "GOPROXY", e.to_string())),
        Ok(list) => {
            use gomod::goenv::ProxyKind;
            if list.is_empty() || list.is_off() {
                out.push(f(
                    Level::Warning,
                    "GOPROXY",
                    "GOPROXY=off: every download fails with \"module lookup disabled by GOPROXY=off\"",
                ));
            } else if list.entries.iter().all(|e| e.kind == ProxyKind::Direct) {
                out.push(f(
                    Level::Warning,
                    "GOPROXY",
                    "GOPROXY=direct only: every module is cloned from its VCS (slow, needs git, no shield against vanished repositories); put a proxy first",
                ));
            }
            for e in &list.entries {
                if let ProxyKind::Url(u) = &e.kind
                    && u.scheme() == "http"
                    && !is_loopback(u.host_str().unwrap_or_default())
                {
                    out.push(f(
                        Level::Warning,
                        "GOPROXY",
                        format!(
                            "{} is plain http on a non-loopback host: anyone on the path can see and alter what you download (go.sum and the checksum database still catch altered modules)",
                            upstream::redact(u)
                        ),
                    ));
                }
            }
        }
    }
    match gomod::goenv::SumdbSpec::parse(env.gosumdb()) {
        Err(e) => out.push(f(Level::Error, "GOSUMDB", e.to_string())),
        Ok(gomod::goenv::SumdbSpec::Off) => out.push(f(
            Level::Warning,
            "GOSUMDB",
            "GOSUMDB=off: modules not yet in go.sum are accepted unverified",
        )),
        Ok(_) => {}
    }
    for var in ["GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE"] {
        let v = env.get(var);
        if v.is_empty() {
            continue;
        }
        let p = gomod::pattern::Patterns::parse(v);
        for bad in p.invalid() {
            out.push(f(
                Level::Error,
                var,
                format!("invalid pattern {bad:?} in {var}"),
            ));
        }
        if p.matches_everything() {
            let what = match var {
                "GONOSUMDB" | "GOPRIVATE" => "no module is checked against the checksum database",
                "GONOPROXY" => "every module bypasses the proxy",
                _ => "every module may be fetched over insecure connections",
            };
            out.push(f(
                Level::Warning,
                var,
                format!("{var}={v} matches every module: {what}"),
            ));
        }
    }
    let goflags = env.get("GOFLAGS");
    for field in goflags.split_whitespace() {
        if !field.starts_with('-') {
            out.push(f(
                Level::Error,
                "GOFLAGS",
                format!("go: parsing $GOFLAGS: non-flag {field:?}"),
            ));
        } else if field.trim_start_matches('-').starts_with("insecure") {
            out.push(f(
                Level::Warning,
                "GOFLAGS",
                "-insecure in GOFLAGS: removed from go 1.16+ module commands (use GOINSECURE for specific hosts)",
            ));
        } else if field.starts_with("-mod=mod") {
            out.push(f(
                Level::Info,
                "GOFLAGS",
                "-mod=mod in GOFLAGS: builds may silently update go.mod and go.sum",
            ));
        }
    }
    diagnose_toolchain(env, &mut out);
    out
}

fn diagnose_toolchain(env: &GoEnv, out: &mut Vec<EnvFinding>) {
    let tc = env.get("GOTOOLCHAIN");
    let (name, mode) = match tc.split_once('+') {
        Some((n, m)) => (n, Some(m)),
        None => (tc, None),
    };
    let valid_name = |n: &str| {
        n == "local" || n == "auto" || n == "path" || n.starts_with("go1") || n.contains("-go1")
    };
    if !tc.is_empty() && (!valid_name(name) || mode.is_some_and(|m| m != "auto" && m != "path")) {
        out.push(f(
            Level::Error,
            "GOTOOLCHAIN",
            format!(
                "invalid GOTOOLCHAIN {tc:?}: want local, auto, path, or goX.Y[.Z][+auto|+path]"
            ),
        ));
        return;
    }
    let version = env.get("GOVERSION");
    if name.starts_with("go1") && mode.is_none() && !version.is_empty() && name != version {
        out.push(f(
            Level::Info,
            "GOTOOLCHAIN",
            format!(
                "GOTOOLCHAIN={tc} pins every go command to {name} (the installed go is {version}); it is downloaded on first use"
            ),
        ));
    }
    // What the current module asks for (`go` and `toolchain` lines).
    let wanted = read_go_lines(env.get("GOMOD"));
    if let Some(want) = &wanted
        && !version.is_empty()
        && gomod::semver::compare(&go_semver(want), &go_semver(version))
            == std::cmp::Ordering::Greater
    {
        if name == "local" {
            out.push(f(
                Level::Error,
                "GOTOOLCHAIN",
                format!(
                    "go.mod asks for {want} but the installed go is {version} and GOTOOLCHAIN=local forbids switching: builds fail with \"go.mod requires go >= ...\""
                ),
            ));
        } else {
            out.push(f(
                Level::Info,
                "GOTOOLCHAIN",
                format!(
                    "go.mod asks for {want}, newer than the installed {version}: the go command downloads and runs {want} (GOTOOLCHAIN={tc})"
                ),
            ));
        }
    }
    if name == "auto" || mode == Some("auto") {
        out.push(f(
            Level::Info,
            "GOTOOLCHAIN",
            format!("GOTOOLCHAIN={tc}: a go.mod asking for a newer go makes the go command download that toolchain (from GOPROXY, verified by GOSUMDB)"),
        ));
    }
}

/// `go1.22.3` / `1.22` / `go1.23rc1` as a comparable semver (`v1.22.3`,
/// `v1.22.0`, `v1.23.0-rc1`).
fn go_semver(v: &str) -> String {
    let v = v.trim_start_matches("go");
    let (num, pre) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let mut parts: Vec<&str> = num.split('.').collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    let base = format!("v{}", parts.join("."));
    if pre.is_empty() {
        base
    } else {
        format!("{base}-{pre}")
    }
}

/// The newest of the `go` and `toolchain` lines of a go.mod (as `goX.Y[.Z]`).
fn read_go_lines(gomod: &str) -> Option<String> {
    if gomod.is_empty() || gomod == "/dev/null" {
        return None;
    }
    let text = std::fs::read_to_string(gomod).ok()?;
    let mut best: Option<String> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let v = match f.as_slice() {
            ["go", v, ..] => format!("go{v}"),
            ["toolchain", v, ..] if v.starts_with("go") => v.to_string(),
            _ => continue,
        };
        if best
            .as_ref()
            .is_none_or(|b| gomod::semver::compare(&go_semver(&v), &go_semver(b)).is_gt())
        {
            best = Some(v);
        }
    }
    best
}

/// Free and total bytes of the file system holding `path` (or its nearest
/// existing ancestor).
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    let mut p = Some(path);
    while let Some(d) = p {
        if d.exists() {
            let free = fs4::available_space(d).ok()?;
            let total = fs4::total_space(d).ok()?;
            return Some((free, total));
        }
        p = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> GoEnv {
        GoEnv {
            source: EnvSource::Process,
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn unset_goproxy_without_go_is_reported_not_guessed() {
        let vars: BTreeMap<String, String> = [("HOME".to_string(), "/h".to_string())].into();
        let e = GoEnv::from_process(&vars, Path::new("/"));
        assert_eq!(e.goproxy(), "");
        let findings = diagnose(&e);
        assert!(
            findings
                .iter()
                .any(|f| f.variable == "GOPROXY" && f.message.contains("GOPROXY is unset")),
            "{findings:?}"
        );
    }

    #[test]
    fn risky_settings() {
        let e = env(&[
            ("GOPROXY", "http://proxy.corp.example,direct"),
            ("GOSUMDB", "off"),
            ("GONOSUMDB", "*"),
            ("GOFLAGS", "-insecure -mod=mod"),
            ("GOTOOLCHAIN", "local"),
        ]);
        let got = diagnose(&e);
        let vars: Vec<&str> = got.iter().map(|f| f.variable.as_str()).collect();
        assert!(vars.contains(&"GOPROXY"), "{got:#?}");
        assert!(vars.contains(&"GOSUMDB"));
        assert!(vars.contains(&"GONOSUMDB"));
        assert!(got.iter().any(|f| f.message.contains("-insecure")));
    }

    #[test]
    fn toolchain_local_with_newer_go_mod() {
        let t = tempfile::tempdir().unwrap();
        let gomod = t.path().join("go.mod");
        std::fs::write(&gomod, "module x\n\ngo 1.99.1\n").unwrap();
        let e = env(&[
            ("GOTOOLCHAIN", "local"),
            ("GOVERSION", "go1.26.8"),
            ("GOMOD", gomod.to_str().unwrap()),
        ]);
        let got = diagnose(&e);
        assert!(
            got.iter()
                .any(|f| f.level == Level::Error && f.message.contains("go1.99.1")),
            "{got:#?}"
        );
        assert_eq!(go_semver("go1.23rc1"), "v1.23.0-rc1");
        assert_eq!(go_semver("1.22"), "v1.22.0");
    }

    #[test]
    fn loopback_http_and_defaults_are_fine() {
        let e = env(&[
            ("GOPROXY", "http://127.0.0.1:3000"),
            ("GOTOOLCHAIN", "local"),
        ]);
        assert!(diagnose(&e).is_empty(), "{:#?}", diagnose(&e));
        let e = env(&[("GOPROXY", "direct")]);
        assert_eq!(diagnose(&e)[0].level, Level::Warning);
        let e = env(&[("GOPROXY", "ftp://x")]);
        assert_eq!(diagnose(&e)[0].level, Level::Error);
    }
}
