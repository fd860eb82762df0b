#!/usr/bin/env bash
# Builds the tools of the deployment checks from the Go module proxy into .cache/bin:
#   docker-compose  Docker Compose: `docker-compose config` on deploy/compose/compose.yaml
# Each is rebuilt only when its version changed. Go's module and
# build caches stay where Go keeps them (`go env GOMODCACHE GOCACHE`), so a fresh clone on
# the same machine (CI) compiles nothing it compiled before. Needs Go 1.26 or later.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE_VERSION=v5.6.0
BIN="$PWD/.cache/bin"
mkdir -p "$BIN"
export GOFLAGS=-buildvcs=false

if ! command -v go >/dev/null 2>&1; then
  echo "deploy-tools: Go is not installed; docker-compose is built with it" \
       "(Go 1.26 or later)" >&2
  exit 1
fi

LOG="$PWD/.cache/deploy-tools.log"
: > "$LOG"
current() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]; }
built() { echo "$2" > "$BIN/.$1.version"; echo "deploy-tools: $1 $2 built in $(( $(date +%s) - $3 )) s"; }
# The go command's output (a line per module downloaded) goes to the log, shown on failure.
quiet() { "$@" >>"$LOG" 2>&1 || { tail -n 40 "$LOG" >&2; echo "deploy-tools: failed: $*" >&2; exit 1; }; }

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
