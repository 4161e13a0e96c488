//! `modwarden warm`: pre-fetch module versions through a running modwarden
//! (or any GOPROXY URL) so a team's cache is warm before anyone needs it.
//!
//! Items are `module@version` arguments, go.sum files (every `module version`
//! line; versions listed only as `version/go.mod` fetch `.info` and `.mod`
//! only) and go.mod files (their `require` lines).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use doctor::render;
use futures::StreamExt as _;

use super::doctor::{go_binary, print_json, runtime};
use super::progress::Progress;
use crate::cli::WarmArgs;

/// A version to fetch and whether its zip is needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Item {
    module: String,
    version: String,
    zip: bool,
}

/// The items named by the arguments, deduplicated in a stable order (a
/// version needs its zip if any source asks for it).
pub(super) fn collect_items(args: &[String]) -> anyhow::Result<Vec<Item>> {
    let mut seen: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut add = |module: &str, version: &str, zip: bool| {
        let e = seen
            .entry((module.to_string(), version.to_string()))
            .or_insert(false);
        *e |= zip;
    };
    for arg in args {
        let path = Path::new(arg);
        if path.is_file() {
            let data =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if arg.ends_with(".sum") {
                for (m, v, zip) in parse_gosum(arg, &data)? {
                    add(&m, &v, zip);
                }
            } else if arg.ends_with(".mod") {
                let f = gomod::modfile::parse(arg, &data)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| format!("cannot parse the go.mod file {arg}"))?;
                for r in &f.require {
                    check(&r.path, &r.version).with_context(|| {
                        format!("{arg}:{}: require {} {}", r.line, r.path, r.version)
                    })?;
                    // As the go command does: a replaced requirement is
                    // fetched as its replacement; one replaced by a local
                    // directory needs nothing from a proxy. A versioned
                    // replace wins over a path-wide one.
                    let rep = f
                        .replace
                        .iter()
                        .filter(|x| x.old_path == r.path)
                        .filter(|x| x.old_version.as_ref().is_none_or(|v| *v == r.version))
                        .max_by_key(|x| x.old_version.is_some());
                    match rep {
                        None => add(&r.path, &r.version, true),
                        Some(x) => {
                            if let Some(v) = &x.new_version {
                                check(&x.new_path, v).with_context(|| {
                                    format!(
                                        "{arg}:{}: replace {} => {} {v}",
                                        x.line, x.old_path, x.new_path
                                    )
                                })?;
                                add(&x.new_path, v, true);
                            }
                        }
                    }
                }
            } else {
                anyhow::bail!(
                    "{arg}: not a go.sum or go.mod file (the name must end in .sum or .mod)"
                );
            }
        } else if let Some((m, v)) = arg.split_once('@') {
            check(m, v).with_context(|| format!("bad module@version {arg:?}"))?;
            add(m, v, true);
        } else if path.exists() {
            anyhow::bail!("{arg}: not a file");
        } else {
            anyhow::bail!(
                "{arg:?} is neither a file nor module@version (e.g. example.com/m@v1.2.3)"
            );
        }
    }
    Ok(seen
        .into_iter()
        .map(|((module, version), zip)| Item {
            module,
            version,
            zip,
        })
        .collect())
}

/// A module path and an exact (semver) version the proxy protocol can fetch.
fn check(module: &str, version: &str) -> anyhow::Result<()> {
    gomod::module::check(module, version).map_err(|e| anyhow::anyhow!("{e}"))?;
    if gomod::semver::canonical_version(version) != version {
        anyhow::bail!(
            "version {version:?} is not canonical (want {:?})",
            gomod::semver::canonical_version(version)
        );
    }
    Ok(())
}

/// `(module, version, zip needed)` for each line of a go.sum (parsed by
/// [`gomod::gosum::parse_lines`]), each checked to be fetchable.
fn parse_gosum(file: &str, data: &[u8]) -> anyhow::Result<Vec<(String, String, bool)>> {
    let text_of = |line: usize| {
        let raw = data
            .split(|&b| b == b'\n')
            .nth(line - 1)
            .unwrap_or_default();
        String::from_utf8_lossy(raw).trim().to_string()
    };
    let bad = |line: usize, why: String| {
        anyhow::anyhow!(
            "{file}:{line}: {why} in {:?} (want `module version[/go.mod] hash`)",
            text_of(line)
        )
    };
    let mut out = Vec::new();
    for l in gomod::gosum::parse_lines(file, data) {
        let l = l.map_err(|e| bad(e.line, format!("{} fields", e.fields)))?;
        let (version, gomod_only) = l.module_version();
        if !l.hash.contains(':') {
            return Err(bad(l.line, format!("bad hash {:?}", l.hash)));
        }
        check(&l.module, version).map_err(|e| bad(l.line, format!("{e:#}")))?;
        out.push((l.module.clone(), version.to_string(), !gomod_only));
    }
    Ok(out)
}

