#!/usr/bin/env bash
# Installs the pinned dependencies (npm ci, skipped while node_modules matches the lock
# file; packages come from npm's own cache when warm), builds the SDK into dist/, builds
# and runs its tests with node --test. The integration tests need the environment of
# tests/sdk/with_sandboxd.sh (SANDBOXD_ADDR, SANDBOXD_TOKEN, ...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
stamp=node_modules/.installed-from
want=$(cat package.json package-lock.json | sha256sum | cut -c1-64)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
  printf '%s\n' "$want" >"$stamp"
fi
rm -rf dist dist-test
node_modules/.bin/tsc -p tsconfig.json
node_modules/.bin/tsc -p tsconfig.test.json
exec node --test --test-concurrency=1 dist-test/test/*.test.js
