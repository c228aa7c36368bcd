#!/usr/bin/env bash
# Regenerates docs/API.md: tools/proto/api-header.md (hand-written) followed by the
# reference generated from the comments of proto/sandbox/v1 by a pinned protoc-gen-doc
# (installed once into $SANDBOXD_CACHE/tools) with the template api-doc.md.tmpl.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

PROTOC_GEN_DOC_VERSION=v1.5.1
bin=$SANDBOXD_CACHE/tools/protoc-gen-doc-$PROTOC_GEN_DOC_VERSION
if [ ! -x "$bin/protoc-gen-doc" ]; then
  step "installing protoc-gen-doc $PROTOC_GEN_DOC_VERSION"
  GOBIN=$bin GOFLAGS=-mod=mod go install \
    "github.com/pseudomuto/protoc-gen-doc/cmd/protoc-gen-doc@$PROTOC_GEN_DOC_VERSION"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$here"
PATH=$bin:$PATH "$repo/tools/proto/buf.sh" generate --template buf.gen.api-doc.yaml -o "$out"
{
  cat api-header.md
  printf '<!-- Generated below from proto/sandbox/v1 by tools/proto/gen-api-doc.sh. -->\n'
  cat -s "$out/API.md"
} >"$repo/docs/API.md"
