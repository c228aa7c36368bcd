#!/usr/bin/env bash
# ThreadSanitizer gate: builds src/ (the layers below the gRPC server: the watch cache and
# its subscriptions, the cache feed, the task pool, the reflector, the Kubernetes client's
# I/O loop, the auth caches) and their unit tests with clang-14 -fsanitize=thread
# (CMake option SANDBOXD_TSAN), and runs them. Any report fails the test that caused it.
#
#   tools/ci/tsan.sh              # the unit tests of src/
#   tools/ci/tsan.sh -R reflector # extra arguments go to ctest
#
# TSan must see every synchronisation: Debian's Abseil is not instrumented (absl::Mutex
# would look like no lock at all), so Abseil is built here from source with
# -fsanitize=thread, at the pinned ABSL_TSAN_VERSION fetched through the Go module proxy
# (the one source of C++ code this machine's registries serve), and cached. Libraries
# that stay uninstrumented (libcurl, yaml-cpp, spdlog, GoogleTest) synchronise through
# pthreads, which TSan intercepts; tools/ci/tsan_suppressions.txt lists what remains,
# each entry explained. Build trees are cached outside the repository under
# $SANDBOXD_CACHE.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

# Abseil master of 2025-09-22 (the module proxy serves it as this pseudo-version).
ABSL_TSAN_VERSION=v0.0.0-20250922182438-d38452e1ee03
compiler=${SANDBOXD_CLANGXX:-clang++-14}
absl_prefix=$SANDBOXD_CACHE/absl-tsan/$ABSL_TSAN_VERSION
build=${SANDBOXD_TSAN_BUILD_DIR:-$SANDBOXD_CACHE/build-tsan/$(printf '%s' "$repo" | sha1sum | cut -c1-12)}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# -O1 and line tables: what TSan's reports need, quicker to build than -O2 -g.
flags=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -g1")

if [ ! -f "$absl_prefix/.complete" ]; then
  step "building Abseil $ABSL_TSAN_VERSION with ThreadSanitizer into $absl_prefix"
  src=$(GOFLAGS=-mod=mod go mod download -json "github.com/abseil/abseil-cpp@$ABSL_TSAN_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "[tsan] could not fetch Abseil $ABSL_TSAN_VERSION" >&2; exit 1; }
  absl_build=$SANDBOXD_CACHE/absl-tsan/build-$ABSL_TSAN_VERSION
  cmake -S "$src" -B "$absl_build" -G Ninja -DCMAKE_CXX_COMPILER="$compiler" \
    "${flags[@]}" -DCMAKE_CXX_FLAGS=-fsanitize=thread \
    -DCMAKE_CXX_STANDARD=17 -DABSL_PROPAGATE_CXX_STD=ON -DABSL_BUILD_TESTING=OFF \
    -DCMAKE_INSTALL_PREFIX="$absl_prefix" "${launcher[@]}" >/dev/null
  cmake --build "$absl_build" -j "$(nproc)" --target install >/dev/null
  touch "$absl_prefix/.complete"
fi

step "ThreadSanitizer build of src/ and its unit tests in $build"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$compiler" "${flags[@]}" \
  -DSANDBOXD_TSAN=ON -DCMAKE_PREFIX_PATH="$absl_prefix" "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"

step "unit tests of src/ under ThreadSanitizer"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$repo/tools/ci/tsan_suppressions.txt}
ctest --test-dir "$build" --output-on-failure --timeout 900 -L unit "$@"
