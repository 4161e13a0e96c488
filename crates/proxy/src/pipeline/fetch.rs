//! Fetching a version from its source: one probe, then the rest in
//! parallel with the checksum-database lookup, the verdict, the commit.

use std::sync::Arc;
use std::time::Duration;

use store::{Record, RecordKey};
use upstream::FetchError;

use super::Pipeline;
use super::commit::Verified;
use super::verify::{Evidence, Expected, Rejection, Sent, verdict};
use crate::error::{ErrorKind, ServeError};
use crate::keys::{FetchKey, FileKind};
use crate::source::{ModuleSource, Policy};

/// Why fetching a version failed: plainly, or because one source's answer
/// failed verification (then the next upstream behind `|` may be tried).
enum Failure {
    Serve(ServeError),
    Bad(Rejection),
}

impl From<ServeError> for Failure {
    fn from(e: ServeError) -> Self {
        Failure::Serve(e)
    }
}

/// Maps a source failure to the answer for our client.
pub(crate) fn source_error(what: &str, e: FetchError) -> ServeError {
    match e {
        FetchError::NotFound {
            status,
            message,
            url,
        } => {
            let msg = if message.is_empty() {
                format!("{what}: not found upstream ({url}: {status})")
            } else {
                format!("{what}: not found upstream: {message}")
            };
            ServeError::new(ErrorKind::not_found_for(status), msg)
        }
        FetchError::Status {
            status,
            message,
            url,
            ..
        } if FetchError::is_refusal_status(status) => {
            // A definite refusal, not an outage: its status and reason go
            // to the client (the go command shows them).
            let reason = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            ServeError::new(
                ErrorKind::Refused { status },
                format!("{what}: upstream {url} refused it ({status}){reason}"),
            )
        }
        FetchError::NoUpstream => ServeError::new(
            ErrorKind::Offline,
            format!("{what}: no upstream configured (offline)"),
        ),
        e => {
            let kind = if e.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::UpstreamUnavailable
            };
            let retry_after = e.retry_after();
            ServeError::new(kind, format!("{what}: upstream failed: {e}"))
                .with_retry_after(retry_after)
        }
    }
}

impl Pipeline {
    /// The source of `module`, or the answer for a private module without one.
    pub(super) fn source_of(&self, module: &str) -> Result<Arc<dyn ModuleSource>, ServeError> {
        self.sources.for_module(module).cloned().ok_or_else(|| {
            ServeError::not_found(format!(
                "{module} is private (matches --private) and no --private-upstream is configured"
            ))
        })
    }

    /// Fetches a version, first agreeing with other instances (Redis) on
    /// who fetches: the others wait for the record to appear in the shared
    /// store, or for a shared "not found".
    pub(super) async fn fetch_coordinated(
        self: Arc<Self>,
        module: &str,
        version: &str,
        kind: FileKind,
        key: &FetchKey,
        existing: Option<Record>,
    ) -> Result<(), ServeError> {
        let Some(coord) = self.coord.clone() else {
            return self.fetch_version(module, version, kind, existing).await;
        };
        let wait = self.timing.coordination_wait;
        let give_up = tokio::time::Instant::now() + wait;
        loop {
            match coord.try_lock(key, wait).await {
                crate::coord::Lock::Acquired => {
                    let r = self.fetch_version(module, version, kind, existing).await;
                    coord.unlock(key).await;
                    return r;
                }
                crate::coord::Lock::Unavailable => {
                    return self.fetch_version(module, version, kind, existing).await;
                }
                crate::coord::Lock::Busy => {
                    self.metrics.singleflight_join();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let rec = self
                        .get_record(&RecordKey::new(module, version), kind == FileKind::Zip)
                        .await
                        .ok()
                        .flatten();
                    if rec.is_some_and(|r| kind != FileKind::Zip || r.zip.is_some()) {
                        return Ok(());
                    }
                    if let Some(e) = self.negative.get(key).await {
                        return Err(e);
                    }
                    // If the other instance failed, the lock is gone and the
                    // next round takes it; if it hangs, stop waiting.
                    if tokio::time::Instant::now() >= give_up {
                        return self.fetch_version(module, version, kind, existing).await;
                    }
                }
            }
        }
    }

    /// Fetches, verifies and commits a version, moving to the next upstream
    /// behind `|` when an answer fails verification.
    async fn fetch_version(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
        existing: Option<Record>,
    ) -> Result<(), ServeError> {
        let mut source = self.source_of(module)?;
        loop {
            match self
                .fetch_version_from(&*source, module, version, kind, existing.as_ref())
                .await
            {
                Ok(()) => return Ok(()),
                Err(Failure::Serve(e)) => return Err(e),
                Err(Failure::Bad(r)) => {
                    self.metrics.verification_failure(r.reason.label());
                    match source.after_failed(&r.origin) {
                        // An upstream behind `|` answered, but its answer
                        // failed verification: that is an error like any
                        // other, so the next upstream gets its turn.
                        Some(next) => {
                            tracing::warn!(module, version, upstream = %r.origin, error = %r.message, "answer failed verification; trying the next upstream");
                            source = next;
                        }
                        None => return Err(ServeError::verification(r.message)),
                    }
                }
            }
        }
    }

