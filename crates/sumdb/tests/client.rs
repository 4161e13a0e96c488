//! The verifying client against in-memory databases: lookups proved through
//! tiles, tampering detected, fork detection, persisted state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use sumdb::server::TreeBuilder;
use sumdb::tlog::{self, Tile};
use sumdb::{Client, Error, Transport, TransportError};

/// Serves a TreeBuilder, counting requests, with optional tampering.
struct Mem {
    db: Mutex<TreeBuilder>,
    log: Mutex<Vec<String>>,
    tamper: Mutex<HashMap<String, Vec<u8>>>,
    /// Serve partial tiles as 404 (as a server that only keeps full tiles).
    no_partial: bool,
}

impl Mem {
    fn new(db: TreeBuilder) -> Arc<Mem> {
        Arc::new(Mem {
            db: Mutex::new(db),
            log: Mutex::new(Vec::new()),
            tamper: Mutex::new(HashMap::new()),
            no_partial: false,
        })
    }
    fn count(&self, prefix: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(prefix))
            .count()
    }
}

#[async_trait]
impl Transport for Mem {
    async fn read_remote(&self, path: &str) -> Result<Bytes, TransportError> {
        self.log.lock().unwrap().push(path.to_string());
        if let Some(b) = self.tamper.lock().unwrap().get(path) {
            return Ok(Bytes::from(b.clone()));
        }
        if self.no_partial && path.contains(".p/") {
            return Err(TransportError::NotFound);
        }
        match self.db.lock().unwrap().handle(path) {
            Some((_, body)) => Ok(body.into()),
            None => Err(TransportError::NotFound),
        }
    }
}

fn filled(n: usize) -> (TreeBuilder, String) {
    let (mut db, vkey) = TreeBuilder::generate("sum.test").unwrap();
    for i in 0..n {
        db.add(
            &format!("example.com/m{i}"),
            "v1.0.0",
            &format!("h1:zip{i}="),
            &format!("h1:mod{i}="),
        )
        .unwrap();
    }
    (db, vkey)
}

