//! Network probes against loopback targets (a testkit proxy with a test
//! checksum database, a proxy without one, a refused port, a hung server)
//! and the environment report, as insta snapshots with ports redacted.

use std::time::Duration;

use doctor::env::{EnvSource, GoEnv};
use doctor::probe::{self, Verdict};
use sumdb::server::TreeBuilder;
use testkit::fixtures::FixtureSet;
use testkit::server::{Behaviour, FixtureServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_give_a_plain_verdict_per_target() {
    let (db, vkey) = TreeBuilder::generate("sumdb.modwarden.test").unwrap();
    let with_db = FixtureServer::start(FixtureSet::standard(), Some(db)).await;
    let without_db = FixtureServer::start(FixtureSet::standard(), None).await;
    let hung = FixtureServer::start(FixtureSet::standard(), None).await;
    hung.set_behaviour("/", Behaviour::Delay(Duration::from_secs(60)));
    // A port nothing listens on: bind, note it, close.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    // https to a plain-http server: the TLS handshake fails.
    let tls = format!("https://{}", without_db.addr());
    let goproxy = format!(
        "{}|http://{refused}|{tls}|{}|{},direct",
        hung.base_url(),
        without_db.base_url(),
        with_db.base_url()
    );
    let list = gomod::goenv::ProxyList::parse(&goproxy).unwrap();
    let spec = gomod::goenv::SumdbSpec::parse(&vkey).unwrap();
    let probes = probe::probe_all(&list, &spec, Duration::from_millis(300)).await;
    let verdicts: Vec<(&str, Verdict, Option<u16>)> = probes
        .iter()
        .map(|p| (p.target.as_str(), p.verdict, p.status))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("GOPROXY[1]", Verdict::Timeout, None),
            ("GOPROXY[2]", Verdict::Refused, None),
            ("GOPROXY[3]", Verdict::Tls, None),
            ("GOPROXY[4]", Verdict::Ok, Some(404)),
            ("GOPROXY[5]", Verdict::Ok, Some(200)),
        ],
        "{probes:#?}"
    );
    assert!(probes[4].detail.contains("serves the checksum database"));
    assert!(
        probes[3]
            .detail
            .contains("does not proxy the checksum database")
    );

    let mut text = doctor::render::probes(&probes);
    for (s, name) in [
        (hung.addr().to_string(), "[HUNG]"),
        (refused.to_string(), "[REFUSED]"),
        (without_db.addr().to_string(), "[NO_SUMDB]"),
        (with_db.addr().to_string(), "[WITH_SUMDB]"),
    ] {
        text = text.replace(&s, name);
    }
    // Latencies vary; the shape does not.
    let text: String = text
        .lines()
        .map(|l| match l.find(" ms  ") {
            Some(i) => {
                let start = l[..i]
                    .rfind(|c: char| !c.is_ascii_digit())
                    .map_or(0, |j| j + 1);
                format!("{} [T]{}", l[..start].trim_end(), &l[i..])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = regex_lite_redact_errors(&text);
    insta::assert_snapshot!("probes", text);
}

/// Transport error chains differ between platforms: keep the verdict column
/// and cut the detail after the first colon on failure lines.
fn regex_lite_redact_errors(s: &str) -> String {
    s.lines()
        .map(|l| {
            if l.contains(" timeout ") || l.contains(" refused ") || l.contains(" TLS ") {
                match l.find("ms  ") {
                    Some(i) => format!("{}ms  [transport error]", &l[..i]),
                    None => l.to_string(),
                }
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn env_report_without_go_uses_defaults_and_flags_risks() {
    let vars = [
        ("HOME", "/home/gopher"),
        ("GOPROXY", "http://10.1.2.3:8080|direct"),
        ("GOPRIVATE", "*"),
        ("GOFLAGS", "-insecure -mod=mod"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let env = GoEnv::from_process(&vars, std::path::Path::new("/nonexistent"));
    assert_eq!(env.source, EnvSource::Process);
    assert_eq!(env.get("GOMODCACHE"), "/home/gopher/go/pkg/mod");
    assert_eq!(env.gosumdb(), "sum.golang.org");
    assert_eq!(env.nosumdb(), "*", "GOPRIVATE is GONOSUMDB's default");
    let findings = doctor::env::diagnose(&env);
    insta::assert_snapshot!("env_process", doctor::render::env(&env, &findings));
    let v: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&findings).unwrap()).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|f| f["variable"] == "GOPRIVATE" && f["level"] == "warning")
    );
}
