//! `doctor --fix`: remove exactly what a scan found broken, and optionally
//! fetch it again through the user's GOPROXY, verified, in Go's own layout.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::Reporter;
use crate::cache::{Entry, Finding, Kind, ScanReport, Severity};
use crate::fsutil::{VersionLock, remove_within};
use crate::gosum::GoSumFile;

/// What happened to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Removed.
    Removed,
    /// Downloaded again, verified, and written.
    Refetched,
    /// Could not be done (see detail).
    Failed,
}

/// One thing done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// Removed, refetched or failed.
    pub action: ActionKind,
    /// The file or directory.
    pub path: PathBuf,
    /// `module@version`, if it belongs to one.
    pub id: Option<String>,
    /// Bytes freed (removals) or written (refetches).
    pub bytes: u64,
    /// Why, or what went wrong.
    pub detail: String,
}

/// What `--fix` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FixReport {
    /// Every action, in order.
    pub actions: Vec<Action>,
    /// Module versions that need a download before go can use them again
    /// (removed and not refetched).
    pub needs_download: Vec<String>,
}

impl FixReport {
    /// Whether every action succeeded.
    pub fn all_ok(&self) -> bool {
        self.actions.iter().all(|a| a.action != ActionKind::Failed)
    }
}

/// Which files of a version must be fetched again after removal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The `.zip` (and so `.ziphash`).
    pub zip: bool,
    /// The `.mod`.
    pub gomod: bool,
    /// The `.info`.
    pub info: bool,
}

/// What must go for each kind of finding, relative to its entry.
fn removal_for(kind: Kind, e: &Entry) -> (Vec<PathBuf>, Needs) {
    let zip_set = || {
        vec![
            e.file("zip"),
            e.file("ziphash"),
            e.file("partial"),
            e.dir.clone(),
        ]
    };
    match kind {
        Kind::ZipInvalid
        | Kind::ZipTruncated
        | Kind::ZipUnexpectedFile
        | Kind::ZiphashMissing
        | Kind::ZiphashTorn
        | Kind::ZiphashMismatch
        | Kind::GoSumZipMismatch => (
            zip_set(),
            Needs {
                zip: true,
                ..Needs::default()
            },
        ),
        // go extracts the directory again from the zip, offline.
        Kind::PartialExtraction | Kind::DirModified => {
            (vec![e.file("partial"), e.dir.clone()], Needs::default())
        }
        Kind::DirWithoutZiphash => (
            vec![e.file("partial"), e.dir.clone()],
            Needs {
                zip: true,
                ..Needs::default()
            },
        ),
        Kind::InfoUnreadable | Kind::InfoWrongVersion => (
            vec![e.file("info")],
            Needs {
                info: true,
                ..Needs::default()
            },
        ),
        Kind::GoSumModMismatch | Kind::ModUnreadable => (
            vec![e.file("mod")],
            Needs {
                gomod: true,
                ..Needs::default()
            },
        ),
        _ => (Vec::new(), Needs::default()),
    }
}

