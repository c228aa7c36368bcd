#!/usr/bin/env bash
# Sets up and runs every test of sandboxd: installs the dependencies, builds (or reuses)
# the pinned control-plane binaries, builds sandboxd, and runs the unit and integration
# tests; the integration tier starts its own local control plane (tools/kube-local).
#
#   tools/test.sh               # everything
#   tools/test.sh -L unit       # extra arguments go to ctest (here: one tier)
#
# Heavy builds are cached outside the repository under $SANDBOXD_CACHE
# (default ${XDG_CACHE_HOME:-~/.cache}/sandboxd).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

step "installing dependencies"
"$repo/tools/install-deps.sh"
step "building the local control plane binaries (cached)"
"$repo/tools/kube-local/build.sh" >/dev/null
ensure_grpcurl
build_sandboxd
step "running tests"
ctest --test-dir "$SANDBOXD_BUILD_DIR" --output-on-failure --timeout 900 "$@"
