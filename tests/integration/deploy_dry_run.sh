#!/usr/bin/env bash
# deploy/ (the kustomize base) against a real API server, without running anything:
#   1. `kubectl kustomize deploy/` renders, with the expected objects;
#   2. the rendered objects pass `kubectl apply --dry-run=server` (schema, defaulting,
#      validation and admission of the real kube-apiserver), and Pod Security admission
#      finds nothing to warn about in the Deployment's pod template under the namespace's
#      own "restricted" labels; a Pod made of that template passes the enforcing check;
#   3. negative control: the same with runAsNonRoot: false is warned about and the Pod
#      is refused, so the test notices a violation (and that PSA is evaluating at all).
# The manifests are rendered into a throwaway namespace (a kustomize overlay sets
# `namespace:`), so the plane's own sandboxd-system is not touched. A namespaced dry-run
# needs its namespace to exist and PSA reads the labels of the stored namespace, so the
# Namespace object of deploy/ (with its labels) and the ServiceAccount (the Pod's service
# account admission looks it up) are created for real; deleting the namespace at the end
# removes both. Everything else is dry-run only.
#
#   tests/integration/deploy_dry_run.sh
# Needs: a running plane (KUBE_LOCAL_STATE_DIR, default as kube-local). Prints each check;
# exits non-zero if one failed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
eval "$("$repo/tools/kube-local/kube-local" env)" || { echo "the local control plane is not up"; exit 1; }
# The plane's own kubectl (its version), with the admin identity.
kubectl() { "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_ADMIN_KUBECONFIG" "$@"; }

passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | tail -n 30 | sed 's/^/    /'; failed=$((failed + 1)); }
step() { printf '\n-- %s\n' "$*"; }

ns=sandboxd-dryrun-$$
work=$(mktemp -d)
created_ns=""
cleanup() {
  if [ -n "$created_ns" ]; then
    kubectl delete namespace "$created_ns" --wait=true --timeout=120s >/dev/null 2>&1 ||
      echo "WARNING: namespace $created_ns was not deleted within 120 s"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# doc_of_kind FILE KIND: the documents of kind KIND of a rendered multi-document YAML.
doc_of_kind() {
  awk -v kind="$2" '
    function flush() { if (doc != "" && doc ~ ("\nkind: " kind "\n")) printf "---%s", doc; doc = "\n" }
    BEGIN { doc = "\n" }
    /^---$/ { flush(); next }
    { doc = doc $0 "\n" }
    END { flush() }' "$1"
}

# pod_of_deployment: reads the server's dry-run answer (JSON List) on stdin, prints a Pod
# made of the Deployment's pod template.
pod_of_deployment() {
  jq --arg name "$1" '.items[] | select(.kind == "Deployment") |
    {apiVersion: "v1", kind: "Pod",
     metadata: {name: $name, namespace: .metadata.namespace, labels: .spec.template.metadata.labels},
     spec: .spec.template.spec}'
}

step "rendering deploy/ ($("$KUBE_LOCAL_BIN/kubectl" version --client | head -n 1))"
if out=$(kubectl kustomize "$repo/deploy" 2>&1); then
  pass "kubectl kustomize deploy/"
  kinds=$(grep '^kind: ' <<<"$out" | LC_ALL=C sort | tr '\n' ' ')
  want="kind: ClusterRole kind: ClusterRole kind: ClusterRole kind: ClusterRole "
  want+="kind: ClusterRoleBinding kind: ClusterRoleBinding "
  want+="kind: ConfigMap kind: Deployment "
  want+="kind: Namespace kind: NetworkPolicy kind: PodDisruptionBudget kind: Role kind: RoleBinding "
  want+="kind: Service "
  want+="kind: ServiceAccount kind: ValidatingAdmissionPolicy kind: ValidatingAdmissionPolicyBinding "
  [ "$kinds" = "$want" ] && pass "the objects of the base: $(sed 's/kind: //g' <<<"$kinds")" ||
    fail "rendered kinds: $kinds (want $want)"
else
  fail "kubectl kustomize deploy/" "$out"
  echo; echo "$passed passed, $failed failed"; exit 1
fi

step "rendering deploy/ with the component deploy/namespaced (the namespaced mode)"
mkdir -p "$work/repo" "$work/namespaced"
cp -r "$repo/deploy" "$work/repo/deploy"
printf 'resources: [../repo/deploy]\ncomponents: [../repo/deploy/namespaced]\n' \
  >"$work/namespaced/kustomization.yaml"
if out=$(kubectl kustomize "$work/namespaced" 2>&1); then
  # metadata.name of each ClusterRoleBinding
  bindings=$(doc_of_kind <(printf '%s\n' "$out") ClusterRoleBinding |
    awk '/^metadata:/ { m = 1; next } /^[^ ]/ { m = 0 } m && /^  name: / { print $2 }' |
    LC_ALL=C sort | tr '\n' ' ')
  [ "$bindings" = "sandboxd-cluster " ] &&
    pass "namespaced: only ClusterRoleBinding sandboxd-cluster is left" ||
    fail "namespaced: ClusterRoleBindings '$bindings' (want 'sandboxd-cluster ')"
  grep -q -- '- --kube_namespaced$' <<<"$out" && pass "namespaced: sandboxd runs with --kube_namespaced" ||
    fail "namespaced: no --kube_namespaced argument" "$out"
else
  fail "kubectl kustomize of an overlay with deploy/namespaced" "$out"
fi

# Overlays: the base into $ns, and the same without runAsNonRoot (negative control).
cp -r "$repo/deploy" "$work/base"
mkdir "$work/ok" "$work/bad"
printf 'resources: [../base]\nnamespace: %s\n' "$ns" >"$work/ok/kustomization.yaml"
cat >"$work/bad/kustomization.yaml" <<EOF
resources: [../base]
namespace: $ns
patches:
- target: {kind: Deployment, name: sandboxd}
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: sandboxd}
    spec:
      template:
        spec:
          securityContext: {runAsNonRoot: false}
          containers:
          - name: sandboxd
            securityContext: {runAsNonRoot: false}
