#!/usr/bin/env bash
# sandboxctl migrate and rollback end to end against a real sandboxd (run under
# tests/sdk/with_sandboxd.sh). Deployment-era sandboxes are made with the admin kubectl
# (deployment_era.sh); then: a dry run (the change list, nothing written), one migration
# (MIGRATED, then RUNNING with the Service and Ingresses adopted unchanged), a batch by
# label selector with a Deployment that is not Deployment-era (SKIPPED, exit 6), a
# rollback that mounts the home volume into the recreated Deployment, and the errors.
# Exact exit codes (0, 1, 2, 3, 6) and output lines.
#
#   sandboxctl_migration_test.sh SANDBOXCTL_BINARY
set -uo pipefail
ctl=${1:?usage: sandboxctl_migration_test.sh SANDBOXCTL_BINARY}
: "${SANDBOXD_ADDR:?run under tests/sdk/with_sandboxd.sh}" "${SANDBOXD_TEST_KUBECTL:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
passed=0 failed=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# run ARGS...: sandboxctl --plaintext ARGS; stdout in $out, stderr in $err, status in $rc.
run() { "$ctl" --plaintext "$@" >"$out" 2>"$err"; rc=$?; }
check() {  # check NAME CONDITION...: the condition is a command
  local name=$1; shift
  if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else
    echo "FAIL $name (rc=$rc)"; sed 's/^/    stdout: /' "$out" | head -40; sed 's/^/    stderr: /' "$err" | head -20
    failed=$((failed + 1))
  fi
}
rc_is() { [ "$rc" -eq "$1" ]; }
json() { jq -e "$1" "$out" >/dev/null; }  # json FILTER: true when FILTER holds on stdout
# stdout (or stderr) with runs of spaces squeezed: table columns compare as one space.
stdout_is() { [ "$(tr -s ' ' <"$out")" = "$1" ]; }
stderr_is() { [ "$(cat "$err")" = "$1" ]; }
stdout_has() { tr -s ' ' <"$out" | grep -qxF -- "$1"; }
stderr_starts() { [[ $(head -n 1 "$err") == "$1"* ]]; }
# The lines of stdout that start with PREFIX, joined by "|".
lines_of() { tr -s ' ' <"$out" | grep -F -- "$1" | paste -sd'|'; }

era() { "$here/deployment_era.sh" "$@"; }  # era NAME PROJECT [REPLICAS]
k() { "$SANDBOXD_TEST_KUBECTL" -n "$SANDBOXD_NAMESPACE" "$@"; }
absent() { ! k get "$@" >/dev/null 2>&1; }  # absent KIND NAME
field() { k get "$1" "$2" -o jsonpath="$3"; }  # field KIND NAME JSONPATH
# Waits up to 60 s until object KIND NAME is gone (a delete may still be finishing).
gone() { for _ in $(seq 120); do absent "$@" && return 0; sleep 0.5; done; return 1; }

summary() {  # summary MIGRATED ALREADY WOULD SKIPPED FAILED: the counts line
  echo "total $(($1 + $2 + $3 + $4 + $5)): $1 migrated, $2 already migrated, $3 would migrate, $4 skipped, $5 failed"
}
migration_steps='RECORDED|DEPLOYMENT_SCALED_DOWN|STATEFULSET_CREATED|ADOPTED|SANDBOX_READY|DEPLOYMENT_DELETED'

echo "-- help, completion, usage errors (exit 2, nothing sent)"
run --help
check "--help documents exit code 6" eval 'rc_is 0 && grep -q "^  6  migrate, rollback: some sandboxes were skipped or failed" "$out" && grep -q "^  migrate  " "$out" && grep -q "^  rollback  " "$out"'
run migrate --help
check "migrate --help" eval 'rc_is 0 && grep -q "Usage: sandboxctl migrate \[OPTIONS\] \[NAME...\]" "$out" && grep -q -- "--concurrency" "$out" && grep -q -- "--dry-run" "$out"'
run rollback --help
check "rollback --help" eval 'rc_is 0 && grep -q -- "--mount-home" "$out" && grep -q -- "--delete-storage" "$out"'
run completion bash
check "completion knows migrate and rollback" eval 'rc_is 0 && bash -n "$out" && grep -qF "[\"migrate\"]=\"--help -h --selector -l --concurrency --dry-run --timeout\"" "$out" && grep -qF "[\"rollback\"]=\"--help -h --dry-run --mount-home --delete-storage --timeout\"" "$out"'
run migrate
check "migrate without NAME or -l" eval 'rc_is 2 && stderr_starts "error: name the Deployments to migrate, or pass -l SELECTOR"'
run migrate a -l app=a
check "NAME and -l together" eval 'rc_is 2 && stderr_starts "error: NAME and -l exclude each other"'
run migrate a --concurrency 2
check "--concurrency without -l" eval 'rc_is 2 && stderr_starts "error: --concurrency needs -l"'
run migrate a --timeout soon
check "migrate --timeout not a duration" eval 'rc_is 2 && stderr_starts "error: --timeout: not a duration: soon"'
run rollback
check "rollback without NAME" rc_is 2

