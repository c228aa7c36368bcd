#!/usr/bin/env bash
# Sanitizer gate: builds the unit tier with clang-14, AddressSanitizer and
# UndefinedBehaviorSanitizer (LeakSanitizer included; undefined behaviour aborts) and runs
# it there. Any report fails the test that caused it.
#
#   tools/ci/sanitize.sh              # the unit tier
#   tools/ci/sanitize.sh -R reflector # extra arguments go to ctest
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

step "ASan + UBSan build (clang) of the unit tier"
configure_sanitizer_build
# Only the unit tests (and the libraries they link): tests/unit's Ninja "all" target.
cmake --build "$SANDBOXD_FUZZ_BUILD_DIR" -j "$(nproc)" --target tests/unit/all
step "unit tier under ASan + UBSan"
ctest --test-dir "$SANDBOXD_FUZZ_BUILD_DIR" --output-on-failure --timeout 900 -L unit "$@"
