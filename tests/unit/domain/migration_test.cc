// The pure parts of a migration: what makes a Deployment-era sandbox, the objects it
// becomes (golden JSON), adoption and release patches, the record and its lease.
#include "src/domain/migration.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/domain/builders.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/kube/objects_json.h"
#include "src/kube/patches.h"
#include "src/kube/raw_objects.h"
#include "tests/unit/domain/golden.h"

namespace sandboxd::domain {
namespace {

using testing::ExpectMatchesGolden;

// A Deployment-era sandbox's Deployment as the API server returns it (the shape of
// tests/integration/testdata/deployment-era-sandbox.yaml, with server fields).
constexpr char kDeployment[] = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {
    "name": "p1-agentruntime-x7k2qa", "namespace": "team-a", "uid": "d-uid-1",
    "resourceVersion": "812", "generation": 3, "creationTimestamp": "2025-01-02T03:04:05Z",
    "labels": {"cloud.sealos.io/app-deploy-manager": "p1-agentruntime-x7k2qa",
               "app": "p1-agentruntime-x7k2qa", "project.fullstackagent.io/name": "p1"},
    "annotations": {"originImageName": "registry.local/agent:1",
                    "deploy.cloud.sealos.io/minReplicas": "1",
                    "deploy.cloud.sealos.io/maxReplicas": "1",
                    "deployment.kubernetes.io/revision": "3"},
    "managedFields": [{"manager": "kubectl"}]
  },
  "spec": {
    "replicas": 1, "revisionHistoryLimit": 1,
    "selector": {"matchLabels": {"app": "p1-agentruntime-x7k2qa"}},
    "strategy": {"type": "RollingUpdate"},
    "template": {
      "metadata": {"creationTimestamp": null,
                   "labels": {"app": "p1-agentruntime-x7k2qa", "restartTime": "20250102030405",
                              "project.fullstackagent.io/name": "p1"}},
      "spec": {
        "automountServiceAccountToken": false, "terminationGracePeriodSeconds": 10,
        "securityContext": {"fsGroup": 1001, "runAsUser": 1001, "runAsNonRoot": true},
        "containers": [{
          "name": "p1-agentruntime-x7k2qa", "image": "registry.local/agent:1",
          "imagePullPolicy": "Always",
          "env": [{"name": "ZED", "value": "z"}, {"name": "NODE_ENV", "value": "development"},
                  {"name": "TTYD_PORT", "value": "7681"},
                  {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
          "ports": [{"containerPort": 3000, "name": "oak"}, {"containerPort": 5000, "name": "elm"},
                    {"containerPort": 7681, "name": "ash"}, {"containerPort": 8080, "name": "fir"}],
          "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                        "limits": {"cpu": "1", "memory": "2Gi"}},
          "readinessProbe": {"tcpSocket": {"port": 3000}},
          "volumeMounts": [{"name": "kubeconfig-volume", "mountPath": "/tmp/kubeconfig"}]
        }],
        "volumes": [{"name": "kubeconfig-volume",
                     "configMap": {"name": "p1-agentruntime-x7k2qa-kubeconfig"}}]
      }
    }
  },
  "status": {"replicas": 1, "readyReplicas": 1}
})";

constexpr char kName[] = "p1-agentruntime-x7k2qa";

kube::Ingress Ingress(const std::string& suffix, const std::string& host, int32_t port,
                      bool tls) {
  kube::Ingress in;
  in.metadata.name = std::string(kName) + suffix;
  in.metadata.ns = "team-a";
  in.metadata.resource_version = "90";
  in.metadata.labels = {{kLabelDeployManager, kName}};
  kube::IngressRule rule;
  rule.host = host;
  kube::HTTPIngressPath path;
  path.path = "/";
  path.backend_service.name = std::string(kName) + "-service";
  path.backend_service.port_number = port;
  rule.http_paths.push_back(path);
  in.spec.rules.push_back(rule);
  if (tls) in.spec.tls.push_back(kube::IngressTLS{{host}, "wildcard-cert"});
  return in;
}

DeploymentEraObjects Objects() {
  DeploymentEraObjects o;
  o.deployment = *kube::Decode<kube::Deployment>(kDeployment);
  kube::Service svc;
  svc.metadata.name = std::string(kName) + "-service";
  svc.metadata.ns = "team-a";
  svc.metadata.resource_version = "88";
  svc.metadata.labels = {{kLabelDeployManager, kName}, {kLabelPlatformProject, "p1"}};
  svc.spec.selector = {{kLabelApp, kName}};
  o.service = svc;
  o.app_ingress = Ingress("-app-ingress", "qzvx.apps.example.dev", 3000, true);
  o.ttyd_ingress = Ingress("-ttyd-ingress", "mkpl.apps.example.dev", 7681, false);
  return o;
}

SandboxDefaults Defaults() {
  SandboxDefaults d;
  d.image = "registry.local/default:1";
  return d;
}

constexpr char kTemplate[] = "vn-homevn-agent";

// The refusal's reason and its "field" metadata.
std::pair<std::string, std::string> ReasonAndField(const absl::Status& s) {
  ErrorDetail detail = GetErrorDetail(s);
  return {detail.reason, detail.metadata["field"]};
}

TEST(MigrationTest, TheFixtureShapeIsMigratable) {
  EXPECT_TRUE(CheckMigratable(Objects(), kTemplate, Defaults()).ok());
}

TEST(MigrationTest, WhatIsNotMigratableIsNamed) {
  struct Case {
    const char* what;
    void (*change)(DeploymentEraObjects*);
    const char* reason;
    const char* field;
  };
  const Case cases[] = {
      {"no Sealos label",
       [](DeploymentEraObjects* o) { o->deployment.metadata.labels.erase(kLabelDeployManager); },
       reason::kNotDeploymentEra, "metadata.labels[cloud.sealos.io/app-deploy-manager]"},
      {"no container of its name",
       [](DeploymentEraObjects* o) { o->deployment.spec.template_.spec.containers[0].name = "x"; },
       reason::kNotDeploymentEra, "spec.template.spec.containers"},
      {"two replicas", [](DeploymentEraObjects* o) { o->deployment.spec.replicas = 2; },
       reason::kUnsupportedField, "spec.replicas"},
      {"owned by another object",
       [](DeploymentEraObjects* o) {
         o->deployment.metadata.owner_references.push_back({"v1", "Thing", "t", "u", {}, {}});
       },
       reason::kUnsupportedField, "metadata.ownerReferences"},
      {"a mount at the home path",
       [](DeploymentEraObjects* o) {
         o->deployment.spec.template_.spec.containers[0].volume_mounts.push_back(
             {"scratch", "/home/agent", {}, ""});
       },
       reason::kUnsupportedField, "spec.template.spec.containers[0].volumeMounts[1].mountPath"},
      {"a foreign volume of the home volume's name",
       [](DeploymentEraObjects* o) {
         o->deployment.spec.template_.spec.volumes.push_back({kTemplate, "other-claim"});
       },
       reason::kUnsupportedField, "spec.template.spec.volumes[1].name"},
      {"a pod template without app=<name>",
       [](DeploymentEraObjects* o) { o->deployment.spec.template_.metadata.labels.erase(kLabelApp); },
       reason::kUnsupportedField, "spec.template.metadata.labels[app]"},
      {"env beyond the limits",
       [](DeploymentEraObjects* o) {
         for (int i = 0; i < 300; ++i) {
           o->deployment.spec.template_.spec.containers[0].env.push_back(
               {"V" + std::to_string(i), "x", false});
         }
       },
       reason::kUnsupportedField, "spec.template.spec.containers[0].env"},
      {"a Service of the sandbox's name that is not its own",
       [](DeploymentEraObjects* o) { o->service->metadata.labels.clear(); },
       reason::kUnsupportedField, "metadata.labels[cloud.sealos.io/app-deploy-manager]"},
  };
  for (const Case& c : cases) {
    DeploymentEraObjects o = Objects();
    c.change(&o);
    absl::Status s = CheckMigratable(o, kTemplate, Defaults());
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << c.what;
    EXPECT_EQ(ReasonAndField(s), std::make_pair(std::string(c.reason), std::string(c.field)))
        << c.what << ": " << s;
  }
  // The sandbox's own home claim mounted at the home path (a rollback with mount_home)
  // is what the StatefulSet provides anyway.
  DeploymentEraObjects rolled_back = Objects();
  auto& pod = rolled_back.deployment.spec.template_.spec;
  pod.volumes.push_back({kTemplate, ClaimName(kTemplate, kName)});
  pod.containers[0].volume_mounts.push_back({kTemplate, "/home/agent", {}, ""});
  EXPECT_TRUE(CheckMigratable(rolled_back, kTemplate, Defaults()).ok());
}

TEST(MigrationTest, TheSpecComesFromTheDeploymentAndItsIngresses) {
  SandboxSpec spec = MigratedSpec(Objects(), Defaults());
  EXPECT_EQ(spec.name, kName);
  EXPECT_EQ(spec.project, "p1");
  EXPECT_EQ(spec.image, "registry.local/agent:1");
  EXPECT_EQ(spec.env, (std::map<std::string, std::string>{
                          {"NODE_ENV", "development"}, {"TTYD_PORT", "7681"}, {"ZED", "z"}}));
  EXPECT_EQ(spec.resources.limits.memory, "2Gi");
  EXPECT_EQ(spec.ports.app, 3000);
  EXPECT_EQ(spec.ports.terminal, 7681);
  EXPECT_EQ(spec.ingress_domain, "apps.example.dev");
}

// Every field of the Deployment's pod template is carried (probe, valueFrom, volumes,
// env order, port names), plus the home volume and the sandbox's labels.
TEST(MigrationTest, TheStatefulSetCarriesTheDeploymentsPodTemplate) {
  absl::StatusOr<std::string> saved = kube::SavedCopy(kDeployment);
  ASSERT_TRUE(saved.ok()) << saved.status();
  absl::StatusOr<std::string> sts =
      MigratedStatefulSetJson(Objects(), *saved, kTemplate, Defaults());
  ASSERT_TRUE(sts.ok()) << sts.status();
  ExpectMatchesGolden(*sts, "migrated-statefulset.json");
}

TEST(MigrationTest, ARollbackRecreatesTheSavedDeployment) {
  absl::StatusOr<std::string> saved = kube::SavedCopy(kDeployment);
  ASSERT_TRUE(saved.ok()) << saved.status();
  absl::StatusOr<std::string> plain = RestoredDeploymentJson(*saved, kName, 0, std::nullopt, Defaults());
  ASSERT_TRUE(plain.ok()) << plain.status();
  ExpectMatchesGolden(*plain, "restored-deployment.json");
  absl::StatusOr<std::string> with_home =
      RestoredDeploymentJson(*saved, kName, 1, std::string(kTemplate), Defaults());
  ASSERT_TRUE(with_home.ok()) << with_home.status();
  ExpectMatchesGolden(*with_home, "restored-deployment-home.json");
}

TEST(MigrationTest, AReleaseUndoesTheAdoption) {
  const DeploymentEraObjects o = Objects();
  const kube::OwnerReference owner = StatefulSetOwnerReference(kName, "sts-uid");
  const kube::MetadataPatch adopt = AdoptPatch(o.service->metadata, owner, true);
  EXPECT_EQ(kube::ToJson(adopt),
            R"({"metadata":{"resourceVersion":"88","labels":{"app.kubernetes.io/managed-by":)"
            R"("sandboxd"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"StatefulSet",)"
            R"("name":"p1-agentruntime-x7k2qa","uid":"sts-uid","controller":true,)"
            R"("blockOwnerDeletion":true}]},"spec":{"selector":{"sandboxd.dev/sandbox":)"
            R"("p1-agentruntime-x7k2qa"}}})");
  // The Service as adoption left it.
  kube::Service adopted = *o.service;
  adopted.metadata.resource_version = "95";
  adopted.metadata.labels[kLabelManagedBy] = kManagedByValue;
  adopted.metadata.owner_references = {owner};
  adopted.spec.selector[kLabelSandbox] = kName;
  EXPECT_EQ(kube::ToJson(ReleasePatch(o.service->metadata, o.service->spec.selector,
                                      adopted.metadata, adopted.spec.selector)),
            R"({"metadata":{"resourceVersion":"95","labels":{"app.kubernetes.io/managed-by":)"
            R"(null},"ownerReferences":null},"spec":{"selector":{"sandboxd.dev/sandbox":null}}})");
}

TEST(MigrationTest, TheRecordHoldsTheOriginalsTheStepAndTheLease) {
  const MigrationLease lease{"p/7", absl::FromUnixSeconds(1767225600)};  // 2026-01-01
  kube::ConfigMap record = BuildMigrationRecord(Objects().deployment,
                                                {{kRecordKeyDeployment, "{}"}}, lease);
  EXPECT_EQ(record.metadata.name, "p1-agentruntime-x7k2qa-migration");
  EXPECT_EQ(record.metadata.labels.at(kLabelMigration), kName);
  EXPECT_EQ(record.metadata.labels.at(kLabelManagedBy), kManagedByValue);
  EXPECT_EQ(record.metadata.labels.at(kLabelPlatformProject), "p1");  // selectors find it
  EXPECT_EQ(RecordedStep(record), MigrationStep::kRecorded);
  EXPECT_EQ(LeaseOf(record).holder, "p/7");
  EXPECT_EQ(LeaseOf(record).expires, lease.expires);
  EXPECT_EQ(record.data.at(kRecordKeyDeployment), "{}");

  EXPECT_EQ(kube::ToJson(RecordPatch("12", MigrationStep::kDeploymentDeleted, {}, std::nullopt)),
            R"({"metadata":{"resourceVersion":"12","annotations":{)"
            R"("sandboxd.dev/migration-holder":null,"sandboxd.dev/migration-lease-expires":null,)"
            R"("sandboxd.dev/migration-step":"DEPLOYMENT_DELETED"}}})");
  EXPECT_EQ(kube::ToJson(RecordPatch("12", MigrationStep::kNone, lease,
                                     std::vector<kube::OwnerReference>{})),
            R"({"metadata":{"resourceVersion":"12","annotations":{)"
            R"("sandboxd.dev/migration-holder":"p/7",)"
            R"("sandboxd.dev/migration-lease-expires":"2026-01-01T00:00:00Z"},)"
            R"("ownerReferences":null}})");
}

TEST(MigrationTest, StepNamesRoundTrip) {
  for (MigrationStep step :
       {MigrationStep::kPlanned, MigrationStep::kRecorded, MigrationStep::kDeploymentScaledDown,
        MigrationStep::kStatefulSetCreated, MigrationStep::kAdopted, MigrationStep::kSandboxReady,
        MigrationStep::kDeploymentDeleted}) {
    EXPECT_EQ(ParseMigrationStep(MigrationStepName(step)), step);
  }
  EXPECT_EQ(ParseMigrationStep("bogus"), MigrationStep::kNone);
}

TEST(MigrationTest, BatchErrorsAreSkipsOrFailures) {
  EXPECT_EQ(OutcomeOfError(MakeError(absl::StatusCode::kFailedPrecondition,
                                     reason::kNotDeploymentEra, "x")),
            MigrationOutcome::kSkipped);
  EXPECT_EQ(OutcomeOfError(MakeError(absl::StatusCode::kAborted, reason::kMigrationInProgress,
                                     "x")),
            MigrationOutcome::kSkipped);
  EXPECT_EQ(OutcomeOfError(absl::UnavailableError("down")), MigrationOutcome::kFailed);
  MigrationSummary summary;
  summary.Add(MigrationOutcome::kMigrated);
  summary.Add(MigrationOutcome::kSkipped);
  summary.Add(MigrationOutcome::kFailed);
  EXPECT_EQ(summary.total, 3);
  EXPECT_EQ(summary.migrated, 1);
  EXPECT_EQ(summary.skipped, 1);
  EXPECT_EQ(summary.failed, 1);
}

}  // namespace
}  // namespace sandboxd::domain
