#!/usr/bin/env bash
# sandboxctl end to end against a real sandboxd (run under tests/sdk/with_sandboxd.sh):
# every command with -o json (checked with jq), the other formats, the one-line errors
# and the documented exit codes (2 usage, 3 not found, 4 timeout, 5 not allowed).
#
#   sandboxctl_test.sh SANDBOXCTL_BINARY
set -uo pipefail
ctl=${1:?usage: sandboxctl_test.sh SANDBOXCTL_BINARY}
: "${SANDBOXD_ADDR:?run under tests/sdk/with_sandboxd.sh}"
passed=0 failed=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# run ARGS...: sandboxctl --plaintext ARGS; stdout in $out, stderr in $err, status in $rc.
run() { "$ctl" --plaintext "$@" >"$out" 2>"$err"; rc=$?; }
check() {  # check NAME CONDITION...: the condition is a command
  local name=$1; shift
  if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else
    echo "FAIL $name (rc=$rc)"; sed 's/^/    stdout: /' "$out" | head -20; sed 's/^/    stderr: /' "$err" | head -20
    failed=$((failed + 1))
  fi
}
rc_is() { [ "$rc" -eq "$1" ]; }
json() { jq -e "$1" "$out" >/dev/null; }  # json FILTER: true when FILTER holds on stdout
stdout_is() { [ "$(cat "$out")" = "$1" ]; }
stderr_starts() { [[ $(head -n 1 "$err") == "$1"* ]]; }

echo "-- offline commands"
SANDBOXD_PLAINTEXT=1 "$ctl" get demo -o name >"$out" 2>"$err"; rc=$?
check "SANDBOXD_PLAINTEXT=1 is --plaintext" eval 'rc_is 3 && stderr_starts "error: NOT_FOUND SANDBOX_NOT_FOUND"'
run version; check "version" eval 'rc_is 0 && [[ $(cat "$out") == "sandboxctl "*" (API sandbox.v1)" ]]'
run --help; check "--help lists exit codes" eval 'rc_is 0 && grep -q "Exit codes:" "$out" && grep -q "4  timeout" "$out"'
run wait --help; check "wait --help" eval 'rc_is 0 && grep -q -- "--for" "$out"'
run completion bash
check "completion bash is a valid script" eval 'rc_is 0 && bash -n "$out" && grep -q "complete -F _sandboxctl sandboxctl" "$out"'
check "completion knows the subcommands" eval 'grep -q "\[\"env\"\]=\"set unset\"" "$out"'

echo "-- usage errors exit 2"
run; check "no command" rc_is 2
run create; check "create without NAME" rc_is 2
run frobnicate; check "unknown command" rc_is 2
run create x --env NOEQUALS; check "--env without =" eval 'rc_is 2 && stderr_starts "error: --env must be KEY=VALUE"'
run wait x --for=bogus; check "wait --for=bogus" rc_is 2
run wait x --for=phase=SLEEPING; check "wait unknown phase" rc_is 2
run -o xml list; check "unknown output format" rc_is 2
SANDBOXD_NAMESPACE= run get x; check "no namespace" eval 'rc_is 2 && stderr_starts "error: no namespace"'
SANDBOXD_ADDR= run get x; check "no server" eval 'rc_is 2 && stderr_starts "error: no server"'

echo "-- create, wait, get, list"
run create demo --project cli --env EDITOR=vim --env N=1 --label team=a --storage-size 1Gi -o json
check "create -o json" eval 'rc_is 0 && json ".spec.name == \"demo\" and .spec.namespace == env.SANDBOXD_NAMESPACE and .spec.env == {\"EDITOR\":\"vim\",\"N\":\"1\"} and .spec.labels.team == \"a\" and .spec.storage.size == \"1Gi\" and .spec.project == \"cli\""'
run create demo --project cli --env EDITOR=vim --env N=1 --label team=a --storage-size 1Gi -o name
check "create again is idempotent" eval 'rc_is 0 && stdout_is demo'
run wait demo --for=phase=RUNNING --timeout=90s
check "wait --for=phase=RUNNING" eval 'rc_is 0 && stdout_is "sandbox/demo RUNNING"'
# On a terminal, wait also reports each phase it sees on stderr (script(1) makes a tty).
run create progress -o name
script -qec "$ctl --plaintext wait progress --for=phase=RUNNING --timeout=90s" /dev/null >"$out" 2>"$err"; rc=$?
check "wait on a terminal prints phases" eval 'rc_is 0 && grep -q "^sandbox/progress: RUNNING" "$out" && tail -n 1 "$out" | tr -d "\r" | grep -qx "sandbox/progress RUNNING"'
run delete progress
run get demo -o json
check "get -o json" eval 'rc_is 0 && json ".phase == \"SANDBOX_PHASE_RUNNING\" and .readyReplicas == 1 and .desiredReplicas == 1 and (.uid | length) > 0"'
run get demo -o yaml
check "get -o yaml" eval 'rc_is 0 && grep -qx "phase: SANDBOX_PHASE_RUNNING" "$out" && grep -qx "  name: demo" "$out"'
run get demo
check "get (table)" eval 'rc_is 0 && head -1 "$out" | grep -q "^NAME  *PHASE  *READY  *AGE$" && sed -n 2p "$out" | grep -q "^demo  *RUNNING  *1/1 "'
run get demo -o wide
check "get -o wide" eval 'rc_is 0 && head -1 "$out" | grep -q "PROJECT  *IMAGE  *STORAGE  *POD-DNS" && grep -q "demo-0.demo-service" "$out"'
run list -l team=a -o json
check "list -l team=a" eval 'rc_is 0 && json "[.sandboxes[].spec.name] == [\"demo\"]"'
run list -l team=b -o json
check "list -l team=b is empty" eval 'rc_is 0 && json "(.sandboxes // []) | length == 0"'
run list --project cli -o name; check "list --project -o name" eval 'rc_is 0 && stdout_is demo'
run list --project nothing -o name; check "list --project (other)" eval 'rc_is 0 && stdout_is ""'
run list -l "tier in (gold"
check "bad selector is one error line naming the field" eval 'rc_is 1 && [ "$(wc -l <"$err")" -eq 1 ] && stderr_starts "error: INVALID_ARGUMENT INVALID_FIELD: " && grep -q "(field: label_selector)$" "$err"'

