//! A fixture upstream on loopback: the GOPROXY protocol for a
//! [`FixtureSet`] and, under the same base URL, a test checksum database
//! (`/sumdb/<name>/supported`, `lookup/…`, `tile/…`, `latest`).
//!
//! Every request is logged (decoded path and count) and, before it is
//! answered, consulted against the fault-injection [`Behaviour`] rules, so
//! tests can make a given path (or its n-th request) fail.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{StatusCode, header};
use sumdb::server::TreeBuilder;
use tokio::sync::oneshot;

use crate::fixtures::FixtureSet;

/// What the server does with a request. Consulted per request; more kinds
/// (slow, reset, truncate, wrong bytes, 429 + Retry-After, hang) slot in here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behaviour {
    /// Answer normally.
    Normal,
    /// Answer with this HTTP status and a short text/plain body.
    Status(u16),
    /// Answer with this status and a `Retry-After: <secs>` header
    /// (e.g. 429 or 503).
    RetryAfter {
        /// HTTP status.
        status: u16,
        /// Retry-After seconds.
        secs: u64,
    },
    /// Answer 200 with these bytes instead of the real body (wrong bytes).
    Body(Vec<u8>),
    /// Wait this long (tokio time, so a paused clock controls it), then
    /// answer normally.
    Delay(std::time::Duration),
    /// Send the response headers (with the real `Content-Length`) and the
    /// first `n` bytes of the real body, then stall forever with the
    /// connection open.
    StallAfter(usize),
    /// Send the headers and the first `n` bytes of the real body, then abort
    /// the connection.
    ResetAfter(usize),
    /// Declare the real `Content-Length` but send only the first `n` bytes,
    /// then end the response (a truncated body).
    TruncateAfter(usize),
}

/// What a behaviour hook sees about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The percent-decoded path, e.g. `/example.com/!m/@v/v1.0.0.zip`.
    pub path: String,
    /// How many times this path has been requested, this one included (1-based).
    pub count: u64,
}

/// A per-request decision function.
pub type Hook = Arc<dyn Fn(&RequestInfo) -> Behaviour + Send + Sync>;

struct Rule {
    prefix: String,
    behaviour: Behaviour,
}

struct Shared {
    set: Mutex<FixtureSet>,
    sumdb: Mutex<Option<TreeBuilder>>,
    log: Mutex<Vec<String>>,
    counts: Mutex<HashMap<String, u64>>,
    rules: Mutex<Vec<Rule>>,
    hook: Mutex<Option<Hook>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running fixture server. Stops when dropped or on [`FixtureServer::stop`].
pub struct FixtureServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FixtureServer {
    /// Starts serving `set` (and `sumdb`, if given) on `127.0.0.1:0`.
    pub async fn start(set: FixtureSet, sumdb: Option<TreeBuilder>) -> FixtureServer {
        Self::start_on("127.0.0.1:0", set, sumdb)
            .await
            .expect("bind 127.0.0.1:0")
    }