echo "-- migrate --dry-run NAME"
era mig-one p-one || exit 1
service_uid=$(field service mig-one-service '{.metadata.uid}')
cluster_ip=$(field service mig-one-service '{.spec.clusterIP}')
port_names=$(field service mig-one-service '{.spec.ports[*].name}')
app_host=$(field ingress mig-one-app-ingress '{.spec.rules[0].host}')
ttyd_host=$(field ingress mig-one-ttyd-ingress '{.spec.rules[0].host}')
run migrate --dry-run mig-one
check "dry run: the change list, WOULD_MIGRATE, exit 0" eval 'rc_is 0 && stdout_is "sandbox/mig-one: WOULD_MIGRATE
SANDBOX ACTION KIND OBJECT
mig-one CREATE ConfigMap mig-one-migration
mig-one PATCH Deployment mig-one
mig-one CREATE StatefulSet mig-one
mig-one PATCH Service mig-one-service
mig-one PATCH Ingress mig-one-app-ingress
mig-one PATCH Ingress mig-one-ttyd-ingress
mig-one CREATE NetworkPolicy sandboxd-sandboxes
mig-one DELETE Deployment mig-one
NAME OUTCOME STEP REASON
mig-one WOULD_MIGRATE PLANNED
$(summary 0 0 1 0 0)"'
check "dry run wrote nothing" eval 'absent statefulset mig-one && absent configmap mig-one-migration && [ "$(field deployment mig-one "{.spec.replicas}")" = 1 ] && [ -z "$(field service mig-one-service "{.metadata.labels.app\.kubernetes\.io/managed-by}")" ] && [ -z "$(field ingress mig-one-app-ingress "{.metadata.ownerReferences}")" ]'
run -o json migrate --dry-run mig-one
check "dry run -o json: the Migration with the changes and their bodies" eval 'rc_is 0 && json "(.migrations | length) == 1 and .migrations[0].name == \"mig-one\" and .migrations[0].namespace == env.SANDBOXD_NAMESPACE and .migrations[0].outcome == \"MIGRATION_OUTCOME_WOULD_MIGRATE\" and .migrations[0].step == \"MIGRATION_STEP_PLANNED\" and .summary == {\"total\": 1, \"wouldMigrate\": 1}" && json "[.migrations[0].changes[] | .action + \" \" + .kind + \" \" + .name] == [\"ACTION_CREATE ConfigMap mig-one-migration\", \"ACTION_PATCH Deployment mig-one\", \"ACTION_CREATE StatefulSet mig-one\", \"ACTION_PATCH Service mig-one-service\", \"ACTION_PATCH Ingress mig-one-app-ingress\", \"ACTION_PATCH Ingress mig-one-ttyd-ingress\", \"ACTION_CREATE NetworkPolicy sandboxd-sandboxes\", \"ACTION_DELETE Deployment mig-one\"]"'
check "dry run -o json: the bodies" eval 'json ".migrations[0].changes as \$c | (\$c[0].body | fromjson | .metadata.labels[\"sandboxd.dev/migration\"] == \"mig-one\" and (.data | keys) == [\"app-ingress.json\", \"deployment.json\", \"service.json\", \"ttyd-ingress.json\"]) and (\$c[1].body | fromjson) == {\"spec\": {\"replicas\": 0}} and (\$c[2].body | fromjson | .spec.replicas == 1 and .spec.serviceName == \"mig-one-service\" and .spec.volumeClaimTemplates[0].metadata.name == \"vn-homevn-agent\" and ([.spec.template.spec.containers[0].env[].name] == [\"DATABASE_URL\", \"NODE_ENV\", \"TTYD_PORT\", \"TTYD_INTERFACE\", \"PROJECT_NAME\"])) and ((\$c[7].body // \"\") == \"\")"'
check "dry run -o json: the progress line on stderr" stderr_is "sandbox/mig-one: WOULD_MIGRATE"

