#!/usr/bin/env bash
# Runs a client test (an SDK's test suite, sandboxctl's end-to-end script) against a real
# sandboxd on the running local control plane, as a tenant would call it:
#
#   tests/sdk/with_sandboxd.sh SANDBOXD_BINARY COMMAND [ARGS...]
#
# It makes a tenant namespace (labelled sandboxd.dev/enabled=true) with a ServiceAccount
# bound to the ClusterRole sandboxd-user, starts sandboxd (plaintext on 127.0.0.1, a fixed
# free port) with sandboxd's own least-privilege identity, and runs COMMAND with:
#   SANDBOXD_ADDR          host:port of sandboxd (plaintext: SANDBOXD_PLAINTEXT=1)
#   SANDBOXD_TOKEN         the ServiceAccount's bearer token (audience sandboxd.dev)
#   SANDBOXD_TOKEN_FILE    a file holding the same token
#   SANDBOXD_NAMESPACE     the tenant namespace (removed afterwards)
#   SANDBOXD_TEST_RESTART  a command that stops sandboxd with SIGTERM, waits for its exit
#                          and starts it again on the same port; it returns once health
#                          says SERVING (the watch cache has synced)
#   SANDBOXD_TEST_KUBECTL  kubectl with the plane's admin identity (for checks only)
# The exit status is COMMAND's; on failure the end of sandboxd's log is printed.
# Needs: a running plane (KUBE_LOCAL_STATE_DIR, default as kube-local), and grpcurl (on
# PATH or $SANDBOXD_GRPCURL, as tools/test.sh provides) to wait for SERVING.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sandboxd=$(cd "$(dirname "${1:?usage: with_sandboxd.sh SANDBOXD_BINARY COMMAND...}")" && pwd)/$(basename "$1")
shift
[ $# -gt 0 ] || { echo "usage: with_sandboxd.sh SANDBOXD_BINARY COMMAND..." >&2; exit 2; }
eval "$("$here/../../tools/kube-local/kube-local" env)" || { echo "the local control plane is not up" >&2; exit 1; }
grpcurl=${SANDBOXD_GRPCURL:-$(command -v grpcurl || true)}
[ -x "$grpcurl" ] || { echo "grpcurl not found (set SANDBOXD_GRPCURL)" >&2; exit 1; }

work=$(mktemp -d)
ns=sdk-$(date +%s)-$RANDOM
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat >"$work/kubectl" <<EOF
#!/bin/sh
exec "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_ADMIN_KUBECONFIG" "\$@"
EOF
chmod +x "$work/kubectl"
kubectl() { "$work/kubectl" "$@"; }

# sandboxd's start and restart live in one script, so the test can restart it too.
cat >"$work/sandboxd-ctl" <<EOF
#!/usr/bin/env bash
# sandboxd-ctl start|restart|stop: sandboxd on 127.0.0.1:$port (pid in $work/pid).
set -u
stop() {
  [ -s "$work/pid" ] || return 0
  pid=\$(cat "$work/pid"); kill -TERM "\$pid" 2>/dev/null
  for _ in \$(seq 200); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "\$pid" 2>/dev/null; rm -f "$work/pid"
}
start() {
  rm -f "$work/port"
  "$sandboxd" --listen_address=127.0.0.1:$port --metrics_listen_address=127.0.0.1:0 --plaintext \\
    --port_file="$work/port" \\
    --kubeconfig="$KUBE_LOCAL_SANDBOXD_KUBECONFIG" --default_image=registry.local/agent:1 \\
    --shutdown_grace=2s >>"$work/sandboxd.log" 2>&1 &
  echo \$! >"$work/pid"
  for _ in \$(seq 600); do
    [ -s "$work/port" ] && "$grpcurl" -plaintext -d '{"service":"sandbox.v1.SandboxLifecycle"}' \
      127.0.0.1:$port grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"' && return 0
    sleep 0.05
  done
  echo "sandboxd did not start serving; end of its log:" >&2; tail -n 30 "$work/sandboxd.log" >&2
  return 1
}
case "\${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: sandboxd-ctl start|restart|stop" >&2; exit 2 ;;
esac
EOF
chmod +x "$work/sandboxd-ctl"

cleanup() {
  "$work/sandboxd-ctl" stop
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

kubectl create namespace "$ns" >/dev/null &&
  kubectl label namespace "$ns" sandboxd.dev/enabled=true >/dev/null &&
  kubectl -n "$ns" create serviceaccount sdk-user >/dev/null &&
  kubectl -n "$ns" create rolebinding sdk-user --clusterrole=sandboxd-user \
    --serviceaccount="$ns:sdk-user" >/dev/null || { echo "could not make the tenant namespace" >&2; exit 1; }
token=$(kubectl -n "$ns" create token sdk-user --audience=sandboxd.dev --duration=1h) ||
  { echo "could not mint a token" >&2; exit 1; }
printf '%s' "$token" >"$work/token"
"$work/sandboxd-ctl" start || exit 1

export SANDBOXD_ADDR=127.0.0.1:$port SANDBOXD_PLAINTEXT=1 SANDBOXD_TOKEN=$token SANDBOXD_TOKEN_FILE=$work/token \
  SANDBOXD_NAMESPACE=$ns SANDBOXD_TEST_RESTART="$work/sandboxd-ctl restart" \
  SANDBOXD_TEST_KUBECTL=$work/kubectl
"$@"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "---- end of sandboxd's log ($SANDBOXD_ADDR, namespace $ns) ----" >&2
  tail -n 40 "$work/sandboxd.log" >&2
fi
exit "$rc"
