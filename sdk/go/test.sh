#!/usr/bin/env bash
# Vets and tests the Go SDK. The tests call a real sandboxd: run this under
# tests/sdk/with_sandboxd.sh (ctest: sdk_go). Modules come from the Go module proxy,
# pinned by go.sum, cached by Go.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
go vet ./...
go test -count=1 -timeout 10m -v ./...
