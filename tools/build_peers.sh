#!/usr/bin/env bash
# Builds the Go peer of `make bench` (tools/bench_peers.py) from the Go module proxy, by module
# path and exact version, into the e2e cache (tests/e2e/build.sh; KLUTCH_E2E_CACHE moves it). A
# binary already built is kept: a second run builds nothing. Prints the binary's path.
#
# function-go-templating v0.4.1 is the newest version the proxy serves: it answers 403 "This
# module version is not available" for v0.5.0, v0.7.0, v0.8.0, v0.9.2, v0.10.0, v0.11.0 and
# v0.11.3, and v0.6.0's go.mod is not in the checksum database (404); function-patch-and-transform
# v0.8.2, v0.9.0 and v0.10.0 answer 403, v0.7.0 is not in the checksum database. Built inside a
# wrapper module of our own, as tests/e2e/build.sh does.
set -euo pipefail

GO_TEMPLATING_VERSION=v0.4.1
CACHE="${KLUTCH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/klutch-e2e}"
BIN="$CACHE/bin"
OUT="$BIN/function-go-templating-$GO_TEMPLATING_VERSION"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
command -v go >/dev/null || { echo "build_peers: go is not installed (Go 1.26 expected)" >&2; exit 1; }
if [[ ! -x $OUT ]]; then
  dir="$CACHE/wrappers/go-templating-$GO_TEMPLATING_VERSION"
  mkdir -p "$dir" "$BIN"
  printf 'module klutch.bench/gotemplating\ngo 1.26\nrequire github.com/crossplane-contrib/function-go-templating %s\n' \
    "$GO_TEMPLATING_VERSION" > "$dir/go.mod"
  printf 'package tools\n' > "$dir/tools.go"
  echo "[build_peers] function-go-templating $GO_TEMPLATING_VERSION" >&2
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$OUT.tmp" github.com/crossplane-contrib/function-go-templating) \
    && mv "$OUT.tmp" "$OUT"
fi
echo "$OUT"
