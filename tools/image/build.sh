#!/usr/bin/env bash
# Builds the container image of sandboxd with buildah, daemonless, without pulling
# anything: the image is FROM scratch and holds the sandboxd binary of a build tree, the
# shared libraries it loads (as found by ldd on this machine, so build on the Debian
# release the image is meant for), CA certificates, a passwd entry for UID 65532 and /tmp.
#
#   tools/image/build.sh SANDBOXD_BINARY [TAG]     # TAG default sandboxd:<version>
#
# Then: `buildah push sandboxd:0.1.0 docker://REGISTRY/sandboxd:0.1.0` (or to an
# oci-archive:) and set the image in your overlay (docs/OPERATIONS.md).
# Needs: buildah (Debian package `buildah`), root or rootless storage.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binary=${1:?usage: build.sh SANDBOXD_BINARY [TAG]}
[ -x "$binary" ] || { echo "not an executable: $binary" >&2; exit 1; }
version=$("$binary" --version | sed -n 's/^sandboxd \([^,]*\),.*/\1/p')
[ -n "$version" ] || { echo "$binary --version printed no version" >&2; exit 1; }
tag=${2:-sandboxd:$version}
command -v buildah >/dev/null || { echo "buildah not found (apt-get install buildah)" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
# Without the debug info (RelWithDebInfo: 45 MB of it); the symbols stay for stack traces.
strip --strip-debug -o "$root/usr/local/bin/sandboxd" "$binary"
chmod 0755 "$root/usr/local/bin/sandboxd"
# The shared libraries and the dynamic loader, at the paths the binary looks for them.
ldd "$binary" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u |
  while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nsandboxd:x:65532:65532:sandboxd:/nonexistent:/usr/sbin/nologin\n' \
  >"$root/etc/passwd"
printf 'root:x:0:\nsandboxd:x:65532:\n' >"$root/etc/group"

buildah bud --quiet --layers=false -f "$here/Containerfile" \
  --label "org.opencontainers.image.version=$version" -t "$tag" "$ctx"
echo "built $tag" >&2
