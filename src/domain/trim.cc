#include "src/domain/trim.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "src/domain/builders.h"
#include "src/domain/naming.h"

namespace sandboxd::domain {
namespace {

kube::StringMap Only(const kube::StringMap& m, std::initializer_list<const char*> keys) {
  kube::StringMap out;
  for (const char* key : keys) {
    auto it = m.find(key);
    if (it != m.end()) out.emplace(it->first, it->second);
  }
  return out;
}

kube::ContainerStatus TrimContainerStatus(const kube::ContainerStatus& cs) {
  kube::ContainerStatus out;
  out.name = cs.name;
  out.restart_count = cs.restart_count;
  out.state.waiting = cs.state.waiting;
  if (cs.last_state.terminated.has_value()) {
    kube::ContainerStateTerminated t;
    t.exit_code = cs.last_state.terminated->exit_code;
    t.reason = cs.last_state.terminated->reason;
    out.last_state.terminated = std::move(t);
  }
  return out;
}

}  // namespace

kube::StatefulSet TrimStatefulSet(kube::StatefulSet sts) {
  kube::StatefulSet out;
  kube::ObjectMeta& m = out.metadata;
  m.name = std::move(sts.metadata.name);
  m.ns = std::move(sts.metadata.ns);
  m.uid = std::move(sts.metadata.uid);
  m.resource_version = std::move(sts.metadata.resource_version);
  m.generation = sts.metadata.generation;
  m.creation_timestamp = sts.metadata.creation_timestamp;
  m.deletion_timestamp = sts.metadata.deletion_timestamp;
  m.labels = std::move(sts.metadata.labels);
  m.annotations = Only(sts.metadata.annotations, {kAnnotationIngressDomain, kAnnotationAppUrl,
                                                  kAnnotationTerminalUrl, kAnnotationNoPodDns});
  out.spec.replicas = sts.spec.replicas;

  // The container SpecFromStatefulSet reads: the one named like the sandbox, else the first.
  std::vector<kube::Container>& containers = sts.spec.template_.spec.containers;
  auto main = std::find_if(containers.begin(), containers.end(),
                           [&](const kube::Container& c) { return c.name == m.name; });
  if (main == containers.end() && !containers.empty()) main = containers.begin();
  if (main != containers.end()) {
    kube::Container c;
    c.name = std::move(main->name);
    c.image = std::move(main->image);
    // Entries with valueFrom stay as names (no value): UpdateEnv keeps their places.
    c.env = std::move(main->env);
    c.resources.requests = Only(main->resources.requests, {"cpu", "memory"});
    c.resources.limits = Only(main->resources.limits, {"cpu", "memory"});
    for (const kube::ContainerPort& p : main->ports) {
      if (p.name == kAppPortName || p.name == kTerminalPortName) {
        c.ports.push_back(kube::ContainerPort{p.name, p.container_port, ""});
      }
    }
    const std::string claim_template = ClaimTemplateName(sts);
    for (const kube::VolumeMount& v : main->volume_mounts) {
      if (v.name == claim_template) {
        kube::VolumeMount mount;
        mount.name = v.name;
        mount.mount_path = v.mount_path;
        c.volume_mounts.push_back(std::move(mount));
      }
    }
    out.spec.template_.spec.containers.push_back(std::move(c));
  }
  // The first template only: it names the claim (ClaimTemplateName).
  for (const kube::PersistentVolumeClaim& t : sts.spec.volume_claim_templates) {
    if (!out.spec.volume_claim_templates.empty()) break;
    kube::PersistentVolumeClaim claim;
    claim.metadata.name = t.metadata.name;
    claim.spec.resources.requests = Only(t.spec.resources.requests, {"storage"});
    claim.spec.storage_class_name = t.spec.storage_class_name;
    out.spec.volume_claim_templates.push_back(std::move(claim));
  }
  out.status.observed_generation = sts.status.observed_generation;
  out.status.replicas = sts.status.replicas;
  out.status.ready_replicas = sts.status.ready_replicas;
  return out;
}

kube::Pod TrimPod(kube::Pod pod) {
  kube::Pod out;
  out.metadata.name = std::move(pod.metadata.name);
  out.metadata.ns = std::move(pod.metadata.ns);
  out.metadata.creation_timestamp = pod.metadata.creation_timestamp;
  out.status.phase = std::move(pod.status.phase);
  if (const kube::PodCondition* c = pod.FindCondition("PodScheduled")) {
    out.status.conditions.push_back(*c);
  }
  for (const kube::ContainerStatus& cs : pod.status.init_container_statuses) {
    out.status.init_container_statuses.push_back(TrimContainerStatus(cs));
  }
  for (const kube::ContainerStatus& cs : pod.status.container_statuses) {
    out.status.container_statuses.push_back(TrimContainerStatus(cs));
  }
  return out;
}

kube::PersistentVolumeClaim TrimClaim(kube::PersistentVolumeClaim claim) {
  kube::PersistentVolumeClaim out;
  out.metadata.name = std::move(claim.metadata.name);
  out.metadata.ns = std::move(claim.metadata.ns);
  out.metadata.uid = std::move(claim.metadata.uid);
  out.metadata.creation_timestamp = claim.metadata.creation_timestamp;
  out.status.phase = std::move(claim.status.phase);
  out.status.capacity = Only(claim.status.capacity, {"storage"});
  return out;
}

}  // namespace sandboxd::domain
