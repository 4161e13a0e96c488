#!/usr/bin/env bash
# Benchmark: `modwarden sum` (h1: of a module zip) against `sha256sum` of the
# same file. Builds a ~100 MiB module zip with many files of random-ish
# content, takes the best of 3 wall-clock runs of each, measures the peak RSS
# of `modwarden sum` with /usr/bin/time -v, and prints a markdown table.
# Targets: >= 0.7x sha256sum throughput, peak RSS < 32 MiB.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh" # best()
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time (Debian package 'time')" >&2
  (apt-get install -y time || (apt-get update && apt-get install -y time)) >/dev/null
fi

cargo build --release -p modwarden >&2
BIN=${CARGO_TARGET_DIR:-target}/release/modwarden

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ZIP="$WORK/cache/download/example.com/bench/@v/v1.0.0.zip"
mkdir -p "$(dirname "$ZIP")"

python3 - "$ZIP" <<'PY'
import os, random, sys, zipfile
path = sys.argv[1]
target = 100 << 20
rnd = random.Random(42)
words = [b"package", b"func", b"return", b"struct", b"interface", b"error", b"nil", b"if", b"for", b"range"]
prefix = "example.com/bench@v1.0.0/"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr(prefix + "go.mod", "module example.com/bench\n\ngo 1.22\n")
    i = 0
    while os.path.getsize(path) < target:
        n = rnd.randint(8 << 10, 256 << 10)
        text = b" ".join(rnd.choice(words) for _ in range(n // 12))
        data = os.urandom(n // 2) + text[: n - n // 2]
        z.writestr(f"{prefix}pkg{i % 50}/file{i}.go", data)
        i += 1
        if i % 64 == 0:
            z.fp.flush()
PY

SIZE=$(stat -c %s "$ZIP")
ENTRIES=$(python3 -c "import zipfile,sys; print(len(zipfile.ZipFile(sys.argv[1]).infolist()))" "$ZIP")


cat "$ZIP" >/dev/null # warm the page cache for both
T_SHA=$(best sha256sum "$ZIP")
T_MW=$(best "$BIN" sum "$ZIP")
RSS_MW=$(/usr/bin/time -v "$BIN" sum "$ZIP" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}')
RSS_SHA=$(/usr/bin/time -v sha256sum "$ZIP" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}')
MIB=$(echo "$SIZE / 1048576" | bc -l)

printf '\n| tool | best of 3 (s) | throughput (MiB/s of zip) | peak RSS (MiB) |\n|---|---|---|---|\n'
printf '| sha256sum | %.3f | %.0f | %.1f |\n' "$T_SHA" "$(echo "$MIB / $T_SHA" | bc -l)" "$(echo "$RSS_SHA / 1024" | bc -l)"
printf '| modwarden sum | %.3f | %.0f | %.1f |\n' "$T_MW" "$(echo "$MIB / $T_MW" | bc -l)" "$(echo "$RSS_MW / 1024" | bc -l)"
printf '\nzip: %.1f MiB, %s entries; throughput ratio modwarden/sha256sum = %.2fx (target >= 0.7x); modwarden peak RSS %.1f MiB (target < 32 MiB)\n' \
  "$MIB" "$ENTRIES" "$(echo "$T_SHA / $T_MW" | bc -l)" "$(echo "$RSS_MW / 1024" | bc -l)"
"$BIN" sum "$ZIP"
