#!/usr/bin/env bash
# Builds the real control plane's programs from the Go module proxy, by module path and version,
# into a cache outside the clone (docs/e2e.md). A binary already built for its version is kept:
# a second run builds nothing. Prints the bin folder on its last line.
#
# Each program is built inside a small wrapper module of our own (written under the cache), because
# `go install mod@version` refuses modules whose go.mod has replace directives (etcd's server module
# points at ../api; k8s.io/kubernetes at ./staging; crossplane v2.3 at ./apis).
set -euo pipefail

ETCD_VERSION=v3.6.16            # etcd 3.6 (Kubernetes 1.35's supported line)
KUBE_VERSION=v1.35.4            # the minor crossplane v2.3.4 builds against (k8s.io/* v0.35.x)
CROSSPLANE_VERSION=v2.3.4       # what the twin models (tests/support)
CLI_VERSION=v2.5.0              # github.com/crossplane/cli/v2: render, beta validate
PROVIDER_SQL_VERSION=v0.16.0    # ../shared/schemas/provider-sql-v0.16.0

CACHE="${KLUTCH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/klutch-e2e}"
BIN="$CACHE/bin"
SRC="$CACHE/wrappers"
mkdir -p "$BIN" "$SRC"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
command -v go >/dev/null || { echo "e2e build: go is not installed (Go 1.26 expected)" >&2; exit 1; }
FLAGS=(-trimpath -ldflags "-s -w")

log() { printf '[e2e build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# wrapper NAME GOMOD_BODY: a module of our own that requires the upstream module.
wrapper() {
  local dir="$SRC/$1"; mkdir -p "$dir"
  printf '%s\n' "$2" > "$dir/go.mod"
  printf '%s\n' "package tools" > "$dir/tools.go"
  echo "$dir"
}

build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"; [[ -x $out ]] && return
  log "etcd $ETCD_VERSION"
  local dir; dir=$(wrapper "etcd-$ETCD_VERSION" "module klutch.e2e/etcd
go 1.26
require go.etcd.io/etcd/server/v3 $ETCD_VERSION")
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 \
    && go build "${FLAGS[@]}" -o "$out.tmp" go.etcd.io/etcd/server/v3) && mv "$out.tmp" "$out"
}

build_kube() {
  local out="$BIN/kube-$KUBE_VERSION"
  [[ -x $out/kube-apiserver && -x $out/kube-controller-manager && -x $out/kubectl ]] && return
  log "kube-apiserver, kube-controller-manager, kubectl $KUBE_VERSION (the longest step)"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging:
  # the wrapper replaces each with the published v0.<minor>.<patch> of the same release.
  local stage="v0${KUBE_VERSION#v1}"
  local gomod; gomod=$(cd "$SRC" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  local replaces; replaces=$(grep -oE '^\s+k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" \
    | awk -v v="$stage" '{print "replace " $1 " => " $1 " " v}')
  local dir; dir=$(wrapper "kube-$KUBE_VERSION" "module klutch.e2e/kube
go 1.26
require k8s.io/kubernetes $KUBE_VERSION
$replaces")
  mkdir -p "$out"
  (cd "$dir" && go get "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null 2>&1 \
    && go build "${FLAGS[@]}" -o "$out/" k8s.io/kubernetes/cmd/kube-apiserver \
         k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl)
}

build_crossplane() {
  local out="$BIN/crossplane-$CROSSPLANE_VERSION"; [[ -x $out ]] && return
  log "crossplane core $CROSSPLANE_VERSION"
  # v2.3.x replaces its apis module with ./apis: require the published one of the same tag.
  local dir; dir=$(wrapper "crossplane-$CROSSPLANE_VERSION" "module klutch.e2e/crossplane
go 1.26
require (
	github.com/crossplane/crossplane/v2 $CROSSPLANE_VERSION
	github.com/crossplane/crossplane/apis/v2 $CROSSPLANE_VERSION
)")
  (cd "$dir" && go get "github.com/crossplane/crossplane/v2@$CROSSPLANE_VERSION" \
      "github.com/crossplane/crossplane/apis/v2@$CROSSPLANE_VERSION" >/dev/null 2>&1 \
    && go build "${FLAGS[@]}" -o "$out.tmp" github.com/crossplane/crossplane/v2/cmd/crossplane) \
    && mv "$out.tmp" "$out"
}

build_wrapped() { # NAME MODULE VERSION PACKAGE: a module without replace directives
  local out="$BIN/$1-$3"; [[ -x $out ]] && return
  log "$1 $3"
  # Not `go install MODULE@VERSION`: it looks the module's deprecation up in the proxy's version
  # list (cmd/go/internal/modload, CheckDeprecation via the @latest query), and a proxy that
  # serves only some versions answers that list 403, which `go install` treats as fatal (seen for
  # provider-sql). `go get` of an exact version in a wrapper module only warns.
  local dir; dir=$(wrapper "$1-$3" "module klutch.e2e/$1
go 1.26
require $2 $3")
  (cd "$dir" && go get "$2@$3" >/dev/null 2>&1 \
    && go build "${FLAGS[@]}" -o "$out.tmp" "$4") && mv "$out.tmp" "$out"
}

for step in "${@:-etcd kube crossplane cli provider-sql}"; do
  for s in $step; do
    case $s in
      etcd) build_etcd ;;
      kube) build_kube ;;
      crossplane) build_crossplane ;;
      cli) build_wrapped crossplane-cli github.com/crossplane/cli/v2 "$CLI_VERSION" github.com/crossplane/cli/v2/cmd/crossplane ;;
      provider-sql) build_wrapped provider-sql github.com/crossplane-contrib/provider-sql "$PROVIDER_SQL_VERSION" github.com/crossplane-contrib/provider-sql/cmd/provider ;;
      *) echo "e2e build: unknown part $s" >&2; exit 2 ;;
    esac
  done
done
log "done"
echo "$BIN"