#[tokio::test]
async fn lookup_returns_proved_hashes_in_a_big_tree() {
    let (mut db, vkey) = filled(1000);
    db.add("example.com/Upper/Mod", "v1.0.0-RC1", "h1:up=", "h1:upmod=")
        .unwrap();
    let t = Mem::new(db);
    let c = Client::new(&vkey, t.clone(), None).unwrap();
    for i in [0usize, 1, 255, 256, 511, 999] {
        let r = c
            .lookup(&format!("example.com/m{i}"), "v1.0.0")
            .await
            .unwrap();
        assert_eq!(r.id, i as u64);
        assert_eq!(r.zip_h1, format!("h1:zip{i}="));
        assert_eq!(r.gomod_h1, format!("h1:mod{i}="));
        assert_eq!(r.tree.n, 1001);
    }
    let r = c
        .lookup("example.com/Upper/Mod", "v1.0.0-RC1")
        .await
        .unwrap();
    assert_eq!(r.id, 1000);
    let raw =
        t.db.lock()
            .unwrap()
            .handle("lookup/example.com/!upper/!mod@v1.0.0-!r!c1")
            .unwrap()
            .1;
    assert_eq!(&r.body[..], &raw[..]);
    assert_eq!(r.note, c.latest_note());
    assert!(
        t.log
            .lock()
            .unwrap()
            .contains(&"lookup/example.com/!upper/!mod@v1.0.0-!r!c1".to_string())
    );
    // Authenticated tiles are cached: the upper tile was fetched once.
    assert_eq!(
        t.count("tile/8/1/000.p/3"),
        1,
        "{:?}",
        t.log.lock().unwrap()
    );

    let e = c.lookup("example.com/nope", "v1.0.0").await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

/// Notes and lookups from one tree; tiles from a grown copy of it, with
/// some partial tiles gone (a server that only keeps full tiles once done).
struct Grown {
    signed: Mutex<TreeBuilder>,
    grown: Mutex<TreeBuilder>,
    gone: Vec<String>,
    log: Mutex<Vec<String>>,
}

#[async_trait]
impl Transport for Grown {
    async fn read_remote(&self, path: &str) -> Result<Bytes, TransportError> {
        self.log.lock().unwrap().push(path.to_string());
        if self.gone.iter().any(|g| g == path) {
            return Err(TransportError::NotFound);
        }
        let db = if path.starts_with("tile/") {
            &self.grown
        } else {
            &self.signed
        };
        db.lock()
            .unwrap()
            .handle(path)
            .map(|(_, b)| b.into())
            .ok_or(TransportError::NotFound)
    }
}

#[tokio::test]
async fn partial_tile_gone_falls_back_to_full_tile() {
    let (db600, vkey) = filled(600);
    let mut db800 = db600.clone();
    for i in 600..800 {
        db800
            .add(&format!("example.com/m{i}"), "v1.0.0", "h1:a=", "h1:b=")
            .unwrap();
    }
    let t = Arc::new(Grown {
        signed: Mutex::new(db600),
        grown: Mutex::new(db800),
        gone: vec!["tile/8/0/002.p/88".into(), "tile/8/data/002.p/88".into()],
        log: Mutex::new(Vec::new()),
    });
    let c = Client::new(&vkey, t.clone(), None).unwrap();
    let r = c.lookup("example.com/m550", "v1.0.0").await.unwrap();
    assert_eq!((r.id, r.tree.n), (550, 600));
    let log = t.log.lock().unwrap().clone();
    assert!(log.contains(&"tile/8/0/002.p/88".to_string()), "{log:?}");
    assert!(log.contains(&"tile/8/0/002".to_string()), "{log:?}");
    // The proxy-facing tile is the authenticated prefix.
    let want = t
        .signed
        .lock()
        .unwrap()
        .handle("tile/8/0/002.p/88")
        .unwrap()
        .1;
    assert_eq!(
        &c.verified_tile("tile/8/0/002.p/88").await.unwrap()[..],
        &want[..]
    );
    let want = t
        .signed
        .lock()
        .unwrap()
        .handle("tile/8/data/002.p/88")
        .unwrap()
        .1;
    assert_eq!(
        &c.verified_tile("tile/8/data/002.p/88").await.unwrap()[..],
        &want[..]
    );
}

#[tokio::test]
async fn tampered_record_or_tile_or_note_is_refused() {
    let (mut db, vkey) = filled(700);
    let good = db.handle("lookup/example.com/m600@v1.0.0").unwrap().1;
    let t = Mem::new(db);

    // A record whose hash was changed.
    let bad = String::from_utf8(good.clone())
        .unwrap()
        .replace("h1:zip600=", "h1:evil=");
    t.tamper
        .lock()
        .unwrap()
        .insert("lookup/example.com/m600@v1.0.0".into(), bad.into_bytes());
    let c = Client::new(&vkey, t.clone(), None).unwrap();
    let e = c.lookup("example.com/m600", "v1.0.0").await.unwrap_err();
    assert!(matches!(e, Error::BadLookup { .. }), "{e}");
    assert!(e.to_string().contains("cannot authenticate"), "{e}");

    // A tile with one flipped bit.
    t.tamper.lock().unwrap().clear();
    let mut tile = t.db.lock().unwrap().handle("tile/8/0/002.p/188").unwrap().1;
    tile[5] ^= 1;
    t.tamper
        .lock()
        .unwrap()
        .insert("tile/8/0/002.p/188".into(), tile);
    let c = Client::new(&vkey, t.clone(), None).unwrap();
    let e = c.lookup("example.com/m600", "v1.0.0").await.unwrap_err();
    assert!(matches!(e, Error::BadTile { .. }), "{e}");
    // A short tile.
    t.tamper
        .lock()
        .unwrap()
        .insert("tile/8/0/002.p/188".into(), vec![0; 31]);
    let e = c.lookup("example.com/m600", "v1.0.0").await.unwrap_err();
    assert!(matches!(e, Error::BadTile { .. }), "{e}");
    // The bad tile was never cached: the genuine one works afterwards.
    t.tamper.lock().unwrap().clear();
    c.lookup("example.com/m600", "v1.0.0").await.unwrap();

    // A note signed by another key.
    let (other, _) = filled(700);
    let mut other = other;
    let forged = other.handle("lookup/example.com/m600@v1.0.0").unwrap().1;
    t.tamper
        .lock()
        .unwrap()
        .insert("lookup/example.com/m600@v1.0.0".into(), forged);
    let c = Client::new(&vkey, t.clone(), None).unwrap();
    let e = c.lookup("example.com/m600", "v1.0.0").await.unwrap_err();
    assert!(matches!(e, Error::BadNote { .. }), "{e}");

    // Malformed lookup bodies.
    for body in ["", "12", "x\nfoo\n\n", "1\nfoo\n", "1\nfoo\n\nnot a note\n"] {
        t.tamper
            .lock()
            .unwrap()
            .insert("lookup/example.com/m600@v1.0.0".into(), body.into());
        let e = c.lookup("example.com/m600", "v1.0.0").await.unwrap_err();
        assert!(
            matches!(e, Error::BadLookup { .. } | Error::BadNote { .. }),
            "{body:?}: {e}"
        );
    }
}

#[tokio::test]
async fn lookup_record_for_another_module_is_refused() {
    let (mut db, vkey) = filled(10);
    let other = db.handle("lookup/example.com/m3@v1.0.0").unwrap().1;
    let t = Mem::new(db);
    t.tamper
        .lock()
        .unwrap()
        .insert("lookup/example.com/m4@v1.0.0".into(), other);
    let c = Client::new(&vkey, t, None).unwrap();
    let e = c.lookup("example.com/m4", "v1.0.0").await.unwrap_err();
    assert!(matches!(e, Error::BadLookup { .. }), "{e}");
}

#[tokio::test]
async fn verified_tiles_match_server_tiles() {
    let (db, vkey) = filled(1300);
    let t = Mem::new(db);
    let c = Client::new(&vkey, t.clone(), None).unwrap();
    c.lookup("example.com/m1", "v1.0.0").await.unwrap();
    for p in [
        "tile/8/0/000",
        "tile/8/0/003",
        "tile/8/0/005.p/20",
        "tile/8/0/004.p/3",
        "tile/8/1/000.p/5",
        "tile/8/data/000",
        "tile/8/data/005.p/20",
    ] {
        let want = t.db.lock().unwrap().handle(p).unwrap().1;
        let got = c.verified_tile(p).await.unwrap();
        assert_eq!(&got[..], &want[..], "{p}");
    }
    let e = c.verified_tile("tile/8/0/009").await.unwrap_err();
    assert!(matches!(e, Error::TileNotInTree { .. }), "{e}");
    let e = c.verified_tile("tile/8/0/1").await.unwrap_err();
    assert!(matches!(e, Error::BadTile { .. }), "{e}");

    // A wrong data tile is refused.
    let mut data = t.db.lock().unwrap().handle("tile/8/data/001").unwrap().1;
    data[3] ^= 1;
    t.tamper
        .lock()
        .unwrap()
        .insert("tile/8/data/001".into(), data);
    let e = c.verified_tile("tile/8/data/001").await.unwrap_err();
    assert!(matches!(e, Error::BadTile { .. }), "{e}");
}

#[tokio::test]
async fn fork_after_common_prefix_is_a_security_error_with_both_notes() {
    let (mut a, vkey) = filled(600);
    let mut b = a.clone();
    for i in 0..100 {
        a.add(&format!("example.com/a{i}"), "v1.0.0", "h1:a=", "h1:a=")
            .unwrap();
        b.add(&format!("example.com/b{i}"), "v1.0.0", "h1:b=", "h1:b=")
            .unwrap();
    }
    b.add("example.com/b-extra", "v1.0.0", "h1:b=", "h1:b=")
        .unwrap();
    let note_a = a.signed_tree();
    let note_b = b.signed_tree();

    let ta = Mem::new(a);
    let c = Client::new(&vkey, ta.clone(), None).unwrap();
    c.lookup("example.com/m1", "v1.0.0").await.unwrap();
    assert_eq!(c.latest_note(), note_a);

    // Same client, now talking to the fork (larger tree).
    let tb = Mem::new(b);
    let shared = Arc::new(Switch(Mutex::new(ta.clone() as Arc<dyn Transport>)));
    let c = Client::new(&vkey, shared.clone(), None).unwrap();
    c.lookup("example.com/m1", "v1.0.0").await.unwrap();
    *shared.0.lock().unwrap() = tb.clone();
    let e = c.lookup("example.com/m2", "v1.0.0").await.unwrap_err();
    match &e {
        Error::Security {
            old_note,
            new_note,
            proof,
        } => {
            assert_eq!(old_note, &note_a);
            assert_eq!(new_note, &note_b);
            // The evidence holds: proof[0] is B's hash at A's size, which
            // the rest of the proof ties to B's root, and which is not A's.
            let tree = |n: &[u8]| {
                let text = &n[..n.windows(2).position(|w| w == b"\n\n").unwrap() + 1];
                tlog::parse_tree(text).unwrap()
            };
            let (ta, tb) = (tree(old_note), tree(new_note));
            assert_ne!(proof[0], ta.hash);
            tlog::check_tree(&proof[1..], tb.n, tb.hash, ta.n, proof[0]).unwrap();
        }
        e => panic!("want Security, got {e}"),
    }
    let msg = e.to_string();
    assert!(
        msg.starts_with("SECURITY ERROR\ngo.sum database server misbehavior detected!"),
        "{msg}"
    );
    assert!(
        msg.contains("old database:\n\tgo.sum database tree\n\t700\n"),
        "{msg}"
    );
    assert!(
        msg.contains("new database:\n\tgo.sum database tree\n\t701\n"),
        "{msg}"
    );
    // The client keeps its timeline.
    assert_eq!(c.latest_note(), note_a);

    // Same size, different hash: refused from the notes alone.
    let (mut a2, vkey2) = filled(5);
    let mut b2 = a2.clone();
    a2.add("x.test/a", "v1.0.0", "h1:a=", "h1:a=").unwrap();
    b2.add("x.test/b", "v1.0.0", "h1:b=", "h1:b=").unwrap();
    let sw = Arc::new(Switch(Mutex::new(Mem::new(a2) as Arc<dyn Transport>)));
    let c = Client::new(&vkey2, sw.clone(), None).unwrap();
    c.lookup("example.com/m1", "v1.0.0").await.unwrap();
    *sw.0.lock().unwrap() = Mem::new(b2);
    let e = c.lookup("example.com/m1", "v1.0.0").await.unwrap_err();
    assert!(matches!(e, Error::Security { .. }), "{e}");
}

/// A transport whose target can be swapped mid-test.
struct Switch(Mutex<Arc<dyn Transport>>);

#[async_trait]
impl Transport for Switch {
    async fn read_remote(&self, path: &str) -> Result<Bytes, TransportError> {
        let t = self.0.lock().unwrap().clone();
        t.read_remote(path).await
    }
}

#[tokio::test]
async fn latest_tree_persists_across_restart_and_still_detects_forks() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, vkey) = filled(300);
    let mut b = a.clone();
    a.add("x.test/a", "v1.0.0", "h1:a=", "h1:a=").unwrap();
    for i in 0..10 {
        b.add(&format!("x.test/b{i}"), "v1.0.0", "h1:b=", "h1:b=")
            .unwrap();
    }
    let note_a = a.signed_tree();
    {
        let c = Client::new(&vkey, Mem::new(a.clone()), Some(dir.path().to_path_buf())).unwrap();
        c.lookup("example.com/m1", "v1.0.0").await.unwrap();
    }
    let state = dir.path().join("sum.test").join("latest");
    assert_eq!(std::fs::read(&state).unwrap(), note_a);

    // Restart: the remembered tree is loaded...
    let c = Client::new(&vkey, Mem::new(b), Some(dir.path().to_path_buf())).unwrap();
    assert_eq!(c.latest_tree().n, 301);
    // ...and a fork is refused.
    let e = c.lookup("example.com/m1", "v1.0.0").await.unwrap_err();
    assert!(matches!(e, Error::Security { .. }), "{e}");
    assert_eq!(std::fs::read(&state).unwrap(), note_a);

    // Growing the honest tree moves the state forward.
    let mut a2 = a.clone();
    a2.add("x.test/a2", "v1.0.0", "h1:a=", "h1:a=").unwrap();
    let note_a2 = a2.signed_tree();
    let c = Client::new(&vkey, Mem::new(a2), Some(dir.path().to_path_buf())).unwrap();
    c.lookup("x.test/a2", "v1.0.0").await.unwrap();
    assert_eq!(std::fs::read(&state).unwrap(), note_a2);
    assert_eq!(c.refresh_latest().await.unwrap().n, 302);
}

