# Shared by bench/peers/*.sh (sourced). The caller sets NAME (for messages),
# PKG, MODULE, VERSION, BIN and PEERS, then calls install_peer and
# read_upstream_env.

# Installs $PKG@$VERSION into $PEERS unless $BIN already is that version.
install_peer() {
  if [[ -x $BIN ]] && go version -m "$BIN" 2>/dev/null | grep -Eq "[[:space:]]$MODULE[[:space:]]+$VERSION([[:space:]]|$)"; then
    return
  fi
  mkdir -p "$PEERS"
  echo "$NAME: installing $PKG@$VERSION into $PEERS" >&2
  if ! GOBIN=$PEERS GOFLAGS= go install "$PKG@$VERSION"; then
    # `go install pkg@version` also asks for the module's version list (to
    # report deprecation) and fails if the registry refuses that list.
    # Build the same pinned version from a throwaway module instead.
    echo "$NAME: go install $PKG@$VERSION failed; building it from a temporary module" >&2
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

# Sets URL, VKEY and SUMDB_NAME from the fixture upstream's env file $1.
read_upstream_env() {
  local envfile=$1
  [[ -r $envfile ]] || { echo "$NAME: $envfile missing: start the fixture upstream (bench/run --serve-upstream)" >&2; exit 1; }
  URL=$(sed -n 's/^URL=//p' "$envfile")
  VKEY=$(sed -n 's/^VKEY=//p' "$envfile")
  SUMDB_NAME=$(sed -n 's/^SUMDB_NAME=//p' "$envfile")
  URL=${URL:-http://127.0.0.1:7410}
  [[ -n $VKEY && -n $SUMDB_NAME ]] || { echo "$NAME: VKEY/SUMDB_NAME missing in $envfile" >&2; exit 1; }
}
