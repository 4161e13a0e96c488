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
            corrupt: conformance::object_corruptor(os, be),
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
