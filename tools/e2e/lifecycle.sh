#!/usr/bin/env bash
# End to end, as an operator sees sandboxd: starts the sandboxd binary against the local
# control plane with its least-privilege identity (plaintext on 127.0.0.1), makes a tenant
# namespace (labelled sandboxd.dev/enabled=true) with a ServiceAccount allowed to use
# sandboxes there (ClusterRole sandboxd-user), then with grpcurl (server reflection, no
# proto files) and that account's token checks health and runs one sandbox through its
# lifecycle:
#   create -> RUNNING -> stop -> STOPPED -> start -> RUNNING (same claim) -> update env
#   -> delete -> NOT_FOUND
# and finally stops sandboxd with SIGTERM and expects a clean exit.
#
#   tools/e2e/lifecycle.sh SANDBOXD_BINARY [NAMESPACE]
# Needs: a running plane (KUBE_LOCAL_STATE_DIR, default as kube-local), grpcurl on PATH or
# in $SANDBOXD_GRPCURL. Prints each step; the last line is "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sandboxd=${1:?usage: lifecycle.sh SANDBOXD_BINARY [NAMESPACE]}
ns=${2:-e2e-$RANDOM}
grpcurl=${SANDBOXD_GRPCURL:-$(command -v grpcurl || true)}
[ -x "$grpcurl" ] || { echo "grpcurl not found (set SANDBOXD_GRPCURL)"; exit 1; }
eval "$("$here/../kube-local/kube-local" env)" || { echo "the local control plane is not up"; exit 1; }
kubectl() { "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_ADMIN_KUBECONFIG" "$@"; }

passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2" | tail -n 20 | sed 's/^/    /'; failed=$((failed + 1)); }
step() { printf '\n-- %s\n' "$*"; }

work=$(mktemp -d)
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" sandboxd.dev/enabled=true >/dev/null
kubectl -n "$ns" create serviceaccount e2e-user >/dev/null
kubectl -n "$ns" create rolebinding e2e-user --clusterrole=sandboxd-user \
  --serviceaccount="$ns:e2e-user" >/dev/null
token=$(kubectl -n "$ns" create token e2e-user --audience=sandboxd.dev)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

step "starting sandboxd (identity: $KUBE_LOCAL_SANDBOXD_KUBECONFIG)"
"$sandboxd" --listen_address=127.0.0.1:0 --metrics_listen_address=127.0.0.1:0 --plaintext \
  --port_file="$work/port" \
  --kubeconfig="$KUBE_LOCAL_SANDBOXD_KUBECONFIG" --default_image=registry.local/agent:1 \
  --shutdown_grace=5s >"$work/sandboxd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { fail "sandboxd starts" "$(cat "$work/sandboxd.log")"; echo "0 passed, 1 failed"; exit 1; }
addr=127.0.0.1:$(cat "$work/port")
echo "sandboxd serves on $addr"

