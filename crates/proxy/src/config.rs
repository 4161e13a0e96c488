//! `modwarden serve` configuration: flags, `MODWARDEN_*` environment
//! variables and `modwarden.toml`, each setting declared once.
//!
//! [`Layer`] is the declaration: one field per setting, which clap reads as
//! `--name` and `MODWARDEN_NAME` (the flag and environment layer in one) and
//! serde reads as the `name` key of the file (unknown keys are an error, so a
//! typo never silently becomes a default). [`Layer::builtin_defaults`] is the
//! table of fixed defaults. [`resolve`] turns one merged layer into the
//! [`ServeConfig`] the server runs with; [`merge`] is the same without any
//! process environment, for tests.
//!
//! Precedence: flags over environment over file over defaults. An
//! environment variable that is set but empty counts as unset.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{Resettable, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, Args, Command, FromArgMatches as _};
use gomod::goenv::{ProxyKind, ProxyList, SumdbSpec};
use gomod::pattern::Patterns;
use serde::Deserialize;

/// Declares the settings struct and, from the same field list, the merge of
/// two layers ([`Layer::or`]).
macro_rules! settings {
    (
        $(#[$sm:meta])*
        pub struct $name:ident {
            $( $(#[$fm:meta])* pub $f:ident : Option<$t:ty>, )*
        }
    ) => {
        $(#[$sm])*
        pub struct $name {
            $( $(#[$fm])* pub $f: Option<$t>, )*
        }

        impl $name {
            /// Each setting from `self`, else from `lower`.
            pub fn or(self, lower: $name) -> $name {
                $name { $( $f: self.$f.or(lower.$f), )* }
            }

            /// The settings this layer sets, by field (= argument id), as text.
            fn shown(&self) -> Vec<(&'static str, String)> {
                let mut out = Vec::new();
                $( if let Some(v) = &self.$f { out.push((stringify!($f), Shown::shown(v))); } )*
                out
            }
        }
    };
}

settings! {
    /// Every setting of `modwarden serve`, each optional: a layer of the
    /// configuration (the flags with the environment, or the file).
    #[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct Layer {
        /// Address to listen on, host:port with an IP address.
        #[arg(long, env = "MODWARDEN_LISTEN", value_name = "ADDR")]
        pub listen: Option<String>,
        /// Store: a directory, or an object store URL such as s3://bucket/prefix (gs://, az://, memory:///; endpoint and credentials from the usual AWS_* variables) [default: $XDG_CACHE_HOME/modwarden or ~/.cache/modwarden].
        #[arg(long, env = "MODWARDEN_STORE", value_name = "DIR|URL")]
        pub store: Option<PathBuf>,
        /// Local directory for download staging and the checksum database's latest tree [default: the store directory; for an object store, ~/.cache/modwarden-state].
        #[arg(long, env = "MODWARDEN_STATE_DIR", value_name = "DIR")]
        pub state_dir: Option<PathBuf>,
        /// Upstream proxies, GOPROXY syntax (`,` falls through on 404/410, `|` on any error) [default: the go command's default, without `direct`].
        #[arg(long, env = "MODWARDEN_UPSTREAM", value_name = "LIST")]
        pub upstream: Option<String>,
        /// Checksum database, GOSUMDB syntax: 'name+hash+key [URL]' (repeatable; `;` separates several in the variable; the first verifies modules; `off` for none) [default: the go command's default].
        #[arg(long, env = "MODWARDEN_SUMDB", value_name = "SUMDB", value_delimiter = ';')]
        pub sumdb: Option<Vec<String>>,
        /// Modules not verified against the checksum database (GONOSUMDB patterns).
        #[arg(long, env = "MODWARDEN_NOSUMDB", value_name = "PATTERNS")]
        pub nosumdb: Option<String>,
        /// Private modules (GOPRIVATE patterns): fetched only from --private-upstream, never checked against a public checksum database.
        #[arg(long, env = "MODWARDEN_PRIVATE", value_name = "PATTERNS")]
        pub private: Option<String>,
        /// Upstreams for private modules, GOPROXY syntax.
        #[arg(long, env = "MODWARDEN_PRIVATE_UPSTREAM", value_name = "LIST")]
        pub private_upstream: Option<String>,
        /// Serve only what the store has; never contact an upstream.
        #[arg(
            long,
            env = "MODWARDEN_OFFLINE",
            value_name = "BOOL",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "true",
            value_parser = boolean(),
        )]
        pub offline: Option<bool>,
        /// Redis URL (redis://host:port) shared by the instances of one store: one upstream fetch per version across instances, and a shared not-found cache.
        #[arg(long, env = "MODWARDEN_REDIS", value_name = "URL")]
        pub redis: Option<String>,
        /// Upstream first-byte and idle-read timeout in seconds.
        #[arg(long, env = "MODWARDEN_UPSTREAM_TIMEOUT", value_name = "SECS", value_parser = number::<u64>())]
        pub upstream_timeout: Option<u64>,
        /// Overall deadline of one upstream request, retries included, in seconds.
        #[arg(long, env = "MODWARDEN_REQUEST_DEADLINE", value_name = "SECS", value_parser = number::<u64>())]
        pub request_deadline: Option<u64>,
        /// Upstream fetches at once; beyond it requests get 503 with Retry-After.
        #[arg(long, env = "MODWARDEN_MAX_UPSTREAM_CONCURRENCY", value_name = "N", value_parser = number::<usize>())]
        pub max_upstream_concurrency: Option<usize>,
        /// Client connections open at once; more wait in the listen backlog.
        #[arg(long, env = "MODWARDEN_MAX_CONNECTIONS", value_name = "N", value_parser = number::<usize>())]
        pub max_connections: Option<usize>,
        /// MiB of memory for hot small files (.info, .mod, zips up to 2 MiB), served without disk reads or re-hashing.
        #[arg(long, env = "MODWARDEN_HOT_CACHE_MIB", value_name = "MIB", value_parser = number::<u64>())]
        pub hot_cache_mib: Option<u64>,
        /// Seconds a large stored file (over 1 MiB) that hashed correctly is served without hashing it again, while the file is provably unchanged (same inode, size, modification and change time); 0 hashes every read (local store only).
        #[arg(long, env = "MODWARDEN_REVERIFY_AFTER", value_name = "SECS", value_parser = number::<u64>())]
        pub reverify_after: Option<u64>,
        /// Attempts per upstream request, the first included (1 = no retries).
        #[arg(long, env = "MODWARDEN_UPSTREAM_ATTEMPTS", value_name = "N", value_parser = number::<u32>())]
        pub upstream_attempts: Option<u32>,
        /// Consecutive failures that open an upstream's circuit breaker.
        #[arg(long, env = "MODWARDEN_BREAKER_THRESHOLD", value_name = "N", value_parser = number::<u32>())]
        pub breaker_threshold: Option<u32>,
        /// Seconds an open circuit breaker waits before letting one probe through.
        #[arg(long, env = "MODWARDEN_BREAKER_COOLDOWN", value_name = "SECS", value_parser = number::<u64>())]
        pub breaker_cooldown: Option<u64>,
        /// TTL of list, @latest and query answers in seconds.
        #[arg(long, env = "MODWARDEN_LIST_TTL", value_name = "SECS", value_parser = number::<u64>())]
        pub list_ttl: Option<u64>,
        /// TTL of not-found answers for an explicit version in seconds (five times that for list/@latest probes).
        #[arg(long, env = "MODWARDEN_NEGATIVE_TTL", value_name = "SECS", value_parser = number::<u64>())]
        pub negative_ttl: Option<u64>,
        /// How long past their TTL mutable answers may be served when every upstream fails, in seconds.
        #[arg(long, env = "MODWARDEN_STALE_IF_ERROR", value_name = "SECS", value_parser = number::<u64>())]
        pub stale_if_error: Option<u64>,
        /// Access log format: text or json.
        #[arg(long, env = "MODWARDEN_LOG_FORMAT", value_name = "FORMAT")]
        pub log_format: Option<String>,
    }
}

impl Layer {
    /// The fixed defaults, in one table. The store, state directory,
    /// upstreams and checksum databases have none here: they come from the
    /// user's home and the go command (see [`resolve`]).
    pub fn builtin_defaults() -> Layer {
        Layer {
            listen: Some("127.0.0.1:3000".into()),
            offline: Some(false),
            upstream_timeout: Some(30),
            request_deadline: Some(120),
            max_upstream_concurrency: Some(64),
            max_connections: Some(4096),
            hot_cache_mib: Some(32),
            reverify_after: Some(600),
            upstream_attempts: Some(3),
            breaker_threshold: Some(5),
            breaker_cooldown: Some(30),
            list_ttl: Some(300),
            negative_ttl: Some(60),
            stale_if_error: Some(7 * 24 * 3600),
            log_format: Some("text".into()),
            ..Layer::default()
        }
    }
}

/// How a set value is shown in `--help`.
trait Shown {
    fn shown(&self) -> String;
}

macro_rules! shown_by_display {
    ($($t:ty),*) => { $(impl Shown for $t { fn shown(&self) -> String { self.to_string() } })* };
}
shown_by_display!(String, bool, u32, u64, usize);

impl Shown for PathBuf {
    fn shown(&self) -> String {
        self.display().to_string()
    }
}

impl Shown for Vec<String> {
    fn shown(&self) -> String {
        self.join(";")
    }
}

/// A value parser whose error names where the bad value came from: the
/// flag, or its `MODWARDEN_*` variable.
#[derive(Clone)]
struct Checked<T> {
    parse: fn(&str) -> Result<T, String>,
}

fn number<T: std::str::FromStr>() -> Checked<T> {
    Checked {
        parse: |s| s.trim().parse().map_err(|_| "want a whole number".into()),
    }
}

fn boolean() -> Checked<bool> {
    Checked {
        parse: |s| match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err("want true or false".into()),
        },
    }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Checked<T> {
    type Value = T;

    fn parse_ref(&self, cmd: &Command, arg: Option<&Arg>, value: &OsStr) -> Result<T, clap::Error> {
        self.parse_ref_(cmd, arg, value, ValueSource::CommandLine)
    }

    fn parse_ref_(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
        source: ValueSource,
    ) -> Result<T, clap::Error> {
        let text = value.to_string_lossy();
        (self.parse)(&text).map_err(|reason| {
            let key = match (arg, source) {
                (Some(a), ValueSource::EnvVariable) => a
                    .get_env()
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                (Some(a), _) => format!("--{}", a.get_long().unwrap_or_default()),
                (None, _) => "value".into(),
            };
            let mut err = clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("invalid {key} {text:?}: {reason}\n"),
            )
            .with_cmd(cmd);
            err.insert(ContextKind::Custom, ContextValue::String(reason));
            err
        })
    }
}

/// The `serve` arguments as the binary parses them from the process: each
/// setting's help ends with its default from [`Layer::builtin_defaults`],
/// and a `MODWARDEN_*` variable that is set but empty is ignored (clap would
/// read it as an empty value).
pub fn for_process(cmd: Command) -> Command {
    let defaults = Layer::builtin_defaults().shown();
    cmd.mut_args(|a| {
        let a = match defaults.iter().find(|(id, _)| a.get_id() == *id) {
            Some((_, d)) => {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                a.help(format!("{help} [default: {d}]"))
            }
            None => a,
        };
        let empty = a
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| v.is_empty());
        if empty { a.env(Resettable::Reset) } else { a }
    })
}

/// Reads the `MODWARDEN_*` variables of `vars` into a layer, as clap reads
/// them from the process for the flags (same declarations, same parsers).
/// Empty values count as unset.
pub fn env_layer(vars: &BTreeMap<String, String>) -> Result<Layer, ConfigError> {
    let declared = Layer::augment_args(Command::new("serve"));
    let names: Vec<(String, String)> = declared
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            let env = a.get_env()?.to_str()?;
            Some((long.to_string(), env.to_string()))
        })
        .collect();
    // The process environment clap read while declaring is dropped: only
    // `vars` counts.
    let bare = declared
        .no_binary_name(true)
        .mut_args(|a| a.env(Resettable::Reset));
    let mut layer = Layer::default();
    for (long, env) in names {
        let Some(value) = vars.get(&env).filter(|v| !v.is_empty()) else {
            continue;
        };
        let invalid = |e: clap::Error| ConfigError::Invalid {
            key: env.clone(),
            value: value.clone(),
            reason: match e.get(ContextKind::Custom) {
                Some(ContextValue::String(r)) => r.clone(),
                _ => e.kind().to_string(),
            },
        };
        let matches = bare
            .clone()
            .try_get_matches_from([format!("--{long}={value}")])
            .map_err(invalid)?;
        layer.update_from_arg_matches(&matches).map_err(invalid)?;
    }
    Ok(layer)
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

