#include "src/domain/status.h"

#include <functional>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "src/domain/builders.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"

namespace sandboxd::domain {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

SandboxDefaults Defaults() {
  SandboxDefaults d;
  d.image = "ghcr.io/acme/sandbox:1.2";
  return d;
}

kube::StatefulSet Sts() {
  SandboxSpec s;
  s.name = "alice";
  s.ns = "ns-alice";
  s.ingress_domain = "sandbox.example.com";
  kube::StatefulSet sts = BuildStatefulSet(ApplyDefaults(s, Defaults()), Defaults());
  sts.metadata.uid = "sts-uid";
  sts.metadata.resource_version = "4242";
  sts.metadata.generation = 3;
  sts.metadata.creation_timestamp = kNow - absl::Minutes(10);
  sts.status.observed_generation = 3;
  sts.status.replicas = 1;
  return sts;
}

kube::Pod Pod() {
  kube::Pod pod;
  pod.metadata.name = "alice-0";
  pod.status.phase = "Pending";
  return pod;
}

kube::PersistentVolumeClaim Claim(const std::string& phase, absl::Duration age) {
  kube::PersistentVolumeClaim c;
  c.metadata.name = "vn-homevn-agent-alice-0";
  c.metadata.uid = "pvc-uid";
  c.metadata.creation_timestamp = kNow - age;
  c.status.phase = phase;
  if (phase == "Bound") c.status.capacity = {{"storage", "5Gi"}};
  return c;
}

kube::Pod Waiting(const std::string& reason, const std::string& message = "") {
  kube::Pod pod = Pod();
  kube::ContainerStatus cs;
  cs.name = "alice";
  cs.state.waiting = kube::ContainerStateWaiting{reason, message};
  pod.status.container_statuses = {cs};
  return pod;
}

// A pod the scheduler has reported Unschedulable since `since` (nullopt: unknown).
kube::Pod Unschedulable(std::optional<absl::Time> since = std::nullopt) {
  kube::Pod pod = Pod();
  pod.status.conditions = {
      {"PodScheduled", "False", "Unschedulable", "0/3 nodes are available: 3 Insufficient cpu.",
       since}};
  return pod;
}

struct Case {
  const char* what;
  std::function<void(kube::StatefulSet&)> sts;
  std::optional<kube::Pod> pod;
  std::optional<kube::PersistentVolumeClaim> claim;
  Phase phase;
  ErrorReason reason;
  const char* message;
};

TEST(DeriveSandboxTest, PhaseTable) {
  auto none = [](kube::StatefulSet&) {};
  auto ready = [](kube::StatefulSet& s) { s.status.ready_replicas = 1; };
  auto stopped = [](kube::StatefulSet& s) {
    s.spec.replicas = 0;
    s.status.replicas = 0;
  };
  kube::PersistentVolumeClaim bound = Claim("Bound", absl::Minutes(10));
  kube::Pod init_pull = Pod();
  {
    kube::ContainerStatus cs;
    cs.name = "init";
    cs.state.waiting = kube::ContainerStateWaiting{"ImagePullBackOff", "back-off"};
    init_pull.status.init_container_statuses = {cs};
  }
  kube::Pod crash = Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container");
  crash.status.container_statuses[0].restart_count = 7;
  crash.status.container_statuses[0].last_state.terminated =
      kube::ContainerStateTerminated{1, std::nullopt, "Error", "", std::nullopt, std::nullopt};

  const Case cases[] = {
      {"deleting wins over everything",
       [](kube::StatefulSet& s) { s.metadata.deletion_timestamp = kNow; },
       Waiting("CrashLoopBackOff"), bound, Phase::kDeleting, ErrorReason::kNone, "deleting"},
      {"stopping: replicas 0, pod still there", stopped, Pod(), bound, Phase::kStopping,
       ErrorReason::kNone, "waiting for pod alice-0 to terminate"},
      {"stopping: replicas 0, status still counts a pod",
       [](kube::StatefulSet& s) {
         s.spec.replicas = 0;
         s.status.replicas = 1;
       },
       std::nullopt, bound, Phase::kStopping, ErrorReason::kNone,
       "waiting for pod alice-0 to terminate"},
      {"stopped", stopped, std::nullopt, bound, Phase::kStopped, ErrorReason::kNone, ""},
      {"stopped ignores a pending claim", stopped, std::nullopt, Claim("Pending", absl::Hours(1)),
       Phase::kStopped, ErrorReason::kNone, ""},
      {"running", ready, Pod(), bound, Phase::kRunning, ErrorReason::kNone, ""},
      {"running without pod in cache", ready, std::nullopt, std::nullopt, Phase::kRunning,
       ErrorReason::kNone, ""},
      {"replicas absent means 1",
       [](kube::StatefulSet& s) {
         s.spec.replicas.reset();
         s.status.ready_replicas = 1;
       },
       Pod(), bound, Phase::kRunning, ErrorReason::kNone, ""},
      {"ready but generation not observed",
       [](kube::StatefulSet& s) {
         s.status.ready_replicas = 1;
         s.status.observed_generation = 2;
       },
       Pod(), bound, Phase::kStarting, ErrorReason::kNone,
       "waiting for the StatefulSet controller to observe generation 3"},
      {"ready but observedGeneration absent",
       [](kube::StatefulSet& s) {
         s.status.ready_replicas = 1;
         s.status.observed_generation.reset();
       },
       Pod(), bound, Phase::kStarting, ErrorReason::kNone,
       "waiting for the StatefulSet controller to observe generation 3"},
      {"starting: no pod yet", none, std::nullopt, std::nullopt, Phase::kStarting,
       ErrorReason::kNone, "waiting for pod alice-0 to be created"},
      {"starting: pod not ready", none, Pod(), bound, Phase::kStarting, ErrorReason::kNone,
       "waiting for pod alice-0 to be ready (phase Pending)"},
      {"starting: ContainerCreating is not an error", none, Waiting("ContainerCreating"), bound,
       Phase::kStarting, ErrorReason::kNone, "waiting for pod alice-0 to be ready (phase Pending)"},
      {"starting: claim pending within timeout", none, Pod(), Claim("Pending", absl::Seconds(30)),
       Phase::kStarting, ErrorReason::kNone,
       "waiting for claim vn-homevn-agent-alice-0 to be bound"},
      {"starting: unschedulable while claim binds", none, Unschedulable(),
       Claim("Pending", absl::Seconds(30)), Phase::kStarting, ErrorReason::kNone,
       "waiting for claim vn-homevn-agent-alice-0 to be bound"},
      {"ErrImagePull", none, Waiting("ErrImagePull", "manifest unknown"), bound, Phase::kError,
       ErrorReason::kImagePullFailure, "container alice: ErrImagePull: manifest unknown"},
      {"ImagePullBackOff", none, Waiting("ImagePullBackOff", "Back-off pulling image"), bound,
       Phase::kError, ErrorReason::kImagePullFailure,
       "container alice: ImagePullBackOff: Back-off pulling image"},
      {"InvalidImageName", none, Waiting("InvalidImageName"), bound, Phase::kError,
       ErrorReason::kImagePullFailure, "container alice: InvalidImageName"},
      {"image pull in an init container", none, init_pull, bound, Phase::kError,
       ErrorReason::kImagePullFailure, "container init: ImagePullBackOff: back-off"},
      {"CrashLoopBackOff", none, crash, bound, Phase::kError, ErrorReason::kCrashLoop,
       "container alice: CrashLoopBackOff: back-off 5m0s restarting failed container "
       "(restarts: 7); last exit code 1 (Error)"},
      {"crash loop beats stale ready count", ready, crash, bound, Phase::kError,
       ErrorReason::kCrashLoop,
       "container alice: CrashLoopBackOff: back-off 5m0s restarting failed container "
       "(restarts: 7); last exit code 1 (Error)"},
      {"CreateContainerConfigError", none,
       Waiting("CreateContainerConfigError", "secret \"x\" not found"), bound, Phase::kError,
       ErrorReason::kContainerConfig,
       "container alice: CreateContainerConfigError: secret \"x\" not found"},
      {"CreateContainerError", none, Waiting("CreateContainerError"), bound, Phase::kError,
       ErrorReason::kContainerConfig, "container alice: CreateContainerError"},
      {"Unschedulable", none, Unschedulable(), bound, Phase::kError, ErrorReason::kUnschedulable,
       "pod alice-0: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."},
      {"Unschedulable without claim", none, Unschedulable(), std::nullopt, Phase::kError,
       ErrorReason::kUnschedulable,
       "pod alice-0: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."},
      {"Unschedulable for longer than the grace", none, Unschedulable(kNow - absl::Seconds(31)),
       bound, Phase::kError, ErrorReason::kUnschedulable,
       "pod alice-0: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."},
      {"starting: Unschedulable within the grace (scheduler retries)", none,
       Unschedulable(kNow - absl::Seconds(30)), bound, Phase::kStarting, ErrorReason::kNone,
       "waiting for pod alice-0 to be ready (phase Pending)"},
      {"claim not bound past timeout", none, Unschedulable(), Claim("Pending", absl::Minutes(3)),
       Phase::kError, ErrorReason::kClaimNotBound,
       "claim vn-homevn-agent-alice-0 Pending since 2023-11-14T22:10:20Z (limit 2m)"},
      {"claim exactly at timeout is still starting", none, Pod(),
       Claim("Pending", absl::Minutes(2)), Phase::kStarting, ErrorReason::kNone,
       "waiting for claim vn-homevn-agent-alice-0 to be bound"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    kube::StatefulSet sts = Sts();
    c.sts(sts);
    Sandbox sb = DeriveSandbox(sts, c.pod ? &*c.pod : nullptr, c.claim ? &*c.claim : nullptr,
                               kNow, Defaults());
    EXPECT_EQ(PhaseName(sb.phase), std::string(PhaseName(c.phase)));
    EXPECT_EQ(ErrorReasonName(sb.error_reason), std::string(ErrorReasonName(c.reason)));
    EXPECT_EQ(sb.message, c.message);
  }
}

TEST(DeriveSandboxTest, ClaimNotBoundSaysSinceWhenWhateverTheTimeOfDerivation) {
  const kube::StatefulSet sts = Sts();
  const kube::PersistentVolumeClaim claim = Claim("Pending", absl::Minutes(3));
  const Sandbox first = DeriveSandbox(sts, nullptr, &claim, kNow, Defaults());
  const Sandbox later = DeriveSandbox(sts, nullptr, &claim, kNow + absl::Hours(5), Defaults());
  EXPECT_EQ(first.error_reason, ErrorReason::kClaimNotBound);
  EXPECT_EQ(first.message,
            "claim vn-homevn-agent-alice-0 Pending since 2023-11-14T22:10:20Z (limit 2m)");
  EXPECT_EQ(later.error_reason, ErrorReason::kClaimNotBound);
  EXPECT_EQ(later.message, first.message);
  // Without a creation time there is nothing to measure from: never CLAIM_NOT_BOUND.
  kube::PersistentVolumeClaim undated = claim;
  undated.metadata.creation_timestamp.reset();
  const Sandbox sb = DeriveSandbox(sts, nullptr, &undated, kNow + absl::Hours(5), Defaults());
  EXPECT_EQ(sb.phase, Phase::kStarting);
  EXPECT_EQ(sb.message, "waiting for pod alice-0 to be created");
}

TEST(DeriveSandboxTest, FillsViewFields) {
  kube::StatefulSet sts = Sts();
  sts.status.ready_replicas = 1;
  kube::PersistentVolumeClaim claim = Claim("Bound", absl::Minutes(10));
  Sandbox sb = DeriveSandbox(sts, nullptr, &claim, kNow, Defaults());
  EXPECT_EQ(sb.spec.name, "alice");
  EXPECT_EQ(sb.spec.image, "ghcr.io/acme/sandbox:1.2");
  EXPECT_EQ(sb.desired_replicas, 1);
  EXPECT_EQ(sb.ready_replicas, 1);
  EXPECT_EQ(sb.uid, "sts-uid");
  EXPECT_EQ(sb.version, "3");  // the generation, not the resourceVersion
  EXPECT_EQ(sb.resource_version, "4242");  // for min_resource_version
  EXPECT_EQ(sb.created, kNow - absl::Minutes(10));
  EXPECT_EQ(sb.endpoints.pod_dns, "alice-0.alice-service.ns-alice.svc.cluster.local");
  // No TLS secret configured: the Ingresses serve plain HTTP, and the URLs say so.
  EXPECT_EQ(sb.endpoints.app_url, "http://alice-app.sandbox.example.com");
  EXPECT_EQ(sb.endpoints.terminal_url, "http://alice-ttyd.sandbox.example.com");
  SandboxDefaults with_tls = Defaults();
  with_tls.tls_secret = "wildcard-tls";
  EXPECT_EQ(DeriveSandbox(sts, nullptr, &claim, kNow, with_tls).endpoints.app_url,
            "https://alice-app.sandbox.example.com");
  EXPECT_EQ(sb.storage.claim_name, "vn-homevn-agent-alice-0");
  EXPECT_EQ(sb.storage.phase, "Bound");
  EXPECT_EQ(sb.storage.capacity, "5Gi");
  EXPECT_EQ(sb.storage.uid, "pvc-uid");

  kube::StatefulSet plain = Sts();
  plain.metadata.annotations.erase("sandboxd.dev/ingress-domain");
  plain.metadata.creation_timestamp.reset();
  Sandbox sb2 = DeriveSandbox(plain, nullptr, nullptr, kNow, Defaults());
  EXPECT_EQ(sb2.endpoints.app_url, "");
  EXPECT_EQ(sb2.endpoints.terminal_url, "");
  EXPECT_EQ(sb2.storage.claim_name, "vn-homevn-agent-alice-0");
  EXPECT_EQ(sb2.storage.phase, "");
  // A StatefulSet created before the Sealos naming keeps its "home" claim.
  SandboxSpec legacy_spec = SpecFromStatefulSet(Sts());
  kube::StatefulSet legacy = BuildStatefulSet(legacy_spec, Defaults(), "home");
  EXPECT_EQ(DeriveSandbox(legacy, nullptr, nullptr, kNow, Defaults()).storage.claim_name,
            "home-alice-0");
  EXPECT_EQ(sb2.created, absl::InfinitePast());
}

// A migrated sandbox kept its Ingresses' hosts and, with a ClusterIP Service, has no
// pod DNS name.
TEST(DeriveSandboxTest, AMigratedSandboxShowsItsOwnEndpoints) {
  kube::StatefulSet sts = Sts();
  sts.metadata.annotations[kAnnotationAppUrl] = "https://qzvx.apps.example.dev";
  sts.metadata.annotations[kAnnotationTerminalUrl] = "http://mkpl.apps.example.dev";
  sts.metadata.annotations[kAnnotationNoPodDns] = "true";
  Sandbox sb = DeriveSandbox(sts, nullptr, nullptr, kNow, Defaults());
  EXPECT_EQ(sb.endpoints.app_url, "https://qzvx.apps.example.dev");
  EXPECT_EQ(sb.endpoints.terminal_url, "http://mkpl.apps.example.dev");
  EXPECT_EQ(sb.endpoints.pod_dns, "");
}

}  // namespace
}  // namespace sandboxd::domain