/// The proxy: `--proxy`, `$MODWARDEN_PROXY`, else the first http(s) entry of
/// `go env GOPROXY`.
fn proxy_url(flag: Option<String>) -> anyhow::Result<reqwest::Url> {
    let (raw, from) = if let Some(p) = flag.filter(|p| !p.is_empty()) {
        (p, "--proxy")
    } else if let Some(p) = std::env::var("MODWARDEN_PROXY")
        .ok()
        .filter(|p| !p.is_empty())
    {
        (p, "MODWARDEN_PROXY")
    } else {
        (go_env_proxy().ok_or_else(|| {
            anyhow::anyhow!(
                "no proxy to warm: pass --proxy URL (the modwarden to fill) or set MODWARDEN_PROXY \
                 (`go env GOPROXY` gave no http(s) entry)"
            )
        })?, "go env GOPROXY")
    };
    let mut url =
        reqwest::Url::parse(&raw).with_context(|| format!("{from}: {raw:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("{from}: {raw:?} is not an http(s) URL");
    }
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

fn go_env_proxy() -> Option<String> {
    let out = std::process::Command::new(go_binary())
        .args(["env", "GOPROXY"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let list = gomod::goenv::ProxyList::parse(String::from_utf8_lossy(&out.stdout).trim()).ok()?;
    list.urls()
        .find(|u| matches!(u.scheme(), "http" | "https"))
        .map(|u| u.to_string())
}

#[derive(Debug, serde::Serialize)]
struct Outcome {
    module: String,
    version: String,
    /// Files fetched (`info`, `mod`, `zip`).
    files: Vec<&'static str>,
    bytes: u64,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Failure>,
}

#[derive(Debug, serde::Serialize)]
struct Failure {
    file: &'static str,
    url: String,
    /// HTTP status, absent when no response came.
    status: Option<u16>,
    /// The proxy's text answer, or the transport error.
    message: String,
}

#[derive(serde::Serialize)]
struct WarmJson<'a> {
    proxy: &'a str,
    versions: usize,
    ok: usize,
    failed: usize,
    bytes: u64,
    seconds: f64,
    results: &'a [Outcome],
}

async fn fetch_one(client: &reqwest::Client, proxy: &reqwest::Url, item: Item) -> Outcome {
    let mut o = Outcome {
        module: item.module.clone(),
        version: item.version.clone(),
        files: Vec::new(),
        bytes: 0,
        ok: true,
        error: None,
    };
    // Validated before: escaping cannot fail here.
    let base = format!(
        "{}{}/@v/{}",
        proxy,
        gomod::module::escape_path(&item.module).unwrap_or_default(),
        gomod::module::escape_version(&item.version).unwrap_or_default()
    );
    let files: &[&'static str] = if item.zip {
        &["info", "mod", "zip"]
    } else {
        &["info", "mod"]
    };
    for &file in files {
        let url = format!("{base}.{file}");
        match get(client, &url).await {
            Ok(n) => {
                o.files.push(file);
                o.bytes += n;
            }
            Err((status, message)) => {
                o.ok = false;
                o.error = Some(Failure {
                    file,
                    url,
                    status,
                    message,
                });
                break;
            }
        }
    }
    o
}

/// GETs `url`, reading (and dropping) the body; the byte count, or the
/// status and the proxy's text answer.
async fn get(client: &reqwest::Client, url: &str) -> Result<u64, (Option<u16>, String)> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| (None, error_chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let mut body = body.trim().to_string();
        if body.len() > 500 {
            let mut cut = 500;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
            body.push_str(" ...");
        }
        let text = format!(
            "{} {}{}{}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            if body.is_empty() { "" } else { ": " },
            body
        );
        return Err((Some(status.as_u16()), text));
    }
    let mut n = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            (
                Some(status.as_u16()),
                format!("reading the body: {}", error_chain(&e)),
            )
        })?;
        n += chunk.len() as u64;
    }
    Ok(n)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

