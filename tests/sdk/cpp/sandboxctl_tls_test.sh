#!/usr/bin/env bash
# sandboxctl (and so the C++ client's channel setup) over TLS and mutual TLS: starts a
# second sandboxd with a test CA's server certificate and client CA, and checks
#   --cacert + bearer token works; the system roots refuse the test CA;
#   --cacert --cert --key without a token authenticates as the certificate's CN;
#   neither token nor certificate is UNAUTHENTICATED MISSING_CREDENTIALS (exit 5).
# Run under tests/sdk/with_sandboxd.sh (tenant namespace, token, plane environment).
#
#   sandboxctl_tls_test.sh SANDBOXCTL_BINARY SANDBOXD_BINARY
set -uo pipefail
ctl=$(realpath "${1:?usage: sandboxctl_tls_test.sh SANDBOXCTL_BINARY SANDBOXD_BINARY}")
sandboxd=$(realpath "${2:?usage: sandboxctl_tls_test.sh SANDBOXCTL_BINARY SANDBOXD_BINARY}")
: "${SANDBOXD_NAMESPACE:?run under tests/sdk/with_sandboxd.sh}" "${KUBE_LOCAL_SANDBOXD_KUBECONFIG:?}"
work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0 failed=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else
    echo "FAIL $name (rc=$rc)"; sed 's/^/    /' "$work/out" "$work/err" | head -20; failed=$((failed + 1))
  fi
}

cd "$work" || exit 1
ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@" 2>/dev/null; }
sign() {  # sign NAME EXTENSIONS
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -out "$1.pem" -extfile <(printf '%s\n' "$2") 2>/dev/null
}
ec -x509 -keyout ca.key -out ca.pem -days 1 -subj /CN=sandboxd-test-ca &&
  ec -keyout server.key -out server.csr -subj /CN=localhost &&
  sign server $'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth' &&
  ec -keyout client.key -out client.csr -subj "/CN=tls-user/O=tls-group" &&
  sign client 'extendedKeyUsage=clientAuth' || { echo "FAIL openssl"; exit 1; }
"$SANDBOXD_TEST_KUBECTL" -n "$SANDBOXD_NAMESPACE" create rolebinding tls-user \
  --clusterrole=sandboxd-user --user=tls-user >/dev/null || { echo "FAIL rolebinding"; exit 1; }

"$sandboxd" --listen_address=127.0.0.1:0 --metrics_listen_address=127.0.0.1:0 --port_file="$work/port" \
  --tls_cert_file=server.pem --tls_key_file=server.key --tls_client_ca_file=ca.pem \
  --kubeconfig="$KUBE_LOCAL_SANDBOXD_KUBECONFIG" --default_image=registry.local/agent:1 \
  --shutdown_grace=1s >"$work/sandboxd.log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "FAIL sandboxd (TLS) starts"; tail -20 "$work/sandboxd.log"; exit 1; }
export SANDBOXD_ADDR=127.0.0.1:$(cat "$work/port") SANDBOXD_PLAINTEXT=
run() { "$ctl" --timeout 20s "$@" >"$work/out" 2>"$work/err"; rc=$?; }

run --cacert ca.pem list -o json
check "TLS with --cacert and a token" eval '[ $rc -eq 0 ] && jq -e . "$work/out" >/dev/null'
run --timeout 2s list
check "the system roots do not trust the test CA" eval '[ $rc -eq 1 ] && head -1 "$work/err" | grep -q "^error: UNAVAILABLE"'
SANDBOXD_TOKEN= SANDBOXD_TOKEN_FILE= run --cacert ca.pem --cert client.pem --key client.key \
  create mtls -o json
check "mTLS without a token (create)" eval '[ $rc -eq 0 ] && jq -e ".spec.name == \"mtls\"" "$work/out" >/dev/null'
SANDBOXD_TOKEN= SANDBOXD_TOKEN_FILE= run --cacert ca.pem --cert client.pem --key client.key \
  delete mtls
check "mTLS without a token (delete)" eval '[ $rc -eq 0 ]'
SANDBOXD_TOKEN= SANDBOXD_TOKEN_FILE= run --cacert ca.pem list
check "no credentials exits 5" eval '[ $rc -eq 5 ] && head -1 "$work/err" | grep -q "^error: UNAUTHENTICATED MISSING_CREDENTIALS: "'
run --cacert ca.pem --cert client.pem list
check "--cert without --key is a usage error" eval '[ $rc -eq 2 ]'
run --plaintext --cacert ca.pem list
check "--plaintext with --cacert is a usage error" eval '[ $rc -eq 2 ]'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
