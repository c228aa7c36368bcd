#!/usr/bin/env bash
# Runs the buf CLI (pinned; the prebuilt binary from npm, installed once into the cache).
#   tools/proto/buf.sh lint proto
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"
BUF_VERSION=1.75.0
prefix=$SANDBOXD_CACHE/tools/buf-$BUF_VERSION
if [ ! -x "$prefix/node_modules/.bin/buf" ]; then
  step "installing buf $BUF_VERSION (npm @bufbuild/buf)"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error \
    "@bufbuild/buf@$BUF_VERSION" >&2
fi
exec "$prefix/node_modules/.bin/buf" "$@"
