//! `modwarden zip check PATH`: list every rule a module zip breaks.

use std::process::ExitCode;

use anyhow::{Context, bail};
use gomod::cachepath;
use gomod::zip::check_zip_file;

pub fn run(args: crate::cli::ZipCheckArgs) -> anyhow::Result<ExitCode> {
    let path = &args.path;
    let (module, version) = match (args.module, args.version) {
        (Some(m), Some(v)) => (m, v),
        (m, v) => {
            let inferred = match cachepath::from_download_path(path) {
                Some((mv, ext)) if ext == "zip" => Some(mv),
                _ => cachepath::from_zip_prefix(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            };
            let Some(i) = inferred else {
                bail!(
                    "cannot tell which module version {} is for\nhint: pass --module and --version",
                    path.display()
                );
            };
            (m.unwrap_or(i.module), v.unwrap_or(i.version))
        }
    };
    let report = check_zip_file(path, &module, &version)
        .with_context(|| format!("checking {} as {module}@{version}", path.display()))?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if report.is_valid() {
        writeln!(
            out,
            "ok: {} is a valid zip for {module}@{version}",
            path.display()
        )?;
        if let Some(h) = &report.h1 {
            writeln!(out, "{module} {version} {h}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    for v in &report.violations {
        writeln!(out, "{v}")?;
    }
    writeln!(
        out,
        "{} problem(s) in {} ({module}@{version})",
        report.violations.len(),
        path.display()
    )?;
    Ok(ExitCode::from(1))
}
