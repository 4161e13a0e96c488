//! Shared by the proxy's end-to-end tests: start `modwarden serve` in-process
//! on 127.0.0.1:0 against testkit fixture servers, and build a main module
//! that depends on fixtures.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proxy::config::{self, Defaults, Layer};
use sumdb::server::TreeBuilder;
use testkit::fixtures::{FixtureSet, ModuleVersion};
use testkit::server::FixtureServer;

pub const DB_NAME: &str = "sumdb.modwarden.test";

/// A running in-process modwarden.
pub struct Proxy {
    pub base: String,
    pub pipeline: Arc<proxy::Pipeline>,
    pub store_dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Proxy {
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Whether the server task is still running (a panic that reached the
    /// accept loop would have ended it).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    pub async fn record(&self, module: &str, version: &str) -> Option<store::Record> {
        let store = store::local::LocalStore::open(&self.store_dir)
            .await
            .unwrap();
        use store::Store as _;
        store
            .get_record(&store::RecordKey::new(module, version))
            .await
            .unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts modwarden with `flags` (store defaults to `store_dir`).
pub async fn start_proxy(flags: Layer, store_dir: &Path) -> Proxy {
    start_proxy_with_clock(flags, store_dir, Arc::new(proxy::SystemClock)).await
}

/// Like [`start_proxy`], judging time by `clock`.
pub async fn start_proxy_with_clock(
    mut flags: Layer,
    store_dir: &Path,
    clock: Arc<dyn proxy::Clock>,
) -> Proxy {
    if flags.store.is_none() {
        flags.store = Some(store_dir.to_path_buf());
    }
    if flags.listen.is_none() {
        flags.listen = Some("127.0.0.1:0".into());
    }
    let vars: BTreeMap<String, String> = [("HOME".to_string(), "/nonexistent".to_string())].into();
    let cfg = config::merge(Layer::default(), &vars, flags, &Defaults::default())
        .expect("valid test config");
    let app = proxy::App::build_with_clock(&cfg, clock)
        .await
        .expect("app builds");
    serve_app(app, &cfg).await
}

/// Serves `app` on 127.0.0.1:0 until the returned handle is stopped.
async fn serve_app(app: proxy::App, cfg: &config::ServeConfig) -> Proxy {
    let pipeline = app.pipeline().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.serve(listener, async {
        let _ = rx.await;
    }));
    Proxy {
        base,
        pipeline,
        store_dir: cfg.store.clone(),
        shutdown: Some(tx),
        task: Some(task),
    }
}

/// Starts modwarden on a given store (e.g. a shared bucket), with local
/// state in `state_dir`.
pub async fn start_proxy_on_store(
    mut flags: Layer,
    state_dir: &Path,
    store: Arc<dyn store::Store>,
) -> Proxy {
    flags.store = Some(state_dir.to_path_buf());
    flags.listen = Some("127.0.0.1:0".into());
    let vars: BTreeMap<String, String> = BTreeMap::new();
    let cfg = config::merge(Layer::default(), &vars, flags, &Defaults::default())
        .expect("valid test config");
    let staging = state_dir.join("downloads");
    std::fs::create_dir_all(&staging).unwrap();
    let app = proxy::App::build_with_store(&cfg, store, staging, Arc::new(proxy::SystemClock))
        .await
        .expect("app builds");
    serve_app(app, &cfg).await
}

/// Flags for a modwarden in front of `upstream` verifying with its sumdb.
pub fn flags_for(upstream: &FixtureServer, vkey: &str) -> Layer {
    Layer {
        upstream: Some(upstream.base_url()),
        sumdb: Some(vec![format!(
            "{vkey} {}/sumdb/{DB_NAME}",
            upstream.base_url()
        )]),
        ..Layer::default()
    }
}

/// A fixture server for `set`, with its checksum database, and the
/// database's verifier key.
pub async fn world(set: FixtureSet) -> (FixtureServer, String) {
    let (db, vkey) = fixture_world(&set);
    (FixtureServer::start(set, Some(db)).await, vkey)
}

/// A fixture set and its checksum database.
pub fn fixture_world(set: &FixtureSet) -> (TreeBuilder, String) {
    let (mut db, vkey) = TreeBuilder::generate(DB_NAME).unwrap();
    set.add_to_sumdb(&mut db);
    (db, vkey)
}

/// The dependencies of the main module: one version of each of >= 30
/// modules, including upper case, /v2, +incompatible and a pseudo-version.
pub fn dependency_set(fillers: usize) -> (FixtureSet, Vec<(String, String)>) {
    let mut set = FixtureSet::standard();
    set.add_fillers(fillers);
    let mut deps = vec![
        ("example.com/simple".to_string(), "v1.1.0".to_string()),
        ("example.com/Upper/CaseMod".into(), "v1.0.1-Beta.2".into()),
        ("example.com/major/v2".into(), "v2.1.0".into()),
        ("example.com/incompat".into(), "v2.0.0+incompatible".into()),
        (
            "example.com/pseudo".into(),
            "v0.0.0-20240101120000-abcdefabcdef".into(),
        ),
    ];
    for i in 0..fillers {
        deps.push((format!("example.com/filler/f{i:05}"), "v1.0.0".into()));
    }
    (set, deps)
}

/// Writes `example.com/app` requiring and importing every dependency.
pub fn write_main_module(dir: &Path, deps: &[(String, String)]) {
    testkit::go::write_app_module(dir, deps.iter().map(|(m, v)| (m.as_str(), v.as_str())));
}

/// A module version whose files differ from `mv` (so its hashes differ).
pub fn altered(mv: &ModuleVersion) -> ModuleVersion {
    ModuleVersion::from_files(
        &mv.path,
        &mv.version,
        &[
            ("go.mod", mv.gomod.as_slice()),
            ("evil.go", b"package evil\n".as_slice()),
        ],
    )
}
