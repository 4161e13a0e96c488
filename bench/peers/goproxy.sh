#!/usr/bin/env bash
# Run goproxy (github.com/goproxy/goproxy) as a bench peer in the foreground:
#
#   bench/peers/goproxy.sh [PORT]          # default 7421
#   bench/run --peer http://127.0.0.1:7421
#
# Its only upstream is the bench fixture upstream (URL in bench/work/upstream.env,
# default http://127.0.0.1:7410), in GOPROXY style with no `direct` fallback.
# It verifies every .mod and .zip it fetches against the fixture checksum
# database (GOSUMDB = the fixture's key and URL) and proxies
# /sumdb/<name>/ to it. Its storage (bench/work/peers/goproxy-data) is wiped at
# every start, so each run starts with an empty cache and no remembered tree.
set -euo pipefail

PKG=github.com/goproxy/goproxy/cmd/goproxy
MODULE=github.com/goproxy/goproxy
VERSION=v0.26.1 # latest release tag (2026-04-30)

PORT=${1:-7421}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PEERS=$ROOT/bench/work/peers
BIN=$PEERS/goproxy
DATA=$PEERS/goproxy-data
ENVFILE=$ROOT/bench/work/upstream.env

install_peer() {
  if [[ -x $BIN ]] && go version -m "$BIN" 2>/dev/null | grep -Eq "[[:space:]]$MODULE[[:space:]]+$VERSION([[:space:]]|$)"; then
    return
  fi
  mkdir -p "$PEERS"
  echo "goproxy.sh: installing $PKG@$VERSION into $PEERS" >&2
  if ! GOBIN=$PEERS GOFLAGS= go install "$PKG@$VERSION"; then
    # `go install pkg@version` also asks for the module's version list (to
    # report deprecation) and fails if the registry refuses that list.
    # Build the same pinned version from a throwaway module instead.
    echo "goproxy.sh: go install $PKG@$VERSION failed; building it from a temporary module" >&2
    local tmp
    tmp=$(mktemp -d)
    (
      cd "$tmp"
      GOFLAGS= go mod init peerbuild >/dev/null 2>&1
      GOFLAGS= go get "$PKG@$VERSION"
      GOBIN=$PEERS GOFLAGS= go install "$PKG"
    ) || { rm -rf "$tmp"; exit 1; }
    rm -rf "$tmp"
  fi
}

install_peer

[[ -r $ENVFILE ]] || { echo "goproxy.sh: $ENVFILE missing: start the fixture upstream (bench/run --serve-upstream)" >&2; exit 1; }
URL=$(sed -n 's/^URL=//p' "$ENVFILE")
VKEY=$(sed -n 's/^VKEY=//p' "$ENVFILE")
SUMDB_NAME=$(sed -n 's/^SUMDB_NAME=//p' "$ENVFILE")
URL=${URL:-http://127.0.0.1:7410}
[[ -n $VKEY && -n $SUMDB_NAME ]] || { echo "goproxy.sh: VKEY/SUMDB_NAME missing in $ENVFILE" >&2; exit 1; }

rm -rf "$DATA"
mkdir -p "$DATA/caches" "$DATA/tmp"
cd "$DATA"

echo "goproxy.sh: goproxy $VERSION on 127.0.0.1:$PORT, upstream $URL, sumdb $SUMDB_NAME, data $DATA" >&2

# GoFetcher reads GOPROXY/GONOPROXY/GOSUMDB/GONOSUMDB/GOPRIVATE from its own
# environment; the rest is passed to the go command it would run for a
# `direct` fetch, which this GOPROXY list never reaches.
exec env \
  GOPROXY="$URL" \
  GONOPROXY= GOPRIVATE= GONOSUMDB= GOINSECURE= \
  GOSUMDB="$VKEY $URL/sumdb/$SUMDB_NAME" \
  GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local \
  GOPATH="$DATA/gopath" GOMODCACHE="$DATA/gopath/pkg/mod" GOCACHE="$DATA/gocache" \
  TMPDIR="$DATA/tmp" \
  "$BIN" server \
  --address "127.0.0.1:$PORT" \
  --cacher dir --cacher-dir "$DATA/caches" \
  --temp-dir "$DATA/tmp" \
  --proxied-sumdbs "$SUMDB_NAME $URL/sumdb/$SUMDB_NAME" \
  --log-format text
