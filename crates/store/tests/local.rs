//! The local backend: the conformance suite plus what only a disk has.

mod conformance;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use conformance::{Harness, data};
use futures::TryStreamExt;
use store::local::{LocalOptions, LocalStore};
use store::maint::{self, NoReporter, ScrubOptions};
use store::{BlobSource, Digest, Error, Store};

fn flip_byte(path: &Path) {
    testkit::util::make_writable(path);
    let mut b = std::fs::read(path).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backend_passes_conformance() {
    let dirs = Arc::new(std::sync::Mutex::new(Vec::new()));
    conformance::run_all(|| {
        let dirs = dirs.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let s = LocalStore::open(&dir.path().join("store")).await.unwrap();
            dirs.lock().unwrap().push(dir);
            let s2 = s.clone();
            let root = s.root().to_path_buf();
            Harness {
                store: Arc::new(s),
                corrupt: Box::new(move |d: Digest| {
                    let p = s2.blob_path(&d);
                    Box::pin(async move { flip_byte(&p) })
                }),
                overwrite: Box::new(move |key: String, bytes: Vec<u8>| {
                    let p = root.join(key);
                    Box::pin(async move {
                        if p.exists() {
                            testkit::util::make_writable(&p);
                        }
                        std::fs::write(&p, bytes).unwrap();
                    })
                }),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn new_store_has_cachedir_tag_meta_and_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s");
    LocalStore::open(&root).await.unwrap();
    let tag = std::fs::read_to_string(root.join("CACHEDIR.TAG")).unwrap();
    assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
    let meta = std::fs::read_to_string(root.join("meta.toml")).unwrap();
    assert!(meta.contains("layout = 1"), "{meta}");
    for d in ["data/sha256", "index", "docs", "tmp", "quarantine/sha256"] {
        assert!(root.join(d).is_dir(), "{d}");
    }
    // Reopening an existing store works.
    LocalStore::open(&root).await.unwrap();
}

#[tokio::test]
async fn newer_layout_is_refused_not_reinterpreted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("meta.toml"), "layout = 7\n").unwrap();
    let e = LocalStore::open(root).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::LayoutTooNew {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("layout version 7") && msg.contains("upgrade modwarden"),
        "{msg}"
    );
    assert!(!root.join("data").exists(), "a refused store was modified");
    std::fs::write(root.join("meta.toml"), "layout = \"one\"\n").unwrap();
    let e = LocalStore::open(root).await.unwrap_err();
    assert!(matches!(e, Error::Malformed { .. }), "{e}");
}

#[tokio::test]
async fn non_empty_directory_without_meta_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let e = LocalStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(e, Error::NotAStore { .. }), "{e}");
}

#[tokio::test]
async fn staging_leftovers_removed_at_open_but_not_a_live_stores() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s");
    let live = LocalStore::open(&root).await.unwrap();
    let tmp = root.join("tmp");
    let live_entries: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(live_entries.len(), 2, "{live_entries:?}");
    // A dead process's staging area: lock file nobody holds, partial blob.
    std::fs::create_dir(tmp.join("999-dead")).unwrap();
    std::fs::write(tmp.join("999-dead/0"), "partial").unwrap();
    std::fs::write(tmp.join("999-dead.lock"), "").unwrap();
    std::fs::write(tmp.join("stray"), "x").unwrap();
    let _second = LocalStore::open(&root).await.unwrap();
    assert!(!tmp.join("999-dead").exists());
    assert!(!tmp.join("999-dead.lock").exists());
    assert!(!tmp.join("stray").exists());
    for p in &live_entries {
        assert!(p.exists(), "the live store's {} was removed", p.display());
    }
    // And the live store still writes.
    live.put_blob(BlobSource::Bytes(Bytes::from_static(b"ok")))
        .await
        .unwrap();
}

