#!/usr/bin/env bash
# The in-cluster configuration of the sandboxd binary, as a pod runs it: no kubeconfig,
# KUBERNETES_SERVICE_HOST/PORT set, and a ServiceAccount directory laid out as the kubelet
# projects it (token, ca.crt, namespace as symlinks into a `..data` directory that is
# swapped atomically when the token rotates).
#
# The token is bound to a Secret, so deleting that Secret revokes it. The test rotates the
# projected token (a new one, bound to a second Secret), revokes the old one, and expects
# sandboxd to go on working: writes succeed and the watch cache follows them.
#
# sandboxd logs in JSON (--log_format=json, for log pipelines): every line is one JSON
# object, and each call (unary or stream, admitted or refused after authentication) has
# one "rpc finished" line with its method, sandbox, caller, request_id, code and latency_ms.
#
#   tests/integration/in_cluster.sh SANDBOXD_BINARY
# Needs: a running plane (KUBE_LOCAL_STATE_DIR), grpcurl in $SANDBOXD_GRPCURL or on PATH.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sandboxd=${1:?usage: in_cluster.sh SANDBOXD_BINARY}
grpcurl=${SANDBOXD_GRPCURL:-$(command -v grpcurl || true)}
[ -x "$grpcurl" ] || { echo "grpcurl not found (set SANDBOXD_GRPCURL)"; exit 1; }
eval "$("$here/../../tools/kube-local/kube-local" env)" || { echo "the local control plane is not up"; exit 1; }
kubectl() { "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_ADMIN_KUBECONFIG" "$@"; }

failed=0
check() {  # check WHAT COMMAND...: runs COMMAND, reports PASS/FAIL
  local what=$1; shift
  if "$@"; then echo "PASS $what"; else echo "FAIL $what"; failed=$((failed + 1)); fi
}

work=$(mktemp -d)
ns=incluster-$(date +%s)-$RANDOM
suffix=$RANDOM
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  kubectl -n sandboxd-system delete secret "rotation-a-$suffix" "rotation-b-$suffix" \
    --ignore-not-found >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# A tenant to call sandboxd as.
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" sandboxd.dev/enabled=true >/dev/null
kubectl -n "$ns" create serviceaccount tenant >/dev/null
kubectl -n "$ns" create rolebinding tenant --clusterrole=sandboxd-user \
  --serviceaccount="$ns:tenant" >/dev/null
tenant_token=$(kubectl -n "$ns" create token tenant --audience=sandboxd.dev)

# sandboxd's own tokens, each bound to a Secret of its own.
mint() {  # mint SECRET: a token of ServiceAccount sandboxd-system/sandboxd bound to SECRET
  kubectl -n sandboxd-system create secret generic "$1" >/dev/null &&
    kubectl -n sandboxd-system create token sandboxd --duration=1h \
      --bound-object-kind=Secret --bound-object-name="$1"
}
# project TOKEN: writes the ServiceAccount directory the way the kubelet's atomic writer
# does: a fresh timestamped directory, then one rename of the `..data` symlink.
sa=$work/serviceaccount
mkdir -p "$sa"
project() {
  local dir
  dir=..$(date +%s%N)
  mkdir "$sa/$dir"
  printf '%s' "$1" >"$sa/$dir/token"
  cp "$KUBE_LOCAL_STATE_DIR/pki/ca.crt" "$sa/$dir/ca.crt"
  printf 'sandboxd-system' >"$sa/$dir/namespace"
  ln -s "$dir" "$sa/..data_tmp" && mv -T "$sa/..data_tmp" "$sa/..data"
  for f in token ca.crt namespace; do [ -L "$sa/$f" ] || ln -s "..data/$f" "$sa/$f"; done
}
reviewed() {  # reviewed TOKEN: "true" if the API server accepts TOKEN now
  kubectl create -o jsonpath='{.status.authenticated}' -f - <<EOF
{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"$1"}}
EOF
}

first=$(mint "rotation-a-$suffix") || { echo "FAIL minting a bound token"; exit 1; }
project "$first"