/// Removes what the scan found broken. Healthy entries are never touched:
/// only the files of a finding's own module version (or the finding's own
/// path, for leftovers and checksum-DB files) are removed, each under Go's
/// lock for that version. Returns the report and, per module version, what
/// must be fetched again.
pub fn remove_broken(
    report: &ScanReport,
    lock_wait: Duration,
    reporter: &dyn Reporter,
) -> (FixReport, Vec<(Entry, Needs)>) {
    let root = &report.modcache;
    let mut out = FixReport::default();
    let mut by_entry: BTreeMap<String, (Entry, Vec<&Finding>)> = BTreeMap::new();
    let mut single: Vec<&Finding> = Vec::new();
    for f in report.problems() {
        let entry_level = !matches!(
            f.kind,
            Kind::TempLeftover
                | Kind::SumdbCacheEmpty
                | Kind::SumdbCacheCorrupt
                | Kind::SumdbLatestMalformed
                | Kind::LockBusy
        );
        match (&f.module, &f.version, entry_level) {
            (Some(m), Some(v), true) => {
                if let Some(e) = Entry::new(root, m, v) {
                    by_entry
                        .entry(e.id())
                        .or_insert_with(|| (e, Vec::new()))
                        .1
                        .push(f);
                }
            }
            _ => single.push(f),
        }
    }
    reporter.start("removing", Some((by_entry.len() + single.len()) as u64));
    let mut refetch = Vec::new();
    for (id, (e, findings)) in by_entry {
        let _lock = match e.lock(lock_wait) {
            Ok(None) if e.vdir.is_dir() => {
                out.actions.push(Action {
                    action: ActionKind::Failed,
                    path: e.file("lock"),
                    id: Some(id.clone()),
                    bytes: 0,
                    detail:
                        "a go command holds its lock; left alone (run --fix again when it is done)"
                            .into(),
                });
                continue;
            }
            Ok(l) => l,
            Err(err) => {
                out.actions.push(Action {
                    action: ActionKind::Failed,
                    path: e.file("lock"),
                    id: Some(id.clone()),
                    bytes: 0,
                    detail: format!("cannot take go's lock: {err}"),
                });
                continue;
            }
        };
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut needs = Needs::default();
        let mut why: Vec<&str> = Vec::new();
        for f in findings {
            let (p, n) = removal_for(f.kind, &e);
            for p in p {
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
            needs.zip |= n.zip;
            needs.gomod |= n.gomod;
            needs.info |= n.info;
            why.push(f.kind.as_str());
        }
        for p in paths {
            if fs::symlink_metadata(&p).is_err() {
                continue;
            }
            out.actions
                .push(remove_action(root, &p, Some(&id), &why.join(", ")));
        }
        if needs != Needs::default() {
            refetch.push((e, needs));
        }
        reporter.advance(1);
    }
    for f in single {
        let base = if f.kind == Kind::SumdbLatestMalformed {
            // `latest` lives in $GOPATH/pkg/sumdb, outside GOMODCACHE: the
            // allowed root is its own directory.
            f.path.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            root.clone()
        };
        out.actions.push(remove_action(
            &base,
            &f.path,
            f.id().as_deref(),
            f.kind.as_str(),
        ));
        reporter.advance(1);
    }
    reporter.finish();
    out.needs_download = refetch
        .iter()
        .filter(|(_, n)| n.zip || n.gomod)
        .map(|(e, _)| e.id())
        .collect();
    (out, refetch)
}

fn remove_action(root: &Path, p: &Path, id: Option<&str>, why: &str) -> Action {
    match remove_within(root, p) {
        Ok(bytes) => Action {
            action: ActionKind::Removed,
            path: p.to_path_buf(),
            id: id.map(str::to_string),
            bytes,
            detail: why.to_string(),
        },
        Err(err) => Action {
            action: ActionKind::Failed,
            path: p.to_path_buf(),
            id: id.map(str::to_string),
            bytes: 0,
            detail: err.to_string(),
        },
    }
}

/// Where and how to fetch again: the user's GOPROXY, GOSUMDB, GONOSUMDB and
/// the current module's go.sum.
#[derive(Debug, Clone)]
pub struct RefetchConfig {
    /// GOPROXY.
    pub goproxy: gomod::goenv::ProxyList,
    /// GOSUMDB.
    pub gosumdb: gomod::goenv::SumdbSpec,
    /// GONOSUMDB (or GOPRIVATE) patterns.
    pub nosumdb: gomod::pattern::Patterns,
    /// The current module's go.sum, checked first.
    pub gosum: Option<GoSumFile>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Fetches each version's missing files through GOPROXY, verifies the zip
/// and go.mod against go.sum (or else the checksum database, unless
/// GONOSUMDB/GOSUMDB=off say not to, as go does), and writes them in Go's
/// layout: `.info`, `.mod`, then the zip through `<v>.zip<rand>.tmp`, its
/// `.ziphash` before the rename, all under `<v>.lock`. go extracts the
/// directory itself on next use.
pub async fn refetch(
    modcache: &Path,
    todo: &[(Entry, Needs)],
    cfg: &RefetchConfig,
    lock_wait: Duration,
    reporter: &dyn Reporter,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let entries: Vec<upstream::Entry> = cfg
        .goproxy
        .entries
        .iter()
        .filter_map(|e| match &e.kind {
            gomod::goenv::ProxyKind::Url(u) => Some(upstream::Entry {
                base: u.clone(),
                fallback: e.fallback,
            }),
            _ => None,
        })
        .collect();
    let fail = |e: &Entry, detail: String| Action {
        action: ActionKind::Failed,
        path: e.vdir.clone(),
        id: Some(e.id()),
        bytes: 0,
        detail,
    };
    if entries.is_empty() {
        for (e, _) in todo {
            actions.push(fail(
                e,
                format!(
                    "cannot refetch: GOPROXY={} has no proxy URL (direct VCS fetches are the go command's job: run go mod download {})",
                    cfg.goproxy,
                    e.id()
                ),
            ));
        }
        return actions;
    }
    let client_cfg = upstream::ClientConfig {
        first_byte_timeout: cfg.timeout,
        idle_read_timeout: cfg.timeout,
        ..upstream::ClientConfig::default()
    };
    let list =
        match upstream::UpstreamList::new(entries, client_cfg, Arc::new(upstream::NoObserver)) {
            Ok(l) => l,
            Err(err) => {
                for (e, _) in todo {
                    actions.push(fail(e, err.to_string()));
                }
                return actions;
            }
        };
    let sumdb = SumdbAccess::new(cfg);
    reporter.start("refetching", Some(todo.len() as u64));
    for (e, needs) in todo {
        match refetch_one(modcache, &list, &sumdb, cfg, e, *needs, lock_wait).await {
            Ok(mut a) => actions.append(&mut a),
            Err(detail) => actions.push(fail(e, detail)),
        }
        reporter.advance(1);
    }
    reporter.finish();
    actions
}

const MAX_ZIP: u64 = 500 << 20;
const MAX_MOD: u64 = 16 << 20;

async fn refetch_one(
    modcache: &Path,
    list: &upstream::UpstreamList,
    sumdb: &SumdbAccess,
    cfg: &RefetchConfig,
    e: &Entry,
    needs: Needs,
    lock_wait: Duration,
) -> Result<Vec<Action>, String> {
    let esc_mod = gomod::module::escape_path(&e.module).map_err(|x| x.to_string())?;
    let base = format!("{esc_mod}/@v/{}", e.esc_version);
    let info = if needs.info {
        Some(
            list.fetch_bytes(&format!("{base}.info"), MAX_MOD)
                .await
                .map_err(|x| x.to_string())?
                .body,
        )
    } else {
        None
    };
    let gomod_bytes = if needs.gomod {
        Some(
            list.fetch_bytes(&format!("{base}.mod"), MAX_MOD)
                .await
                .map_err(|x| x.to_string())?
                .body,
        )
    } else {
        None
    };
    let zip = if needs.zip {
        Some(
            list.fetch_bytes(&format!("{base}.zip"), MAX_ZIP)
                .await
                .map_err(|x| x.to_string())?
                .body,
        )
    } else {
        None
    };
    // What is expected: go.sum first, else the checksum database.
    let (mut want_zip, mut want_mod) = match &cfg.gosum {
        Some(g) => (
            g.zip_hashes(&e.module, &e.version).to_vec(),
            g.gomod_hashes(&e.module, &e.version).to_vec(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let zip_h1 = match &zip {
        Some(z) => Some(
            gomod::dirhash::hash_zip(std::io::Cursor::new(z.as_ref()))
                .map_err(|x| format!("refetched zip for {}: {x}", e.id()))?,
        ),
        None => None,
    };
    let mod_h1 = gomod_bytes.as_ref().map(|m| gomod::dirhash::hash_gomod(m));
    let need_db =
        (zip_h1.is_some() && want_zip.is_empty()) || (mod_h1.is_some() && want_mod.is_empty());
    let mut verified_by = "go.sum";
    if need_db {
        match sumdb.lookup(&e.module, &e.version).await {
            Ok(Some((z, m))) => {
                if want_zip.is_empty() {
                    want_zip.push(z);
                }
                if want_mod.is_empty() {
                    want_mod.push(m);
                }
                verified_by = "the checksum database";
            }
            Ok(None) => verified_by = "nothing (GONOSUMDB or GOSUMDB=off, as go would)",
            Err(x) => return Err(format!("verifying {}: {x}", e.id())),
        }
    }
    if let Some(h) = &zip_h1
        && !want_zip.is_empty()
        && !want_zip.contains(h)
    {
        return Err(format!(
            "verifying {}: checksum mismatch: downloaded {h}, expected {}; nothing was written",
            e.id(),
            want_zip.join(", ")
        ));
    }
    if let Some(h) = &mod_h1
        && !want_mod.is_empty()
        && !want_mod.contains(h)
    {
        return Err(format!(
            "verifying {}/go.mod: checksum mismatch: downloaded {h}, expected {}; nothing was written",
            e.id(),
            want_mod.join(", ")
        ));
    }
    if let Some(i) = &info {
        #[derive(serde::Deserialize)]
        struct Info {
            #[serde(rename = "Version")]
            version: String,
        }
        match serde_json::from_slice::<Info>(i) {
            Ok(v) if v.version == e.version => {}
            Ok(v) => {
                return Err(format!(
                    "proxy returned info for version {} instead of requested version {}",
                    v.version, e.version
                ));
            }
            Err(x) => return Err(format!("proxy returned a malformed .info: {x}")),
        }
    }

    let e2 = e.clone();
    let modcache = modcache.to_path_buf();
    let verified_by = verified_by.to_string();
    tokio::task::spawn_blocking(move || {
        write_entry(
            &modcache,
            &e2,
            info,
            gomod_bytes,
            zip.zip(zip_h1),
            lock_wait,
            &verified_by,
        )
    })
    .await
    .map_err(|x| x.to_string())?
}

fn write_entry(
    modcache: &Path,
    e: &Entry,
    info: Option<Bytes>,
    gomod_bytes: Option<Bytes>,
    zip: Option<(Bytes, String)>,
    lock_wait: Duration,
    verified_by: &str,
) -> Result<Vec<Action>, String> {
    let ioe = |p: &Path| {
        let p = p.to_path_buf();
        move |x: std::io::Error| format!("writing {}: {x}", p.display())
    };
    crate::fsutil::check_inside(modcache, &e.vdir).map_err(|x| x.to_string())?;
    fs::create_dir_all(&e.vdir).map_err(ioe(&e.vdir))?;
    let _lock = VersionLock::acquire(&e.file("lock"), lock_wait)
        .map_err(ioe(&e.file("lock")))?
        .ok_or_else(|| format!("{}: go holds the lock; try again later", e.id()))?;
    let mut actions = Vec::new();
    let done = |p: PathBuf, bytes: usize| Action {
        action: ActionKind::Refetched,
        path: p,
        id: Some(e.id()),
        bytes: bytes as u64,
        detail: format!("verified against {verified_by}"),
    };
    if let Some(i) = info {
        let p = e.file("info");
        write_atomic(&p, &i).map_err(ioe(&p))?;
        actions.push(done(p, i.len()));
    }
    if let Some(m) = gomod_bytes {
        let p = e.file("mod");
        write_atomic(&p, &m).map_err(ioe(&p))?;
        rewrite_list(&e.vdir).map_err(ioe(&e.vdir.join("list")))?;
        actions.push(done(p, m.len()));
    }
    if let Some((z, h1)) = zip {
        let p = e.file("zip");
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!("{}.zip", e.esc_version))
            .suffix(".tmp")
            .tempfile_in(&e.vdir)
            .map_err(ioe(&e.vdir))?;
        tmp.write_all(&z).map_err(ioe(tmp.path()))?;
        tmp.as_file().sync_all().map_err(ioe(tmp.path()))?;
        let zh = e.file("ziphash");
        write_atomic(&zh, h1.as_bytes()).map_err(ioe(&zh))?;
        tmp.persist(&p)
            .map_err(|x| format!("writing {}: {}", p.display(), x.error))?;
        actions.push(done(p, z.len()));
    }
    Ok(actions)
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&name)
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Rewrites `@v/list` from the `.mod` files present, as go's
/// `rewriteVersionList` does: every canonical version with a `.mod`, in
/// semver order, one per line.
pub(crate) fn rewrite_list(vdir: &Path) -> std::io::Result<()> {
    let mut versions = Vec::new();
    for e in fs::read_dir(vdir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".mod")
            && let Ok(v) = gomod::module::unescape_version(stem)
            && gomod::semver::canonical_version(&v) == v
        {
            versions.push((v, stem.to_string()));
        }
    }
    versions.sort_by(|a, b| gomod::semver::compare(&a.0, &b.0));
    let mut text = String::new();
    for (_, stem) in versions {
        text.push_str(&stem);
        text.push('\n');
    }
    let list = vdir.join("list");
    let _lock = VersionLock::acquire(&vdir.join("list.lock"), Duration::from_secs(10))?;
    write_atomic(&list, text.as_bytes())
}

/// Reaches the checksum database the way the go command does: through the
/// first proxy that answers `/sumdb/<name>/supported`, else directly.
struct SumdbAccess {
    spec: gomod::goenv::SumdbSpec,
    nosumdb: gomod::pattern::Patterns,
    proxies: Vec<url::Url>,
    timeout: Duration,
    client: tokio::sync::OnceCell<Result<sumdb::Client, String>>,
}

impl SumdbAccess {
    fn new(cfg: &RefetchConfig) -> SumdbAccess {
        let mut proxies = Vec::new();
        for e in &cfg.goproxy.entries {
            match &e.kind {
                gomod::goenv::ProxyKind::Url(u) if u.scheme() != "file" => proxies.push(u.clone()),
                gomod::goenv::ProxyKind::Url(_) => {}
                _ => break,
            }
        }
        SumdbAccess {
            spec: cfg.gosumdb.clone(),
            nosumdb: cfg.nosumdb.clone(),
            proxies,
            timeout: cfg.timeout,
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// An upstream list of the one base URL `base` (ending in `/`), with the
    /// refetch timeouts and the upstream client's retries.
    fn list(&self, base: &str) -> Result<upstream::UpstreamList, String> {
        let base = url::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
        let config = upstream::ClientConfig {
            first_byte_timeout: self.timeout,
            idle_read_timeout: self.timeout,
            ..upstream::ClientConfig::default()
        };
        upstream::UpstreamList::new(
            vec![upstream::Entry {
                base,
                fallback: gomod::goenv::Fallback::OnNotFound,
            }],
            config,
            Arc::new(upstream::NoObserver),
        )
        .map_err(|e| e.to_string())
    }

    async fn connect(&self) -> Result<sumdb::Client, String> {
        let gomod::goenv::SumdbSpec::Db { name, key, url } = &self.spec else {
            return Err("GOSUMDB=off".into());
        };
        let mut found = None;
        if url.is_none() {
            for p in &self.proxies {
                let b = format!("{}/sumdb/{name}/", p.as_str().trim_end_matches('/'));
                let list = self.list(&b)?;
                match list.fetch_bytes("supported", 4096).await {
                    Ok(_) => {
                        found = Some(list);
                        break;
                    }
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        let list = match found {
            Some(l) => l,
            None => self.list(&match url {
                Some(u) => format!("{}/", u.as_str().trim_end_matches('/')),
                None => format!("https://{name}/"),
            })?,
        };
        let transport = Arc::new(upstream::SumdbTransport::new(list));
        sumdb::Client::new(key, transport, None).map_err(|e| e.to_string())
    }

    /// `Ok(None)` when go would not consult the database for this module.
    async fn lookup(
        &self,
        module: &str,
        version: &str,
    ) -> Result<Option<(String, String)>, String> {
        if matches!(self.spec, gomod::goenv::SumdbSpec::Off) || self.nosumdb.matches(module) {
            return Ok(None);
        }
        let client = self.client.get_or_init(|| self.connect()).await;
        let client = client.as_ref().map_err(Clone::clone)?;
        let r = client
            .lookup(module, version)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some((r.zip_h1, r.gomod_h1)))
    }
}

/// Whether `f` is something `--fix` acts on.
pub fn is_fixable(f: &Finding) -> bool {
    f.severity == Severity::Problem && f.kind != Kind::LockBusy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_leaves_an_entry_alone_while_go_holds_its_lock() {
        let t = tempfile::tempdir().unwrap();
        let mc = t.path();
        let e = Entry::new(mc, "example.com/m", "v1.0.0").unwrap();
        fs::create_dir_all(&e.vdir).unwrap();
        fs::write(e.file("info"), "{").unwrap();
        let report = crate::cache::scan(
            &crate::cache::ScanOptions::new(mc.to_path_buf()),
            &crate::NoReporter,
        )
        .unwrap();
        assert_eq!(report.findings[0].kind, Kind::InfoUnreadable);
        let held = VersionLock::acquire(&e.file("lock"), Duration::ZERO)
            .unwrap()
            .unwrap();
        let (fix, todo) = remove_broken(&report, Duration::from_millis(50), &crate::NoReporter);
        assert!(!fix.all_ok());
        assert!(todo.is_empty());
        assert!(e.file("info").exists());
        drop(held);
        let (fix, todo) = remove_broken(&report, Duration::from_millis(50), &crate::NoReporter);
        assert!(fix.all_ok(), "{fix:#?}");
        assert!(!e.file("info").exists());
        assert_eq!(todo.len(), 1);
        assert!(todo[0].1.info && !todo[0].1.zip);
        // An .info alone does not make go download anything.
        assert!(fix.needs_download.is_empty());
    }
}
