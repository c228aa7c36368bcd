#include "src/domain/status.h"

#include <optional>
#include <string>
#include <vector>

#include "src/domain/builders.h"
#include "src/domain/naming.h"
#include "src/kube/objects_json.h"

namespace sandboxd::domain {
namespace {

struct PodProblem {
  ErrorReason reason = ErrorReason::kNone;
  std::string message;
};

ErrorReason ReasonOfWaiting(const std::string& waiting) {
  if (waiting == "ErrImagePull" || waiting == "ImagePullBackOff" ||
      waiting == "InvalidImageName" || waiting == "ErrImageNeverPull") {
    return ErrorReason::kImagePullFailure;
  }
  if (waiting == "CrashLoopBackOff") return ErrorReason::kCrashLoop;
  if (waiting == "CreateContainerConfigError" || waiting == "CreateContainerError") {
    return ErrorReason::kContainerConfig;
  }
  return ErrorReason::kNone;
}

std::string Describe(const std::string& what, const std::string& reason,
                     const std::string& message) {
  std::string out = what + ": " + reason;
  if (!message.empty()) out += ": " + message;
  return out;
}

// The first container (init containers first) waiting for a reason we report.
PodProblem ContainerProblem(const kube::Pod& pod) {
  for (const auto* statuses :
       {&pod.status.init_container_statuses, &pod.status.container_statuses}) {
    for (const kube::ContainerStatus& cs : *statuses) {
      if (!cs.state.waiting.has_value()) continue;
      ErrorReason reason = ReasonOfWaiting(cs.state.waiting->reason);
      if (reason == ErrorReason::kNone) continue;
      std::string message = Describe("container " + cs.name, cs.state.waiting->reason,
                                     cs.state.waiting->message);
      if (reason == ErrorReason::kCrashLoop) {
        message += " (restarts: " + std::to_string(cs.restart_count) + ")";
        if (cs.last_state.terminated.has_value()) {
          const kube::ContainerStateTerminated& t = *cs.last_state.terminated;
          message += "; last exit code " + std::to_string(t.exit_code);
          if (!t.reason.empty()) message += " (" + t.reason + ")";
        }
      }
      return PodProblem{reason, std::move(message)};
    }
  }
  return {};
}

// True if the scheduler has reported the pod Unschedulable for longer than `grace`
// (since the condition's transition, else since the pod's creation; at once if neither
// is known). The grace absorbs the scheduler's own retry after a claim binds.
bool IsUnschedulable(const kube::Pod& pod, absl::Time now, absl::Duration grace,
                     std::string* message) {
  const kube::PodCondition* scheduled = pod.FindCondition("PodScheduled");
  if (scheduled == nullptr || scheduled->status != "False" ||
      scheduled->reason != "Unschedulable") {
    return false;
  }
  std::optional<absl::Time> since = scheduled->last_transition_time.has_value()
                                        ? scheduled->last_transition_time
                                        : pod.metadata.creation_timestamp;
  if (since.has_value() && now - *since <= grace) return false;
  *message = Describe("pod " + pod.metadata.name, "Unschedulable", scheduled->message);
  return true;
}

std::string Seconds(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1)));
}

}  // namespace

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kUnspecified: return "PHASE_UNSPECIFIED";
    case Phase::kStarting: return "STARTING";
    case Phase::kRunning: return "RUNNING";
    case Phase::kStopping: return "STOPPING";
    case Phase::kStopped: return "STOPPED";
    case Phase::kDeleting: return "DELETING";
    case Phase::kError: return "ERROR";
  }
  return "PHASE_UNSPECIFIED";
}

const char* ErrorReasonName(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kNone: return "NONE";
    case ErrorReason::kImagePullFailure: return "IMAGE_PULL_FAILURE";
    case ErrorReason::kCrashLoop: return "CRASH_LOOP";
    case ErrorReason::kUnschedulable: return "UNSCHEDULABLE";
    case ErrorReason::kClaimNotBound: return "CLAIM_NOT_BOUND";
    case ErrorReason::kContainerConfig: return "CONTAINER_CONFIG";
  }
  return "NONE";
}

