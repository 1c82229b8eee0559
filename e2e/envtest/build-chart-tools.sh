#!/usr/bin/env bash
# Builds the tools the chart tests use, with Go from the module proxy, into the cache beside the
# envtest binaries: helm (helm.sh/helm/v3) and rulecheck (rulecheck/main.go: Prometheus's own
# rule-file validation and PromQL parser). Builds only what is missing; prints the bin folder.
# Used by tests only; nothing at run time needs either tool.
#
#   JARVIS_ENVTEST_CACHE  cache root (default: ${XDG_CACHE_HOME:-~/.cache}/jarvis-stability/envtest)
#   HELM_VERSION          helm.sh/helm/v3 tag (default v3.22.0)
#   PROMETHEUS_VERSION    github.com/prometheus/prometheus tag for rulecheck (default v0.316.0,
#                         i.e. Prometheus 3.16)
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
CACHE="${JARVIS_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jarvis-stability/envtest}"
BIN="$CACHE/bin/chart-tools-helm-$HELM_VERSION-prometheus-$PROMETHEUS_VERSION"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0

log() { printf '[chart-tools-build] %s\n' "$*" >&2; }
command -v go >/dev/null 2>&1 || { log "go is not on PATH: Go 1.26+ is needed to build helm"; exit 1; }

build_helm() {
  # A scratch module of our own (not `go install pkg@version`), so that GOFLAGS and the go.mod of
  # the working directory cannot change what is built.
  local dir="$CACHE/src/helm-$HELM_VERSION"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init jarvis.local/chart-tools-helm >/dev/null 2>&1
  go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  # As helm's own Makefile does: the version, and the Kubernetes version of its client-go modules
  # as the default of `helm template` and `helm lint` (otherwise v1.20).
  local k8s minor ld
  k8s=$(go list -m -f '{{.Version}}' k8s.io/client-go)
  minor=$(echo "$k8s" | cut -d. -f2)
  ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in pkg/chartutil pkg/lint/rules; do
    ld+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$minor"
  done
  go build -trimpath -ldflags "$ld" -o "$BIN/helm.tmp" helm.sh/helm/v3/cmd/helm
  mv "$BIN/helm.tmp" "$BIN/helm"
}

build_rulecheck() {
  local dir="$CACHE/src/rulecheck-$PROMETHEUS_VERSION"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  cp "$HERE/rulecheck/main.go" .
  go mod init jarvis.local/rulecheck >/dev/null 2>&1
  go get "github.com/prometheus/prometheus/model/rulefmt@$PROMETHEUS_VERSION" \
    "github.com/prometheus/prometheus/promql/parser@$PROMETHEUS_VERSION" >&2
  go build -trimpath -ldflags "-s -w" -o "$BIN/rulecheck.tmp" .
  mv "$BIN/rulecheck.tmp" "$BIN/rulecheck"
}

start=$(date +%s)
if [ ! -x "$BIN/helm" ]; then
  log "building helm $HELM_VERSION"; ( build_helm )
fi
# rulecheck is rebuilt when its source changes: the cached binary records the source's hash.
sum=$(sha256sum "$HERE/rulecheck/main.go" | cut -c1-16)
if [ ! -x "$BIN/rulecheck" ] || [ "$(cat "$BIN/rulecheck.src" 2>/dev/null)" != "$sum" ]; then
  log "building rulecheck (github.com/prometheus/prometheus $PROMETHEUS_VERSION)"; ( build_rulecheck )
  echo "$sum" > "$BIN/rulecheck.src"
fi
log "chart tools ready in $(( $(date +%s) - start ))s"
echo "$BIN"
