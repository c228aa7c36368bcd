#!/usr/bin/env bash
# The command line of the sandboxd binary as an operator meets it:
#   --help     lists sandboxd's flags (server/main.cc, server/server_config.cc) with their
#              defaults and help text, and not the flags of the libraries
#   --version  prints "sandboxd <version>, tested against Kubernetes API <version>"
#   --config   accepts deploy/config.yaml (the config of the kustomize base)
#   --log_format=json  every line is one JSON object with time, level and message (jq)
#
#   tests/e2e/sandboxd_cli_test.sh SANDBOXD_BINARY VERSION KUBE_VERSION
# Prints each check; exits non-zero if one failed.
set -uo pipefail
sandboxd=${1:?usage: sandboxd_cli_test.sh SANDBOXD_BINARY VERSION KUBE_VERSION}
version=${2:?}
kube_version=${3:?}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -n 40 | sed 's/^/    /'; failed=1; }

# expect_line DESCRIPTION OUTPUT REGEX: OUTPUT has a line matching REGEX (grep -E).
expect_line() {
  if grep -Eq -- "$3" <<<"$2"; then pass "$1"; else fail "$1: no line matches /$3/" "$2"; fi
}

# Abseil exits 1 after printing help (0 after --version); anything else is a crash.
raw=$("$sandboxd" --help 2>&1); rc=$?
[ "$rc" -le 1 ] && pass "--help exits normally ($rc)" || fail "--help exit code $rc" "$raw"
# Abseil wraps a flag's entry at 80 columns ("    --name (help...", continued with
# "      ..."): one line per flag makes the checks independent of the wrapping.
help=$(awk '/^      [^ ]/ && joined { sub(/^ +/, " "); line = line $0; next }
            { if (line != "") print line; line = $0; joined = ($0 ~ /^    --/) }
            END { if (line != "") print line }' <<<"$raw")
if grep -q "No flags matched" <<<"$help"; then fail "--help matched no flags" "$help"; fi
expect_line "--help names the flag files" "$help" '^ *Flags from server/server_config\.cc:'
expect_line "--help includes main.cc's flags" "$help" '^ *Flags from server/main\.cc:'
# Abseil prints each flag as "--name (help text); default: value;". sandboxd's flags are
# optional (unset: the config file or the built-in default applies), so the built-in
# default is stated in the help text.
expect_line "--listen_address with its default" "$help" \
  '^ *--listen_address \(gRPC listen address, host:port \(default 0\.0\.0\.0:50051\)\); default: ;$'
expect_line "--kubeconfig with its default" "$help" \
  '^ *--kubeconfig \(Kubeconfig path \(default: in-cluster config, else \$KUBECONFIG or ~/\.kube/config\)\); default: ;$'
expect_line "--config" "$help" '--config \(Path of a YAML config file'
expect_line "--port_file (main.cc)" "$help" '--port_file \(If set, write the port'
expect_line "--shutdown_grace with its default" "$help" '--shutdown_grace .*\(default 15s\)'
# Every ABSL_FLAG of the two files is listed.
missing=""
for name in $(grep -ho 'ABSL_FLAG([^,]*, *[a-z_0-9]*' "$repo/server/server_config.cc" "$repo/server/main.cc" |
                sed 's/.*, *//'); do
  grep -Eq -- "^ *--$name \(" <<<"$help" || missing+=" --$name"
done
[ -z "$missing" ] && pass "every flag of server/server_config.cc and server/main.cc is listed" ||
  fail "flags missing from --help:$missing" "$help"
# Library flags (Abseil's own) stay out of --help (they are in --helpfull).
others=$(grep '^ *Flags from ' <<<"$help" | grep -Ev '^ *Flags from server/(main|server_config)\.cc:$')
[ -z "$others" ] && pass "--help lists no other files' flags" || fail "--help lists other flags" "$others"

out=$("$sandboxd" --version 2>&1); rc=$?
[ "$rc" -eq 0 ] && pass "--version exits 0" || fail "--version exit code $rc" "$out"
expected="sandboxd $version, tested against Kubernetes API $kube_version"
[ "$out" = "$expected" ] && pass "--version prints \"$expected\"" ||
  fail "--version: expected \"$expected\"" "$out"

# deploy/config.yaml (the ConfigMap of the kustomize base) is a valid config: sandboxd
# gets past the config and fails only at the (missing) kubeconfig. A bad key is caught.
out=$("$sandboxd" --config="$repo/deploy/config.yaml" --kubeconfig=/nonexistent/kubeconfig \
        --listen_address=127.0.0.1:0 2>&1)
grep -q "cannot start: .*no kubeconfig file found" <<<"$out" &&
  pass "deploy/config.yaml is a valid config" || fail "deploy/config.yaml is refused" "$out"
bad=$(mktemp)
printf 'kube:\n  qsp: 5\n' >"$bad"
out=$("$sandboxd" --config="$bad" --kubeconfig=/nonexistent/kubeconfig 2>&1)
rm -f "$bad"
grep -q 'invalid configuration: .*unknown key "kube.qsp"' <<<"$out" &&
  pass "a config with an unknown key is refused" || fail "an unknown key was not refused" "$out"

# --log_format: text lines are "<time> <level> <message>"; with json every line of the
# process (a start-up failure, an invalid configuration) is one JSON object.
out=$("$sandboxd" --kubeconfig=/nonexistent/kubeconfig --plaintext --listen_address=127.0.0.1:0 2>&1)
expect_line "text log lines: time, level, message" "$out" \
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} critical cannot start: '
# expect_json_lines DESCRIPTION OUTPUT: OUTPUT has lines, each one JSON object with
# string members time, level and message.
expect_json_lines() {
  local bad
  if [ -z "$2" ]; then fail "$1: no output"; return; fi
  bad=$(while IFS= read -r line; do
          jq -e 'type == "object" and (.time | type) == "string" and
                 (.level | type) == "string" and (.message | type) == "string"' \
            >/dev/null 2>&1 <<<"$line" || printf '%s\n' "$line"
        done <<<"$2")
  [ -z "$bad" ] && pass "$1" || fail "$1: lines that are not such JSON objects" "$bad"
}
if ! command -v jq >/dev/null; then
  fail "jq is needed for the --log_format=json checks"
