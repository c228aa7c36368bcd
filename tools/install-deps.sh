#!/usr/bin/env bash
# Installs what building and testing sandboxd needs: Debian packages (compiler, CMake,
# gRPC, Protobuf, Abseil, libcurl, RapidJSON, spdlog, yaml-cpp, prometheus-cpp, GoogleTest;
# clang, its libFuzzer runtime, clang-format and clang-tidy for the quality gates in
# tools/ci; buildah for the image gate) and checks for Go (the local control plane and
# the instrumented Abseil of the TSan gate come from Go modules). Idempotent and quick
# when everything is present.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git curl openssl python3 jq
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libcurl4-openssl-dev rapidjson-dev libspdlog-dev libyaml-cpp-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libcli11-dev ccache
  clang-14 libclang-rt-14-dev clang-format-14 clang-tidy-14
  buildah
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install-deps] installing: ${missing[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null; then
  echo "[install-deps] Go is required (1.26+) to build the local control plane" >&2
  exit 1
fi
echo "[install-deps] ok" >&2
