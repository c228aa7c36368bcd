# Shared helpers of the top-level scripts (sourced, not run). Sets:
#   SANDBOXD_CACHE      cache root outside the repository
#   SANDBOXD_BUILD_DIR  CMake build tree of this checkout (keyed by the checkout's path)
#   SANDBOXD_TSA_BUILD_DIR  the clang build tree of tools/ci/thread_safety.sh, whose
#                       compile database tools/ci/tidy.sh uses
SANDBOXD_CACHE=${SANDBOXD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandboxd}
SANDBOXD_BUILD_DIR=${SANDBOXD_BUILD_DIR:-$SANDBOXD_CACHE/build/$(printf '%s' "$repo" | sha1sum | cut -c1-12)}
SANDBOXD_TSA_BUILD_DIR=${SANDBOXD_TSA_BUILD_DIR:-$SANDBOXD_CACHE/build-thread-safety/$(printf '%s' "$repo" | sha1sum | cut -c1-12)}
export SANDBOXD_CACHE SANDBOXD_BUILD_DIR SANDBOXD_TSA_BUILD_DIR

step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Prints the commit the change-scoped gates (format, clang-tidy) compare with:
# $SANDBOXD_FORMAT_BASE if set, else the merge base of HEAD with origin/main or main;
# nothing if there is no main branch (e.g. a single-branch clone).
change_base() {
  if [ -n "${SANDBOXD_FORMAT_BASE:-}" ]; then
    printf '%s\n' "$SANDBOXD_FORMAT_BASE"
    return
  fi
  local ref
  for ref in origin/main main; do
    if git -C "$repo" rev-parse -q --verify "$ref^{commit}" >/dev/null; then
      git -C "$repo" merge-base HEAD "$ref"
      return
    fi
  done
}

# Configures and builds sandboxd into $SANDBOXD_BUILD_DIR: the given targets, or all.
build_sandboxd() {
  step "building sandboxd in $SANDBOXD_BUILD_DIR${*:+ (targets: $*)}"
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$repo" -B "$SANDBOXD_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${launcher[@]}" >/dev/null
  cmake --build "$SANDBOXD_BUILD_DIR" -j "$(nproc)" ${*:+--target "$@"}
}

# Installs the Go command `package` at `version` (pinned, from the Go module proxy) as
# $SANDBOXD_CACHE/tools/<name>-<version>/ unless it is there, and prints its path.
go_tool() {
  local package=$1 version=$2 name=$3
  local bin=$SANDBOXD_CACHE/tools/$name-$version/$(basename "$package")
  if [ ! -x "$bin" ]; then
    step "installing $name $version" >&2
    GOBIN=$(dirname "$bin") GOFLAGS=-mod=mod go install "$package@$version" >&2
  fi
  printf '%s\n' "$bin"
}

# Installs grpcurl (pinned) into the cache; exports SANDBOXD_GRPCURL with its path.
GRPCURL_VERSION=v1.9.3
ensure_grpcurl() {
  SANDBOXD_GRPCURL=$(go_tool github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION" grpcurl)
  export SANDBOXD_GRPCURL
}

# Configures the clang-14 tree shared by the ASan + UBSan unit tier (tools/ci/sanitize.sh)
# and the libFuzzer targets (tools/ci/fuzz.sh): CMake option SANDBOXD_FUZZ instruments
# everything for ASan, UBSan (aborting) and the fuzzer's coverage, so one build of the
# libraries serves both gates. -O1 and line tables only: enough for the reports, quick to
# build. Sets SANDBOXD_FUZZ_BUILD_DIR.
configure_sanitizer_build() {
  SANDBOXD_FUZZ_BUILD_DIR=${SANDBOXD_FUZZ_BUILD_DIR:-$SANDBOXD_CACHE/build-fuzz/$(printf '%s' "$repo" | sha1sum | cut -c1-12)}
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$repo" -B "$SANDBOXD_FUZZ_BUILD_DIR" -G Ninja \
    -DCMAKE_CXX_COMPILER="${SANDBOXD_CLANGXX:-clang++-14}" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DSANDBOXD_FUZZ=ON "${launcher[@]}" >/dev/null
  # Every finding must fail: UBSan only prints and goes on unless told to stop.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
}

# Installs toxiproxy's server (pinned) into the cache; exports SANDBOXD_TOXIPROXY with its
# path. tests/integration/fault_test.cc puts it between sandboxd and the API server to
# inject latency, bandwidth limits, resets and black holes.
TOXIPROXY_VERSION=v2.5.0
ensure_toxiproxy() {
  SANDBOXD_TOXIPROXY=$(go_tool github.com/Shopify/toxiproxy/v2/cmd/server "$TOXIPROXY_VERSION" toxiproxy)
  export SANDBOXD_TOXIPROXY
}