/// Several clients (several proxy instances) sharing one state directory
/// persist the latest tree at the same time without tripping over each
/// other's temporary files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_sharing_a_state_dir_persist_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let (db, vkey) = filled(300);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = Client::new(&vkey, Mem::new(db.clone()), Some(dir.path().to_path_buf())).unwrap();
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                c.lookup(&format!("example.com/m{i}"), "v1.0.0")
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let state = dir.path().join("sum.test").join("latest");
    assert_eq!(std::fs::read(&state).unwrap(), db.clone().signed_tree());
}

#[tokio::test]
async fn corrupt_state_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (db, vkey) = filled(3);
    let state = dir.path().join("sum.test").join("latest");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    for junk in [
        &b"garbage"[..],
        b"go.sum database tree\n3\nAAAA\n\n\xe2\x80\x94 sum.test AAAA\n",
    ] {
        std::fs::write(&state, junk).unwrap();
        let e =
            Client::new(&vkey, Mem::new(db.clone()), Some(dir.path().to_path_buf())).unwrap_err();
        assert!(matches!(e, Error::StateCorrupt { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains(&state.display().to_string()), "{msg}");
        assert!(msg.contains("delete"), "{msg}");
    }
    // An empty file (a crash before the first write) counts as no state.
    std::fs::write(&state, b"").unwrap();
    let c = Client::new(&vkey, Mem::new(db), Some(dir.path().to_path_buf())).unwrap();
    assert_eq!(c.latest_tree().n, 0);
}

#[tokio::test]
async fn bad_keys_are_typed_errors() {
    let (db, _) = filled(1);
    for k in [
        "",
        "sum.test",
        "sum.test+zz+AAAA",
        "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn9",
    ] {
        let e = Client::new(k, Mem::new(db.clone()), None).unwrap_err();
        assert!(matches!(e, Error::BadKey(_)), "{k}: {e}");
    }
}

#[test]
fn server_tiles_are_prefixes_and_paths_parse() {
    let (mut db, _) = filled(600);
    let full = db.handle("tile/8/0/001").unwrap().1;
    let part = db.handle("tile/8/0/001.p/7").unwrap().1;
    assert_eq!(&full[..7 * 32], &part[..]);
    assert!(db.handle("tile/8/0/002").is_none());
    assert_eq!(db.handle("tile/8/0/002.p/88").unwrap().1.len(), 88 * 32);
    assert!(db.handle("tile/8/0/002.p/89").is_none());
    assert!(db.handle("tile/8/1/000.p/2").is_some());
    assert!(db.handle("tile/8/1/000.p/3").is_none());
    let data = db.handle("tile/8/data/000.p/2").unwrap().1;
    assert_eq!(
        String::from_utf8(data).unwrap(),
        "example.com/m0 v1.0.0 h1:zip0=\nexample.com/m0 v1.0.0/go.mod h1:mod0=\n\n\
         example.com/m1 v1.0.0 h1:zip1=\nexample.com/m1 v1.0.0/go.mod h1:mod1=\n\n"
    );
    assert!(db.handle("lookup/example.com/M0@v1.0.0").is_none());
    assert!(db.handle("nonsense").is_none());
    let t = Tile::from_path("tile/8/0/001.p/7").unwrap();
    assert_eq!(db.tile(&t).unwrap(), part);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_while_the_tree_grows() {
    let (db, vkey) = filled(800);
    let t = Mem::new(db);
    let c = Arc::new(Client::new(&vkey, t.clone(), None).unwrap());
    let mut tasks = Vec::new();
    for i in 0..64usize {
        let c = c.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            if i % 8 == 0 {
                // The database grows under the readers.
                t.db.lock()
                    .unwrap()
                    .add(&format!("example.com/new{i}"), "v1.0.0", "h1:n=", "h1:n=")
                    .unwrap();
            }
            let k = (i * 37) % 800;
            let r = c
                .lookup(&format!("example.com/m{k}"), "v1.0.0")
                .await
                .unwrap();
            assert_eq!(r.zip_h1, format!("h1:zip{k}="));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(c.latest_tree().n >= 800);
    c.refresh_latest().await.unwrap();
    assert_eq!(c.latest_tree().n, 808);
}
