//! `modwarden serve` configuration: `modwarden.toml`, `MODWARDEN_*`
//! environment variables and flags, merged by a pure function.
//!
//! Precedence: flags over environment over file over defaults. Every key of the
//! file is also an environment variable (`MODWARDEN_` + upper-case, `-` as
//! `_`) and a flag (`--key`). Unknown file keys are an error, so a typo never
//! silently becomes a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use gomod::goenv::{ProxyKind, ProxyList, SumdbSpec};
use gomod::pattern::Patterns;
use serde::Deserialize;

/// Names of every environment variable `serve` reads, in one place.
pub mod env {
    /// `--listen`.
    pub const LISTEN: &str = "MODWARDEN_LISTEN";
    /// `--store`.
    pub const STORE: &str = "MODWARDEN_STORE";
    /// `--upstream`.
    pub const UPSTREAM: &str = "MODWARDEN_UPSTREAM";
    /// `--sumdb` (several values separated by `;`).
    pub const SUMDB: &str = "MODWARDEN_SUMDB";
    /// `--nosumdb`.
    pub const NOSUMDB: &str = "MODWARDEN_NOSUMDB";
    /// `--private`.
    pub const PRIVATE: &str = "MODWARDEN_PRIVATE";
    /// `--private-upstream`.
    pub const PRIVATE_UPSTREAM: &str = "MODWARDEN_PRIVATE_UPSTREAM";
    /// `--offline`.
    pub const OFFLINE: &str = "MODWARDEN_OFFLINE";
    /// `--hot-cache-mib`.
    pub const HOT_CACHE_MIB: &str = "MODWARDEN_HOT_CACHE_MIB";
    /// `--reverify-after`.
    pub const REVERIFY_AFTER: &str = "MODWARDEN_REVERIFY_AFTER";
    /// `--redis`.
    pub const REDIS: &str = "MODWARDEN_REDIS";
    /// `--state-dir`.
    pub const STATE_DIR: &str = "MODWARDEN_STATE_DIR";
    /// `--config`: the config file.
    pub const CONFIG: &str = "MODWARDEN_CONFIG";
    /// `--upstream-timeout`: first-byte and idle-read timeout, seconds.
    pub const UPSTREAM_TIMEOUT: &str = "MODWARDEN_UPSTREAM_TIMEOUT";
    /// `--request-deadline`: overall deadline per upstream request, seconds.
    pub const REQUEST_DEADLINE: &str = "MODWARDEN_REQUEST_DEADLINE";
    /// `--max-upstream-concurrency`.
    pub const MAX_UPSTREAM_CONCURRENCY: &str = "MODWARDEN_MAX_UPSTREAM_CONCURRENCY";
    /// `--upstream-attempts`.
    pub const UPSTREAM_ATTEMPTS: &str = "MODWARDEN_UPSTREAM_ATTEMPTS";
    /// `--breaker-threshold`.
    pub const BREAKER_THRESHOLD: &str = "MODWARDEN_BREAKER_THRESHOLD";
    /// `--breaker-cooldown`, seconds.
    pub const BREAKER_COOLDOWN: &str = "MODWARDEN_BREAKER_COOLDOWN";
    /// `--max-connections`.
    pub const MAX_CONNECTIONS: &str = "MODWARDEN_MAX_CONNECTIONS";
    /// `--list-ttl`, seconds.
    pub const LIST_TTL: &str = "MODWARDEN_LIST_TTL";
    /// `--negative-ttl`, seconds.
    pub const NEGATIVE_TTL: &str = "MODWARDEN_NEGATIVE_TTL";
    /// `--stale-if-error`, seconds.
    pub const STALE_IF_ERROR: &str = "MODWARDEN_STALE_IF_ERROR";
    /// `--log-format` (`text` or `json`).
    pub const LOG_FORMAT: &str = "MODWARDEN_LOG_FORMAT";
    /// Where the default store lives: `$XDG_CACHE_HOME/modwarden`.
    pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
    /// ... else `$HOME/.cache/modwarden`.
    pub const HOME: &str = "HOME";
}

