#!/usr/bin/env bash
# Run Athens (github.com/gomods/athens) as a bench peer in the foreground:
#
#   bench/peers/athens.sh [PORT]           # default 7422
#   bench/run --peer http://127.0.0.1:7422
#
# Athens fetches every module it does not have by running the go command
# (`go mod download -json` for a version, `go list -m -versions` for /list and
# /@latest) with the environment in ATHENS_GO_BINARY_ENV_VARS; that list
# replaces Athens' default (GOPROXY=direct), so the go command's only upstream
# is the bench fixture upstream (URL in bench/work/upstream.env, default
# http://127.0.0.1:7410), with no `direct` fallback, and it verifies each
# download against the fixture checksum database (GOSUMDB = the fixture's key
# and URL). Download mode is `sync` (fetch, store, serve) and network mode
# `strict` (a failing upstream list is an error), both Athens' defaults;
# ATHENS_GLOBAL_ENDPOINT is unused by Athens. Athens can only proxy checksum
# databases named after an https host, so /sumdb/ is off here (ATHENS_SUM_DBS
# empty) and the go command talks to the fixture's checksum database directly.
# Storage is the disk backend under bench/work/peers/athens-data, wiped at
# every start.
set -euo pipefail

PKG=github.com/gomods/athens/cmd/proxy
MODULE=github.com/gomods/athens
VERSION=v0.18.0 # latest release tag (2026-06)

PORT=${1:-7422}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PEERS=$ROOT/bench/work/peers
BIN=$PEERS/proxy # `go install` names the binary after cmd/proxy
DATA=$PEERS/athens-data
ENVFILE=$ROOT/bench/work/upstream.env

NAME=athens.sh
# shellcheck source=lib.sh
source "$ROOT/bench/peers/lib.sh"

install_peer

read_upstream_env "$ENVFILE"
GO=$(command -v go)

rm -rf "$DATA"
mkdir -p "$DATA/storage" "$DATA/goget" "$DATA/tmp"
cd "$DATA" # no athens.toml here: defaults plus the ATHENS_* below

echo "athens.sh: athens $VERSION on 127.0.0.1:$PORT, upstream $URL, sumdb $SUMDB_NAME, data $DATA" >&2

# The go command Athens runs gets only PATH, HOME, GOROOT, proxy variables,
# its own GOPATH/GOCACHE and this list (entries separated by ';').
GOENV_LIST="GOPROXY=$URL; GONOPROXY=; GOPRIVATE=; GONOSUMDB=; GOINSECURE=;"
GOENV_LIST+=" GOSUMDB=$VKEY $URL/sumdb/$SUMDB_NAME;"
GOENV_LIST+=" GOFLAGS=-mod=mod; GOENV=off; GOTOOLCHAIN=local"

exec env \
  TMPDIR="$DATA/tmp" \
  GO_BINARY_PATH="$GO" \
  ATHENS_GO_BINARY_ENV_VARS="$GOENV_LIST" \
  ATHENS_PORT="127.0.0.1:$PORT" \
  ATHENS_STORAGE_TYPE=disk \
  ATHENS_DISK_STORAGE_ROOT="$DATA/storage" \
  ATHENS_GOGET_DIR="$DATA/goget" \
  ATHENS_DOWNLOAD_MODE=sync \
  ATHENS_NETWORK_MODE=strict \
  ATHENS_SUM_DBS= \
  ATHENS_GONOSUM_PATTERNS= \
  ATHENS_LOG_LEVEL=warn \
  ATHENS_LOG_FORMAT=plain \
  ATHENS_CLOUD_RUNTIME=none \
  "$BIN"
