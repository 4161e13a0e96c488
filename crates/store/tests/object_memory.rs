//! The object-storage backend on `object_store`'s in-memory store.

mod conformance;

use std::sync::Arc;

use bytes::Bytes;
use conformance::Harness;

use object_store::ObjectStore;
use object_store::memory::InMemory;
use store::Error;
use store::object::ObjectStoreBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_object_store_passes_conformance() {
    conformance::run_all(|| async {
        let os: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let be = ObjectStoreBackend::new(os.clone(), "some/prefix")
            .await
            .unwrap();
        Harness {
            store: Arc::new(be.clone()),
            corrupt: conformance::object_corruptor(os.clone(), be.clone()),
            overwrite: conformance::object_overwriter(os, be),
        }
    })
    .await;
}

#[tokio::test]
async fn object_store_refuses_newer_layout() {
    let os: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    os.put(
        &object_store::path::Path::from("p/meta.toml"),
        Bytes::from_static(b"layout = 2\n").into(),
    )
    .await
    .unwrap();
    let e = ObjectStoreBackend::new(os.clone(), "p").await.unwrap_err();
    assert!(matches!(e, Error::LayoutTooNew { found: 2, .. }), "{e}");
    // Another prefix is another store.
    ObjectStoreBackend::new(os, "q").await.unwrap();
}

#[tokio::test]
async fn from_url_memory_and_unknown_s3_option() {
    ObjectStoreBackend::from_url("memory:///", Vec::<(String, String)>::new())
        .await
        .unwrap();
    let e = ObjectStoreBackend::from_url("s3://bucket/prefix", [("aws_no_such_option", "1")])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown S3 option"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn access_flusher_writes_once_per_interval() {
    use std::time::Duration;
    use store::{AccessTracker, DocKey, RecordKey, Store};
    let os: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let be: Arc<dyn Store> = Arc::new(ObjectStoreBackend::new(os, "").await.unwrap());
    let tracker = Arc::new(AccessTracker::new(be.clone()));
    let task = tracker.spawn_flusher(Duration::from_secs(60));
    tokio::task::yield_now().await; // let the flusher start its clock at t=0
    let k = RecordKey::new("example.com/m", "v1.0.0");
    tracker.touch(&k);
    tokio::time::sleep(Duration::from_secs(30)).await;
    tokio::task::yield_now().await;
    assert!(be.get_doc(&DocKey::Access).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_secs(31)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(tracker.pending(), 0);
    let table = store::access::load(be.as_ref()).await.unwrap();
    assert!(table.contains_key(&k));
    task.abort();
}