/// One layer of settings: the file, the environment or the flags. Every field
/// is optional; [`merge`] fills what no layer sets with defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Layer {
    /// Address to listen on, `host:port`.
    pub listen: Option<String>,
    /// Store: a local directory, or an object store URL (`s3://bucket/prefix`,
    /// `gs://...`, `az://...`; credentials and endpoint from the usual
    /// `AWS_*`/`GOOGLE_*`/`AZURE_*` variables).
    pub store: Option<PathBuf>,
    /// Local directory for download staging and the checksum database's
    /// latest tree (default: the store directory, or the user's cache
    /// directory when the store is an object store).
    pub state_dir: Option<PathBuf>,
    /// Upstream proxies, GOPROXY syntax.
    pub upstream: Option<String>,
    /// Checksum databases, GOSUMDB syntax each (`name+hash+key [URL]`).
    pub sumdb: Option<Vec<String>>,
    /// Modules not checked against the checksum database (GONOSUMDB syntax).
    pub nosumdb: Option<String>,
    /// Private modules (GOPRIVATE syntax): private upstream only, no checksum database.
    pub private: Option<String>,
    /// Upstreams for private modules, GOPROXY syntax.
    pub private_upstream: Option<String>,
    /// Serve only what the store has.
    pub offline: Option<bool>,
    /// Redis URL shared by the instances of one store: fetch locks and the
    /// negative cache.
    pub redis: Option<String>,
    /// First-byte and idle-read timeout for upstreams, seconds.
    pub upstream_timeout: Option<u64>,
    /// Overall deadline of one upstream request, retries included, seconds.
    pub request_deadline: Option<u64>,
    /// Upstream fetches running at once; more get 503 with Retry-After.
    pub max_upstream_concurrency: Option<usize>,
    /// Client connections open at once; more wait in the backlog.
    pub max_connections: Option<usize>,
    /// MiB of memory for hot small files (.info, .mod, zips up to 2 MiB).
    pub hot_cache_mib: Option<u64>,
    /// Seconds a large stored file that hashed correctly is served without
    /// hashing it again while the file is unchanged (0: hash every read).
    pub reverify_after: Option<u64>,
    /// Attempts per upstream request (1 = no retries).
    pub upstream_attempts: Option<u32>,
    /// Consecutive failures that open an upstream's circuit breaker.
    pub breaker_threshold: Option<u32>,
    /// Seconds an open breaker waits before one probe request.
    pub breaker_cooldown: Option<u64>,
    /// TTL of `list`, `@latest` and query answers, seconds.
    pub list_ttl: Option<u64>,
    /// TTL of "not found" answers for an explicit version, seconds.
    pub negative_ttl: Option<u64>,
    /// How long past their TTL mutable answers may be served when every upstream fails, seconds.
    pub stale_if_error: Option<u64>,
    /// `text` or `json` access log.
    pub log_format: Option<String>,
}

/// A configured checksum database.
#[derive(Debug, Clone, PartialEq)]
pub struct SumdbConfig {
    /// Its name (`sum.golang.org`).
    pub name: String,
    /// Its verifier key `name+hash+key`.
    pub key: String,
    /// Where it is reached: the URL given with it, else (like the go
    /// command) through each upstream's `/sumdb/<name>/` and then directly at
    /// `https://<name>`.
    pub url: url::Url,
    /// Whether `url` was given explicitly (then no upstream is tried first).
    pub explicit_url: bool,
}

