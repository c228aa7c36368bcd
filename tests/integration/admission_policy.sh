#!/usr/bin/env bash
# The admission policy of deploy/admission-policy.yaml (applied by `kube-local up`) against
# the real API server: sandboxd's ServiceAccount writes only objects labelled
# app.kubernetes.io/managed-by=sandboxd, everyone else is unaffected.
#   1. as admin, an unlabelled Pod, PersistentVolumeClaim and Service in a fresh namespace;
#   2. as sandboxd (the least-privilege kubeconfig of kube-local, which RBAC allows all of
#      these verbs): deleting the pod, merge-patching an annotation onto the claim,
#      creating an unlabelled Service, labelling the foreign Service (taking it over) are
#      refused with the policy's message; creating, patching and deleting a labelled
#      Service is allowed, removing its label is refused;
#   3. as sandboxd, a Deployment labelled cloud.sealos.io/app-deploy-manager (a
#      Deployment-era sandbox, which a migration scales down and deletes) can be patched
#      and deleted, an unlabelled one cannot; an unlabelled ConfigMap cannot be created;
#   4. as admin (not fenced), the same patch of the claim is allowed;
#   5. as admin, the unlabelled objects are all still there, unchanged by sandboxd.
# A refusal counts only if it names the policy: RBAC or anything else refusing would not
# prove the fence. Without the policy or its binding the test fails.
#
#   tests/integration/admission_policy.sh
# Needs: a running plane (KUBE_LOCAL_STATE_DIR, default as kube-local). Prints each check;
# exits non-zero if one failed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
eval "$("$repo/tools/kube-local/kube-local" env)" || { echo "the local control plane is not up"; exit 1; }
# The plane's own kubectl (its version): as admin, and as sandboxd's ServiceAccount.
kadmin() { "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_ADMIN_KUBECONFIG" "$@"; }
ksandboxd() { "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_SANDBOXD_KUBECONFIG" "$@"; }

passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | tail -n 30 | sed 's/^/    /'; failed=$((failed + 1)); }
step() { printf '\n-- %s\n' "$*"; }
summary() { echo; echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

policy=sandboxd-managed-objects-only
# The API server's answer when the policy refuses a request.
denied="ValidatingAdmissionPolicy '$policy' with binding '$policy' denied request"
label=app.kubernetes.io/managed-by=sandboxd
ns=sandboxd-vap-$$
created_ns=""
cleanup() {
  if [ -n "$created_ns" ]; then
    kadmin delete namespace "$created_ns" --wait=true --timeout=120s >/dev/null 2>&1 ||
      echo "WARNING: namespace $created_ns was not deleted within 120 s"
  fi
}
trap cleanup EXIT

# refused WHAT WHY CMD...: CMD (as sandboxd) must fail with the policy's message, and the
# message must contain WHY (which of the policy's checks refused it).
refused() {
  local what=$1 why=$2 out rc
  shift 2
  out=$("$@" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then
    fail "$what was allowed" "$out"
  elif ! grep -qF "$denied" <<<"$out"; then
    fail "$what failed (exit $rc) but not because of the policy $policy" "$out"
  elif ! grep -qF "$why" <<<"$out"; then
    fail "$what was refused by the policy without \"$why\"" "$out"
  else
    pass "$what is refused (exit $rc): $(grep -oF "$why" <<<"$out" | head -n 1)"
  fi
}

# allowed WHAT CMD...: CMD must succeed.
allowed() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$what is allowed"; else fail "$what was refused" "$out"; fi
}

step "the policy and its binding"
for kind in validatingadmissionpolicy validatingadmissionpolicybinding; do
  if out=$(kadmin get "$kind" "$policy" -o name 2>&1); then
    pass "$kind $policy exists"
  else
    fail "$kind $policy is missing (kube-local up applies deploy/admission-policy.yaml)" "$out"
  fi
done
if out=$(kadmin get validatingadmissionpolicy "$policy" -o json 2>/dev/null) &&
   warnings=$(jq -c '.status.typeChecking.expressionWarnings // []' <<<"$out") &&
   [ "$warnings" = "[]" ]; then
  pass "the policy's CEL expressions type-check without warnings"
else
  fail "type checking of the policy" "${warnings:-$out}"
fi

step "as admin: unlabelled Pod, PersistentVolumeClaim and Service in namespace $ns"
if out=$(kadmin create namespace "$ns" 2>&1); then
  created_ns=$ns
  pass "namespace $ns created"
else
  fail "creating namespace $ns" "$out"; summary; exit 1
fi
out=$(kadmin -n "$ns" apply -f - 2>&1 <<EOF
apiVersion: v1
kind: Pod
metadata: {name: foreign-pod, labels: {app: foreign}}
spec:
  containers: [{name: main, image: registry.example/foreign:1}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: foreign-claim, labels: {app: foreign}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Service
metadata: {name: foreign-svc, labels: {app: foreign}}
spec:
  selector: {app: foreign}
  ports: [{port: 80}]
EOF
) && pass "foreign-pod, foreign-claim, foreign-svc created" ||
  { fail "creating the unlabelled objects" "$out"; summary; exit 1; }
uids=$(kadmin -n "$ns" get pod/foreign-pod pvc/foreign-claim service/foreign-svc \
  -o jsonpath='{range .items[*]}{.metadata.uid}{" "}{end}' 2>&1)

step "as sandboxd: the unlabelled objects are out of reach"
refused "deleting the unlabelled pod" "sandboxd may delete only objects labelled $label" \
  ksandboxd -n "$ns" delete pod foreign-pod --wait=false
refused "a merge patch of an annotation onto the unlabelled claim" \
  "sandboxd may change only objects labelled $label" \
  ksandboxd -n "$ns" patch pvc foreign-claim --type merge \
  -p '{"metadata":{"annotations":{"sandboxd.dev/kept":"true"}}}'
refused "deleting the unlabelled Service" "sandboxd may delete only objects labelled $label" \
  ksandboxd -n "$ns" delete service foreign-svc --wait=false
refused "labelling the unlabelled Service (taking it over)" \
  "sandboxd may change only objects labelled $label" \
  ksandboxd -n "$ns" label service foreign-svc "$label"
refused "creating an unlabelled Service" "sandboxd may create only objects labelled $label" \
  ksandboxd -n "$ns" create service clusterip unlabelled-svc --tcp=80

step "as sandboxd: a labelled Service can be created, changed and deleted"
allowed "creating a labelled Service" ksandboxd -n "$ns" apply -f - <<EOF
apiVersion: v1
kind: Service
metadata:
  name: managed-svc
  labels: {app.kubernetes.io/managed-by: sandboxd}
spec:
  clusterIP: None
  selector: {app: managed}
  ports: [{port: 80}]
EOF
allowed "a merge patch of an annotation onto the labelled Service" \
  ksandboxd -n "$ns" patch service managed-svc --type merge \
  -p '{"metadata":{"annotations":{"sandboxd.dev/note":"patched"}}}'
refused "removing the label of the labelled Service" \
  "sandboxd may not remove the label $label" \
  ksandboxd -n "$ns" label service managed-svc app.kubernetes.io/managed-by-
allowed "deleting the labelled Service" ksandboxd -n "$ns" delete service managed-svc --wait=false

step "as sandboxd: Deployments of Deployment-era sandboxes (migration) and no others"
out=$(kadmin -n "$ns" apply -f - 2>&1 <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: era, labels: {app: era, cloud.sealos.io/app-deploy-manager: era}}
spec:
  replicas: 1
  selector: {matchLabels: {app: era}}
  template:
    metadata: {labels: {app: era}}
    spec: {containers: [{name: era, image: registry.example/era:1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain, labels: {app: plain}}
spec:
  replicas: 1
  selector: {matchLabels: {app: plain}}
  template:
    metadata: {labels: {app: plain}}
    spec: {containers: [{name: plain, image: registry.example/plain:1}]}
EOF
) && pass "Deployments era (labelled cloud.sealos.io/app-deploy-manager) and plain created" ||
  fail "creating the Deployments" "$out"
refused "scaling down the unlabelled Deployment" "sandboxd may change only objects labelled $label" \
  ksandboxd -n "$ns" patch deployment plain --type merge -p '{"spec":{"replicas":0}}'
refused "deleting the unlabelled Deployment" "sandboxd may delete only objects labelled $label" \
  ksandboxd -n "$ns" delete deployment plain --wait=false
allowed "scaling down the Deployment-era Deployment" \
  ksandboxd -n "$ns" patch deployment era --type merge -p '{"spec":{"replicas":0}}'
allowed "deleting the Deployment-era Deployment" ksandboxd -n "$ns" delete deployment era --wait=false
refused "creating an unlabelled ConfigMap" "sandboxd may create only objects labelled $label" \
  ksandboxd -n "$ns" create configmap unlabelled-cm --from-literal=a=b

step "as admin: other identities are not fenced"
allowed "the admin's merge patch of an annotation onto the unlabelled claim" \
  kadmin -n "$ns" patch pvc foreign-claim --type merge \
  -p '{"metadata":{"annotations":{"example.com/admin":"yes"}}}'

step "as admin: the unlabelled objects are all still there"
now=$(kadmin -n "$ns" get pod/foreign-pod pvc/foreign-claim service/foreign-svc \
  -o jsonpath='{range .items[*]}{.metadata.uid}{" "}{end}' 2>&1)
[ -n "$uids" ] && [ "$now" = "$uids" ] &&
  pass "foreign-pod, foreign-claim, foreign-svc exist with their original UIDs" ||
  fail "the unlabelled objects changed" "before: $uids"$'\n'"after:  $now"
out=$(kadmin -n "$ns" get pod foreign-pod -o jsonpath='{.metadata.deletionTimestamp}' 2>&1)
[ -z "$out" ] && pass "foreign-pod is not being deleted" || fail "foreign-pod is being deleted" "$out"
out=$(kadmin -n "$ns" get pvc foreign-claim -o json 2>&1)
jq -e '.metadata.annotations["sandboxd.dev/kept"] == null' <<<"$out" >/dev/null &&
  pass "foreign-claim has no annotation from sandboxd" ||
  fail "foreign-claim was annotated by sandboxd" "$out"
out=$(kadmin -n "$ns" get service foreign-svc -o json 2>&1)
jq -e '.metadata.labels["app.kubernetes.io/managed-by"] == null' <<<"$out" >/dev/null &&
  pass "foreign-svc is not labelled managed-by" || fail "foreign-svc was labelled" "$out"
out=$(kadmin -n "$ns" get service -o name 2>&1)
[ "$out" = "service/foreign-svc" ] && pass "no other Service in $ns (unlabelled-svc was not created, managed-svc is gone)" ||
  fail "the Services of $ns" "$out"

summary
