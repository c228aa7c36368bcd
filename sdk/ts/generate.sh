#!/usr/bin/env bash
# Regenerates src/gen/ from proto/ with the pinned protoc-gen-es (package-lock.json) and
# buf (tools/proto/buf.sh). `git diff --exit-code` afterwards proves the stubs fresh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
[ -x node_modules/.bin/protoc-gen-es ] || npm ci --prefer-offline --no-audit --no-fund --loglevel=error
../../tools/proto/buf.sh generate --template buf.gen.yaml
