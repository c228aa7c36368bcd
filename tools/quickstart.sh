#!/usr/bin/env bash
# Quickstart: sets up and runs the main job on a fresh machine. Installs the dependencies,
# builds (or reuses) the local Kubernetes control plane and sandboxd, starts the plane
# (left running afterwards), starts sandboxd with its least-privilege identity, and runs a
# sandbox through its lifecycle with grpcurl: create, stop, start, update env, delete.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

step "installing dependencies"
"$repo/tools/install-deps.sh"
ensure_grpcurl
step "building the local control plane binaries (cached; the first build takes ~10 min)"
"$repo/tools/kube-local/build.sh" >/dev/null
build_sandboxd sandboxd  # only what the quickstart runs, not the tests and benchmarks
step "starting the local control plane"
"$repo/tools/kube-local/kube-local" up
step "running a sandbox through its lifecycle"
"$repo/tools/e2e/lifecycle.sh" "$SANDBOXD_BUILD_DIR/server/sandboxd" quickstart
step "done. The control plane is still up: tools/kube-local/kube-local env | down"
