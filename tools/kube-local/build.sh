#!/usr/bin/env bash
# Builds the pinned control-plane binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok) into a cache outside the repository, keyed by
# version. A binary that is already there is not rebuilt. Prints the bin directory last.
#
#   tools/kube-local/build.sh            # build what is missing
#   SANDBOXD_CACHE=/path build.sh        # cache root (default ${XDG_CACHE_HOME:-~/.cache}/sandboxd)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${SANDBOXD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandboxd}
bin="$cache/kube-local/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"
logs="$cache/kube-local/build-logs"
mkdir -p "$bin" "$logs"

log() { printf '[kube-local build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# build_component NAME MODULE_DIR LDFLAGS PACKAGE...: builds PACKAGEs of the wrapper module
# in MODULE_DIR into $bin unless every one of them is already there.
build_component() {
  local name=$1 dir=$2 ldflags=$3
  shift 3
  local missing=()
  for pkg in "$@"; do
    [ -x "$bin/$(basename "$pkg")" ] || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "$name: cached"
    return 0
  fi
  local start=$SECONDS logf="$logs/$name.log"
  log "$name: building ${missing[*]##*/} (log: $logf) ..."
  # Progress: a line a minute so a long cold build is visibly alive.
  ( while sleep 60; do log "$name: still building ($((SECONDS - start)) s)"; done ) &
  local ticker=$!
  local tmp
  tmp=$(mktemp -d "$bin/.build.XXXXXX")
  if ! (cd "$here/$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags selinux,notest \
          -ldflags "-s -w $ldflags" -o "$tmp/" "${missing[@]}") >"$logf" 2>&1; then
    kill "$ticker" 2>/dev/null || true
    log "$name: BUILD FAILED after $((SECONDS - start)) s; last lines of $logf:"
    tail -n 30 "$logf" >&2
    rm -rf "$tmp"
    return 1
  fi
  kill "$ticker" 2>/dev/null || true
  mv "$tmp"/* "$bin/"   # publish only complete binaries
  rm -rf "$tmp"
  log "$name: built in $((SECONDS - start)) s"
}

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
build_date=2000-01-01T00:00:00Z   # fixed so that builds are reproducible
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitCommit=$KUBE_GIT_COMMIT -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

if [ -x "$bin/etcd" ]; then
  log "etcd: cached"
else
  build_component etcd etcd "-X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" go.etcd.io/etcd/server/v3
  # The etcd main package is the module root go.etcd.io/etcd/server/v3: go names it "server".
  mv "$bin/server" "$bin/etcd"
fi
build_component kwok kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" sigs.k8s.io/kwok/cmd/kwok
build_component kubernetes k8s "$kube_ldflags" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl

got=$("$bin/kube-apiserver" --version)
[ "$got" = "Kubernetes $KUBE_VERSION" ] || { log "kube-apiserver reports '$got', want 'Kubernetes $KUBE_VERSION'"; exit 1; }
echo "$bin"
