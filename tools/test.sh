#!/usr/bin/env bash
# Sets up and runs every test of sandboxd: installs the dependencies, runs the quality
# gates (tools/ci: format of the changed lines, clang's thread-safety analysis), builds
# (or reuses) the pinned control-plane binaries, builds sandboxd, runs the unit and
# integration tests (the integration tier starts its own local control plane,
# tools/kube-local), builds and checks the container image (tools/ci/image.sh), then the
# unit tier again under ASan + UBSan, then the libFuzzer
# targets (every committed input, then 20 s of fuzzing each). docs/reliability.md
# describes the gates; each stage prints how long it took.
#
#   tools/test.sh               # everything
#   tools/test.sh -L unit       # extra arguments go to the main ctest run (here: one tier)
#
# Heavy builds are cached outside the repository under $SANDBOXD_CACHE
# (default ${XDG_CACHE_HOME:-~/.cache}/sandboxd).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

# Runs stage $1 (the command that follows) and prints its duration.
timed() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  printf '==> [%s] %s took %ds\n' "$(date +%H:%M:%S)" "$name" $((SECONDS - start)) >&2
}

step "installing dependencies"
"$repo/tools/install-deps.sh"
timed "format check" "$repo/tools/ci/format_check.sh"
timed "thread-safety analysis" "$repo/tools/ci/thread_safety.sh"
step "building the local control plane binaries (cached)"
"$repo/tools/kube-local/build.sh" >/dev/null
ensure_grpcurl
ensure_toxiproxy
timed "build" build_sandboxd
step "running tests"
timed "tests" ctest --test-dir "$SANDBOXD_BUILD_DIR" --output-on-failure --timeout 900 "$@"
timed "container image" "$repo/tools/ci/image.sh"
timed "unit tier under ASan + UBSan" "$repo/tools/ci/sanitize.sh"
timed "fuzzing" "$repo/tools/ci/fuzz.sh"
