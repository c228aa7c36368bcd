# Shared helpers of the top-level scripts (sourced, not run). Sets:
#   SANDBOXD_CACHE      cache root outside the repository
#   SANDBOXD_BUILD_DIR  CMake build tree of this checkout (keyed by the checkout's path)
SANDBOXD_CACHE=${SANDBOXD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandboxd}
SANDBOXD_BUILD_DIR=${SANDBOXD_BUILD_DIR:-$SANDBOXD_CACHE/build/$(printf '%s' "$repo" | sha1sum | cut -c1-12)}
export SANDBOXD_CACHE SANDBOXD_BUILD_DIR

step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Configures and builds sandboxd into $SANDBOXD_BUILD_DIR: the given targets, or all.
build_sandboxd() {
  step "building sandboxd in $SANDBOXD_BUILD_DIR${*:+ (targets: $*)}"
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$repo" -B "$SANDBOXD_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${launcher[@]}" >/dev/null
  cmake --build "$SANDBOXD_BUILD_DIR" -j "$(nproc)" ${*:+--target "$@"}
}

# Installs grpcurl (pinned, from the Go module proxy) into the cache; exports
# SANDBOXD_GRPCURL with its path.
GRPCURL_VERSION=v1.9.3
ensure_grpcurl() {
  SANDBOXD_GRPCURL=$SANDBOXD_CACHE/tools/grpcurl-$GRPCURL_VERSION/grpcurl
  if [ ! -x "$SANDBOXD_GRPCURL" ]; then
    step "installing grpcurl $GRPCURL_VERSION"
    GOBIN=$(dirname "$SANDBOXD_GRPCURL") GOFLAGS=-mod=mod \
      go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  fi
  export SANDBOXD_GRPCURL
}

# Installs toxiproxy's server (pinned, from the Go module proxy) into the cache; exports
# SANDBOXD_TOXIPROXY with its path. tests/integration/fault_test.cc puts it between sandboxd
# and the API server to inject latency, bandwidth limits, resets and black holes.
TOXIPROXY_VERSION=v2.5.0
ensure_toxiproxy() {
  SANDBOXD_TOXIPROXY=$SANDBOXD_CACHE/tools/toxiproxy-$TOXIPROXY_VERSION/server
  if [ ! -x "$SANDBOXD_TOXIPROXY" ]; then
    step "installing toxiproxy $TOXIPROXY_VERSION"
    GOBIN=$(dirname "$SANDBOXD_TOXIPROXY") GOFLAGS=-mod=mod \
      go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  fi
  export SANDBOXD_TOXIPROXY
}