    /// Like [`FixtureServer::start`] on a given address (e.g. a fixed
    /// loopback port for a benchmark upstream that other proxies point at).
    pub async fn start_on(
        addr: &str,
        set: FixtureSet,
        sumdb: Option<TreeBuilder>,
    ) -> std::io::Result<FixtureServer> {
        let shared = Arc::new(Shared {
            set: Mutex::new(set),
            sumdb: Mutex::new(sumdb),
            log: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
            rules: Mutex::new(Vec::new()),
            hook: Mutex::new(None),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(FixtureServer {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>` (no trailing slash): use as GOPROXY.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request's decoded path, in arrival order.
    pub fn request_log(&self) -> Vec<String> {
        lock(&self.shared.log).clone()
    }

    /// How many times `path` (decoded, with leading `/`) was requested.
    pub fn request_count(&self, path: &str) -> u64 {
        lock(&self.shared.counts).get(path).copied().unwrap_or(0)
    }

    /// Makes requests whose decoded path starts with `prefix` behave as
    /// `behaviour` (later rules win over earlier ones for the same prefix).
    pub fn set_behaviour(&self, prefix: &str, behaviour: Behaviour) {
        let mut rules = lock(&self.shared.rules);
        rules.retain(|r| r.prefix != prefix);
        rules.push(Rule {
            prefix: prefix.to_string(),
            behaviour,
        });
    }

    /// Installs a hook consulted for requests no rule matches.
    pub fn set_hook(&self, hook: Hook) {
        *lock(&self.shared.hook) = Some(hook);
    }

    /// Removes all rules and the hook.
    pub fn clear_behaviours(&self) {
        lock(&self.shared.rules).clear();
        *lock(&self.shared.hook) = None;
    }

    /// Runs `f` on the served fixtures (e.g. to add or corrupt a version).
    pub fn with_fixtures<R>(&self, f: impl FnOnce(&mut FixtureSet) -> R) -> R {
        f(&mut lock(&self.shared.set))
    }

    /// Runs `f` on the served checksum database, if any.
    pub fn with_sumdb<R>(&self, f: impl FnOnce(&mut TreeBuilder) -> R) -> Option<R> {
        lock(&self.shared.sumdb).as_mut().map(f)
    }

    /// Replaces the served checksum database (e.g. with a fork).
    pub fn replace_sumdb(&self, db: Option<TreeBuilder>) -> Option<TreeBuilder> {
        std::mem::replace(&mut lock(&self.shared.sumdb), db)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(msg.into()))
        .unwrap_or_default()
}

fn ok(content_type: &str, body: Vec<u8>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap_or_default()
}

/// Percent-decodes a URL path; `None` on a malformed escape or non-UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let Some(path) = percent_decode(req.uri().path()) else {
        return text(StatusCode::BAD_REQUEST, "bad percent-encoding in path");
    };
    let count = {
        let mut counts = lock(&shared.counts);
        let c = counts.entry(path.clone()).or_insert(0);
        *c += 1;
        *c
    };
    lock(&shared.log).push(path.clone());

    let info = RequestInfo {
        path: path.clone(),
        count,
    };
    let rule = lock(&shared.rules)
        .iter()
        .rev()
        .find(|r| path.starts_with(&r.prefix))
        .map(|r| r.behaviour.clone());
    let hook = lock(&shared.hook).clone();
    let behaviour = rule
        .or_else(|| hook.map(|h| h(&info)))
        .unwrap_or(Behaviour::Normal);
    match behaviour {
        Behaviour::Normal => {}
        Behaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return text(status, format!("fixture server: injected status {code}"));
        }
        Behaviour::RetryAfter { status, secs } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut r = text(code, format!("fixture server: injected status {status}"));
            r.headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from(secs));
            return r;
        }
        Behaviour::Body(b) => return ok("application/octet-stream", b),
        Behaviour::Delay(d) => tokio::time::sleep(d).await,
        Behaviour::StallAfter(n) => return broken(answer(&shared, &path), n, Break::Stall).await,
        Behaviour::ResetAfter(n) => return broken(answer(&shared, &path), n, Break::Reset).await,
        Behaviour::TruncateAfter(n) => {
            return broken(answer(&shared, &path), n, Break::Truncate).await;
        }
    }
    answer(&shared, &path)
}

fn answer(shared: &Shared, path: &str) -> Response {
    if let Some(rest) = path.strip_prefix("/sumdb/") {
        return serve_sumdb(shared, rest);
    }
    serve_proxy(shared, path)
}

#[derive(Clone, Copy)]
enum Break {
    Stall,
    Reset,
    Truncate,
}

/// Re-sends `resp` with its real length declared but its body broken after
/// `n` bytes.
async fn broken(resp: Response, n: usize, how: Break) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(full) = axum::body::to_bytes(body, usize::MAX).await else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "fixture server: body");
    };
    let head = full.slice(..n.min(full.len()));
    let stream = futures::stream::unfold(Some(head), move |head| async move {
        if let Some(h) = head {
            return Some((Ok::<_, std::io::Error>(h), None));
        }
        match how {
            Break::Stall => std::future::pending().await,
            Break::Reset => {
                // Let the first bytes leave, then abort the connection.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Some((
                    Err(std::io::Error::other("fixture server: injected reset")),
                    None,
                ))
            }
            Break::Truncate => None,
        }
    });
    let body = Body::from_stream(stream);
    let mut r = Response::from_parts(parts, body);
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, http::HeaderValue::from(full.len()));
    r
}

fn serve_sumdb(shared: &Shared, rest: &str) -> Response {
    let mut db = lock(&shared.sumdb);
    let Some(db) = db.as_mut() else {
        return text(StatusCode::NOT_FOUND, "no checksum database configured");
    };
    let name = db.name().to_string();
    let Some(sub) = rest
        .strip_prefix(name.as_str())
        .and_then(|r| r.strip_prefix('/'))
    else {
        return text(StatusCode::NOT_FOUND, "unknown checksum database");
    };
    if sub == "supported" {
        return ok("text/plain; charset=utf-8", Vec::new());
    }
    match db.handle(sub) {
        Some((ct, body)) => ok(ct, body),
        None => text(StatusCode::NOT_FOUND, format!("not found: {sub}")),
    }
}

fn serve_proxy(shared: &Shared, path: &str) -> Response {
    let not_found = |msg: String| text(StatusCode::NOT_FOUND, msg);
    let p = path.strip_prefix('/').unwrap_or(path);
    let set = lock(&shared.set);
    if let Some(esc_mod) = p.strip_suffix("/@latest") {
        let Ok(module) = gomod::escape::unescape_string(esc_mod) else {
            return not_found(format!("bad module path escaping: {esc_mod}"));
        };
        return match set.latest(&module) {
            Some(mv) => ok("application/json", mv.info_json.clone()),
            None => not_found(format!("not found: module {module}: no versions")),
        };
    }
    let Some((esc_mod, file)) = p.split_once("/@v/") else {
        return not_found(format!("not found: {path}"));
    };
    let Ok(module) = gomod::escape::unescape_string(esc_mod) else {
        return not_found(format!("bad module path escaping: {esc_mod}"));
    };
    if file == "list" {
        if !set.has_module(&module) {
            return not_found(format!("not found: module {module}"));
        }
        let mut body = set.list(&module).join("\n");
        if !body.is_empty() {
            body.push('\n');
        }
        return ok("text/plain; charset=utf-8", body.into_bytes());
    }
    let Some((esc_ver, ext)) = file.rsplit_once('.') else {
        return not_found(format!("not found: {path}"));
    };
    let Ok(version) = gomod::escape::unescape_string(esc_ver) else {
        return not_found(format!("bad version escaping: {esc_ver}"));
    };
    let Some(mv) = set.get(&module, &version) else {
        return not_found(format!("not found: {module}@{version}: unknown revision"));
    };
    match ext {
        "info" => ok("application/json", mv.info_json.clone()),
        "mod" => ok("text/plain; charset=utf-8", mv.gomod.clone()),
        "zip" => ok("application/zip", mv.zip.clone()),
        _ => not_found(format!("not found: {path}")),
    }
}
