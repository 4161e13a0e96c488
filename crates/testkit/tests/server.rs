//! The fixture server speaks the GOPROXY protocol and the sumdb paths, logs
//! requests, and applies injected behaviours.

use sumdb::server::TreeBuilder;
use testkit::fixtures::FixtureSet;
use testkit::server::{Behaviour, FixtureServer};

async fn get(url: &str) -> (u16, Option<String>, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let ra = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, ra, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn serves_goproxy_and_sumdb_paths() {
    let set = FixtureSet::standard();
    let (mut db, _vkey) = TreeBuilder::generate("sum.test").unwrap();
    set.add_to_sumdb(&mut db);
    let srv = FixtureServer::start(set.clone(), Some(db)).await;
    let b = srv.base_url();

    let (s, _, body) = get(&format!("{b}/example.com/simple/@v/list")).await;
    assert_eq!((s, body), (200, b"v1.0.0\nv1.1.0\n".to_vec()));
    let mv = set
        .get("example.com/Upper/CaseMod", "v1.0.1-Beta.2")
        .unwrap();
    let (s, _, body) = get(&format!(
        "{b}/example.com/!upper/!case!mod/@v/v1.0.1-!beta.2.zip"
    ))
    .await;
    assert_eq!((s, &body), (200, &mv.zip));
    // `!` percent-encoded still works.
    let (s, _, body) = get(&format!(
        "{b}/example.com/%21upper/%21case%21mod/@v/v1.0.1-%21beta.2.mod"
    ))
    .await;
    assert_eq!((s, &body), (200, &mv.gomod));
    let (s, _, body) = get(&format!("{b}/example.com/simple/@latest")).await;
    assert_eq!(s, 200);
    assert!(String::from_utf8(body).unwrap().contains("\"v1.1.0\""));
    let (s, _, body) = get(&format!("{b}/example.com/nope/@v/v1.0.0.info")).await;
    assert_eq!(s, 404);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("example.com/nope@v1.0.0")
    );

    let (s, _, _) = get(&format!("{b}/sumdb/sum.test/supported")).await;
    assert_eq!(s, 200);
    let (s, _, body) = get(&format!(
        "{b}/sumdb/sum.test/lookup/example.com/simple@v1.0.0"
    ))
    .await;
    assert_eq!(s, 200);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("go.sum database tree\n")
    );
    let (s, _, _) = get(&format!("{b}/sumdb/other.test/supported")).await;
    assert_eq!(s, 404);

    assert_eq!(srv.request_count("/example.com/simple/@v/list"), 1);
    assert!(
        srv.request_log()
            .contains(&"/example.com/!upper/!case!mod/@v/v1.0.1-!beta.2.mod".to_string())
    );
    srv.stop().await;
}

#[tokio::test]
async fn injected_behaviours_apply_per_prefix_and_per_count() {
    let srv = FixtureServer::start(FixtureSet::standard(), None).await;
    let b = srv.base_url();
    srv.set_behaviour("/example.com/simple/", Behaviour::Status(503));
    assert_eq!(get(&format!("{b}/example.com/simple/@v/list")).await.0, 503);
    srv.set_behaviour(
        "/example.com/simple/",
        Behaviour::RetryAfter {
            status: 429,
            secs: 7,
        },
    );
    let (s, ra, _) = get(&format!("{b}/example.com/simple/@v/list")).await;
    assert_eq!((s, ra.as_deref()), (429, Some("7")));
    srv.set_behaviour("/example.com/simple/", Behaviour::Body(b"junk".to_vec()));
    assert_eq!(
        get(&format!("{b}/example.com/simple/@v/v1.0.0.zip"))
            .await
            .2,
        b"junk"
    );
    srv.clear_behaviours();

    // Fail only the first request of each path.
    srv.set_hook(std::sync::Arc::new(|r| {
        if r.count == 1 {
            Behaviour::Status(500)
        } else {
            Behaviour::Normal
        }
    }));
    assert_eq!(get(&format!("{b}/example.com/pseudo/@v/list")).await.0, 500);
    assert_eq!(get(&format!("{b}/example.com/pseudo/@v/list")).await.0, 200);
    srv.stop().await;
}