echo "-- env, stop, start, watch"
run env set demo LANG=C.UTF-8 TZ=UTC -o json
check "env set" eval 'rc_is 0 && json ".spec.env == {\"EDITOR\":\"vim\",\"N\":\"1\",\"LANG\":\"C.UTF-8\",\"TZ\":\"UTC\"}"'
run env unset demo EDITOR TZ N -o json
check "env unset" eval 'rc_is 0 && json ".spec.env == {\"LANG\":\"C.UTF-8\"}"'
run watch demo -o json --max-events 2
check "watch NAME: ADDED then INITIAL_STATE_COMPLETE" eval 'rc_is 0 && [ "$(jq -rs "map(.type) | join(\" \")" "$out")" = "WATCH_EVENT_TYPE_ADDED WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE" ] && [ "$(jq -rs ".[0].sandbox.spec.name" "$out")" = demo ]'
run watch -o json --max-events 2 --project cli
check "watch (namespace)" eval 'rc_is 0 && [ "$(jq -rs "map(.type) | join(\" \")" "$out")" = "WATCH_EVENT_TYPE_ADDED WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE" ] && jq -es "all(.resumeToken | length > 0)" "$out" >/dev/null'
run watch demo --max-events 2
check "watch (table)" eval 'rc_is 0 && head -1 "$out" | grep -q "^EVENT  *NAME  *PHASE" && grep -q "^ADDED  *demo " "$out" && grep -q "^INITIAL_STATE_COMPLETE" "$out"'
run stop demo -o json; check "stop" eval 'rc_is 0 && json "(.desiredReplicas // 0) == 0"'
run wait demo --for=phase=STOPPED --timeout=90s -o json
check "wait --for=phase=STOPPED -o json" eval 'rc_is 0 && json ".phase == \"SANDBOX_PHASE_STOPPED\""'
run wait demo --for=phase=RUNNING --timeout=2s
check "wait timeout exits 4" eval 'rc_is 4 && stderr_starts "error: DEADLINE_EXCEEDED DEADLINE_EXCEEDED: timed out waiting for"'
run start demo -o json; check "start" eval 'rc_is 0 && json ".desiredReplicas == 1"'
run wait demo --for=phase=running; check "wait (lower-case phase)" eval 'rc_is 0 && stdout_is "sandbox/demo RUNNING"'

echo "-- errors and exit codes"
run get nobody
check "get missing exits 3" eval 'rc_is 3 && stderr_starts "error: NOT_FOUND SANDBOX_NOT_FOUND: " && [ "$(wc -l <"$err")" -eq 1 ]'
run wait nobody --for=phase=RUNNING --timeout=30s; check "wait for a missing sandbox exits 3" rc_is 3
run create failing --image registry.local/sandboxd-fail-pull:1 -o name
run wait failing --for=phase=RUNNING --timeout=90s
check "wait for a failing sandbox exits 1 with its reason" eval 'rc_is 1 && stderr_starts "error: FAILED_PRECONDITION SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE: sandbox $SANDBOXD_NAMESPACE/failing failed: "'
run delete failing
run create Bad_Name
check "bad name exits 1 naming spec.name" eval 'rc_is 1 && stderr_starts "error: INVALID_ARGUMENT INVALID_FIELD: " && grep -q "(field: spec.name)$" "$err"'
SANDBOXD_TOKEN=wrong SANDBOXD_TOKEN_FILE= run get demo
check "bad token exits 5" eval 'rc_is 5 && stderr_starts "error: UNAUTHENTICATED INVALID_CREDENTIALS: "'
SANDBOXD_TOKEN= run --token-file "$SANDBOXD_TOKEN_FILE" get demo -o name
check "--token-file" eval 'rc_is 0 && stdout_is demo'
SANDBOXD_PLAINTEXT= "$ctl" --timeout 2s get demo >"$out" 2>"$err"; rc=$?
check "TLS is the default (a plaintext server fails)" eval 'rc_is 1 && stderr_starts "error: UNAVAILABLE"'

echo "-- delete"
run delete demo; check "delete" eval 'rc_is 0 && stdout_is "sandbox/demo deleted"'
run wait demo --for=delete --timeout=90s; check "wait --for=delete" eval 'rc_is 0 && stdout_is "sandbox/demo deleted"'
run delete demo; check "delete again exits 3" eval 'rc_is 3 && stderr_starts "error: NOT_FOUND SANDBOX_NOT_FOUND: "'
run delete demo --allow-missing -o json; check "delete --allow-missing" eval 'rc_is 0 && stdout_is "{}"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
