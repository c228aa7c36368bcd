#!/usr/bin/env bash
# Fuzzing gate: builds the libFuzzer targets of tests/fuzz with clang-14 (coverage for the
# fuzzer, ASan, UBSan; CMake option SANDBOXD_FUZZ), runs every committed input of
# tests/fuzz/corpus once (ctest -L fuzz: the regression inputs of fixed findings are
# there), then fuzzes each target for a bounded time. A crash, a leak, undefined behaviour
# or a timeout fails the run and leaves the input in <build>/fuzz-artifacts/<target>/.
#
#   tools/ci/fuzz.sh                     # every target, 20 s each ($SANDBOXD_FUZZ_SECONDS)
#   tools/ci/fuzz.sh 1800 quantity       # a longer local run: one target, 30 min
#   tools/ci/fuzz.sh 600 '*'             # every target, 10 min each
#
# New inputs that reach new code are kept in the working corpus under the build tree
# (<build>/fuzz-corpus/<target>), not in the repository; seeds are copied in first, so
# later runs start from everything earlier runs found. Uses its own build tree, cached
# outside the repository under $SANDBOXD_CACHE, shared with tools/ci/sanitize.sh
# (lib.sh: configure_sanitizer_build). Needs clang++-14 and its libFuzzer runtime
# (tools/install-deps.sh).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

seconds=${1:-${SANDBOXD_FUZZ_SECONDS:-20}}
pattern=${2:-*}
step "libFuzzer build (clang, ASan + UBSan) of tests/fuzz"
configure_sanitizer_build
build=$SANDBOXD_FUZZ_BUILD_DIR
# Only the fuzzers and the libraries they link: tests/fuzz's Ninja "all" target.
cmake --build "$build" -j "$(nproc)" --target tests/fuzz/all

step "every committed input once (regressions)"
ctest --test-dir "$build" --output-on-failure -L fuzz

total_execs=0
for fuzzer in "$build"/tests/fuzz/*_fuzz; do
  target=$(basename "$fuzzer" _fuzz)
  # shellcheck disable=SC2053 # the pattern is a glob on purpose
  [[ $target == $pattern ]] || continue
  corpus=$build/fuzz-corpus/$target
  artifacts=$build/fuzz-artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  cp -n "$repo/tests/fuzz/corpus/$target"/* "$corpus"/ 2>/dev/null || true
  step "fuzzing $target for ${seconds}s"
  log=$build/fuzz-$target.log
  # -timeout: an input that takes 10 s is a finding (a hang); -rss_limit_mb: so is 2 GiB.
  if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target found a problem; input in $artifacts/ (reproduce: $fuzzer <input>;" \
      "once fixed, add it to tests/fuzz/corpus/$target/)" >&2
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  features=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  echo "fuzz: $target: ${execs:-0} runs in ${seconds}s, ${features:-0} features," \
    "$(find "$corpus" -type f | wc -l) inputs in the working corpus" >&2
  total_execs=$((total_execs + ${execs:-0}))
done
echo "fuzz: $total_execs runs in all, no finding" >&2
