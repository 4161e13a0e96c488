#!/usr/bin/env bash
# Benchmark: a full `modwarden doctor --cache-only` scan of a fake GOMODCACHE
# holding >= 1 GiB of real module zips (valid ziphash, .mod and .info beside
# each) against `sha256sum` of the same zip files run on both cores
# (`xargs -P2`), in the same run, page cache warm for both. The doctor
# inflates every entry and hashes the uncompressed content (Go's h1), so it
# does strictly more work than sha256sum over the compressed bytes.
# Prints a markdown table. Target: >= 0.7x sha256sum throughput.
#
#   bench/doctor_scan.sh [GiB]     (default 1.05)
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh" # best()
cd "$(dirname "$0")/.."

GIB=${1:-1.05}
cargo build --release -p modwarden >&2
BIN=${CARGO_TARGET_DIR:-target}/release/modwarden

WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
MC="$WORK/mod"
mkdir -p "$MC"

echo "generating ${GIB} GiB of module zips in $MC ..." >&2
python3 - "$MC" "$GIB" <<'PY'
import base64, hashlib, io, os, random, sys, zipfile
from multiprocessing import Pool

mc, gib = sys.argv[1], float(sys.argv[2])
ZIP_SIZE = 8 << 20
count = int(gib * (1 << 30) / ZIP_SIZE) + 1
words = [b"package", b"func", b"return", b"struct", b"interface", b"error",
         b"nil", b"if", b"for", b"range", b"{", b"}", b"(", b")", b"\n\t"]

def make(i):
    rnd = random.Random(i)
    mod = f"example.com/bench/m{i:04d}"
    ver = "v1.0.0"
    prefix = f"{mod}@{ver}/"
    files = {"go.mod": f"module {mod}\n\ngo 1.22\n".encode()}
    size, j = 0, 0
    while size < ZIP_SIZE:
        n = rnd.randint(16 << 10, 512 << 10)
        # Half incompressible, half Go-like text (compresses ~4x).
        text = b" ".join(rnd.choice(words) for _ in range(n // 7))[: n // 2]
        data = rnd.randbytes(n - len(text)) + text
        files[f"pkg{j % 20}/file{j}.go"] = data
        size += len(data) // 2 + len(data) // 8
        j += 1
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name in sorted(files):
            z.writestr(prefix + name, files[name])
    lines = "".join(
        f"{hashlib.sha256(files[n]).hexdigest()}  {prefix}{n}\n" for n in sorted(files)
    )
    h1 = "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()
    vdir = os.path.join(mc, "cache/download", mod, "@v")
    os.makedirs(vdir, exist_ok=True)
    with open(os.path.join(vdir, ver + ".zip"), "wb") as f:
        f.write(buf.getvalue())
    with open(os.path.join(vdir, ver + ".ziphash"), "w") as f:
        f.write(h1)
    with open(os.path.join(vdir, ver + ".mod"), "wb") as f:
        f.write(files["go.mod"])
    with open(os.path.join(vdir, ver + ".info"), "w") as f:
        f.write('{"Version":"%s","Time":"2024-01-01T00:00:00Z"}' % ver)
    return len(buf.getvalue())

with Pool(2) as p:
    total = sum(p.map(make, range(count)))
print(f"{count} zips, {total} bytes", file=sys.stderr)
PY

ZIPS=$(find "$MC" -name '*.zip' | wc -l)
BYTES=$(find "$MC" -name '*.zip' -printf '%s\n' | awk '{s+=$1} END {print s}')

sha_all() { find "$MC" -name '*.zip' -print0 | xargs -0 -P2 -n 8 sha256sum; }
scan() { "$BIN" doctor --cache-only --modcache "$MC" --json; }

find "$MC" -name '*.zip' -print0 | xargs -0 cat >/dev/null # warm the page cache
# The scan must find the generated cache healthy (so it really checked it).
scan >"$WORK/report.json"
python3 - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["cache"]
assert not c["findings"], c["findings"][:3]
print(f"doctor: {c['versions']} versions, {c['zips']} zips, {c['bytes_hashed']} bytes hashed, no findings", file=sys.stderr)
PY

T_SHA=$(best sha_all)
T_MW=$(best scan)
MIB=$(echo "$BYTES / 1048576" | bc -l)
printf '\n| %s | %s | %s | %s |\n' "tool" "zips" "best of 3 (s)" "MiB/s"
printf '|---|---:|---:|---:|\n'
printf '| %s | %d | %.2f | %.0f |\n' "sha256sum (xargs -P2)" "$ZIPS" "$T_SHA" "$(echo "$MIB / $T_SHA" | bc -l)"
printf '| %s | %d | %.2f | %.0f |\n' "modwarden doctor --cache-only" "$ZIPS" "$T_MW" "$(echo "$MIB / $T_MW" | bc -l)"
printf '\n%.0f MiB of zips on %s cores; doctor / sha256sum throughput: %.2fx (target >= 0.7x)\n' \
  "$MIB" "$(nproc)" "$(echo "$T_SHA / $T_MW" | bc -l)"
