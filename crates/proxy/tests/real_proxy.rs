//! modwarden in front of the real Go module proxy, with real modules. Not
//! hermetic, so ignored by default; run by hand with
//! `cargo test -p proxy --test real_proxy -- --ignored`. The upstream and the
//! checksum database are the go command's own (`go env GOPROXY GOSUMDB`),
//! never written here.

mod common;

use common::start_proxy;
use proxy::config::Layer;
use testkit::go::GoSandbox;

fn go_env(var: &str) -> String {
    let out = std::process::Command::new(testkit::go::go_binary())
        .args(["env", var])
        .output()
        .expect("go env");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reaches the real Go module proxy"]
async fn real_modules_through_modwarden_verify_against_the_real_sumdb() {
    let goproxy = go_env("GOPROXY");
    let gosumdb = go_env("GOSUMDB");
    let store = tempfile::tempdir().unwrap();
    let flags = Layer {
        upstream: Some(goproxy),
        sumdb: Some(vec![gosumdb.clone()]),
        ..Layer::default()
    };
    let proxy = start_proxy(flags, store.path()).await;
    let go = GoSandbox::new();
    let out = go
        .run(
            &[
                "mod",
                "download",
                "-json",
                "golang.org/x/text@v0.14.0",
                "github.com/google/uuid@v1.6.0",
                "github.com/BurntSushi/toml@v1.4.0",
                "gopkg.in/yaml.v3@v3.0.1",
                "github.com/docker/docker@v27.3.1+incompatible",
            ],
            &proxy.base,
            &gosumdb,
        )
        .await;
    assert!(out.success(), "{}\n{}", out.stdout, out.stderr);
    let rec = proxy
        .record("github.com/BurntSushi/toml", "v1.4.0")
        .await
        .unwrap();
    assert!(rec.zip.is_some());
    assert!(
        !rec.verified_by.starts_with("policy:"),
        "{}",
        rec.verified_by
    );
    proxy.stop().await;
}
