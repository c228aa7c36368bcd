#include "src/service/request_plan.h"

#include <map>
#include <optional>
#include <utility>

#include "src/domain/builders.h"
#include "src/domain/env.h"
#include "src/domain/naming.h"
#include "src/kube/objects_json.h"
#include "src/kube/patches.h"

namespace sandboxd::service::plan {

using kube::Kind;
using kube::ObjectRef;

void Send(kube::KubeClient* kube, Request request, const kube::CallOptions& opts,
          kube::ResponseCallback done) {
  switch (request.verb) {
    case Request::Verb::kGet: return kube->Get(request.ref, "", opts, std::move(done));
    case Request::Verb::kCreate:
      return kube->Create(request.ref.kind, request.ref.ns, std::move(request.body), opts,
                          std::move(done));
    case Request::Verb::kPatch:
      return kube->Patch(request.ref, "", request.patch_type, std::move(request.body), opts,
                         std::move(done));
    case Request::Verb::kDelete:
      return kube->Delete(request.ref, request.del, opts, std::move(done));
  }
}

Request ClaimCheck(const std::string& ns, const std::string& claim) {
  Request r;
  r.verb = Request::Verb::kGet;
  r.ref = ObjectRef{Kind::kPersistentVolumeClaim, ns, claim};
  return r;
}

Request CreateStatefulSet(const domain::SandboxSpec& spec, const domain::SandboxDefaults& defaults,
                          const std::string& claim_template) {
  Request r;
  r.verb = Request::Verb::kCreate;
  r.ref = ObjectRef{Kind::kStatefulSet, spec.ns, spec.name};
  r.body = kube::ToJson(domain::BuildStatefulSet(spec, defaults, claim_template));
  return r;
}

std::optional<Request> CreateNetworkPolicy(const std::string& ns,
                                           const domain::SandboxDefaults& defaults) {
  std::optional<kube::NetworkPolicy> policy = domain::BuildNetworkPolicy(ns, defaults);
  if (!policy.has_value()) return std::nullopt;
  Request r;
  r.verb = Request::Verb::kCreate;
  r.ref = ObjectRef{Kind::kNetworkPolicy, ns, policy->metadata.name};
  r.body = kube::ToJson(*policy);
  return r;
}

std::vector<Child> CreateChildren(const domain::SandboxSpec& spec,
                                  const domain::SandboxDefaults& defaults,
                                  const kube::StatefulSet& owner) {
  const kube::OwnerReference ref = domain::StatefulSetOwnerReference(spec.name, owner.metadata.uid);
  auto post = [&spec](Kind kind, const std::string& name, std::string body) {
    Request r;
    r.verb = Request::Verb::kCreate;
    r.ref = ObjectRef{kind, spec.ns, name};
    r.body = std::move(body);
    return r;
  };
  std::vector<Child> children;
  kube::Service service = domain::BuildService(spec, defaults, owner);
  domain::SetOwnerReference(ref, &service.metadata);
  children.push_back({post(Kind::kService, service.metadata.name, kube::ToJson(service)), {}});
  for (kube::Ingress& ingress : domain::BuildIngresses(spec, defaults)) {
    domain::SetOwnerReference(ref, &ingress.metadata);
    std::vector<std::string> hosts;
    for (const kube::IngressRule& rule : ingress.spec.rules) hosts.push_back(rule.host);
    children.push_back(
        {post(Kind::kIngress, ingress.metadata.name, kube::ToJson(ingress)), std::move(hosts)});
  }
  return children;
}

Request Scale(const std::string& ns, const std::string& name, int32_t replicas) {
  Request r;
  r.verb = Request::Verb::kPatch;
  r.ref = ObjectRef{Kind::kStatefulSet, ns, name};
  r.patch_type = kube::PatchType::kMerge;
  r.body = kube::ScalePatch(replicas);
  return r;
}

Request UpdateEnv(const kube::StatefulSet& current, const domain::EnvUpdate& update) {
  domain::SandboxSpec spec = domain::SpecFromStatefulSet(current);
  std::vector<std::string> removed;
  for (const std::string& key : update.remove) {
    if (spec.env.count(key) > 0) removed.push_back(key);
  }
  std::map<std::string, std::string> set;
  for (const auto& [key, value] : update.set) {
    auto it = spec.env.find(key);
    if (it == spec.env.end() || it->second != value) set[key] = value;
  }
  spec.env = domain::ApplyEnvUpdate(spec.env, update).env;
  const kube::Container* container = domain::FindMainContainer(current);
  const std::vector<std::string> order = domain::EnvOrderAfterUpdate(
      container != nullptr ? container->env : std::vector<kube::EnvVar>{}, update);
  Request r;
  r.verb = Request::Verb::kPatch;
  r.ref = ObjectRef{Kind::kStatefulSet, current.metadata.ns, current.metadata.name};
  r.patch_type = kube::PatchType::kStrategicMerge;
  r.body =
      kube::EnvPatch(current.metadata.name, current.metadata.resource_version,
                     {{domain::kAnnotationSpecHash, domain::SpecHash(spec)}}, set, removed, order);
  return r;
}

Request DeleteStatefulSet(const std::string& ns, const std::string& name, const std::string& uid) {
  Request r;
  r.verb = Request::Verb::kDelete;
  r.ref = ObjectRef{Kind::kStatefulSet, ns, name};
  r.del.propagation = kube::Propagation::kForeground;  // pod, Service, Ingresses first
  r.del.precondition_uid = uid;                        // never a recreated namesake
  return r;
}

Request KeepStorage(const std::string& ns, const std::string& name) {
  const auto policy = domain::RetentionPolicy(/*keep_storage_on_delete=*/true);
  Request r;
  r.verb = Request::Verb::kPatch;
  r.ref = ObjectRef{Kind::kStatefulSet, ns, name};
  r.patch_type = kube::PatchType::kMerge;
  r.body = kube::RetentionPolicyPatch(policy.when_deleted, policy.when_scaled);
  return r;
}

Request KeepClaim(const std::string& ns, const std::string& claim) {
  Request r;
  r.verb = Request::Verb::kPatch;
  r.ref = ObjectRef{Kind::kPersistentVolumeClaim, ns, claim};
  r.patch_type = kube::PatchType::kMerge;
  r.body = kube::KeepClaimPatch(domain::kAnnotationKeptClaim);
  return r;
}

}  // namespace sandboxd::service::plan
