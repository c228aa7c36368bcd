#!/usr/bin/env bash
# Thread-safety gate: compiles sandboxd's libraries and binaries (src/, server/, client/;
# not the tests) with clang's -Wthread-safety -Werror, so the locking contracts written as
# ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED / ABSL_LOCKS_EXCLUDED are checked by a
# compiler (GCC ignores them). Exits non-zero on the first finding.
#
#   tools/ci/thread_safety.sh
#
# Uses its own build tree, cached outside the repository under $SANDBOXD_CACHE (ninja and
# ccache make a run after a small change cheap). Needs clang++-14 (tools/install-deps.sh).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

build=$SANDBOXD_TSA_BUILD_DIR
compiler=${SANDBOXD_CLANGXX:-clang++-14}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
step "thread-safety analysis (clang: -Wthread-safety -Werror) in $build"
# No optimisation and no debug info: only the diagnostics matter. The generated proto
# headers are included as system headers: clang's -Woverloaded-virtual fires in protoc's
# gRPC stubs, which are not ours.
flags="-Wthread-safety"
for generated in sandbox/v1/ google/rpc/ grpc/health/v1/; do
  flags+=" --system-header-prefix=$generated"
done
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$compiler" \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG= -DSANDBOXD_WERROR=ON \
  -DCMAKE_CXX_FLAGS="$flags" "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)" --target sandboxd sandboxctl