echo "-- migrate NAME"
run migrate mig-one
check "migrate NAME: MIGRATED, exit 0" eval 'rc_is 0 && stdout_is "sandbox/mig-one: MIGRATED
NAME OUTCOME STEP REASON
mig-one MIGRATED DEPLOYMENT_DELETED
$(summary 1 0 0 0 0)"'
run get mig-one
check "get: the migrated sandbox is RUNNING" eval 'rc_is 0 && [ "$(sed -n 2p "$out" | tr -s " " | cut -d" " -f1-3)" = "mig-one RUNNING 1/1" ]'
run get mig-one -o json
check "get -o json: endpoints are the adopted Ingresses' hosts, no pod DNS" eval 'rc_is 0 && json ".endpoints.appUrl == \"https://$app_host\" and .endpoints.terminalUrl == \"https://$ttyd_host\" and (.endpoints.podDns // \"\") == \"\" and .spec.image == \"registry.local/agent:1\""'
check "the Deployment is gone, the StatefulSet and the record exist" eval 'gone deployment mig-one && [ "$(field statefulset mig-one "{.spec.replicas}")" = 1 ] && [ "$(field configmap mig-one-migration "{.metadata.ownerReferences[0].kind}")" = StatefulSet ]'
check "the Service is adopted: same uid, clusterIP and ports" eval '[ "$(field service mig-one-service "{.metadata.uid}")" = "$service_uid" ] && [ "$(field service mig-one-service "{.spec.clusterIP}")" = "$cluster_ip" ] && [ "$(field service mig-one-service "{.spec.ports[*].name}")" = "$port_names" ] && [ "$(field service mig-one-service "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}")" = StatefulSet/mig-one ]'
check "the Ingresses are adopted with their hosts" eval '[ "$(field ingress mig-one-app-ingress "{.spec.rules[0].host}")" = "$app_host" ] && [ "$(field ingress mig-one-ttyd-ingress "{.spec.rules[0].host}")" = "$ttyd_host" ] && [ "$(field ingress mig-one-app-ingress "{.metadata.ownerReferences[0].name}")" = mig-one ]'
check "env in order, port names kept" eval '[ "$(field statefulset mig-one "{.spec.template.spec.containers[0].env[*].name}")" = "DATABASE_URL NODE_ENV TTYD_PORT TTYD_INTERFACE PROJECT_NAME" ] && [ "$(field statefulset mig-one "{.spec.template.spec.containers[0].ports[*].name}")" = "$port_names" ]'
check "the StatefulSet keeps the Sealos labels and annotations, the project, the security context and the ConfigMap volume" eval '[ "$(field statefulset mig-one "{.metadata.labels.cloud\.sealos\.io/app-deploy-manager} {.metadata.labels.project\.fullstackagent\.io/name} {.metadata.labels.sandboxd\.dev/project} {.metadata.annotations.originImageName} {.metadata.annotations.deploy\.cloud\.sealos\.io/maxReplicas}")" = "mig-one p-one p-one registry.local/agent:1 1" ] && [ "$(field statefulset mig-one "{.spec.template.spec.securityContext.runAsUser} {.spec.template.spec.securityContext.fsGroup} {.spec.template.spec.volumes[?(@.name==\"kubeconfig-volume\")].configMap.name}")" = "1001 1001 mig-one-kubeconfig" ] && [ "$(k get statefulset mig-one -o json | jq -c ".spec.template.spec.containers[0].resources")" = "{\"limits\":{\"cpu\":\"1\",\"memory\":\"2Gi\"},\"requests\":{\"cpu\":\"100m\",\"memory\":\"256Mi\"}}" ]'
check "the home volume: vn-homevn-agent, 5Gi, Sealos annotations, mounted at /home/agent" eval '[ "$(k get statefulset mig-one -o json | jq -c "[[.spec.volumeClaimTemplates[0] | .metadata.name, .metadata.annotations.path, .metadata.annotations.value, .spec.resources.requests.storage], [.spec.template.spec.containers[] | select(.name == \"mig-one\") | .volumeMounts[] | select(.name == \"vn-homevn-agent\") | .mountPath]]")" = "[[\"vn-homevn-agent\",\"/home/agent\",\"5\",\"5Gi\"],[\"/home/agent\"]]" ]'
check "the Service selects the sandbox's pod only" eval '[ "$(k get service mig-one-service -o json | jq -c .spec.selector)" = "{\"app\":\"mig-one\",\"sandboxd.dev/sandbox\":\"mig-one\"}" ] && [ "$(field service mig-one-service "{.spec.type}")" = ClusterIP ]'
run migrate mig-one
check "migrate NAME again: ALREADY_MIGRATED, exit 0" eval 'rc_is 0 && [ "$(head -n 1 "$out")" = "sandbox/mig-one: ALREADY_MIGRATED" ] && stdout_has "$(summary 0 1 0 0 0)" && [[ $(lines_of "mig-one ALREADY_MIGRATED") == "mig-one ALREADY_MIGRATED "* ]]'

