//! Hash-while-streaming with the last chunk held back (see the crate docs).

use std::io;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::{BlobRef, Error, Hasher};

/// Chunks at least this big are hashed on the blocking pool.
const BLOCKING_HASH_MIN: usize = 64 << 10;

/// Called once when the content turns out not to match; quarantines it.
pub(crate) type OnCorrupt = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Called once when the whole content hashed as expected.
pub(crate) type OnGood = Box<dyn FnOnce() + Send>;

struct State {
    inner: BoxStream<'static, io::Result<Bytes>>,
    hasher: Hasher,
    pending: Option<Bytes>,
    done: bool,
    expected: BlobRef,
    path: String,
    on_corrupt: Option<OnCorrupt>,
    on_good: Option<OnGood>,
}

/// Wraps the full content stream of a blob so that it ends in an error
/// instead of its last chunk when the bytes do not hash to `expected`.
pub(crate) fn verified(
    inner: BoxStream<'static, io::Result<Bytes>>,
    expected: BlobRef,
    path: String,
    on_corrupt: OnCorrupt,
    on_good: OnGood,
) -> BoxStream<'static, io::Result<Bytes>> {
    let st = State {
        inner,
        hasher: Hasher::default(),
        pending: None,
        done: false,
        expected,
        path,
        on_corrupt: Some(on_corrupt),
        on_good: Some(on_good),
    };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.inner.next().await {
                Some(Ok(chunk)) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    if chunk.len() >= BLOCKING_HASH_MIN {
                        // Big chunks are hashed off the async workers.
                        let mut h = std::mem::take(&mut st.hasher);
                        let c = chunk.clone();
                        match tokio::task::spawn_blocking(move || {
                            h.update(&c);
                            h
                        })
                        .await
                        {
                            Ok(h) => st.hasher = h,
                            Err(e) => {
                                st.done = true;
                                return Some((Err(io::Error::other(e)), st));
                            }
                        }
                    } else {
                        st.hasher.update(&chunk);
                    }
                    if let Some(prev) = st.pending.replace(chunk) {
                        return Some((Ok(prev), st));
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    let got = std::mem::take(&mut st.hasher).finish();
                    if got == st.expected {
                        if let Some(f) = st.on_good.take() {
                            f();
                        }
                        return st.pending.take().map(|p| (Ok(p), st));
                    }
                    tracing::warn!(
                        digest = %st.expected.digest, path = %st.path, got = %got.digest,
                        got_size = got.size, "corrupt blob found while streaming; quarantined"
                    );
                    if let Some(f) = st.on_corrupt.take() {
                        f().await;
                    }
                    let err = Error::Corrupt {
                        digest: st.expected.digest,
                        path: st.path.clone(),
                    };
                    return Some((Err(io::Error::new(io::ErrorKind::InvalidData, err)), st));
                }
            }
        }
    })
    .boxed()
}
