//! `modwarden sum PATH...`: print go.sum lines for module zips, go.mod files
//! and extracted module directories.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use gomod::cachepath::{self, ModVer};
use gomod::dirhash;

pub fn run(args: crate::cli::SumArgs) -> anyhow::Result<ExitCode> {
    let mut out = String::new();
    for path in &args.paths {
        let lines = sum_one(path, args.module.as_deref(), args.version.as_deref())
            .with_context(|| format!("computing the go.sum line for {}", path.display()))?;
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    use std::io::Write;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn pick(
    inferred: Option<ModVer>,
    module: Option<&str>,
    version: Option<&str>,
    what: &str,
) -> anyhow::Result<ModVer> {
    match (module, version, inferred) {
        (Some(m), Some(v), _) => Ok(ModVer {
            module: m.to_string(),
            version: v.to_string(),
        }),
        (m, v, Some(i)) => Ok(ModVer {
            module: m.map(str::to_string).unwrap_or(i.module),
            version: v.map(str::to_string).unwrap_or(i.version),
        }),
        _ => bail!(
            "cannot tell which module version this {what} is\nhint: pass --module and --version"
        ),
    }
}

fn sum_one(
    path: &Path,
    module: Option<&str>,
    version: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_dir() {
        let mv = pick(
            cachepath::from_extracted_dir(path),
            module,
            version,
            "directory",
        )?;
        let h = dirhash::hash_dir(path, &format!("{}@{}", mv.module, mv.version))?;
        return Ok(vec![format!("{} {} {h}", mv.module, mv.version)]);
    }
    let from_cache = cachepath::from_download_path(path);
    let is_zip = path.extension().is_some_and(|e| e == "zip")
        || std::fs::File::open(path)
            .and_then(|mut f| {
                let mut magic = [0u8; 4];
                std::io::Read::read_exact(&mut f, &mut magic).map(|_| magic)
            })
            .is_ok_and(|m| m == *b"PK\x03\x04" || m == *b"PK\x05\x06");
    if is_zip {
        let inferred = match &from_cache {
            Some((mv, ext)) if ext == "zip" => Some(mv.clone()),
            _ => cachepath::from_zip_prefix(path)?,
        };
        let mv = pick(inferred, module, version, "zip")?;
        let h = dirhash::hash_zip_file(path)?;
        let mut lines = vec![format!("{} {} {h}", mv.module, mv.version)];
        // In a module cache the .mod sits beside the zip: print its line too.
        if from_cache.is_some() {
            let m = path.with_extension("mod");
            if let Ok(data) = std::fs::read(&m) {
                lines.push(format!(
                    "{} {}/go.mod {}",
                    mv.module,
                    mv.version,
                    dirhash::hash_gomod(&data)
                ));
            }
        }
        return Ok(lines);
    }
    let inferred = match from_cache {
        Some((mv, ext)) if ext == "mod" => Some(mv),
        _ => None,
    };
    let mv = pick(inferred, module, version, "go.mod")?;
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(vec![format!(
        "{} {}/go.mod {}",
        mv.module,
        mv.version,
        dirhash::hash_gomod(&data)
    )])
}