echo "-- two calls at once: one migrates, the other is told it is in progress"
era race p-race || exit 1
"$ctl" --plaintext migrate race >"$out.1" 2>&1 & first=$!
"$ctl" --plaintext migrate race >"$out.2" 2>&1 & second=$!
wait "$first"; rc1=$?; wait "$second"; rc2=$?
rc="$rc1/$rc2"; cat "$out.1" "$out.2" >"$out"; : >"$err"  # shown on failure
check "concurrent migrations: one MIGRATED (exit 0), one SKIPPED MIGRATION_IN_PROGRESS (exit 6)" eval '[ "$(printf "%s\n" "$rc1 $(head -n 1 "$out.1")" "$rc2 $(head -n 1 "$out.2")" | sort)" = "0 sandbox/race: MIGRATED
6 sandbox/race: SKIPPED (MIGRATION_IN_PROGRESS)" ]'
rm -f "$out.1" "$out.2"

echo "-- migrate -l SELECTOR: three Deployment-era sandboxes and one plain Deployment"
era b-one batch && era b-two batch && era b-three batch 0 || exit 1
k create deployment b-plain --image=registry.local/agent:1 >/dev/null &&
  k label deployment b-plain project.fullstackagent.io/name=batch >/dev/null || exit 1
run migrate -l project.fullstackagent.io/name=batch --concurrency 2
check "batch: exit 6 (one skipped)" rc_is 6
for n in b-one b-two; do
  check "batch: $n reports every step, then MIGRATED" eval '[ "$(lines_of "sandbox/$n: ")" = "$(echo "$migration_steps|MIGRATED" | sed "s#[A-Z_][A-Z_]*#sandbox/$n: &#g")" ]'