/// The effective configuration of `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Local store directory (when `store_url` is `None`), or the URL text.
    pub store: PathBuf,
    /// The object store URL, when the store is not a local directory.
    pub store_url: Option<String>,
    /// Local directory for staging downloads and sumdb state.
    pub state_dir: PathBuf,
    /// Public upstreams (empty when offline).
    pub upstream: ProxyList,
    /// Checksum databases; the first verifies public modules.
    pub sumdb: Vec<SumdbConfig>,
    /// GONOSUMDB-style patterns.
    pub nosumdb: Patterns,
    /// GOPRIVATE-style patterns.
    pub private: Patterns,
    /// Upstreams for private modules.
    pub private_upstream: ProxyList,
    /// Serve only the store.
    pub offline: bool,
    /// Redis URL for coordination between instances.
    pub redis: Option<String>,
    /// First-byte and idle-read timeout.
    pub upstream_timeout: Duration,
    /// Overall deadline per upstream request.
    pub request_deadline: Duration,
    /// Bound of concurrent upstream fetches.
    pub max_upstream_concurrency: usize,
    /// Bound of open client connections.
    pub max_connections: usize,
    /// Memory for hot small files, MiB.
    pub hot_cache_mib: u64,
    /// How long a large blob that hashed correctly is trusted while its file
    /// is unchanged (local store; zero: hash every read).
    pub reverify_after: Duration,
    /// Attempts per upstream request.
    pub upstream_attempts: u32,
    /// Breaker threshold.
    pub breaker_threshold: u32,
    /// Breaker cool-down.
    pub breaker_cooldown: Duration,
    /// TTL of mutable answers.
    pub list_ttl: Duration,
    /// TTL of not-found answers for an explicit version.
    pub negative_ttl: Duration,
    /// Stale-if-error bound.
    pub stale_if_error: Duration,
    /// JSON access log.
    pub log_json: bool,
    /// Things the operator should know (ignored `direct` entries, ...).
    pub warnings: Vec<String>,
}

/// A configuration that cannot be used, with what to do about it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// A value does not parse.
    #[error("invalid {key} {value:?}: {reason}")]
    Invalid {
        /// Which setting (flag or variable name).
        key: String,
        /// The value given.
        value: String,
        /// Why it is wrong and what to write instead.
        reason: String,
    },
    /// The config file does not parse (unknown key, wrong type).
    #[error("config file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// No upstream can be determined.
    #[error(
        "no upstream proxy: pass --upstream (GOPROXY syntax), set MODWARDEN_UPSTREAM, or run with --offline"
    )]
    NoUpstream,
    /// An upstream is modwarden itself.
    #[error(
        "upstream {url} points back at this modwarden ({listen}): that would loop; point --upstream at another proxy"
    )]
    Loop {
        /// The upstream.
        url: String,
        /// Our listen address.
        listen: String,
    },
}

/// Parses a config file's text.
pub fn parse_file(path: &str, text: &str) -> Result<Layer, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::File {
        path: path.to_string(),
        reason: e.message().to_string(),
    })
}

/// Reads the `MODWARDEN_*` variables of `vars` into a layer.
pub fn env_layer(vars: &BTreeMap<String, String>) -> Result<Layer, ConfigError> {
    let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
    Ok(Layer {
        listen: get(env::LISTEN),
        store: get(env::STORE).map(PathBuf::from),
        state_dir: get(env::STATE_DIR).map(PathBuf::from),
        upstream: get(env::UPSTREAM),
        sumdb: get(env::SUMDB).map(|v| {
            v.split(';')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        }),
        nosumdb: get(env::NOSUMDB),
        private: get(env::PRIVATE),
        private_upstream: get(env::PRIVATE_UPSTREAM),
        redis: get(env::REDIS),
        offline: get(env::OFFLINE)
            .map(|v| parse_bool(env::OFFLINE, &v))
            .transpose()?,
        upstream_timeout: parse_num(vars, env::UPSTREAM_TIMEOUT)?,
        request_deadline: parse_num(vars, env::REQUEST_DEADLINE)?,
        max_upstream_concurrency: parse_num(vars, env::MAX_UPSTREAM_CONCURRENCY)?,
        max_connections: parse_num(vars, env::MAX_CONNECTIONS)?,
        hot_cache_mib: parse_num(vars, env::HOT_CACHE_MIB)?,
        reverify_after: parse_num(vars, env::REVERIFY_AFTER)?,
        upstream_attempts: parse_num(vars, env::UPSTREAM_ATTEMPTS)?,
        breaker_threshold: parse_num(vars, env::BREAKER_THRESHOLD)?,
        breaker_cooldown: parse_num(vars, env::BREAKER_COOLDOWN)?,
        list_ttl: parse_num(vars, env::LIST_TTL)?,
        negative_ttl: parse_num(vars, env::NEGATIVE_TTL)?,
        stale_if_error: parse_num(vars, env::STALE_IF_ERROR)?,
        log_format: get(env::LOG_FORMAT),
    })
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            key: key.into(),
            value: v.into(),
            reason: "want true or false".into(),
        }),
    }
}

