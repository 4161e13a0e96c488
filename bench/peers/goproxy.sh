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

NAME=goproxy.sh
# shellcheck source=lib.sh
source "$ROOT/bench/peers/lib.sh"

install_peer

read_upstream_env "$ENVFILE"

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