done
check "batch: the stopped b-three reports every step, then MIGRATED" eval '[ "$(lines_of "sandbox/b-three: ")" = "$(echo "$migration_steps|MIGRATED" | sed "s#[A-Z_][A-Z_]*#sandbox/b-three: &#g")" ]'
check "batch: b-plain SKIPPED NOT_DEPLOYMENT_ERA" eval '[ "$(lines_of "sandbox/b-plain: ")" = "sandbox/b-plain: SKIPPED (NOT_DEPLOYMENT_ERA/metadata.labels[cloud.sealos.io/app-deploy-manager])" ]'
check "batch: the summary table and counts" eval 'stdout_has "b-one MIGRATED DEPLOYMENT_DELETED" && stdout_has "b-two MIGRATED DEPLOYMENT_DELETED" && stdout_has "b-three MIGRATED DEPLOYMENT_DELETED" && [ "$(lines_of "b-plain SKIPPED ")" = "b-plain SKIPPED - NOT_DEPLOYMENT_ERA/metadata.labels[cloud.sealos.io/app-deploy-manager]" ] && [ "$(tail -n 1 "$out")" = "$(summary 3 0 0 1 0)" ] && [ "$(grep -c "^NAME " "$out")" = 1 ]'
check "batch: b-plain is untouched" eval '[ "$(field deployment b-plain "{.spec.replicas}")" = 1 ] && [ -z "$(field deployment b-plain "{.metadata.labels.app\.kubernetes\.io/managed-by}")" ] && absent statefulset b-plain && absent configmap b-plain-migration'
run get b-two
check "batch: b-two is RUNNING" eval 'rc_is 0 && [ "$(sed -n 2p "$out" | tr -s " " | cut -d" " -f1-3)" = "b-two RUNNING 1/1" ]'
run get b-three
check "batch: the stopped Deployment is a STOPPED sandbox" eval 'rc_is 0 && [ "$(sed -n 2p "$out" | tr -s " " | cut -d" " -f1-3)" = "b-three STOPPED 0/0" ] && absent deployment b-three'
# Migrated sandboxes have no Deployment any more: a second run lists only b-plain.
run -o json migrate -l project.fullstackagent.io/name=batch
check "batch again -o json: only b-plain, SKIPPED with its error, exit 6" eval 'rc_is 6 && json ".migrations == [{\"namespace\": env.SANDBOXD_NAMESPACE, \"name\": \"b-plain\", \"outcome\": \"MIGRATION_OUTCOME_SKIPPED\", \"error\": {\"code\": 9, \"reason\": \"NOT_DEPLOYMENT_ERA\", \"message\": \"Deployment/b-plain: metadata.labels[cloud.sealos.io/app-deploy-manager]: not labelled cloud.sealos.io/app-deploy-manager=b-plain\", \"metadata\": {\"object\": \"Deployment/b-plain\", \"field\": \"metadata.labels[cloud.sealos.io/app-deploy-manager]\"}}}] and .summary == {\"total\": 1, \"skipped\": 1}"'
check "batch again -o json: the progress line on stderr" stderr_is "sandbox/b-plain: SKIPPED (NOT_DEPLOYMENT_ERA/metadata.labels[cloud.sealos.io/app-deploy-manager])"
run migrate -l project.fullstackagent.io/name=batch --concurrency 21
check "--concurrency 21: INVALID_ARGUMENT naming concurrency, exit 1" eval 'rc_is 1 && stderr_starts "error: INVALID_ARGUMENT INVALID_FIELD: " && grep -q "(field: concurrency)$" "$err" && [ ! -s "$out" ]'

echo "-- an interrupted migration is continued by the next run"
era cut p-cut || exit 1
run -o json migrate cut --timeout 300ms  # ends while sandboxd waits for pods
check "a call cut by its deadline: FAILED with DEADLINE_EXCEEDED, exit 6" eval 'rc_is 6 && json ".migrations[0].outcome == \"MIGRATION_OUTCOME_FAILED\" and .migrations[0].error.code == 4 and .summary == {\"total\": 1, \"failed\": 1}"'
check "the record holds the step reached" eval '[[ " RECORDED DEPLOYMENT_SCALED_DOWN STATEFULSET_CREATED ADOPTED SANDBOX_READY " == *" $(field configmap cut-migration "{.metadata.annotations.sandboxd\.dev/migration-step}") "* ]]'
run migrate -l project.fullstackagent.io/name=p-cut
check "migrate -l continues it: MIGRATED, exit 0" eval 'rc_is 0 && [ "$(tail -n 2 "$out" | tr -s " ")" = "cut MIGRATED DEPLOYMENT_DELETED
$(summary 1 0 0 0 0)" ] && [ "$(lines_of "sandbox/cut: " | tr "|" "\n" | tail -n 1)" = "sandbox/cut: MIGRATED" ] && [ "$(field configmap cut-migration "{.metadata.annotations.sandboxd\.dev/migration-step}")" = DEPLOYMENT_DELETED ] && gone deployment cut'

