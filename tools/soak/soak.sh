#!/usr/bin/env bash
# The bounded soak (docs/reliability.md "The bounded soak"): builds sandboxd and
# fault_test, starts the local control plane unless one is up, and runs FaultTest.Soak
# for SECONDS (default 600): mixed lifecycle load from 4 callers with watch streams open,
# etcd and kube-apiserver killed with SIGKILL in turn every 15 s, then the invariant check
# and sandboxd's memory before and after. Stops the plane again if it started it.
#
#   tools/soak/soak.sh [SECONDS]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"
seconds=${1:-600}
kube_local=$repo/tools/kube-local/kube-local

build_sandboxd sandboxd fault_test
export KUBE_LOCAL_STATE_DIR=${KUBE_LOCAL_STATE_DIR:-${TMPDIR:-/tmp}/sandboxd-soak}
if ! "$kube_local" status >/dev/null 2>&1; then
  "$kube_local" up >/dev/null
  trap '"$kube_local" down >/dev/null 2>&1' EXIT
fi
step "soak for ${seconds}s (plane: $KUBE_LOCAL_STATE_DIR)"
SANDBOXD_SOAK_SECONDS=$seconds "$SANDBOXD_BUILD_DIR/tests/integration/fault_test" \
  --gtest_filter=FaultTest.Soak
