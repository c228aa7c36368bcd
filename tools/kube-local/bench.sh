#!/usr/bin/env bash
# Benchmark of the local control plane (results go to docs/kube-local.md by hand):
#   1. warm start-up: `kube-local up` to usable, RUNS times (binaries already built);
#   2. resident memory (VmRSS) of every component at idle;
#   3. resident memory with SANDBOXES sandboxes' worth of objects: per sandbox one
#      StatefulSet with a volumeClaimTemplate, its headless Service, two Ingresses, and what
#      the controllers make of them (a pod, a PVC, a PV), all Ready/Bound.
# Uses its own state directory, so it does not disturb a running development plane.
#
#   tools/kube-local/bench.sh [RUNS=3] [SANDBOXES=1000]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
runs=${1:-3}
sandboxes=${2:-1000}
export KUBE_LOCAL_STATE_DIR=${TMPDIR:-/tmp}/sandboxd-kube-local-bench
kl="$here/kube-local"

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

rss_report() {  # prints "component=MiB ... total=MiB"
  local total=0 line=""
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    local kb
    kb=$(awk '/VmRSS/{print $2}' "/proc/$(cat "$KUBE_LOCAL_STATE_DIR/pids/$c")/status")
    total=$((total + kb))
    line+="$c=$((kb / 1024))MiB "
  done
  echo "${line}total=$((total / 1024))MiB"
}

"$here/build.sh" >/dev/null
"$kl" down >/dev/null 2>&1 || true
for i in $(seq "$runs"); do
  start=$(date +%s.%N)
  "$kl" up >/dev/null 2>&1
  end=$(date +%s.%N)
  say "warm start-up run $i: $(echo "$end - $start" | bc) s to usable"
  [ "$i" -lt "$runs" ] && "$kl" down >/dev/null 2>&1
done

eval "$("$kl" env)"
k() { "$KUBE_LOCAL_BIN/kubectl" --kubeconfig "$KUBE_LOCAL_ADMIN_KUBECONFIG" "$@"; }
sleep 20
say "idle: $(rss_report)"

k create namespace bench >/dev/null
say "creating $sandboxes sandboxes' worth of objects ..."
gen() {
  for i in $(seq "$sandboxes"); do
    cat <<EOF
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: sb-$i
  namespace: bench
  labels: {app: sb-$i, cloud.sealos.io/app-deploy-manager: sb-$i, app.kubernetes.io/managed-by: sandboxd}
  annotations: {originImageName: "registry.local/app:1", deploy.cloud.sealos.io/minReplicas: "1", deploy.cloud.sealos.io/maxReplicas: "1", deploy.cloud.sealos.io/resize: 5Gi}
spec:
  replicas: 1
  serviceName: sb-$i-service
  selector: {matchLabels: {app: sb-$i}}
  persistentVolumeClaimRetentionPolicy: {whenScaled: Retain, whenDeleted: Delete}
  template:
    metadata: {labels: {app: sb-$i, app.kubernetes.io/managed-by: sandboxd}}
    spec:
      automountServiceAccountToken: false
      containers:
      - name: sb-$i
        image: registry.local/app:1
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        ports: [{name: app, containerPort: 3000}, {name: ttyd, containerPort: 7681}]
        volumeMounts: [{name: home, mountPath: /home/agent}]
  volumeClaimTemplates:
  - metadata: {name: home}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Gi}}}
---
apiVersion: v1
kind: Service
metadata: {name: sb-$i-service, namespace: bench, labels: {cloud.sealos.io/app-deploy-manager: sb-$i}}
spec:
  clusterIP: None
  selector: {app: sb-$i}
  ports: [{name: app, port: 3000}, {name: ttyd, port: 7681}]
EOF
    for kind in app ttyd; do
      cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: sb-$i-$kind-ingress, namespace: bench, labels: {cloud.sealos.io/app-deploy-manager-domain: sb-$i-$kind}}
spec:
  ingressClassName: nginx
  rules:
  - host: sb-$i-$kind.example.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: sb-$i-service, port: {name: $kind}}}}]}
EOF
    done
  done
}
start=$SECONDS
gen | k apply --server-side -f - >/dev/null
say "applied in $((SECONDS - start)) s; waiting for every pod Ready and claim Bound ..."
until [ "$(k -n bench get statefulsets -o jsonpath='{range .items[*]}{.status.readyReplicas}{"\n"}{end}' | grep -c '^1$')" -ge "$sandboxes" ] &&
      [ "$(k -n bench get pvc -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c Bound)" -ge "$sandboxes" ]; do
  sleep 5
done
say "all $sandboxes ready and bound after $((SECONDS - start)) s"
sleep 30
say "with $sandboxes sandboxes: $(rss_report)"
"$kl" down >/dev/null 2>&1
