# Sourced by bench/run (through bash) and the stand-alone bench scripts: find
# or install the tools the benchmarks need; best() times a command. Builds on scripts/lib/deps.sh (apt_install, ensure_go, die).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib/deps.sh
. "$here/../scripts/lib/deps.sh"

best() { # best wall time in seconds of 3 runs of "$@"
  local b=""
  for _ in 1 2 3; do
    local s e t
    s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}

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