async fn assert_no_partial_and_reads_work(s: &LocalStore, keep: &store::BlobRef) {
    let mut staged = 0;
    for e in std::fs::read_dir(s.root().join("tmp")).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            staged += std::fs::read_dir(&p).unwrap().count();
        }
    }
    assert_eq!(staged, 0, "a staging file was left behind");
    let blobs: Vec<_> = s.list_blobs().await.unwrap().try_collect().await.unwrap();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    let got = s
        .get_blob(&keep.digest, None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Digest::of(&got), keep.digest);
    let r = maint::scrub(s, &ScrubOptions::default(), &NoReporter)
        .await
        .unwrap();
    assert!(r.is_clean(), "{r:?}");
}

/// Puts into a full disk: a real 1 MiB tmpfs if this machine lets us mount
/// one, else the injected "no space" hook. Says which one ran.
#[tokio::test]
async fn disk_full_put_fails_clearly_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    struct Unmount(std::path::PathBuf, bool);
    impl Drop for Unmount {
        fn drop(&mut self) {
            if self.1 {
                let _ = std::process::Command::new("umount").arg(&self.0).status();
            }
        }
    }
    let _guard = Unmount(mnt.clone(), mounted);
    let opts = if mounted {
        eprintln!(
            "disk-full test: using a real 1 MiB tmpfs at {}",
            mnt.display()
        );
        LocalOptions::default()
    } else {
        eprintln!("disk-full test: cannot mount tmpfs here; using the injected no-space hook");
        let mut o = LocalOptions::default();
        o.inject_no_space_after = Some(512 << 10);
        o
    };
    let s = LocalStore::open_with(&mnt.join("store"), opts)
        .await
        .unwrap();
    let keep = s
        .put_blob(BlobSource::Bytes(Bytes::from(data(1, 100_000))))
        .await
        .unwrap();
    for src in [
        BlobSource::Bytes(Bytes::from(data(2, 2 << 20))),
        BlobSource::Reader(Box::new(std::io::Cursor::new(data(3, 2 << 20)))),
        {
            let f = dir.path().join("big");
            std::fs::write(&f, data(4, 2 << 20)).unwrap();
            BlobSource::File(f)
        },
    ] {
        let e = s.put_blob(src).await.unwrap_err();
        assert!(matches!(e, Error::NoSpace { .. }), "{e}");
        assert!(e.to_string().contains("no space left"), "{e}");
        assert_no_partial_and_reads_work(&s, &keep).await;
    }
}

#[tokio::test]
async fn injected_no_space_leaves_nothing_partial() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = LocalOptions::default();
    o.inject_no_space_after = Some(200_000);
    let s = LocalStore::open_with(dir.path(), o).await.unwrap();
    let keep = s
        .put_blob(BlobSource::Bytes(Bytes::from(data(1, 100_000))))
        .await
        .unwrap();
    let f = dir.path().join("big");
    std::fs::write(&f, data(4, 3 << 20)).unwrap();
    let e = s.put_blob(BlobSource::File(f)).await.unwrap_err();
    assert!(matches!(e, Error::NoSpace { .. }), "{e}");
    assert_no_partial_and_reads_work(&s, &keep).await;
}

#[tokio::test]
async fn wrong_sized_blob_is_replaced_by_a_new_put() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStore::open(dir.path()).await.unwrap();
    let bytes = data(5, 4000);
    let b = s
        .put_blob(BlobSource::Bytes(Bytes::from(bytes.clone())))
        .await
        .unwrap();
    let p = s.blob_path(&b.digest);
    testkit::util::make_writable(&p);
    std::fs::write(&p, &bytes[..100]).unwrap();
    s.put_blob(BlobSource::Bytes(Bytes::from(bytes.clone())))
        .await
        .unwrap();
    let got = s
        .get_blob(&b.digest, None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..], &bytes[..]);
}