echo "-- rollback"
run rollback --dry-run b-one
check "rollback --dry-run: the change list, WOULD_ROLL_BACK, exit 0" eval 'rc_is 0 && stdout_is "sandbox/b-one: WOULD_ROLL_BACK
SANDBOX ACTION KIND OBJECT
b-one PATCH StatefulSet b-one
b-one PATCH Service b-one-service
b-one PATCH Ingress b-one-app-ingress
b-one PATCH Ingress b-one-ttyd-ingress
b-one CREATE Deployment b-one
b-one PATCH StatefulSet b-one
b-one PATCH PersistentVolumeClaim vn-homevn-agent-b-one-0
b-one DELETE StatefulSet b-one
b-one DELETE ConfigMap b-one-migration
NAME OUTCOME STEP REASON
b-one WOULD_ROLL_BACK -
total 1: 0 rolled back, 1 would roll back, 0 skipped, 0 failed" && [ "$(field statefulset b-one "{.spec.replicas}")" = 1 ] && absent deployment b-one'
run rollback --mount-home mig-one
check "rollback --mount-home: ROLLED_BACK, exit 0" eval 'rc_is 0 && stdout_is "sandbox/mig-one: ROLLED_BACK
NAME OUTCOME STEP REASON
mig-one ROLLED_BACK -
total 1: 1 rolled back, 0 would roll back, 0 skipped, 0 failed"'
check "rollback: the Deployment is back and mounts the home volume" eval '[ "$(field deployment mig-one "{.spec.replicas}")" = 1 ] && [ "$(field deployment mig-one "{.spec.template.spec.volumes[?(@.name==\"vn-homevn-agent\")].persistentVolumeClaim.claimName}")" = vn-homevn-agent-mig-one-0 ] && [ "$(field deployment mig-one "{.spec.template.spec.containers[?(@.name==\"mig-one\")].volumeMounts[?(@.name==\"vn-homevn-agent\")].mountPath}")" = /home/agent ]'
check "rollback: StatefulSet and record gone, the claim kept" eval 'gone statefulset mig-one && absent configmap mig-one-migration && [ "$(field persistentvolumeclaim vn-homevn-agent-mig-one-0 "{.metadata.annotations.sandboxd\.dev/kept}")" = true ] && [ -z "$(field persistentvolumeclaim vn-homevn-agent-mig-one-0 "{.metadata.ownerReferences}")" ]'
check "rollback: the Service is restored (same uid, selector app only)" eval '[ "$(field service mig-one-service "{.metadata.uid}")" = "$service_uid" ] && [ "$(k get service mig-one-service -o json | jq -c .spec.selector)" = "{\"app\":\"mig-one\"}" ] && [ -z "$(field service mig-one-service "{.metadata.ownerReferences}")" ] && [ -z "$(field service mig-one-service "{.metadata.labels.app\.kubernetes\.io/managed-by}")" ] && [ -z "$(field ingress mig-one-app-ingress "{.metadata.ownerReferences}")" ]'
run get mig-one
check "rollback: no sandbox any more (exit 3)" eval 'rc_is 3 && stderr_starts "error: NOT_FOUND SANDBOX_NOT_FOUND: "'
run rollback mig-one
check "rollback again: SKIPPED NOT_MIGRATED, exit 6" eval 'rc_is 6 && stdout_is "sandbox/mig-one: SKIPPED (NOT_MIGRATED)
NAME OUTCOME STEP REASON
mig-one SKIPPED - NOT_MIGRATED
total 1: 0 rolled back, 0 would roll back, 1 skipped, 0 failed"'
run rollback --mount-home --delete-storage b-one
check "--mount-home with --delete-storage: INVALID_ARGUMENT, exit 1" eval 'rc_is 1 && stderr_starts "error: INVALID_ARGUMENT INVALID_FIELD: " && grep -q "(field: delete_storage)$" "$err" && [ "$(field statefulset b-one "{.spec.replicas}")" = 1 ]'

echo "-- sandboxes that cannot migrate"
era wide p-wide 2 || exit 1
run create native -o name
run migrate nobody wide native
check "NAMEs in order: FAILED not found, SKIPPED unsupported field, SKIPPED not Deployment-era; exit 6" eval 'rc_is 6 && stdout_is "sandbox/nobody: FAILED (SANDBOX_NOT_FOUND)
sandbox/wide: SKIPPED (UNSUPPORTED_FIELD/spec.replicas)
sandbox/native: SKIPPED (NOT_DEPLOYMENT_ERA/metadata.name)
NAME OUTCOME STEP REASON
nobody FAILED - SANDBOX_NOT_FOUND
wide SKIPPED - UNSUPPORTED_FIELD/spec.replicas
native SKIPPED - NOT_DEPLOYMENT_ERA/metadata.name
$(summary 0 0 0 2 1)"'
check "the unsupported Deployment is untouched" eval '[ "$(field deployment wide "{.spec.replicas}")" = 2 ] && absent configmap wide-migration'
run -o json migrate wide
check "-o json of a skipped NAME: the error with code, reason and field" eval 'rc_is 6 && json ".migrations[0].outcome == \"MIGRATION_OUTCOME_SKIPPED\" and .migrations[0].error.code == 9 and .migrations[0].error.reason == \"UNSUPPORTED_FIELD\" and .migrations[0].error.metadata.field == \"spec.replicas\" and .migrations[0].error.metadata.object == \"Deployment/wide\" and .summary == {\"total\": 1, \"skipped\": 1}"'
run delete native

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
