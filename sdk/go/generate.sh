#!/usr/bin/env bash
# Regenerates the Go stubs (sandboxv1/) from proto/ with pinned protoc-gen-go and
# protoc-gen-go-grpc, installed once into $SANDBOXD_CACHE/tools. Run after a .proto change;
# the output is committed and tools/proto/check.sh fails when it is stale.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
bin=$SANDBOXD_CACHE/tools/go-plugins-$PROTOC_GEN_GO_VERSION-$PROTOC_GEN_GO_GRPC_VERSION
if [ ! -x "$bin/protoc-gen-go" ] || [ ! -x "$bin/protoc-gen-go-grpc" ]; then
  step "installing protoc-gen-go $PROTOC_GEN_GO_VERSION, protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION"
  GOBIN=$bin GOFLAGS=-mod=mod go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  GOBIN=$bin GOFLAGS=-mod=mod go install \
    "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

cd "$here"
rm -rf sandboxv1
PATH=$bin:$PATH "$repo/tools/proto/buf.sh" generate
