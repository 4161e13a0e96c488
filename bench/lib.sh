# Sourced by bench/run (through bash): find or install the tools the
# benchmarks need. Builds on scripts/lib/deps.sh (apt_install, ensure_go, die).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib/deps.sh
. "$here/../scripts/lib/deps.sh"

ensure_bench_deps() {
  ensure_go
  local missing=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v sha256sum >/dev/null || missing+=(coreutils)
  [ -x /usr/bin/time ] || missing+=(time)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing ${missing[*]}" >&2
    apt_install "${missing[@]}"
  fi
  command -v wrk >/dev/null || die "wrk not found after install"
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || die "nginx not found after install"
}