Sandbox DeriveSandbox(const kube::StatefulSet& sts, const kube::Pod* pod,
                      const kube::PersistentVolumeClaim* claim, absl::Time now,
                      const SandboxDefaults& defaults) {
  Sandbox sb;
  sb.spec = SpecFromStatefulSet(sts);
  const std::string& name = sts.metadata.name;
  sb.uid = sts.metadata.uid;
  sb.resource_version = sts.metadata.resource_version;
  // The spec's generation: controllers' status writes do not change it, so a caller's
  // etag stays valid until the sandbox itself is changed.
  sb.version = std::to_string(sts.metadata.generation);
  sb.created = sts.metadata.creation_timestamp.value_or(absl::InfinitePast());
  sb.desired_replicas = sts.spec.replicas.value_or(1);
  sb.ready_replicas = sts.status.ready_replicas;

  auto no_pod_dns = sts.metadata.annotations.find(kAnnotationNoPodDns);
  if (no_pod_dns == sts.metadata.annotations.end() || no_pod_dns->second != "true") {
    sb.endpoints.pod_dns = PodDnsName(name, sts.metadata.ns);
  }
  if (!sb.spec.ingress_domain.empty()) {
    const std::string scheme = defaults.tls_secret.empty() ? "http://" : "https://";
    sb.endpoints.app_url = scheme + AppHost(name, sb.spec.ingress_domain);
    sb.endpoints.terminal_url = scheme + TerminalHost(name, sb.spec.ingress_domain);
  }
  // A migrated sandbox kept its Ingresses and their hosts.
  auto url = sts.metadata.annotations.find(kAnnotationAppUrl);
  if (url != sts.metadata.annotations.end()) sb.endpoints.app_url = url->second;
  url = sts.metadata.annotations.find(kAnnotationTerminalUrl);
  if (url != sts.metadata.annotations.end()) sb.endpoints.terminal_url = url->second;

  sb.storage.claim_name = ClaimNameOf(sts);
  bool claim_pending = false;
  std::optional<absl::Time> claim_created;
  if (claim != nullptr) {
    sb.storage.phase = claim->status.phase;
    auto it = claim->status.capacity.find("storage");
    if (it != claim->status.capacity.end()) sb.storage.capacity = it->second;
    sb.storage.uid = claim->metadata.uid;
    claim_pending = claim->status.phase == "Pending" || claim->status.phase.empty();
    claim_created = claim->metadata.creation_timestamp;
  }

  const std::string pod_name = PodName(name);
  if (sts.metadata.deletion_timestamp.has_value()) {
    sb.phase = Phase::kDeleting;
    sb.message = "deleting";
    return sb;
  }
  if (sb.desired_replicas == 0) {
    if (pod != nullptr || sts.status.replicas > 0) {
      sb.phase = Phase::kStopping;
      sb.message = "waiting for pod " + pod_name + " to terminate";
    } else {
      sb.phase = Phase::kStopped;
    }
    return sb;
  }

  // Wants a replica: errors first, then readiness.
  // The message names the claim's creation time, not its age: the derived view depends
  // on `now` only through the phase.
  if (claim_pending && claim_created.has_value() &&
      now - *claim_created > defaults.claim_bind_timeout) {
    sb.phase = Phase::kError;
    sb.error_reason = ErrorReason::kClaimNotBound;
    sb.message = "claim " + sb.storage.claim_name + " Pending since " +
                 kube::FormatTimestamp(*claim_created) + " (limit " +
                 Seconds(defaults.claim_bind_timeout) + ")";
    return sb;
  }
  if (pod != nullptr) {
    PodProblem problem = ContainerProblem(*pod);
    if (problem.reason != ErrorReason::kNone) {
      sb.phase = Phase::kError;
      sb.error_reason = problem.reason;
      sb.message = std::move(problem.message);
      return sb;
    }
    std::string unschedulable;
    if (IsUnschedulable(*pod, now, defaults.unschedulable_grace, &unschedulable)) {
      if (claim_pending) {
        sb.phase = Phase::kStarting;
        sb.message = "waiting for claim " + sb.storage.claim_name + " to be bound";
        return sb;
      }
      sb.phase = Phase::kError;
      sb.error_reason = ErrorReason::kUnschedulable;
      sb.message = std::move(unschedulable);
      return sb;
    }
  }

  const bool observed = sts.status.observed_generation.has_value() &&
                        *sts.status.observed_generation >= sts.metadata.generation;
  if (sts.status.ready_replicas >= 1 && observed) {
    sb.phase = Phase::kRunning;
    return sb;
  }
  sb.phase = Phase::kStarting;
  if (!observed) {
    sb.message = "waiting for the StatefulSet controller to observe generation " +
                 std::to_string(sts.metadata.generation);
  } else if (pod == nullptr) {
    sb.message = "waiting for pod " + pod_name + " to be created";
  } else if (claim_pending) {
    sb.message = "waiting for claim " + sb.storage.claim_name + " to be bound";
  } else {
    sb.message = "waiting for pod " + pod_name + " to be ready";
    if (!pod->status.phase.empty()) sb.message += " (phase " + pod->status.phase + ")";
  }
  return sb;
}

}  // namespace sandboxd::domain
