//! Single flight: one fetch per key at a time, whatever the number of
//! requests that want it, inside a bounded pool of upstream fetches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ErrorKind, ServeError};
use crate::keys::FetchKey;
use crate::metrics::Metrics;

type Flight<T> = Shared<BoxFuture<'static, Result<T, ServeError>>>;

/// The flights in progress of one kind of result.
pub(crate) struct Flights<T> {
    map: Mutex<HashMap<FetchKey, Flight<T>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// The bound on upstream fetches at once: past it a new fetch waits for a
/// slot (a 503 is the end of a go command, so it is the last resort), for at
/// most `wait`, then is refused with 503 and `Retry-After`.
pub(crate) struct FetchPool {
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    wait: Duration,
}

impl FetchPool {
    pub(crate) fn new(size: usize, wait: Duration, metrics: Arc<Metrics>) -> FetchPool {
        FetchPool {
            permits: Arc::new(Semaphore::new(size)),
            metrics,
            wait,
        }
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, ServeError> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        self.metrics.pool_wait();
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => {
                self.metrics.overloaded();
                Err(ServeError::new(
                    ErrorKind::Overloaded,
                    format!(
                        "modwarden is busy: every upstream fetch slot stayed taken for {}s; retry shortly",
                        self.wait.as_secs()
                    ),
                ))
            }
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    fn join(&self, pool: &FetchPool, key: &FetchKey) -> Option<Flight<T>> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let f = map.get(key)?.clone();
        pool.metrics.singleflight_join();
        Some(f)
    }

    /// Runs `make` once per key at a time; every caller gets its result. The
    /// work runs in its own task, so callers that give up do not cancel it.
    pub(crate) async fn run(
        &self,
        pool: &FetchPool,
        key: FetchKey,
        make: impl FnOnce() -> BoxFuture<'static, Result<T, ServeError>>,
    ) -> Result<T, ServeError> {
        let flight = match self.join(pool, &key) {
            Some(f) => f,
            None => {
                // Wait for a slot outside the map's lock; a flight for the
                // same key may have started meanwhile, and is joined.
                let permit = pool.acquire().await?;
                let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(f) = map.get(&key) {
                    pool.metrics.singleflight_join();
                    f.clone()
                } else {
                    let work = make();
                    let metrics = pool.metrics.clone();
                    let handle = tokio::spawn(async move {
                        metrics.upstream_in_flight(1);
                        let r = work.await;
                        metrics.upstream_in_flight(-1);
                        drop(permit);
                        r
                    });
                    let flight: Flight<T> = async move {
                        handle.await.unwrap_or_else(|e| {
                            Err(ServeError::internal(format!(
                                "internal error while fetching: {e}"
                            )))
                        })
                    }
                    .boxed()
                    .shared();
                    map.insert(key.clone(), flight.clone());
                    flight
                }
            }
        };
        let result = flight.clone().await;
        // The first caller to see the result removes the entry, only if it
        // is still this flight (a newer one may have replaced it).
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&key).is_some_and(|f| f.ptr_eq(&flight)) {
            map.remove(&key);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_run_per_key_and_a_bounded_pool() {
        let flights = Arc::new(Flights::<u32>::default());
        let pool = Arc::new(FetchPool::new(
            1,
            Duration::from_millis(50),
            Arc::new(Metrics::default()),
        ));
        let runs = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rx = rx.shared();
        let key = FetchKey::doc("example.com/m", &crate::keys::Mutable::List);
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (flights, pool, runs, rx, key) = (
                flights.clone(),
                pool.clone(),
                runs.clone(),
                rx.clone(),
                key.clone(),
            );
            tasks.push(tokio::spawn(async move {
                flights
                    .run(&pool, key, move || {
                        async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            let _ = rx.await;
                            Ok(7)
                        }
                        .boxed()
                    })
                    .await
            }));
        }
        tokio::task::yield_now().await;
        // The pool's one permit is taken: another key waits its 50 ms, then
        // is refused.
        let other = FetchKey::doc("example.com/other", &crate::keys::Mutable::List);
        let refused = flights
            .run(&pool, other, || async { Ok(1) }.boxed())
            .await
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Overloaded);
        tx.send(()).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