else
  out=$("$sandboxd" --log_format=json --kubeconfig=/nonexistent/kubeconfig --plaintext \
          --listen_address=127.0.0.1:0 2>&1)
  expect_json_lines "--log_format=json: every line is a JSON object" "$out"
  jq -e 'select(.level == "critical" and (.message | startswith("cannot start: ")))' \
    >/dev/null 2>&1 <<<"$out" && pass "--log_format=json: the start-up failure is a JSON line" ||
    fail "--log_format=json: no critical \"cannot start\" line" "$out"
  out=$("$sandboxd" --log_format=json --kube_qps=-1 2>&1)
  expect_json_lines "--log_format=json: an invalid configuration is reported in JSON" "$out"
  grep -q 'invalid configuration: .*setting kube.qps' <<<"$out" &&
    pass "--log_format=json: the invalid setting is named" ||
    fail "--log_format=json: kube.qps not named" "$out"
  cfg=$(mktemp)
  printf 'log_format: json\n' >"$cfg"
  out=$("$sandboxd" --config="$cfg" --kubeconfig=/nonexistent/kubeconfig --plaintext \
          --listen_address=127.0.0.1:0 2>&1)
  rm -f "$cfg"
  expect_json_lines "log_format: json in the config file" "$out"
fi
out=$("$sandboxd" --log_format=xml 2>&1); rc=$?
[ "$rc" -eq 1 ] && grep -q 'invalid configuration: .*setting log_format: must be text or json; got .xml.' <<<"$out" &&
  pass "--log_format=xml is refused" || fail "--log_format=xml: exit $rc" "$out"

exit $failed