fn parse_num<T: std::str::FromStr>(
    vars: &BTreeMap<String, String>,
    key: &str,
) -> Result<Option<T>, ConfigError> {
    match vars.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Invalid {
                key: key.into(),
                value: v.clone(),
                reason: "want a whole number".into(),
            }),
    }
}

/// Defaults that come from outside: where the go command's own defaults are.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// The go command's default GOPROXY (asked from `go env` with the user's
    /// GOPROXY cleared), if a go command is there.
    pub goproxy: Option<String>,
    /// The go command's default GOSUMDB, likewise.
    pub gosumdb: Option<String>,
}

/// Merges the layers (flags over env over file) with the defaults. Pure: no
/// environment or disk access.
pub fn merge(
    file: Layer,
    env_vars: &BTreeMap<String, String>,
    flags: Layer,
    defaults: &Defaults,
) -> Result<ServeConfig, ConfigError> {
    let envl = env_layer(env_vars)?;
    macro_rules! pick {
        ($f:ident) => {
            flags.$f.clone().or(envl.$f.clone()).or(file.$f.clone())
        };
    }
    let mut warnings = Vec::new();

    let listen_s = pick!(listen).unwrap_or_else(|| "127.0.0.1:3000".to_string());
    let listen: SocketAddr = listen_s.parse().map_err(|_| ConfigError::Invalid {
        key: "--listen".into(),
        value: listen_s.clone(),
        reason: "want host:port with an IP address, e.g. 127.0.0.1:3000 or [::]:3000".into(),
    })?;

    let store = match pick!(store) {
        Some(p) => p,
        None => default_store(env_vars).ok_or_else(|| ConfigError::Invalid {
            key: "--store".into(),
            value: String::new(),
            reason: "no HOME or XDG_CACHE_HOME to put the default store in; pass --store DIR"
                .into(),
        })?,
    };

    let store_text = store.to_string_lossy().to_string();
    let store_url = match store_text.split_once("://") {
        Some((scheme, _)) if OBJECT_SCHEMES.contains(&scheme) => Some(store_text.clone()),
        Some((scheme, _)) => {
            return Err(ConfigError::Invalid {
                key: "--store".into(),
                value: store_text.clone(),
                reason: format!(
                    "unknown store scheme {scheme:?}: use a directory or one of {}",
                    OBJECT_SCHEMES.join(", ")
                ),
            });
        }
        None => None,
    };
    let state_dir = match (pick!(state_dir), &store_url) {
        (Some(d), _) => d,
        (None, None) => store.clone(),
        (None, Some(_)) => default_store(env_vars)
            .map(|p| p.with_file_name("modwarden-state"))
            .ok_or_else(|| ConfigError::Invalid {
                key: "--state-dir".into(),
                value: String::new(),
                reason: "an object store needs a local state directory: pass --state-dir DIR"
                    .into(),
            })?,
    };

    let offline = pick!(offline).unwrap_or(false);
    let upstream = if offline {
        ProxyList::default()
    } else {
        let value = match pick!(upstream) {
            Some(v) => v,
            None => defaults.goproxy.clone().ok_or(ConfigError::NoUpstream)?,
        };
        proxy_list("--upstream", &value, &mut warnings)?
    };
    if !offline && upstream.entries.is_empty() {
        return Err(ConfigError::NoUpstream);
    }
    let private_upstream = match pick!(private_upstream) {
        Some(v) if !offline => proxy_list("--private-upstream", &v, &mut warnings)?,
        _ => ProxyList::default(),
    };

    let sumdb_values = match pick!(sumdb) {
        Some(v) => v,
        None => vec![defaults.gosumdb.clone().unwrap_or_default()],
    };
    let mut sumdb = Vec::new();
    for v in sumdb_values.iter().filter(|v| !v.trim().is_empty()) {
        let spec = SumdbSpec::parse(v).map_err(|e| ConfigError::Invalid {
            key: "--sumdb".into(),
            value: v.clone(),
            reason: e.to_string(),
        })?;
        match spec {
            SumdbSpec::Off => warnings.push(
                "--sumdb off: public modules are NOT verified against any checksum database".into(),
            ),
            SumdbSpec::Db { name, key, url } => {
                let explicit_url = url.is_some();
                let url = match url {
                    Some(u) => u,
                    None => url::Url::parse(&format!("https://{name}")).map_err(|e| {
                        ConfigError::Invalid {
                            key: "--sumdb".into(),
                            value: v.clone(),
                            reason: format!("cannot make a URL of the name: {e}"),
                        }
                    })?,
                };
                sumdb.push(SumdbConfig {
                    name,
                    key,
                    url,
                    explicit_url,
                });
            }
        }
    }
    if sumdb.is_empty() && !sumdb_values.iter().any(|v| v.trim() == "off") {
        return Err(ConfigError::Invalid {
            key: "--sumdb".into(),
            value: String::new(),
            reason: "no checksum database: pass --sumdb 'name+hash+key [URL]', or --sumdb off to serve unverified modules".into(),
        });
    }

    let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
    let log_format = pick!(log_format).unwrap_or_else(|| "text".into());
    let log_json = match log_format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            return Err(ConfigError::Invalid {
                key: "--log-format".into(),
                value: other.into(),
                reason: "want text or json".into(),
            });
        }
    };
    let max_upstream_concurrency = pick!(max_upstream_concurrency).unwrap_or(64);
    if max_upstream_concurrency == 0 {
        return Err(ConfigError::Invalid {
            key: "--max-upstream-concurrency".into(),
            value: "0".into(),
            reason: "want at least 1".into(),
        });
    }
    let config = ServeConfig {
        listen,
        store,
        store_url,
        state_dir,
        upstream,
        sumdb,
        nosumdb: Patterns::parse(&pick!(nosumdb).unwrap_or_default()),
        private: Patterns::parse(&pick!(private).unwrap_or_default()),
        private_upstream,
        offline,
        redis: pick!(redis),
        upstream_timeout: secs(pick!(upstream_timeout), 30),
        request_deadline: secs(pick!(request_deadline), 120),
        max_upstream_concurrency,
        max_connections: pick!(max_connections).unwrap_or(4096).max(1),
        hot_cache_mib: pick!(hot_cache_mib).unwrap_or(32),
        reverify_after: secs(pick!(reverify_after), 600),
        upstream_attempts: pick!(upstream_attempts).unwrap_or(3).max(1),
        breaker_threshold: pick!(breaker_threshold).unwrap_or(5).max(1),
        breaker_cooldown: secs(pick!(breaker_cooldown), 30),
        list_ttl: secs(pick!(list_ttl), 300),
        negative_ttl: secs(pick!(negative_ttl), 60),
        stale_if_error: secs(pick!(stale_if_error), 7 * 24 * 3600),
        log_json,
        warnings,
    };
    check_loop(&config)?;
    Ok(config)
}

