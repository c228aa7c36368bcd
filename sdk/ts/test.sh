#!/usr/bin/env bash
# Installs the pinned dependencies (npm ci; packages come from npm's cache when warm),
# builds the SDK into dist/, builds and runs its tests with node --test. The integration
# tests need the environment of tests/sdk/with_sandboxd.sh (SANDBOXD_ADDR, ...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
npm ci --prefer-offline --no-audit --no-fund --loglevel=error
node_modules/.bin/tsc -p tsconfig.json
node_modules/.bin/tsc -p tsconfig.test.json
exec node --test --test-concurrency=1 dist-test/test/