async fn read_all(s: &LocalStore, d: &Digest) -> std::io::Result<Bytes> {
    s.get_blob(d, None).await.unwrap().bytes().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_blob_that_hashed_correctly_is_trusted_until_its_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStore::open(dir.path()).await.unwrap();
    let bytes = data(7, 3 << 20);
    let b = s
        .put_blob(BlobSource::Bytes(Bytes::from(bytes.clone())))
        .await
        .unwrap();
    // Written in the last seconds: hashed, and not trusted yet (a write in
    // the same timestamp tick would leave the file's identity unchanged).
    assert_eq!(read_all(&s, &b.digest).await.unwrap(), bytes);
    assert_eq!(s.full_reads(), (1, 0));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(read_all(&s, &b.digest).await.unwrap(), bytes);
    assert_eq!(s.full_reads(), (2, 0));
    for _ in 0..3 {
        assert_eq!(read_all(&s, &b.digest).await.unwrap(), bytes);
    }
    assert_eq!(
        s.full_reads(),
        (2, 3),
        "unchanged file: trusted, not hashed"
    );

    // Any write changes the file's change time: hashed again, caught.
    flip_byte(&s.blob_path(&b.digest));
    let err = read_all(&s, &b.digest).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    assert_eq!(s.full_reads(), (3, 3));
    assert!(!s.blob_path(&b.digest).exists(), "corrupt blob quarantined");
    assert!(matches!(
        s.get_blob(&b.digest, None).await,
        Err(Error::NotFound { .. })
    ));

    // Stored again: a new file, hashed before it is trusted.
    let b2 = s
        .put_blob(BlobSource::Bytes(Bytes::from(bytes.clone())))
        .await
        .unwrap();
    assert_eq!(b2, b);
    assert_eq!(read_all(&s, &b.digest).await.unwrap(), bytes);
    assert_eq!(s.full_reads(), (4, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_blob_truncated_or_replaced_is_hashed_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStore::open(dir.path()).await.unwrap();
    let bytes = data(8, 2 << 20);
    let b = s
        .put_blob(BlobSource::Bytes(Bytes::from(bytes.clone())))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // scrub's verify_blob also makes a blob trusted.
    assert!(matches!(
        s.verify_blob(&b.digest).await.unwrap(),
        store::BlobCheck::Ok { .. }
    ));
    assert_eq!(read_all(&s, &b.digest).await.unwrap(), bytes);
    assert_eq!(s.full_reads(), (0, 1));

    let p = s.blob_path(&b.digest);
    testkit::util::make_writable(&p);
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(3 << 19).unwrap();
    drop(f);
    assert!(read_all(&s, &b.digest).await.is_err());
    assert_eq!(s.full_reads(), (1, 1));

    // Replaced by another file of the same size (rename over it).
    let b = s
        .put_blob(BlobSource::Bytes(Bytes::from(bytes.clone())))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(read_all(&s, &b.digest).await.unwrap(), bytes);
    assert_eq!(read_all(&s, &b.digest).await.unwrap(), bytes);
    assert_eq!(s.full_reads(), (2, 2));
    let other = dir.path().join("other");
    let mut wrong = bytes.clone();
    wrong[12345] ^= 1;
    std::fs::write(&other, &wrong).unwrap();
    std::fs::rename(&other, s.blob_path(&b.digest)).unwrap();
    let err = read_all(&s, &b.digest).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    assert_eq!(s.full_reads(), (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverify_after_zero_hashes_every_read_and_trust_expires() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = LocalOptions::default();
    o.reverify_after = std::time::Duration::ZERO;
    let s = LocalStore::open_with(&dir.path().join("a"), o)
        .await
        .unwrap();
    let mut o = LocalOptions::default();
    o.reverify_after = std::time::Duration::from_secs(1);
    let t = LocalStore::open_with(&dir.path().join("b"), o)
        .await
        .unwrap();
    let bytes = data(9, (1 << 20) + 1);
    let mut digests = Vec::new();
    for st in [&s, &t] {
        let b = st
            .put_blob(BlobSource::Bytes(Bytes::from(bytes.clone())))
            .await
            .unwrap();
        digests.push(b.digest);
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for _ in 0..3 {
        assert_eq!(read_all(&s, &digests[0]).await.unwrap(), bytes);
        assert_eq!(read_all(&t, &digests[1]).await.unwrap(), bytes);
    }
    assert_eq!(
        s.full_reads(),
        (3, 0),
        "reverify_after 0: every read hashed"
    );
    assert_eq!(t.full_reads(), (1, 2));
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(read_all(&t, &digests[1]).await.unwrap(), bytes);
    assert_eq!(t.full_reads(), (2, 2), "trust expired: hashed again");
}
