#!/usr/bin/env bash
# Sanitizer gate: builds sandboxd and every test with clang-14, AddressSanitizer and
# UndefinedBehaviorSanitizer (LeakSanitizer included; undefined behaviour aborts) and runs
# the unit and integration tiers there: the integration tier starts its own local control
# plane (tools/kube-local) and runs the sandboxd binary, the SDKs and sandboxctl of this
# build against it. Any report fails the test that caused it.
#
#   tools/ci/sanitize.sh                    # the unit and integration tiers
#   tools/ci/sanitize.sh -L '^unit$'        # extra arguments go to ctest (here: one tier)
#   tools/ci/sanitize.sh -R Reflector
#
# The build tree is the one of the fuzzing gate (lib.sh: configure_sanitizer_build; the
# fuzzer's coverage instrumentation costs the tests nothing that matters), so the
# libraries are compiled once for both gates. It is cached outside the repository under
# $SANDBOXD_CACHE. (The CMake option SANDBOXD_SANITIZE gives the same sanitizers with
# the default compiler, for local use.)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

step "ASan + UBSan build (clang) of sandboxd and its tests"
configure_sanitizer_build
cmake --build "$SANDBOXD_FUZZ_BUILD_DIR" -j "$(nproc)"
# What the integration tier needs besides the build (each cached).
"$repo/tools/kube-local/build.sh" >/dev/null
ensure_grpcurl
ensure_toxiproxy
step "unit and integration tiers under ASan + UBSan"
ctest --test-dir "$SANDBOXD_FUZZ_BUILD_DIR" --output-on-failure --timeout 900 \
  -L '^(unit|integration)$' "$@"
