#!/usr/bin/env bash
# Builds the binaries of the test control plane (etcd, kube-apiserver) with Go from the module
# proxy, into a cache outside the repository. Builds only what is missing; prints the bin folder.
#
#   JARVIS_ENVTEST_CACHE  cache root (default: ${XDG_CACHE_HOME:-~/.cache}/jarvis-stability/envtest)
#   KUBE_VERSION          k8s.io/kubernetes tag (default v1.33.13; staging modules at v0.33.13)
#   ETCD_VERSION          go.etcd.io/etcd/server/v3 tag (default v3.6.16)
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.33.13}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE="${JARVIS_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jarvis-stability/envtest}"
BIN="$CACHE/bin/kube-$KUBE_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0

log() { printf '[envtest-build] %s\n' "$*" >&2; }
command -v go >/dev/null 2>&1 || { log "go is not on PATH: Go 1.24+ is needed to build etcd and kube-apiserver"; exit 1; }

build_etcd() {
  local dir="$CACHE/src/etcd-$ETCD_VERSION"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init jarvis.local/envtest-etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go build -trimpath -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_kube_apiserver() {
  local dir="$CACHE/src/kubernetes-$KUBE_VERSION" minor staging
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init jarvis.local/envtest-kube >/dev/null 2>&1
  # The tag's own go.mod says which staging modules it replaces with local paths; each becomes
  # its published v0.X.Y.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$gomod" ] || { log "could not download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
  minor="v0.${KUBE_VERSION#v1.}"
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod")
  [ -n "$staging" ] || { log "no staging replace block found in $gomod"; exit 1; }
  local args=()
  for m in $staging; do args+=("-replace=$m=$m@$minor"); done
  go mod edit "${args[@]}" "-require=k8s.io/kubernetes@$KUBE_VERSION"
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" >&2
  local ld="-s -w"
  ld+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  ld+=" -X k8s.io/component-base/version.gitMajor=1"
  ld+=" -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
  ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
  go build -trimpath -ldflags "$ld" -o "$BIN/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
}

start=$(date +%s)
if [ ! -x "$BIN/etcd" ]; then
  log "building etcd $ETCD_VERSION"; ( build_etcd )
fi
if [ ! -x "$BIN/kube-apiserver" ]; then
  log "building kube-apiserver $KUBE_VERSION"; ( build_kube_apiserver )
fi
log "binaries ready in $(( $(date +%s) - start ))s"
echo "$BIN"