EOF
if ! kubectl kustomize "$work/ok" >"$work/ok.yaml" 2>"$work/ok.err"; then
  fail "rendering deploy/ into namespace $ns" "$(cat "$work/ok.err")"
  echo; echo "$passed passed, $failed failed"; exit 1
fi

step "creating namespace $ns and its ServiceAccount from deploy/ (for real)"
doc_of_kind "$work/ok.yaml" Namespace >"$work/ns.yaml"
doc_of_kind "$work/ok.yaml" ServiceAccount >"$work/sa.yaml"
grep -q "pod-security.kubernetes.io/enforce: restricted" "$work/ns.yaml" &&
  pass "the Namespace enforces Pod Security \"restricted\"" ||
  fail "the Namespace lacks pod-security.kubernetes.io/enforce: restricted" "$(cat "$work/ns.yaml")"
if out=$(kubectl apply -f "$work/ns.yaml" 2>&1); then
  created_ns=$ns
  pass "namespace $ns created"
else
  fail "creating namespace $ns" "$out"; echo; echo "$passed passed, $failed failed"; exit 1
fi
out=$(kubectl apply -f "$work/sa.yaml" 2>&1) && pass "ServiceAccount created" ||
  fail "creating the ServiceAccount" "$out"

step "server-side dry run of every object"
out=$(kubectl apply --dry-run=server -f "$work/ok.yaml" -o json 2>"$work/ok.apply.err"); rc=$?
err=$(cat "$work/ok.apply.err")
if [ $rc -eq 0 ]; then
  pass "kubectl apply --dry-run=server accepted every object"
  n=$(jq '.items | length' <<<"$out" 2>/dev/null || echo 0)
  [ "$n" -eq 17 ] && pass "the server answered for 17 objects" || fail "the server answered for $n objects, want 17" "$out"
else
  fail "kubectl apply --dry-run=server (exit $rc)" "$err"
fi
if grep -qi "would violate PodSecurity" <<<"$err"; then
  fail "Pod Security admission warns about the Deployment" "$err"
else
  pass "no PodSecurity warning on the Deployment"
fi
others=$(grep "^Warning:" <<<"$err" | grep -v "would violate PodSecurity")
[ -z "$others" ] && pass "no other warnings" || fail "the server returned warnings" "$others"

step "the Deployment's pod template as a Pod (Pod Security enforces on pods)"
if pod=$(pod_of_deployment sandboxd-psa-check <<<"$out") && [ -n "$pod" ]; then
  res=$(kubectl create --dry-run=server -f - <<<"$pod" 2>&1) &&
    pass "a Pod of the template passes the restricted standard (server dry run)" ||
    fail "a Pod of the template is refused" "$res"
else
  fail "no Deployment in the dry-run answer" "$out"
fi

step "negative control: the Deployment with runAsNonRoot: false"
if ! kubectl kustomize "$work/bad" >"$work/bad.yaml" 2>"$work/bad.err"; then
  fail "rendering the negative control" "$(cat "$work/bad.err")"
else
  bad=$(kubectl apply --dry-run=server -f "$work/bad.yaml" -o json 2>"$work/bad.apply.err")
  err=$(cat "$work/bad.apply.err")
  grep -q 'would violate PodSecurity "restricted:latest"' <<<"$err" &&
    pass "Pod Security admission warns about it" ||
    fail "no PodSecurity warning with runAsNonRoot: false (is PSA evaluating?)" "$err"
  if pod=$(pod_of_deployment sandboxd-psa-check <<<"$bad") && [ -n "$pod" ]; then
    res=$(kubectl create --dry-run=server -f - <<<"$pod" 2>&1) &&
      fail "a Pod with runAsNonRoot: false was admitted" "$res" ||
      { grep -q "violates PodSecurity" <<<"$res" && pass "a Pod with runAsNonRoot: false is refused" ||
          fail "the Pod was refused for another reason" "$res"; }
  else
    fail "no Deployment in the negative control's dry-run answer" "$bad"
  fi
fi

step "nothing but the namespace and its ServiceAccount was stored"
if left=$(kubectl -n "$ns" get deployments,services,configmaps,poddisruptionbudgets,networkpolicies,pods \
     -o name 2>"$work/get.err"); then
  left=$(grep -v '^configmap/kube-root-ca.crt$' <<<"$left")
  [ -z "$left" ] && pass "no Deployment, Service, ConfigMap, PDB, NetworkPolicy or Pod in $ns" ||
    fail "objects were stored" "$left"
else
  fail "listing the objects of $ns" "$(cat "$work/get.err")"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
