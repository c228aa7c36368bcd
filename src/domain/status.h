// Status derivation: the observed view of a sandbox (domain::Sandbox) computed from its
// StatefulSet, pod and claim (docs/ARCHITECTURE.md "Status model"). The
// phase is derived, never stored.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_DOMAIN_STATUS_H_
#define SANDBOXD_DOMAIN_STATUS_H_

#include "absl/time/time.h"
#include "src/domain/sandbox.h"
#include "src/kube/objects.h"

namespace sandboxd::domain {

// Derives the Sandbox of `sts`. `pod` is the sandbox's pod <name>-0 and `claim` its PVC
// home-<name>-0, each nullptr when it does not exist (or is not known yet). `now` is the
// caller's clock; `defaults` supplies claim_bind_timeout.
//
// Phase, first rule that applies:
//   DELETING  sts has a deletionTimestamp;
//   STOPPING  spec.replicas == 0 and a pod exists (or status.replicas > 0);
//   STOPPED   spec.replicas == 0 otherwise;
//   ERROR     (wants a replica) with error_reason:
//     CLAIM_NOT_BOUND   claim Pending for longer than claim_bind_timeout since its creation;
//     IMAGE_PULL_FAILURE a container waits with ErrImagePull, ImagePullBackOff,
//                        InvalidImageName or ErrImageNeverPull;
//     CRASH_LOOP        a container waits with CrashLoopBackOff;
//     CONTAINER_CONFIG  a container waits with CreateContainerConfigError or
//                       CreateContainerError;
//     UNSCHEDULABLE     PodScheduled is False with reason Unschedulable, unless the claim
//                       is still Pending within its timeout (binding in progress: STARTING);
//   RUNNING   status.readyReplicas >= 1 and status.observedGeneration >= generation;
//   STARTING  otherwise.
// Init containers are inspected before the main containers. `message` carries the pod's
// reason and message for ERROR and says what is awaited for STARTING / STOPPING;
// CLAIM_NOT_BOUND says since when ("claim <c> Pending since <creation, RFC 3339 UTC>
// (limit 2m)"). No message depends on `now`: a re-derivation later changes the view only
// when the phase changes.
// Also filled: spec (SpecFromStatefulSet), desired/ready replicas, endpoints (https URLs
// when the spec has an ingress domain), storage (claim name always; phase, capacity and
// uid from `claim`), created, version (resourceVersion) and uid.
Sandbox DeriveSandbox(const kube::StatefulSet& sts, const kube::Pod* pod,
                      const kube::PersistentVolumeClaim* claim, absl::Time now,
                      const SandboxDefaults& defaults);

// "STARTING", "RUNNING", ... and "IMAGE_PULL_FAILURE", ... (for logs and messages).
const char* PhaseName(Phase phase);
const char* ErrorReasonName(ErrorReason reason);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_STATUS_H_
