#!/usr/bin/env bash
# Builds the tools of the deployment checks from the Go module proxy into .cache/bin:
#   docker-compose  Docker Compose: `docker-compose config` on deploy/compose/compose.yaml
#   helm            Helm 4: lint and template deploy/helm/llmpulse
#   k8scheck        deploy/helm/tools: decodes the rendered manifests strictly against the
#                   Kubernetes, KEDA and prometheus-operator Go types
# Each is rebuilt only when its version (k8scheck: its source) changed. Go's module and
# build caches stay where Go keeps them (`go env GOMODCACHE GOCACHE`), so a fresh clone on
# the same machine (CI) compiles nothing it compiled before. Needs Go 1.26 or later.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v4.3.2
COMPOSE_VERSION=v5.6.0
BIN="$PWD/.cache/bin"
mkdir -p "$BIN"
export GOFLAGS=-buildvcs=false
# Go keeps its caches under $HOME; without one (a bare CI environment), under .cache.
if [ -z "${HOME:-}" ]; then
  export GOCACHE="${GOCACHE:-$PWD/.cache/go-build}" GOPATH="${GOPATH:-$PWD/.cache/go}"
fi

if ! command -v go >/dev/null 2>&1; then
  echo "deploy-tools: Go is not installed; helm, docker-compose and k8scheck are built" \
       "with it (Go 1.26 or later)" >&2
  exit 1
fi

LOG="$PWD/.cache/deploy-tools.log"
: > "$LOG"
current() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]; }
built() { echo "$2" > "$BIN/.$1.version"; echo "deploy-tools: $1 $2 built in $(( $(date +%s) - $3 )) s"; }
# The go command's output (a line per module downloaded) goes to the log, shown on failure.
quiet() { "$@" >>"$LOG" 2>&1 || { tail -n 40 "$LOG" >&2; echo "deploy-tools: failed: $*" >&2; exit 1; }; }

if ! current helm "$HELM_VERSION"; then
  start=$(date +%s)
  GOBIN="$BIN" quiet go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  built helm "$HELM_VERSION" "$start"
fi

if ! current docker-compose "$COMPOSE_VERSION"; then
  # Compose's go.mod has exclude directives, which `go install pkg@version` refuses: build
  # it as the main module, from the source the module proxy serves.
  start=$(date +%s)
  quiet go mod download "github.com/docker/compose/v5@$COMPOSE_VERSION"
  dir=$(go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -r "$dir/." "$src" && chmod -R u+w "$src"
  (cd "$src" && quiet go build -mod=readonly -trimpath -o "$BIN/docker-compose" \
     -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" ./cmd)
  built docker-compose "$COMPOSE_VERSION" "$start"
fi

tools=deploy/helm/tools
source_sum=$(cat "$tools/go.mod" "$tools/go.sum" "$tools"/k8scheck/*.go | sha256sum | cut -c1-16)
if ! current k8scheck "$source_sum"; then
  start=$(date +%s)
  (cd "$tools" && quiet go build -mod=readonly -trimpath -ldflags "-s -w" -o "$BIN/k8scheck" ./k8scheck)
  built k8scheck "$source_sum" "$start"
fi
