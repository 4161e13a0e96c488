//! The module zip rules, applied to a downloaded zip before it is stored.

use std::path::Path;

/// Checks every zip rule and returns the zip's `h1:` (one pass over the
/// file); `Err` lists the violations in one line.
pub(crate) fn check_and_hash(path: &Path, module: &str, version: &str) -> Result<String, String> {
    let report = gomod::zip::check_zip_file(path, module, version).map_err(|e| e.to_string())?;
    if !report.is_valid() {
        let all: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
        return Err(all.join("; "));
    }
    match report.h1 {
        Some(h) => Ok(h),
        None => gomod::dirhash::hash_zip_file(path).map_err(|e| e.to_string()),
    }
}