/// Defaults that come from outside: where the go command's own defaults are.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// The go command's default GOPROXY (asked from `go env` with the user's
    /// GOPROXY cleared), if a go command is there.
    pub goproxy: Option<String>,
    /// The go command's default GOSUMDB, likewise.
    pub gosumdb: Option<String>,
}

/// Merges the layers (flags over env over file) with the defaults. Pure: the
/// environment is `env_vars`, never the process's; no disk access.
pub fn merge(
    file: Layer,
    env_vars: &BTreeMap<String, String>,
    flags: Layer,
    defaults: &Defaults,
) -> Result<ServeConfig, ConfigError> {
    let layer = flags.or(env_layer(env_vars)?).or(file);
    resolve(layer, env_vars, defaults)
}

/// The configuration from one merged layer (the flags with the environment
/// over the file): [`Layer::builtin_defaults`] fill the rest, the store's
/// default comes from `XDG_CACHE_HOME`/`HOME` in `env_vars`, the upstreams'
/// and checksum databases' from `defaults`. Every value is checked here.
pub fn resolve(
    layer: Layer,
    env_vars: &BTreeMap<String, String>,
    defaults: &Defaults,
) -> Result<ServeConfig, ConfigError> {
    // Every field `builtin_defaults` sets is `Some` from here on.
    let s = layer.or(Layer::builtin_defaults());
    let mut warnings = Vec::new();

    let listen_s = s.listen.unwrap_or_default();
    let listen: SocketAddr = listen_s.parse().map_err(|_| ConfigError::Invalid {
        key: "--listen".into(),
        value: listen_s.clone(),
        reason: "want host:port with an IP address, e.g. 127.0.0.1:3000 or [::]:3000".into(),
    })?;

    let store = match s.store {
        Some(p) => p,
        None => default_store(env_vars).ok_or_else(|| ConfigError::Invalid {
            key: "--store".into(),
            value: String::new(),
            reason: "no HOME or XDG_CACHE_HOME to put the default store in; pass --store DIR"
                .into(),
        })?,
    };

    let store_text = store.to_string_lossy().to_string();
    let store_url = match store::Location::parse(&store_text) {
        Ok(store::Location::Url(u)) => Some(u),
        Ok(store::Location::Dir(_)) => None,
        Err(e) => {
            return Err(ConfigError::Invalid {
                key: "--store".into(),
                value: store_text,
                reason: match e {
                    store::Error::InvalidLocation { reason, .. } => reason,
                    other => other.to_string(),
                },
            });
        }
    };
    let state_dir = match (s.state_dir, &store_url) {
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

    let offline = s.offline.unwrap_or_default();
    let upstream = if offline {
        ProxyList::default()
    } else {
        let value = match s.upstream {
            Some(v) => v,
            None => defaults.goproxy.clone().ok_or(ConfigError::NoUpstream)?,
        };
        proxy_list("--upstream", &value, &mut warnings)?
    };
    if !offline && upstream.entries.is_empty() {
        return Err(ConfigError::NoUpstream);
    }
    let private_upstream = match s.private_upstream {
        Some(v) if !offline => proxy_list("--private-upstream", &v, &mut warnings)?,
        _ => ProxyList::default(),
    };

    let sumdb_values: Vec<String> = match s.sumdb {
        Some(v) => v,
        None => vec![defaults.gosumdb.clone().unwrap_or_default()],
    }
    .iter()
    .map(|v| v.trim().to_string())
    .filter(|v| !v.is_empty())
    .collect();
    let mut sumdb = Vec::new();
    for v in &sumdb_values {
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
    if sumdb.is_empty() && !sumdb_values.iter().any(|v| v == "off") {
        return Err(ConfigError::Invalid {
            key: "--sumdb".into(),
            value: String::new(),
            reason: "no checksum database: pass --sumdb 'name+hash+key [URL]', or --sumdb off to serve unverified modules".into(),
        });
    }

    let secs = |v: Option<u64>| Duration::from_secs(v.unwrap_or_default());
    let log_json = match s.log_format.unwrap_or_default().as_str() {
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
    let max_upstream_concurrency = s.max_upstream_concurrency.unwrap_or_default();
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
        nosumdb: Patterns::parse(&s.nosumdb.unwrap_or_default()),
        private: Patterns::parse(&s.private.unwrap_or_default()),
        private_upstream,
        offline,
        redis: s.redis,
        upstream_timeout: secs(s.upstream_timeout),
        request_deadline: secs(s.request_deadline),
        max_upstream_concurrency,
        max_connections: s.max_connections.unwrap_or_default().max(1),
        hot_cache_mib: s.hot_cache_mib.unwrap_or_default(),
        reverify_after: secs(s.reverify_after),
        upstream_attempts: s.upstream_attempts.unwrap_or_default().max(1),
        breaker_threshold: s.breaker_threshold.unwrap_or_default().max(1),
        breaker_cooldown: secs(s.breaker_cooldown),
        list_ttl: secs(s.list_ttl),
        negative_ttl: secs(s.negative_ttl),
        stale_if_error: secs(s.stale_if_error),
        log_json,
        warnings,
    };
    check_loop(&config)?;
    Ok(config)
}

/// URL schemes `--store` accepts besides a directory.
pub use store::OBJECT_SCHEMES;

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

/// Serve's default store directory: `$XDG_CACHE_HOME/modwarden` (an
/// absolute XDG_CACHE_HOME only), else `$HOME/.cache/modwarden`.
pub fn default_store(vars: &BTreeMap<String, String>) -> Option<PathBuf> {
    if let Some(x) = vars.get("XDG_CACHE_HOME").filter(|v| v.starts_with('/')) {
        return Some(PathBuf::from(x).join("modwarden"));
    }
    let home = vars.get("HOME").filter(|v| !v.is_empty())?;
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

    /// The declarations as clap parses flags, without the process environment.
    fn parse_flags(argv: &[&str]) -> Result<Layer, clap::Error> {
        let cmd = Layer::augment_args(Command::new("serve")).mut_args(|a| a.env(Resettable::Reset));
        let m = cmd.try_get_matches_from(std::iter::once("serve").chain(argv.iter().copied()))?;
        Layer::from_arg_matches(&m)
    }

    #[test]
    fn flags_parse_through_the_declarations() {
        let l = parse_flags(&[
            "--offline",
            "--sumdb",
            "a.example",
            "--sumdb",
            "b.example",
            "--upstream-timeout",
            "7",
            "--store",
            "/srv/mw",
        ])
        .unwrap();
        assert_eq!(l.offline, Some(true));
        assert_eq!(l.sumdb, Some(vec!["a.example".into(), "b.example".into()]));
        assert_eq!(l.upstream_timeout, Some(7));
        assert_eq!(l.store, Some(PathBuf::from("/srv/mw")));
        assert_eq!(l.listen, None);
        assert_eq!(parse_flags(&["--offline=no"]).unwrap().offline, Some(false));
        assert_eq!(parse_flags(&[]).unwrap(), Layer::default());

        let err = parse_flags(&["--upstream-timeout", "soon"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid --upstream-timeout \"soon\": want a whole number"),
            "{err}"
        );
        let err = parse_flags(&["--offline=maybe"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid --offline \"maybe\": want true or false"),
            "{err}"
        );
    }

    #[test]
    fn environment_uses_the_same_declarations() {
        let l = env_layer(&vars(&[
            ("MODWARDEN_SUMDB", " a.example ; b.example;"),
            ("MODWARDEN_OFFLINE", "yes"),
            ("MODWARDEN_MAX_CONNECTIONS", "9"),
            ("MODWARDEN_LISTEN", ""),
            ("MODWARDEN_UNKNOWN", "x"),
            ("HOME", "/h"),
        ]))
        .unwrap();
        assert_eq!(l.offline, Some(true));
        assert_eq!(l.max_connections, Some(9));
        assert_eq!(l.listen, None, "an empty variable is unset");
        let c = merge(
            Layer::default(),
            &vars(&[
                ("HOME", "/h"),
                ("MODWARDEN_SUMDB", &format!("{KEY};sum.golang.google.cn")),
            ]),
            Layer::default(),
            &defaults(),
        )
        .unwrap();
        assert_eq!(c.sumdb.len(), 2, "{:?}", c.sumdb);
        let sumdb: Vec<String> = l
            .sumdb
            .unwrap()
            .iter()
            .map(|v| v.trim().to_string())
            .collect();
        assert_eq!(sumdb, ["a.example", "b.example", ""]);

        let err = env_layer(&vars(&[("MODWARDEN_UPSTREAM_TIMEOUT", "soon")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid MODWARDEN_UPSTREAM_TIMEOUT \"soon\": want a whole number"
        );
    }

    #[test]
    fn every_setting_is_a_flag_a_variable_and_a_file_key() {
        let cmd = Layer::augment_args(Command::new("serve"));
        let args: Vec<&Arg> = cmd.get_arguments().collect();
        let all = Layer::builtin_defaults()
            .or(Layer {
                store: Some("/s".into()),
                state_dir: Some("/d".into()),
                upstream: Some("u".into()),
                sumdb: Some(vec![]),
                nosumdb: Some("n".into()),
                private: Some("p".into()),
                private_upstream: Some("pu".into()),
                redis: Some("r".into()),
                ..Layer::default()
            })
            .shown();
        assert_eq!(
            args.len(),
            all.len(),
            "a field without an argument, or the reverse"
        );
        for a in args {
            let long = a
                .get_long()
                .unwrap_or_else(|| panic!("{} has no --flag", a.get_id()));
            assert_eq!(long, a.get_id().as_str().replace('_', "-"));
            let env = a.get_env().and_then(|e| e.to_str()).unwrap_or_default();
            assert_eq!(
                env,
                format!("MODWARDEN_{}", long.to_ascii_uppercase().replace('-', "_")),
                "--{long}"
            );
            let err = parse_file("m.toml", &format!("{long} = 0\n"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                !err.contains("unknown field"),
                "--{long} is no file key: {err}"
            );
        }
    }

    #[test]
    fn the_defaults_table_is_what_an_empty_configuration_gets() {
        let c = with_flags(Layer::default()).unwrap();
        let secs = Duration::from_secs;
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert!(!c.offline && !c.log_json);
        assert_eq!(c.upstream_timeout, secs(30));
        assert_eq!(c.request_deadline, secs(120));
        assert_eq!(c.max_upstream_concurrency, 64);
        assert_eq!(c.max_connections, 4096);
        assert_eq!(c.hot_cache_mib, 32);
        assert_eq!(c.reverify_after, secs(600));
        assert_eq!(c.upstream_attempts, 3);
        assert_eq!(c.breaker_threshold, 5);
        assert_eq!(c.breaker_cooldown, secs(30));
        assert_eq!(c.list_ttl, secs(300));
        assert_eq!(c.negative_ttl, secs(60));
        assert_eq!(c.stale_if_error, secs(7 * 24 * 3600));
        assert_eq!(c.redis, None);
    }

    #[test]
    fn help_shows_the_defaults_of_the_table() {
        let mut cmd = for_process(Layer::augment_args(Command::new("serve")));
        let help = cmd.render_help().to_string();
        assert!(help.contains("[default: 127.0.0.1:3000]"), "{help}");
        assert!(help.contains("[default: 604800]"), "{help}");
        assert!(help.contains("[env: MODWARDEN_LISTEN"), "{help}");
    }

    #[test]
    fn one_layer_over_another() {
        let hi = Layer {
            listen: Some("127.0.0.1:1".into()),
            ..Layer::default()
        };
        let lo = Layer {
            listen: Some("127.0.0.1:2".into()),
            list_ttl: Some(5),
            ..Layer::default()
        };
        let l = hi.or(lo);
        assert_eq!(l.listen.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(l.list_ttl, Some(5));
    }
}
