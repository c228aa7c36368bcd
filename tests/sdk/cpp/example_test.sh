#!/usr/bin/env bash
# The installed C++ client as another project uses it: installs component
# sandboxd_client of BUILD_DIR into a temporary prefix, configures and builds the example
# project (find_package(sandboxd), sandboxd::client) against that prefix only, and runs
# it against sandboxd (run under with_sandboxd.sh). The example is compiled with
# CXX_COMPILER and linked with LINK_FLAGS (empty, or the sanitizer runtimes the installed
# library of a sanitizer build needs).
#
#   example_test.sh BUILD_DIR EXAMPLE_SOURCE_DIR CXX_COMPILER [LINK_FLAGS]
set -euo pipefail
usage="usage: example_test.sh BUILD_DIR EXAMPLE_SOURCE_DIR CXX_COMPILER [LINK_FLAGS]"
build=${1:?$usage}
source_dir=${2:?$usage}
compiler=${3:?$usage}
link_flags=${4:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --component sandboxd_client --prefix "$work/prefix" >/dev/null
test -n "$(find "$work/prefix" -path "*/cmake/sandboxd/sandboxdConfig.cmake")"
test -f "$work/prefix/include/sandboxd/client.h"
test -f "$work/prefix/include/sandboxd/proto/sandbox/v1/sandbox.grpc.pb.h"
test -x "$work/prefix/bin/sandboxctl"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_CXX_COMPILER="$compiler" -DCMAKE_EXE_LINKER_FLAGS="$link_flags" "${launcher[@]}" >/dev/null
cmake --build "$work/build" -j 2 >/dev/null
out=$("$work/build/create_and_get")
echo "$out"
[[ $out == "example SANDBOX_PHASE_"* ]]
echo "PASS: the installed package builds and runs the example"
