//! The upstream list against real loopback servers: list semantics, timeouts,
//! retries, Retry-After, truncated bodies and the breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use axum::routing::get;
use upstream::{
    BreakerConfig, ClientConfig, Entry, Fallback, FetchError, NoObserver, RetryConfig, UpstreamList,
};

type Handler = Arc<dyn Fn(usize) -> Behaviour + Send + Sync>;

#[derive(Clone)]
enum Behaviour {
    Ok(&'static str),
    Status(u16, &'static str),
    RetryAfter(u16, &'static str),
    Hang,
    Truncated,
}

struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
}

async fn server(handler: Handler) -> Server {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().fallback(get(move || {
        let n = h.fetch_add(1, Ordering::SeqCst);
        let behaviour = handler(n);
        async move {
            match behaviour {
                Behaviour::Ok(body) => Response::new(Body::from(body)),
                Behaviour::Status(code, msg) => Response::builder()
                    .status(StatusCode::from_u16(code).unwrap())
                    .header("content-type", "text/plain; charset=utf-8")
                    .body(Body::from(msg))
                    .unwrap(),
                Behaviour::RetryAfter(code, secs) => Response::builder()
                    .status(StatusCode::from_u16(code).unwrap())
                    .header("retry-after", secs)
                    .body(Body::empty())
                    .unwrap(),
                Behaviour::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Response::new(Body::empty())
                }
                Behaviour::Truncated => {
                    let stream = futures::stream::unfold(0, |n| async move {
                        match n {
                            0 => Some((
                                Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"half")),
                                1,
                            )),
                            1 => {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                Some((Err(std::io::Error::other("cut")), 2))
                            }
                            _ => None,
                        }
                    });
                    Response::builder()
                        .header("content-length", "100")
                        .body(Body::from_stream(stream))
                        .unwrap()
                }
            }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { base, hits }
}

fn always(b: Behaviour) -> Handler {
    Arc::new(move |_| b.clone())
}

fn config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_millis(500),
        first_byte_timeout: Duration::from_millis(300),
        idle_read_timeout: Duration::from_millis(300),
        deadline: Duration::from_secs(5),
        retry: RetryConfig {
            max_attempts: 3,
            base: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        breaker: BreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(60),
        },
        ..ClientConfig::default()
    }
}

fn list(entries: &[(&str, Fallback)], config: ClientConfig) -> UpstreamList {
    UpstreamList::new(
        entries
            .iter()
            .map(|(u, f)| Entry {
                base: u.parse().unwrap(),
                fallback: *f,
            })
            .collect(),
        config,
        Arc::new(NoObserver),
    )
    .unwrap()
}

#[tokio::test]
async fn comma_falls_through_on_404_only() {
    let a = server(always(Behaviour::Status(404, "no such module"))).await;
    let b = server(always(Behaviour::Ok("from b"))).await;
    let l = list(
        &[
            (&a.base, Fallback::OnNotFound),
            (&b.base, Fallback::OnNotFound),
        ],
        config(),
    );
    let got = l.fetch_bytes("m/@v/list", 1024).await.unwrap();
    assert_eq!(&got.body[..], b"from b");
    assert_eq!(got.upstream, b.base);

    let a = server(always(Behaviour::Status(500, "boom"))).await;
    let b = server(always(Behaviour::Ok("from b"))).await;
    let l = list(
        &[
            (&a.base, Fallback::OnNotFound),
            (&b.base, Fallback::OnNotFound),
        ],
        config(),
    );
    let err = l.fetch_bytes("m/@v/list", 1024).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 500, .. }),
        "{err}"
    );
    assert_eq!(err.client_status(), 502);
    assert_eq!(
        b.hits.load(Ordering::SeqCst),
        0,
        "',' must not fall through on 500"
    );
    assert_eq!(a.hits.load(Ordering::SeqCst), 3, "5xx is retried");
}

#[tokio::test]
async fn pipe_falls_through_on_any_error() {
    let a = server(always(Behaviour::Status(500, "boom"))).await;
    let b = server(always(Behaviour::Ok("from b"))).await;
    let l = list(
        &[
            (&a.base, Fallback::OnAnyError),
            (&b.base, Fallback::OnNotFound),
        ],
        config(),
    );
    let got = l.fetch_bytes("m/@v/list", 1024).await.unwrap();
    assert_eq!(&got.body[..], b"from b");
}

