#!/usr/bin/env bash
# Creates a Deployment-era sandbox as the old platform made it: the team fixture
# tests/integration/testdata/deployment-era-sandbox.yaml with its <placeholders> filled
# in (random port names and Ingress hosts, as the platform chose them), plus the
# "<name>-ttyd-ingress" the fixture describes. Objects: ConfigMap NAME-kubeconfig,
# Deployment NAME, Service NAME-service, Ingresses NAME-app-ingress and
# NAME-ttyd-ingress, applied in $SANDBOXD_NAMESPACE with $SANDBOXD_TEST_KUBECTL (run
# under tests/sdk/with_sandboxd.sh; SANDBOXD_SOURCE_DIR: the source tree, default this
# script's).
#
#   deployment_era.sh NAME PROJECT [REPLICAS]     (REPLICAS: 1 by default; 0 = stopped)
set -euo pipefail
name=${1:?usage: deployment_era.sh NAME PROJECT [REPLICAS]}
project=${2:?usage: deployment_era.sh NAME PROJECT [REPLICAS]}
replicas=${3:-1}
: "${SANDBOXD_NAMESPACE:?run under tests/sdk/with_sandboxd.sh}" "${SANDBOXD_TEST_KUBECTL:?}"
source_dir=${SANDBOXD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
template=$source_dir/tests/integration/testdata/deployment-era-sandbox.yaml

# kubectl's stderr, shown only on failure (it warns about kubernetes.io/ingress.class).
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
NAME=$name PROJECT=$project REPLICAS=$replicas python3 - "$template" <<'PY' |
import os, random, string, sys, time

name, project, replicas = os.environ["NAME"], os.environ["PROJECT"], os.environ["REPLICAS"]
text = open(sys.argv[1]).read()
words = random.sample(["otter", "maple", "comet", "pebble", "lumen", "cedar", "quartz",
                       "harbor", "falcon", "willow"], 4)
host = lambda: "".join(random.choice(string.ascii_lowercase) for _ in range(8))
app_random, ttyd_random = host(), host()
values = {
    "<name>": name, "<project>": project, "<image>": "registry.local/agent:1",
    "<yyyymmddhhmmss>": time.strftime("%Y%m%d%H%M%S", time.gmtime()),
    "<postgresql://...>": "postgresql://app:secret@db:5432/" + name,
    "<project display name>": "Project " + project,
    "<the user's kubeconfig>": "apiVersion: v1", "<cluster-domain>": "sealos.test",
    "<app-random>": app_random, "<ttyd-random>": ttyd_random,
}
values.update({"<random-word-%d>" % (i + 1): w for i, w in enumerate(words)})
for placeholder, value in values.items():
    text = text.replace(placeholder, value)
text = text.replace("replicas: 1 ", "replicas: %s " % replicas, 1)
assert "<" not in text.replace("<angle brackets>", "").replace("<6 random chars>", ""), \
    "a placeholder is left"
documents = text.split("\n---\n")
app_ingress = next(d for d in documents if "kind: Ingress" in d)
ttyd_ingress = (app_ingress.replace("-app-ingress", "-ttyd-ingress")
                .replace(app_random, ttyd_random).replace("number: 3000", "number: 7681"))
print("\n---\n".join(documents + [ttyd_ingress]))
PY
  "$SANDBOXD_TEST_KUBECTL" -n "$SANDBOXD_NAMESPACE" apply -f - >/dev/null 2>"$errors" ||
  { cat "$errors" >&2; exit 1; }
