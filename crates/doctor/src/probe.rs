//! Probing each GOPROXY entry and the checksum database the way the go
//! command reaches them: `GET <proxy>/sumdb/<name>/supported` through each
//! proxy; the database directly (`<url>/latest`) when no proxy serves it.

use std::time::{Duration, Instant};

use serde::Serialize;

/// A plain verdict for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Answered as expected.
    Ok,
    /// Answered, with an unexpected HTTP status.
    HttpStatus,
    /// No answer in time.
    Timeout,
    /// Connection refused.
    Refused,
    /// The host name does not resolve.
    Dns,
    /// The TLS handshake or certificate failed.
    Tls,
    /// Anything else (reset, file:// path missing, ...).
    Error,
}

/// The result for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// What it is: `GOPROXY[1]`, `GOSUMDB via GOPROXY[1]`, `GOSUMDB direct`.
    pub target: String,
    /// The URL asked.
    pub url: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The HTTP status, if one came.
    pub status: Option<u16>,
    /// Milliseconds until the answer (or the failure).
    pub millis: u64,
    /// In words.
    pub detail: String,
}

fn verdict_of(err: &reqwest::Error) -> (Verdict, String) {
    let mut chain = err.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(s) = src {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        src = s.source();
    }
    let low = chain.to_ascii_lowercase();
    let v = if err.is_timeout() || low.contains("timed out") {
        Verdict::Timeout
    } else if low.contains("dns error")
        || low.contains("failed to lookup")
        || low.contains("name or service not known")
    {
        Verdict::Dns
    } else if low.contains("connection refused") {
        Verdict::Refused
    } else if [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
        "unknownissuer",
        "peer sent",
        "alert",
    ]
    .iter()
    .any(|w| low.contains(w))
    {
        Verdict::Tls
    } else {
        Verdict::Error
    };
    (v, chain)
}

async fn get(http: &reqwest::Client, target: String, url: String, ok: &[u16]) -> Probe {
    let started = Instant::now();
    let r = http.get(&url).send().await;
    let millis = started.elapsed().as_millis() as u64;
    match r {
        Ok(resp) => {
            let s = resp.status();
            let code = s.as_u16();
            let verdict = if ok.contains(&code) {
                Verdict::Ok
            } else {
                Verdict::HttpStatus
            };
            Probe {
                target,
                url,
                verdict,
                status: Some(code),
                millis,
                detail: s.to_string(),
            }
        }
        Err(e) => {
            let (verdict, detail) = verdict_of(&e);
            Probe {
                target,
                url,
                verdict,
                status: None,
                millis,
                detail,
            }
        }
    }
}

/// Probes every proxy of `goproxy` and the database of `gosumdb`.
pub async fn probe_all(
    goproxy: &gomod::goenv::ProxyList,
    gosumdb: &gomod::goenv::SumdbSpec,
    timeout: Duration,
) -> Vec<Probe> {
    let http = match reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("modwarden-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return vec![Probe {
                target: "HTTP client".into(),
                url: String::new(),
                verdict: Verdict::Error,
                status: None,
                millis: 0,
                detail: e.to_string(),
            }];
        }
    };
    let name = gosumdb.name().map(str::to_string);
    let mut out = Vec::new();
    let mut sumdb_via_proxy = false;
    for (i, e) in goproxy.entries.iter().enumerate() {
        let gomod::goenv::ProxyKind::Url(u) = &e.kind else {
            break;
        };
        let label = format!("GOPROXY[{}]", i + 1);
        let base = u.as_str().trim_end_matches('/').to_string();
        if u.scheme() == "file" {
            let ok = u.to_file_path().is_ok_and(|p| p.is_dir());
            out.push(Probe {
                target: label,
                url: base,
                verdict: if ok { Verdict::Ok } else { Verdict::Error },
                status: None,
                millis: 0,
                detail: if ok {
                    "directory exists".into()
                } else {
                    "directory does not exist".into()
                },
            });
            continue;
        }
        let (url, ok): (String, &[u16]) = match &name {
            Some(n) => (format!("{base}/sumdb/{n}/supported"), &[200, 404, 410]),
            None => (format!("{base}/"), &[200, 404, 410]),
        };
        let mut p = get(&http, label.clone(), url, ok).await;
        if let Some(n) = &name {
            match p.status {
                Some(200) if !sumdb_via_proxy => {
                    p.detail = format!("{}; serves the checksum database {n}", p.detail);
                    sumdb_via_proxy = true;
                }
                Some(404 | 410) => {
                    p.detail = format!(
                        "{}; reachable, does not proxy the checksum database",
                        p.detail
                    );
                }
                _ => {}
            }
        }
        out.push(p);
    }
    if let gomod::goenv::SumdbSpec::Db { name, url, .. } = gosumdb
        && (!sumdb_via_proxy || url.is_some())
    {
        let base = match url {
            Some(u) => u.as_str().trim_end_matches('/').to_string(),
            None => format!("https://{name}"),
        };
        out.push(
            get(
                &http,
                "GOSUMDB direct".into(),
                format!("{base}/latest"),
                &[200],
            )
            .await,
        );
    }
    out
}