server=${KUBE_LOCAL_APISERVER#https://}
KUBERNETES_SERVICE_HOST=${server%:*} KUBERNETES_SERVICE_PORT=${server##*:} \
  "$sandboxd" --kube_service_account_dir="$sa" --listen_address=127.0.0.1:0 --plaintext \
  --log_format=json \
  --metrics_listen_address=127.0.0.1:0 \
  --port_file="$work/port" --default_image=registry.local/agent:1 --shutdown_grace=2s \
  >"$work/sandboxd.log" 2>&1 &
pid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "FAIL sandboxd starts"; tail -n 30 "$work/sandboxd.log"; exit 1; }
addr=127.0.0.1:$(cat "$work/port")

call() {  # call METHOD JSON
  "$grpcurl" -plaintext -H "authorization: Bearer $tenant_token" -d "$2" "$addr" \
    "sandbox.v1.SandboxLifecycle/$1" 2>&1
}
phase() {
  call GetSandbox "{\"namespace\":\"$ns\",\"name\":\"$1\"}" | jq -r '.sandbox.phase // empty' 2>/dev/null
}
eventually_running() {  # up to 60 s
  for _ in $(seq 300); do [ "$(phase "$1")" = SANDBOX_PHASE_RUNNING ] && return 0; sleep 0.2; done
  return 1
}
create() { call CreateSandbox "{\"spec\":{\"name\":\"$1\",\"namespace\":\"$ns\"}}" | jq -e .sandbox >/dev/null; }
served() {  # the cache synced with the first token: listing works (no CACHE_NOT_SYNCED)
  for _ in $(seq 150); do call ListSandboxes "{\"namespace\":\"$ns\"}" | jq -e . >/dev/null && return 0; sleep 0.2; done
  return 1
}

check "sandboxd serves with the in-cluster config" served
check "a sandbox is created with the first token" create before
check "and becomes RUNNING" eventually_running before

second=$(mint "rotation-b-$suffix") || { echo "FAIL minting the second token"; exit 1; }
project "$second"
kubectl -n sandboxd-system delete secret "rotation-a-$suffix" >/dev/null
revoked() {  # the API server refuses the first token once its Secret is gone
  for _ in $(seq 100); do [ "$(reviewed "$first")" != true ] && return 0; sleep 0.2; done
  return 1
}
check "the first token is revoked" revoked
check "the rotated token is valid" test "$(reviewed "$second")" = true

check "after the rotation a sandbox is created" create after
check "and the watch cache sees it RUNNING" eventually_running after
check "the earlier sandbox is still served" test "$(phase before)" = SANDBOX_PHASE_RUNNING
check "sandboxd re-read the token after a 401" grep -q '401, refreshing credentials and retrying' "$work/sandboxd.log"

# The per-call log lines.
refused=$(call ListSandboxes '{"namespace":"kube-system"}')
check "kube-system is refused" grep -q 'Code: PermissionDenied' <<<"$refused"
"$grpcurl" -plaintext -max-time 2 -H "authorization: Bearer $tenant_token" \
  -d "{\"namespace\":\"$ns\"}" "$addr" sandbox.v1.SandboxLifecycle/WatchSandboxes >/dev/null 2>&1
"$grpcurl" -plaintext -d "{\"namespace\":\"$ns\"}" "$addr" \
  sandbox.v1.SandboxLifecycle/ListSandboxes >/dev/null 2>&1
logged() {  # logged METHOD SANDBOX CALLER CODE: one "rpc finished" line with these fields
  for _ in $(seq 50); do
    jq -R -n -e --arg m "$1" --arg s "$2" --arg c "$3" --arg code "$4" \
      '[inputs | fromjson? | select(.message == "rpc finished" and .method == $m
        and .sandbox == $s and .caller == $c and .code == $code
        and (.request_id | length > 0) and (.latency_ms | type == "number"))] | length == 1' \
      "$work/sandboxd.log" >/dev/null && return 0
    sleep 0.1  # a stream's line follows its end
  done
  return 1
}
tenant=system:serviceaccount:$ns:tenant
check "log: a created sandbox's line" logged CreateSandbox "$ns/before" "$tenant" OK
check "log: a call refused by RBAC names its caller" \
  logged ListSandboxes "kube-system/*" "$tenant" PERMISSION_DENIED
check "log: a watch stream's line" logged WatchSandboxes "$ns/*" "$tenant" CANCELLED
check "log: an unauthenticated call has no caller" \
  logged ListSandboxes "$ns/*" "" UNAUTHENTICATED
every_line_json() {
  jq -R -s -e '[split("\n")[] | select(length > 0) | (fromjson? // "not JSON") | type == "object"]
    | length > 0 and all' "$work/sandboxd.log" >/dev/null
}
check "log: every line is a JSON object" every_line_json

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
check "SIGTERM: clean exit" test "$rc" -eq 0
[ "$failed" -eq 0 ] || { echo "---- sandboxd log ----"; tail -n 40 "$work/sandboxd.log"; }
echo "$failed failed"
exit $((failed > 0))