/// URL schemes `--store` accepts besides a directory.
pub const OBJECT_SCHEMES: [&str; 6] = ["s3", "s3a", "gs", "az", "azure", "memory"];

fn proxy_list(
    key: &str,
    value: &str,
    warnings: &mut Vec<String>,
) -> Result<ProxyList, ConfigError> {
    let list = ProxyList::parse(value).map_err(|e| ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: e.to_string(),
    })?;
    let mut kept = ProxyList::default();
    for entry in list.entries {
        match entry.kind {
            ProxyKind::Url(_) => kept.entries.push(entry),
            ProxyKind::Direct => warnings.push(format!(
                "{key}: 'direct' ignored: modwarden fetches only from proxies, never from version control"
            )),
            ProxyKind::Off => {}
        }
    }
    Ok(kept)
}

fn default_store(vars: &BTreeMap<String, String>) -> Option<PathBuf> {
    if let Some(x) = vars.get(env::XDG_CACHE_HOME).filter(|v| v.starts_with('/')) {
        return Some(PathBuf::from(x).join("modwarden"));
    }
    let home = vars.get(env::HOME).filter(|v| !v.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("modwarden"))
}

/// Refuses an upstream that is this server's own listen address.
fn check_loop(config: &ServeConfig) -> Result<(), ConfigError> {
    for list in [&config.upstream, &config.private_upstream] {
        for url in list.urls() {
            if url.scheme() == "file" {
                continue;
            }
            let port = url.port_or_known_default();
            let same_port = port == Some(config.listen.port());
            let host_is_us = match url.host() {
                Some(url::Host::Ipv4(ip)) => {
                    std::net::IpAddr::V4(ip) == config.listen.ip()
                        || (config.listen.ip().is_unspecified()
                            && (ip.is_loopback() || ip.is_unspecified()))
                        || (ip.is_loopback() && config.listen.ip().is_loopback())
                }
                Some(url::Host::Ipv6(ip)) => {
                    std::net::IpAddr::V6(ip) == config.listen.ip()
                        || (ip.is_loopback()
                            && (config.listen.ip().is_loopback()
                                || config.listen.ip().is_unspecified()))
                }
                Some(url::Host::Domain(d)) => {
                    d.eq_ignore_ascii_case("localhost")
                        && (config.listen.ip().is_loopback() || config.listen.ip().is_unspecified())
                }
                None => false,
            };
            if same_port && host_is_us {
                return Err(ConfigError::Loop {
                    url: url.to_string(),
                    listen: config.listen.to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

    fn vars(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Merges `flags` alone, with HOME=/h and the go command's defaults.
    fn with_flags(flags: Layer) -> Result<ServeConfig, ConfigError> {
        merge(
            Layer::default(),
            &vars(&[("HOME", "/h")]),
            flags,
            &defaults(),
        )
    }

    /// Like [`with_flags`] on a machine without a go command.
    fn with_flags_no_go(flags: Layer) -> Result<ServeConfig, ConfigError> {
        merge(
            Layer::default(),
            &vars(&[("HOME", "/h")]),
            flags,
            &Defaults::default(),
        )
    }

    fn defaults() -> Defaults {
        Defaults {
            goproxy: Some("https://proxy.example.test,direct".into()),
            gosumdb: Some("sum.golang.org".into()),
        }
    }

    #[test]
    fn no_config_at_all_uses_go_defaults() {
        let c = merge(
            Layer::default(),
            &vars(&[("HOME", "/home/u")]),
            Layer::default(),
            &defaults(),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.store, PathBuf::from("/home/u/.cache/modwarden"));
        assert_eq!(c.upstream.to_string(), "https://proxy.example.test/");
        assert_eq!(c.sumdb[0].name, "sum.golang.org");
        assert_eq!(c.sumdb[0].key, KEY);
        assert_eq!(c.sumdb[0].url.as_str(), "https://sum.golang.org/");
        assert!(c.warnings.iter().any(|w| w.contains("'direct' ignored")));
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let file = Layer {
            listen: Some("127.0.0.1:1".into()),
            upstream: Some("http://file.test".into()),
            store: Some("/file".into()),
            ..Layer::default()
        };
        let env = vars(&[
            ("MODWARDEN_LISTEN", "127.0.0.1:2"),
            ("MODWARDEN_UPSTREAM", "http://env.test"),
        ]);
        let flags = Layer {
            listen: Some("127.0.0.1:3".into()),
            ..Layer::default()
        };
        let c = merge(file, &env, flags, &defaults()).unwrap();
        assert_eq!(c.listen.port(), 3);
        assert_eq!(c.upstream.to_string(), "http://env.test/");
        assert_eq!(c.store, PathBuf::from("/file"));
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let err = parse_file(
            "modwarden.toml",
            "listen = \"127.0.0.1:1\"\nupstreams = \"x\"\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `upstreams`"),
            "{err}"
        );
        let ok = parse_file("m.toml", "offline = true\nsumdb = [\"off\"]\n").unwrap();
        assert_eq!(ok.offline, Some(true));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let flags = Layer {
            listen: Some("localhost".into()),
            ..Layer::default()
        };
        let err = with_flags(flags).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid --listen \"localhost\""),
            "{err}"
        );

        let err = merge(
            Layer::default(),
            &vars(&[("HOME", "/h"), ("MODWARDEN_OFFLINE", "maybe")]),
            Layer::default(),
            &defaults(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("MODWARDEN_OFFLINE"), "{err}");

        let flags = Layer {
            upstream: Some("ftp://x".into()),
            ..Layer::default()
        };
        let err = with_flags(flags).unwrap_err();
        assert!(err.to_string().contains("--upstream"), "{err}");

        let flags = Layer {
            sumdb: Some(vec!["nokey.example".into()]),
            ..Layer::default()
        };
        let err = with_flags(flags).unwrap_err();
        assert!(err.to_string().contains("--sumdb"), "{err}");
    }

    #[test]
    fn upstream_pointing_at_ourselves_is_refused() {
        for up in [
            "http://127.0.0.1:3000",
            "http://localhost:3000/",
            "http://[::1]:3000",
        ] {
            let flags = Layer {
                upstream: Some(up.into()),
                ..Layer::default()
            };
            let err = with_flags(flags).unwrap_err();
            assert!(matches!(err, ConfigError::Loop { .. }), "{up}: {err}");
        }
        let flags = Layer {
            upstream: Some("http://127.0.0.1:3001".into()),
            ..Layer::default()
        };
        assert!(with_flags(flags).is_ok());
    }

    #[test]
    fn object_store_urls_get_a_local_state_dir() {
        let flags = Layer {
            store: Some("s3://bucket/modwarden".into()),
            ..Layer::default()
        };
        let c = with_flags(flags).unwrap();
        assert_eq!(c.store_url.as_deref(), Some("s3://bucket/modwarden"));
        assert_eq!(c.state_dir, PathBuf::from("/h/.cache/modwarden-state"));
        let flags = Layer {
            store: Some("ftp://x/y".into()),
            ..Layer::default()
        };
        let err = with_flags(flags).unwrap_err();
        assert!(err.to_string().contains("unknown store scheme"), "{err}");
        let flags = Layer {
            store: Some("/srv/mw".into()),
            ..Layer::default()
        };
        let c = with_flags(flags).unwrap();
        assert_eq!((c.store_url, c.state_dir), (None, PathBuf::from("/srv/mw")));
    }

    #[test]
    fn offline_needs_no_upstream() {
        let flags = Layer {
            offline: Some(true),
            ..Layer::default()
        };
        let c = with_flags_no_go(flags).unwrap_err();
        // No go command, so no default sumdb either: say so.
        assert!(c.to_string().contains("--sumdb"), "{c}");
        let flags = Layer {
            offline: Some(true),
            sumdb: Some(vec!["off".into()]),
            ..Layer::default()
        };
        let c = with_flags_no_go(flags).unwrap();
        assert!(c.upstream.entries.is_empty());
        assert!(c.offline);
    }

    #[test]
    fn no_upstream_and_no_go_is_a_clear_error() {
        let err = merge(
            Layer::default(),
            &vars(&[("HOME", "/h")]),
            Layer::default(),
            &Defaults::default(),
        )
        .unwrap_err();
        assert_eq!(err, ConfigError::NoUpstream);
    }

    #[test]
    fn sumdb_with_url_and_several() {
        let flags = Layer {
            sumdb: Some(vec![
                format!("{KEY} http://127.0.0.1:9/sumdb/sum.golang.org"),
                "sum.golang.google.cn".into(),
            ]),
            ..Layer::default()
        };
        let c = with_flags(flags).unwrap();
        assert_eq!(c.sumdb.len(), 2);
        assert_eq!(
            c.sumdb[0].url.as_str(),
            "http://127.0.0.1:9/sumdb/sum.golang.org"
        );
    }
}
