#!/usr/bin/env bash
# Image gate: builds the container image of the main build's sandboxd with
# tools/image/build.sh (buildah, daemonless, FROM scratch) and checks it:
#   - `sandboxd --version` runs inside it (buildah run with chroot isolation: no daemon,
#     no container runtime) and prints what the binary prints outside;
#   - it runs as 65532:65532 with sandboxd as the entrypoint;
#   - the CA bundle is in it (the Kubernetes client needs it for in-cluster TLS).
# The image is removed afterwards; nothing is pushed.
#
#   tools/ci/image.sh
#
# Needs root (buildah's storage) and the main build ($SANDBOXD_BUILD_DIR).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

binary=$SANDBOXD_BUILD_DIR/server/sandboxd
tag=localhost/sandboxd-ci:$$
ctr=""
cleanup() {
  [ -n "$ctr" ] && { buildah umount "$ctr" >/dev/null 2>&1; buildah rm "$ctr" >/dev/null 2>&1; }
  buildah rmi "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "building the sandboxd image with buildah"
"$repo/tools/image/build.sh" "$binary" "$tag" >/dev/null
ctr=$(buildah from "$tag")
failed=0
check() {  # check DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then echo "PASS $1"; else echo "FAIL $1: got '$2', want '$3'"; failed=1; fi
}
check "sandboxd --version inside the image" \
  "$(buildah run --isolation chroot "$ctr" -- /usr/local/bin/sandboxd --version 2>&1)" \
  "$("$binary" --version)"
check "user" "$(buildah inspect --format '{{.OCIv1.Config.User}}' "$tag")" "65532:65532"
check "entrypoint" "$(buildah inspect --format '{{.OCIv1.Config.Entrypoint}}' "$tag")" \
  "[/usr/local/bin/sandboxd]"
root=$(buildah mount "$ctr")
check "CA bundle present" "$([ -s "$root/etc/ssl/certs/ca-certificates.crt" ] && echo yes)" "yes"
exit "$failed"
