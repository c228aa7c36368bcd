#!/usr/bin/env bash
# Sanitizer gate: builds sandboxd with AddressSanitizer + UndefinedBehaviorSanitizer
# (LeakSanitizer included; CMake option SANDBOXD_SANITIZE) and runs the unit tier there.
# Any report fails the test that caused it.
#
#   tools/ci/sanitize.sh              # the unit tier
#   tools/ci/sanitize.sh -R reflector # extra arguments go to ctest
#
# Uses its own build tree, cached outside the repository under $SANDBOXD_CACHE.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

build=${SANDBOXD_SANITIZE_BUILD_DIR:-$SANDBOXD_CACHE/build-sanitize/$(printf '%s' "$repo" | sha1sum | cut -c1-12)}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
step "ASan + UBSan build of the unit tier in $build"
# -O1 and line tables only: what the sanitizers' reports need, and much quicker to build
# than -O2 -g (the generated proto sources dominate).
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DSANDBOXD_SANITIZE=ON "${launcher[@]}" >/dev/null
# Only the unit tests (and the libraries they link): tests/unit's Ninja "all" target.
cmake --build "$build" -j "$(nproc)" --target tests/unit/all
step "unit tier under ASan + UBSan"
# UBSan only prints and goes on unless told to stop: every finding must fail the test.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
ctest --test-dir "$build" --output-on-failure --timeout 900 -L unit "$@"