pub fn run(args: WarmArgs) -> anyhow::Result<ExitCode> {
    let items = collect_items(&args.items)?;
    let proxy = proxy_url(args.proxy)?;
    let jobs = args.jobs.max(1);
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("modwarden-warm/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30));
    if args.timeout > 0 {
        builder = builder.timeout(Duration::from_secs(args.timeout));
    }
    let client = builder.build().context("cannot set up the HTTP client")?;
    let started = Instant::now();
    let total = items.len();
    let bar = Progress::new(!args.json);
    bar.start("warming", Some(total as u64));
    let mut results: Vec<Outcome> = runtime()?.block_on(async {
        let client = &client;
        let proxy = &proxy;
        let bar = &bar;
        futures::stream::iter(items)
            .map(|item| async move {
                let o = fetch_one(client, proxy, item).await;
                bar.advance(1);
                o
            })
            .buffer_unordered(jobs)
            .collect()
            .await
    });
    bar.finish();
    results.sort_by(|a, b| (&a.module, &a.version).cmp(&(&b.module, &b.version)));
    let failed = results.iter().filter(|o| !o.ok).count();
    let bytes: u64 = results.iter().map(|o| o.bytes).sum();
    let secs = started.elapsed().as_secs_f64();
    let proxy_text = proxy.as_str().trim_end_matches('/').to_string();
    if args.json {
        print_json(&WarmJson {
            proxy: &proxy_text,
            versions: total,
            ok: total - failed,
            failed,
            bytes,
            seconds: secs,
            results: &results,
        })?;
    } else {
        for o in results.iter().filter(|o| !o.ok) {
            if let Some(f) = &o.error {
                println!(
                    "FAILED {}@{} .{}: {}",
                    o.module, o.version, f.file, f.message
                );
            }
        }
        let files: usize = results.iter().map(|o| o.files.len()).sum();
        println!(
            "warmed {} of {} versions through {proxy_text}: {files} files, {} in {secs:.1}s{}",
            total - failed,
            total,
            render::bytes(bytes),
            if failed > 0 {
                format!("; {failed} FAILED")
            } else {
                String::new()
            }
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gosum_lines() {
        let data = b"example.com/a v1.0.0 h1:x=\nexample.com/a v1.0.0/go.mod h1:y=\n\n\
                     example.com/b v1.2.0/go.mod h1:z=\n";
        let got = parse_gosum("go.sum", data).unwrap();
        assert_eq!(
            got,
            [
                ("example.com/a".into(), "v1.0.0".into(), true),
                ("example.com/a".into(), "v1.0.0".into(), false),
                ("example.com/b".into(), "v1.2.0".into(), false),
            ]
        );
        let e = parse_gosum(
            "go.sum",
            b"example.com/a v1.0.0 h1:x=\nthis is not a go.sum line\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("go.sum:2") && e.contains("this is not a go.sum line"),
            "{e}"
        );
        let e = parse_gosum("go.sum", b"example.com/a vX h1:x=\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("vX"), "{e}");
    }

    #[test]
    fn gomod_requires_follow_replacements() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("go.mod");
        std::fs::write(
            &p,
            "module x.example/app\n\ngo 1.21\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.2.0\n\texample.com/c v1.0.0\n\texample.com/d v1.0.0\n)\n\n\
             replace example.com/a => example.com/fork v1.1.0\n\
             replace example.com/b v1.2.0 => ../b\n\
             replace example.com/c v0.9.0 => example.com/other v1.0.0\n",
        )
        .unwrap();
        let got = collect_items(&[p.display().to_string()]).unwrap();
        let ids: Vec<String> = got
            .iter()
            .map(|i| format!("{}@{} {}", i.module, i.version, i.zip))
            .collect();
        assert_eq!(
            ids,
            [
                "example.com/c@v1.0.0 true",
                "example.com/d@v1.0.0 true",
                "example.com/fork@v1.1.0 true"
            ]
        );
    }

    #[test]
    fn module_versions_must_be_exact() {
        assert!(check("example.com/m", "v1.2.3").is_ok());
        assert!(check("example.com/m/v2", "v2.0.0").is_ok());
        assert!(check("example.com/m", "v2.0.0+incompatible").is_ok());
        assert!(check("example.com/m/v2", "v1.0.0").is_err());
        assert!(check("example.com/m", "latest").is_err());
        assert!(check("example.com/m", "v1.2").is_err());
        assert!(check("Example..com", "v1.0.0").is_err());
    }
}