call() {  # call METHOD JSON: prints the response; exit status of grpcurl
  "$grpcurl" -plaintext -H "authorization: Bearer $token" -d "$2" "$addr" \
    "sandbox.v1.SandboxLifecycle/$1" 2>&1
}
phase() { call GetSandbox "{\"namespace\":\"$ns\",\"name\":\"demo\"}" | jq -r '.sandbox.phase // empty' 2>/dev/null; }
wait_phase() {  # wait_phase PHASE: up to 90 s
  for _ in $(seq 450); do [ "$(phase)" = "$1" ] && return 0; sleep 0.2; done
  return 1
}
expect() {  # expect NAME COMMAND...
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

step "reflection and health"
lists_service() { "$grpcurl" -plaintext "$addr" list | grep -qx sandbox.v1.SandboxLifecycle; }
serving() {  # SERVING once the watch cache has synced; up to 30 s
  for _ in $(seq 150); do
    "$grpcurl" -plaintext -d '{"service":"sandbox.v1.SandboxLifecycle"}' "$addr" \
      grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"' && return 0
    sleep 0.2
  done
  return 1
}
expect "reflection lists the service (no credentials needed)" lists_service
expect "health becomes SERVING (no credentials needed)" serving

step "callers must authenticate"
anonymous() {
  local out
  out=$("$grpcurl" -plaintext -d "{\"namespace\":\"$ns\"}" "$addr" \
    sandbox.v1.SandboxLifecycle/ListSandboxes 2>&1)
  grep -q 'Code: Unauthenticated' <<<"$out" && grep -q '"reason": "MISSING_CREDENTIALS"' <<<"$out"
}
expect "a call without a token is Unauthenticated (MISSING_CREDENTIALS)" anonymous
other_namespace() {
  local out
  out=$(call ListSandboxes '{"namespace":"kube-system"}')
  grep -q 'Code: PermissionDenied' <<<"$out"
}
expect "kube-system is PermissionDenied" other_namespace

step "create"
out=$(call CreateSandbox "{\"spec\":{\"name\":\"demo\",\"namespace\":\"$ns\",\"project\":\"quickstart\",\"env\":{\"EDITOR\":\"vim\"},\"ingress_domain\":\"$ns.example.test\"}}")
echo "$out" | jq -c '.sandbox | {phase, endpoints, storage}' 2>/dev/null
expect "create returns the sandbox" test "$(echo "$out" | jq -r .sandbox.spec.name 2>/dev/null)" = demo
expect "sandbox becomes RUNNING" wait_phase SANDBOX_PHASE_RUNNING
claim=$(call GetSandbox "{\"namespace\":\"$ns\",\"name\":\"demo\"}" | jq -r .sandbox.storage.uid)
echo "home volume: claim vn-homevn-agent-demo-0, uid $claim"

step "stop"
call StopSandbox "{\"namespace\":\"$ns\",\"name\":\"demo\"}" >/dev/null
expect "sandbox becomes STOPPED" wait_phase SANDBOX_PHASE_STOPPED
expect "claim kept while stopped" test "$(kubectl -n "$ns" get pvc vn-homevn-agent-demo-0 -o jsonpath='{.metadata.uid}')" = "$claim"

step "start"
call StartSandbox "{\"namespace\":\"$ns\",\"name\":\"demo\"}" >/dev/null
expect "sandbox is RUNNING again" wait_phase SANDBOX_PHASE_RUNNING
expect "the same claim is bound" test "$(call GetSandbox "{\"namespace\":\"$ns\",\"name\":\"demo\"}" | jq -r .sandbox.storage.uid)" = "$claim"

step "update env"
out=$(call UpdateSandboxEnv "{\"namespace\":\"$ns\",\"name\":\"demo\",\"env\":{\"LANG\":\"C.UTF-8\"},\"remove_keys\":[\"EDITOR\"]}")
expect "env merged" test "$(echo "$out" | jq -c .sandbox.spec.env 2>/dev/null)" = '{"LANG":"C.UTF-8"}'

step "watch"
watch_state() {  # the stream's first two messages: the current state, then the marker
  local out
  # grpcurl ends the stream at -max-time (DeadlineExceeded on stderr).
  out=$("$grpcurl" -plaintext -H "authorization: Bearer $token" -max-time 3 \
    -d "{\"namespace\":\"$ns\",\"name\":\"demo\"}" \
    "$addr" sandbox.v1.SandboxLifecycle/WatchSandbox 2>/dev/null)
  [ "$(echo "$out" | jq -rs '.[0].type + " " + .[0].sandbox.spec.name + " " + .[1].type' 2>/dev/null)" = \
    "WATCH_EVENT_TYPE_ADDED demo WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE" ] || { echo "$out"; return 1; }
}
expect "WatchSandbox streams the state, then INITIAL_STATE_COMPLETE" watch_state

step "errors carry a code and an ErrorInfo"
not_found() {
  local out
  out=$(call GetSandbox "{\"namespace\":\"$ns\",\"name\":\"nobody\"}")
  grep -q 'Code: NotFound' <<<"$out" && grep -q '"reason": "SANDBOX_NOT_FOUND"' <<<"$out"
}
expect "unknown sandbox is NotFound with reason SANDBOX_NOT_FOUND" not_found

step "delete"
expect "delete succeeds" call DeleteSandbox "{\"namespace\":\"$ns\",\"name\":\"demo\"}"
nothing_left() {
  for _ in $(seq 450); do
    [ -z "$(kubectl -n "$ns" get statefulset,service,ingress,pvc,pod -o name 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  return 1
}
expect "nothing is left" nothing_left

step "graceful shutdown"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
expect "SIGTERM: clean exit" test "$rc" -eq 0
expect "shutdown is logged" grep -q "sandboxd stopped" "$work/sandboxd.log"

echo
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
