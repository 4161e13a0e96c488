//! `GODEBUG=inittrace=1` output (`runtime/proc.go`): one line per package
//! init, `init <pkg> @<T> ms, <D> ms clock, <B> bytes, <A> allocs`, printed
//! by every Go process, the go command and its tools included. A new process
//! starts where the clock `@T` goes back (or `internal/bytealg`, always the
//! first init, appears again); a process that initialised any `cmd/...`
//! package is the go command or one of its tools and is left out.

use serde::Serialize;

/// One package init.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Init {
    /// Package import path.
    pub package: String,
    /// Milliseconds since process start.
    pub at_ms: f64,
    /// Wall-clock milliseconds of the init.
    pub clock_ms: f64,
    /// Bytes allocated.
    pub bytes: u64,
    /// Allocations.
    pub allocs: u64,
}

/// Ranked inits of the user's program(s).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InitReport {
    /// Processes seen.
    pub processes: usize,
    /// Processes left out (the go command and its tools).
    pub skipped_processes: usize,
    /// Inits kept.
    pub inits: usize,
    /// Sum of init clock time, ms.
    pub total_clock_ms: f64,
    /// Sum of bytes allocated by inits.
    pub total_bytes: u64,
    /// By clock time, slowest first.
    pub by_time: Vec<Init>,
    /// By bytes allocated, most first.
    pub by_allocs: Vec<Init>,
}

/// Parses one `init ...` line.
pub fn parse_line(line: &str) -> Option<Init> {
    let rest = line.trim().strip_prefix("init ")?;
    let (package, rest) = rest.split_once(" @")?;
    let (at, rest) = rest.split_once(" ms, ")?;
    let (clock, rest) = rest.split_once(" ms clock, ")?;
    let (bytes, rest) = rest.split_once(" bytes, ")?;
    let allocs = rest.strip_suffix(" allocs")?;
    Some(Init {
        package: package.to_string(),
        at_ms: at.parse().ok()?,
        clock_ms: clock.parse().ok()?,
        bytes: bytes.parse().ok()?,
        allocs: allocs.parse().ok()?,
    })
}

/// Parses a whole stderr, splitting processes and leaving out the go
/// command's own; keeps the `top` largest of each ranking.
pub fn parse(text: &str, top: usize) -> InitReport {
    let mut runs: Vec<Vec<Init>> = Vec::new();
    let mut last_at = f64::INFINITY;
    for init in text.lines().filter_map(parse_line) {
        if runs.is_empty()
            || init.package == "internal/bytealg"
            || init.at_ms < last_at - 1e-9 && init.at_ms < 0.5 * last_at
        {
            runs.push(Vec::new());
        }
        last_at = init.at_ms;
        if let Some(r) = runs.last_mut() {
            r.push(init);
        }
    }
    let processes = runs.len();
    let kept: Vec<Vec<Init>> = runs
        .into_iter()
        .filter(|r| !r.iter().any(|i| i.package.starts_with("cmd/")))
        .collect();
    let skipped_processes = processes - kept.len();
    let all: Vec<Init> = kept.into_iter().flatten().collect();
    let mut by_time = all.clone();
    by_time.sort_by(|a, b| {
        b.clock_ms
            .total_cmp(&a.clock_ms)
            .then(a.package.cmp(&b.package))
    });
    by_time.truncate(top);
    let mut by_allocs = all.clone();
    by_allocs.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.allocs.cmp(&a.allocs))
            .then(a.package.cmp(&b.package))
    });
    by_allocs.truncate(top);
    InitReport {
        processes,
        skipped_processes,
        inits: all.len(),
        total_clock_ms: all.iter().map(|i| i.clock_ms).fold(0.0, |a, b| a + b),
        total_bytes: all.iter().map(|i| i.bytes).sum(),
        by_time,
        by_allocs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line() {
        let i = parse_line("init internal/platform @0.70 ms, 0.13 ms clock, 2776 bytes, 4 allocs")
            .unwrap();
        assert_eq!(i.package, "internal/platform");
        assert_eq!(i.clock_ms, 0.13);
        assert_eq!(i.bytes, 2776);
        assert_eq!(i.allocs, 4);
        assert!(parse_line("init x @1 ms").is_none());
    }

    #[test]
    fn skips_go_command_process() {
        let text = "init internal/bytealg @0 ms, 0 ms clock, 0 bytes, 0 allocs\n\
                    init cmd/go/internal/cfg @5 ms, 2 ms clock, 900 bytes, 9 allocs\n\
                    init internal/bytealg @0 ms, 0 ms clock, 0 bytes, 0 allocs\n\
                    init example.com/slow @1.0 ms, 30 ms clock, 10 bytes, 1 allocs\n\
                    init example.com/fat @31 ms, 1 ms clock, 1000000 bytes, 20 allocs\n";
        let r = parse(text, 10);
        assert_eq!(r.processes, 2);
        assert_eq!(r.skipped_processes, 1);
        assert_eq!(r.by_time[0].package, "example.com/slow");
        assert_eq!(r.by_allocs[0].package, "example.com/fat");
    }
}
