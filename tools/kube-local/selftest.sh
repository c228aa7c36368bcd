#!/usr/bin/env bash
# Self-test of the local control plane: proves, against the real controllers, the
# Kubernetes behaviour sandboxd relies on. Needs a running plane (`kube-local up`) and
# reads its kubeconfigs from `kube-local env`.
#
# Each check prints PASS/FAIL; the last line is "N passed, M failed"; exit 1 on a failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
eval "$("$here/kube-local" env)" || { echo "kube-local is not up"; exit 1; }
ns=selftest-$RANDOM$RANDOM
passed=0 failed=0
wait_s=90

k() { "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_ADMIN_KUBECONFIG" -n "$ns" "$@"; }
k_sandboxd() { "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_SANDBOXD_KUBECONFIG" "$@"; }

check() {  # check NAME COMMAND...: runs COMMAND, records the result
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then
    echo "PASS $name"; passed=$((passed + 1))
  else
    echo "FAIL $name"; echo "$out" | tail -n 15 | sed 's/^/    /'; failed=$((failed + 1))
  fi
}

# eventually SECONDS COMMAND...: retries COMMAND until it succeeds or SECONDS pass.
eventually() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { echo "not true after ${limit}s: $*"; return 1; }
    sleep 0.5
  done
}

statefulset() {  # statefulset NAME IMAGE
  cat <<EOF
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $1}
spec:
  replicas: 1
  serviceName: $1-service
  selector: {matchLabels: {app: $1}}
  persistentVolumeClaimRetentionPolicy: {whenScaled: Retain, whenDeleted: Delete}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
      - name: main
        image: $2
        volumeMounts: [{name: home, mountPath: /home/agent}]
  volumeClaimTemplates:
  - metadata: {name: home}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
EOF
}

jp() { k get "$1" -o "jsonpath=$2" 2>/dev/null; }
equals() { [ "$(jp "$1" "$2")" = "$3" ]; }
gone() { ! k get "$1" >/dev/null 2>&1; }

k create namespace "$ns" >/dev/null 2>&1 || "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_ADMIN_KUBECONFIG" create namespace "$ns" >/dev/null
trap '"$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_ADMIN_KUBECONFIG" delete namespace "$ns" --wait=false >/dev/null 2>&1' EXIT

# 1. StatefulSet with a volumeClaimTemplate: ready, claim Bound.
statefulset web registry.local/app:1 | k apply -f - >/dev/null
check "statefulset reaches readyReplicas=1" eventually $wait_s equals statefulset/web '{.status.readyReplicas}' 1
check "claim home-web-0 is Bound" eventually $wait_s equals pvc/home-web-0 '{.status.phase}' Bound
uid_before=$(jp pvc/home-web-0 '{.metadata.uid}')

# 2. Scale to 0: pod gone, claim kept.
k scale statefulset web --replicas=0 >/dev/null
check "scale to 0 removes the pod" eventually $wait_s gone pod/web-0
check "scale to 0 keeps the claim (same UID)" equals pvc/home-web-0 '{.metadata.uid}' "$uid_before"

# 3. Scale to 1: the same claim is bound again.
k scale statefulset web --replicas=1 >/dev/null
check "scale to 1 is ready again" eventually $wait_s equals statefulset/web '{.status.readyReplicas}' 1
check "scale to 1 re-binds the same claim" equals pod/web-0 '{.spec.volumes[?(@.name=="home")].persistentVolumeClaim.claimName}' home-web-0
check "the claim UID is unchanged" equals pvc/home-web-0 '{.metadata.uid}' "$uid_before"

# 4. An object owned by the StatefulSet is garbage-collected with it; whenDeleted: Delete
#    removes the claim.
sts_uid=$(jp statefulset/web '{.metadata.uid}')
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-owned
  ownerReferences:
  - {apiVersion: apps/v1, kind: StatefulSet, name: web, uid: $sts_uid, controller: true, blockOwnerDeletion: true}
EOF
k delete statefulset web --wait=false >/dev/null
check "owned object is garbage-collected" eventually $wait_s gone configmap/web-owned
check "whenDeleted: Delete removes the claim" eventually $wait_s gone pvc/home-web-0

# 5. The restricted identity: allowed what deploy/rbac.yaml grants, refused (403) the rest.
check "sandboxd identity may list statefulsets" k_sandboxd -n "$ns" get statefulsets
forbidden() { local out; out=$(k_sandboxd "$@" 2>&1); [[ "$out" == *"Forbidden"* || "$out" == *"forbidden"* ]]; }
check "sandboxd identity is refused secrets (403)" forbidden -n "$ns" get secrets
check "sandboxd identity is refused namespaces (403)" forbidden create namespace "$ns-x"
check "sandboxd identity is refused creating claims (403)" forbidden -n "$ns" create -f - <<EOF
{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"x"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}
EOF

# 6. Failure stages: images marked to fail reach the states a kubelet reports.
statefulset pullfail registry.local/sandboxd-fail-pull:1 | k apply -f - >/dev/null
check "failing image reaches ImagePullBackOff" eventually $wait_s \
  equals pod/pullfail-0 '{.status.containerStatuses[0].state.waiting.reason}' ImagePullBackOff
statefulset crash registry.local/sandboxd-fail-crash:1 | k apply -f - >/dev/null
check "crashing image reaches CrashLoopBackOff" eventually $wait_s \
  equals pod/crash-0 '{.status.containerStatuses[0].state.waiting.reason}' CrashLoopBackOff
check "crashing pod is not ready" equals statefulset/crash '{.status.readyReplicas}' ""
statefulset configfail registry.local/sandboxd-fail-config:1 | k apply -f - >/dev/null
check "misconfigured container reaches CreateContainerConfigError" eventually $wait_s \
  equals pod/configfail-0 '{.status.containerStatuses[0].state.waiting.reason}' \
  CreateContainerConfigError

echo "selftest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
