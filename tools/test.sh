#!/usr/bin/env bash
# Sets up and runs every test of sandboxd: installs the dependencies, runs the quality
# gates (tools/ci: format of the changed lines, clang's thread-safety analysis,
# clang-tidy), builds (or reuses) the pinned control-plane binaries, builds sandboxd, runs
# the unit and integration tests (the integration tier starts its own local control
# plane, tools/kube-local), builds and checks the container image (tools/ci/image.sh),
# then the unit and integration tiers again under ASan + UBSan, the libFuzzer targets
# (every committed input, then 20 s of fuzzing each) and the unit tests of src/ under
# ThreadSanitizer.
# docs/reliability.md describes the gates; each stage prints how long it took. A failing
# gate does not stop the ones after it: the run ends with the list of failed stages and
# the first one's exit code.
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

# Runs stage $1 (the command that follows) and prints its duration. A failing stage does
# not stop the later ones, so that one run reports every gate that fails; its name and
# exit code are kept for the summary at the end.
failed=()
first_rc=0
timed() {
  local name=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  printf '==> [%s] %s took %ds%s\n' "$(date +%H:%M:%S)" "$name" $((SECONDS - start)) \
    "$([ "$rc" -eq 0 ] || echo " and FAILED (exit $rc)")" >&2
  if [ "$rc" -ne 0 ]; then
    failed+=("$name (exit $rc)")
    [ "$first_rc" -ne 0 ] || first_rc=$rc
  fi
}

step "installing dependencies"
"$repo/tools/install-deps.sh"
timed "format check" "$repo/tools/ci/format_check.sh"
timed "thread-safety analysis" "$repo/tools/ci/thread_safety.sh"
timed "clang-tidy" "$repo/tools/ci/tidy.sh"
step "building the local control plane binaries (cached)"
"$repo/tools/kube-local/build.sh" >/dev/null
ensure_grpcurl
ensure_toxiproxy
build_start=$SECONDS
build_sandboxd  # every stage below needs it: a failed build ends the run here
printf '==> [%s] build took %ds\n' "$(date +%H:%M:%S)" $((SECONDS - build_start)) >&2
step "running tests"
timed "tests" ctest --test-dir "$SANDBOXD_BUILD_DIR" --output-on-failure --timeout 900 "$@"
timed "container image" "$repo/tools/ci/image.sh"
timed "unit and integration tiers under ASan + UBSan" "$repo/tools/ci/sanitize.sh"
timed "fuzzing" "$repo/tools/ci/fuzz.sh"
timed "src/ unit tests under TSan" "$repo/tools/ci/tsan.sh"

if [ "${#failed[@]}" -ne 0 ]; then
  printf '==> FAILED stages: %s\n' "${failed[*]}" >&2
  exit "$first_rc"
fi
step "every stage passed"