    async fn fetch_version_from(
        &self,
        source: &dyn ModuleSource,
        module: &str,
        version: &str,
        kind: FileKind,
        existing: Option<&Record>,
    ) -> Result<(), Failure> {
        let need_zip = kind == FileKind::Zip;
        let policy = self.sources.policy(module);
        let mv = format!("{module}@{version}");
        let err = |ext: &str| {
            let what = format!("{mv}{ext}");
            move |e| source_error(&what, e)
        };

        // Probe with one request first: for a module that does not exist
        // (the go command probes every path prefix of an import) that is the
        // only source request, and nothing is asked of the checksum database.
        let (mut info, mut gomod) = (None, None);
        if existing.is_none() {
            if kind == FileKind::Info {
                let r = source.file(module, version, FileKind::Info).await;
                info = Some(r.map_err(err(".info"))?);
            } else {
                let r = source.file(module, version, FileKind::Mod).await;
                gomod = Some(r.map_err(err(".mod"))?);
            }
        }
        let small = async {
            if existing.is_some() {
                return Ok(None);
            }
            let fetch_info = async {
                match info.take() {
                    Some(i) => Ok(i),
                    None => source.file(module, version, FileKind::Info).await,
                }
            };
            let fetch_mod = async {
                match gomod.take() {
                    Some(m) => Ok(m),
                    None => source.file(module, version, FileKind::Mod).await,
                }
            };
            let (info, gomod) = tokio::try_join!(fetch_info, fetch_mod)?;
            Ok(Some((info, gomod)))
        };
        let zip = async {
            if need_zip {
                source.zip(module, version, &self.staging).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let lookup = async {
            let knows_zip_h1 = existing.is_some_and(|r| r.zip_h1.is_some());
            if policy == Policy::Verify && !knows_zip_h1 {
                self.verifiers
                    .verification_lookup(module, version)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        let (small, zip, lookup) = tokio::join!(small, zip, lookup);
        let small = small.map_err(err(""))?;
        let zip = zip.map_err(err(".zip"))?;
        let lookup = lookup?;

        // The zip rules and its h1, off the async workers.
        let zip_check = match &zip {
            None => None,
            Some(fetched) => {
                let path = fetched.body.file.path().to_path_buf();
                let (m, v) = (module.to_string(), version.to_string());
                let checked = tokio::task::spawn_blocking(move || {
                    crate::zipcheck::check_and_hash(&path, &m, &v)
                })
                .await
                .map_err(|e| ServeError::internal(format!("internal error: {e}")))?;
                Some(checked)
            }
        };
        let gomod_h1 = small
            .as_ref()
            .map(|(_, gomod)| gomod::dirhash::hash_gomod(&gomod.body));
        let verified_by = policy.verified_by(self.verifiers.primary().map(|d| d.name.as_str()));
        let expected = match (&lookup, existing) {
            (Some(l), _) => Expected::Database {
                name: &verified_by,
                gomod_h1: &l.gomod_h1,
                zip_h1: &l.zip_h1,
            },
            (None, Some(r)) => Expected::Record {
                by: &r.verified_by,
                zip_h1: r.zip_h1.as_deref(),
            },
            (None, None) => Expected::Unverified,
        };
        let evidence = Evidence {
            module,
            version,
            info: small.as_ref().map(|(info, _)| Sent {
                value: &info.body[..],
                origin: &info.upstream,
            }),
            gomod_h1: small
                .as_ref()
                .zip(gomod_h1.as_deref())
                .map(|((_, gomod), h1)| Sent {
                    value: h1,
                    origin: &gomod.upstream,
                }),
            zip: zip.as_ref().zip(zip_check.as_ref()).map(|(z, c)| Sent {
                value: c.as_ref().map(String::as_str).map_err(String::as_str),
                origin: &z.upstream,
            }),
            expected,
        };
        verdict(&evidence).map_err(Failure::Bad)?;

        let zip_h1 = match (&zip_check, &lookup) {
            (Some(Ok(h1)), _) => Some(h1.clone()),
            (_, Some(l)) => Some(l.zip_h1.clone()),
            _ => existing.and_then(|r| r.zip_h1.clone()),
        };
        self.commit(Verified {
            module,
            version,
            small: small.map(|(info, gomod)| (info.body, gomod.body)),
            gomod_h1,
            zip: zip.map(|z| z.body),
            zip_h1,
            verified_by,
            existing,
        })
        .await
        .map_err(Failure::Serve)
    }
}
