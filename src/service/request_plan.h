// The Kubernetes requests each mutating SandboxService RPC sends on its success path, as
// values: verb, object, patch type and body, built from the domain builders and
// src/kube/patches. SandboxService sends exactly these (through Send); the benchmark's
// floor client (tools/bench) sends the same values directly, so the two cannot drift.
//
// Per RPC (docs/benchmarks.md, "Requests per call"):
//   CreateSandbox       CreateStatefulSet, then CreateChildren in parallel (ClaimCheck
//                       first while the watch cache of the namespace has not synced;
//                       CreateNetworkPolicy first on the namespace's first create)
//   Start/StopSandbox   Scale (nothing when the watch cache says the count is already there)
//   UpdateSandboxEnv    UpdateEnv (nothing when the update changes nothing)
//   DeleteSandbox       DeleteStatefulSet, then ClaimCheck (a claim no StatefulSet owns yet
//                       is deleted: the retention policy would leave it); with
//                       keep_storage first KeepStorage and, once the StatefulSet
//                       controller has observed it, KeepClaim, and no ClaimCheck
// Paths off the success path (a create that finds its name taken, leftovers of a
// StatefulSet that is already gone, a 409 that re-reads) stay in SandboxService.
//
// Pure functions, except Send. Thread-safe.
#ifndef SANDBOXD_SERVICE_REQUEST_PLAN_H_
#define SANDBOXD_SERVICE_REQUEST_PLAN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/domain/sandbox.h"
#include "src/kube/kube_client.h"
#include "src/kube/objects.h"

namespace sandboxd::service::plan {

// One Kubernetes request.
struct Request {
  enum class Verb { kGet, kCreate, kPatch, kDelete };
  Verb verb = Verb::kGet;
  kube::ObjectRef ref;  // kCreate: the new object's kind, namespace and name
  kube::PatchType patch_type = kube::PatchType::kMerge;  // kPatch only
  std::string body;         // kCreate: the object; kPatch: the patch document
  kube::DeleteOptions del;  // kDelete only
};

// Sends `request` through `kube` (Get, Create, Patch or Delete); `done` as KubeClient's.
void Send(kube::KubeClient* kube, Request request, const kube::CallOptions& opts,
          kube::ResponseCallback done);

// GET of a sandbox's claim. CreateSandbox without a synced cache: the claim the new
// sandbox will mount (one sandboxd did not make is refused; 404 is the normal answer).
// DeleteSandbox: after the StatefulSet's DELETE (one without an owner reference is
// deleted).
Request ClaimCheck(const std::string& ns, const std::string& claim);

// CreateSandbox: POST of the StatefulSet of `spec` (defaults applied) with the claim
// template `claim_template`.
Request CreateStatefulSet(const domain::SandboxSpec& spec, const domain::SandboxDefaults& defaults,
                          const std::string& claim_template);

// CreateSandbox, once per namespace: POST of the namespace's NetworkPolicy
// (domain::BuildNetworkPolicy); nullopt when defaults.ingress_controller_namespace is
// empty. 409 means it exists: done.
std::optional<Request> CreateNetworkPolicy(const std::string& ns,
                                           const domain::SandboxDefaults& defaults);

// A child of a new sandbox: its POST and, for an Ingress, its hosts.
struct Child {
  Request request;
  std::vector<std::string> hosts;
};

// CreateSandbox: POSTs of the Service and the Ingresses (when spec.ingress_domain is
// set), each with a controller reference to `owner`: the StatefulSet as created (its
// metadata.uid and pod template are read).
std::vector<Child> CreateChildren(const domain::SandboxSpec& spec,
                                  const domain::SandboxDefaults& defaults,
                                  const kube::StatefulSet& owner);

// Start/StopSandbox: merge PATCH of the StatefulSet's spec.replicas (an absolute count,
// without a resourceVersion precondition).
Request Scale(const std::string& ns, const std::string& name, int32_t replicas);

// UpdateSandboxEnv: strategic-merge PATCH applying `update` to `current` (the
// StatefulSet as cached or read): the variables that change, the removed ones that
// exist, the resulting order and the new spec hash, with current's resourceVersion as
// precondition (409 if it changed since). Call it only for an update that changes
// something (domain::ApplyEnvUpdate(...).changed).
Request UpdateEnv(const kube::StatefulSet& current, const domain::EnvUpdate& update);

// DeleteSandbox: foreground DELETE of the StatefulSet with its UID as precondition.
Request DeleteStatefulSet(const std::string& ns, const std::string& name, const std::string& uid);

// DeleteSandbox(keep_storage): merge PATCH of the StatefulSet's claim retention policy to
// Retain.
Request KeepStorage(const std::string& ns, const std::string& name);

// DeleteSandbox(keep_storage): merge PATCH of the claim: no owner references, marked kept.
Request KeepClaim(const std::string& ns, const std::string& claim);

}  // namespace sandboxd::service::plan

#endif  // SANDBOXD_SERVICE_REQUEST_PLAN_H_