#[tokio::test]
async fn not_found_keeps_the_upstream_message_and_is_never_retried() {
    let a = server(always(Behaviour::Status(
        410,
        "gone: example.com/x@v9 was never published\nmore",
    )))
    .await;
    let l = list(&[(&a.base, Fallback::OnNotFound)], config());
    let err = l.fetch_bytes("m/@v/v9.info", 1024).await.unwrap_err();
    match &err {
        FetchError::NotFound {
            status, message, ..
        } => {
            assert_eq!(*status, 410);
            assert_eq!(message, "gone: example.com/x@v9 was never published");
        }
        other => panic!("{other}"),
    }
    assert_eq!(a.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn best_error_prefers_real_failures_over_not_found() {
    let a = server(always(Behaviour::Status(503, "down"))).await;
    let b = server(always(Behaviour::Status(404, "nope"))).await;
    let l = list(
        &[
            (&a.base, Fallback::OnAnyError),
            (&b.base, Fallback::OnNotFound),
        ],
        config(),
    );
    let err = l.fetch_bytes("x", 1024).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 503, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn hanging_upstream_times_out_waiting_for_headers() {
    let a = server(always(Behaviour::Hang)).await;
    let mut c = config();
    c.retry.max_attempts = 1;
    let l = list(&[(&a.base, Fallback::OnNotFound)], c);
    let err = l.fetch_bytes("x", 1024).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.client_status(), 504);
}

#[tokio::test]
async fn retries_then_succeeds_after_503s() {
    let a = server(Arc::new(|n| {
        if n < 2 {
            Behaviour::Status(503, "warming up")
        } else {
            Behaviour::Ok("finally")
        }
    }))
    .await;
    let l = list(&[(&a.base, Fallback::OnNotFound)], config());
    let got = l.fetch_bytes("x", 1024).await.unwrap();
    assert_eq!(&got.body[..], b"finally");
    assert_eq!(a.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_gives_up_at_once() {
    let a = server(always(Behaviour::RetryAfter(429, "3600"))).await;
    let l = list(&[(&a.base, Fallback::OnNotFound)], config());
    let started = std::time::Instant::now();
    let err = l.fetch_bytes("x", 1024).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 429, .. }),
        "{err}"
    );
    assert_eq!(a.hits.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn truncated_body_is_an_error_and_leaves_no_staging_file() {
    let a = server(always(Behaviour::Truncated)).await;
    let dir = tempfile::tempdir().unwrap();
    let l = list(&[(&a.base, Fallback::OnNotFound)], config());
    let err = l
        .fetch_to_file("x.zip", dir.path(), 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Body { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn body_over_the_limit_is_refused() {
    let a = server(always(Behaviour::Ok("0123456789"))).await;
    let l = list(&[(&a.base, Fallback::OnNotFound)], config());
    let err = l.fetch_bytes("x", 5).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 5, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn file_download_is_hashed() {
    let a = server(always(Behaviour::Ok("hello"))).await;
    let dir = tempfile::tempdir().unwrap();
    let l = list(&[(&a.base, Fallback::OnNotFound)], config());
    let got = l.fetch_to_file("x.zip", dir.path(), 1 << 20).await.unwrap();
    assert_eq!(got.body.size, 5);
    assert_eq!(
        hex(&got.body.sha256),
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(std::fs::read(got.body.file.path()).unwrap(), b"hello");
}

#[tokio::test]
async fn file_urls_are_read_and_missing_files_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("m/@v")).unwrap();
    std::fs::write(dir.path().join("m/@v/list"), "v1.0.0\n").unwrap();
    let base = url::Url::from_directory_path(dir.path())
        .unwrap()
        .to_string();
    let l = list(&[(&base, Fallback::OnNotFound)], config());
    assert_eq!(
        &l.fetch_bytes("m/@v/list", 100).await.unwrap().body[..],
        b"v1.0.0\n"
    );
    assert!(
        l.fetch_bytes("m/@v/v2.info", 100)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn open_breaker_skips_a_hanging_upstream_quickly() {
    let a = server(always(Behaviour::Hang)).await;
    let b = server(always(Behaviour::Ok("healthy"))).await;
    let mut c = config();
    c.retry.max_attempts = 1;
    c.breaker.failure_threshold = 2;
    let l = list(
        &[
            (&a.base, Fallback::OnAnyError),
            (&b.base, Fallback::OnNotFound),
        ],
        c,
    );
    for _ in 0..2 {
        assert_eq!(&l.fetch_bytes("x", 100).await.unwrap().body[..], b"healthy");
    }
    assert_eq!(a.hits.load(Ordering::SeqCst), 2);
    assert_eq!(l.breaker_states()[0].1, upstream::BreakerState::Open);
    // Now the hanging upstream is skipped without a request.
    let started = std::time::Instant::now();
    assert_eq!(&l.fetch_bytes("x", 100).await.unwrap().body[..], b"healthy");
    assert_eq!(a.hits.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn empty_list_is_offline() {
    let l = list(&[], config());
    assert!(matches!(
        l.fetch_bytes("x", 1).await.unwrap_err(),
        FetchError::NoUpstream
    ));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
