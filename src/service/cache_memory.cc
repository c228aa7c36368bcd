#include "src/service/cache_memory.h"

#include <utility>
#include <vector>

namespace sandboxd::service {
namespace {

// ---- size estimate (libstdc++: 15-character small-string buffer, 32-byte tree nodes) --

size_t Heap(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

size_t Heap(const kube::StringMap& m) {
  size_t n = 0;
  for (const auto& [k, v] : m) {
    n += 32 + sizeof(std::pair<const std::string, std::string>) + Heap(k) + Heap(v);
  }
  return n;
}

size_t Heap(const std::vector<std::string>& v) {
  size_t n = v.capacity() * sizeof(std::string);
  for (const std::string& s : v) n += Heap(s);
  return n;
}

template <typename T, typename F>
size_t HeapVec(const std::vector<T>& v, F f) {
  size_t n = v.capacity() * sizeof(T);
  for (const T& e : v) n += f(e);
  return n;
}

size_t Heap(const kube::ObjectMeta& m) {
  return Heap(m.name) + Heap(m.generate_name) + Heap(m.ns) + Heap(m.uid) +
         Heap(m.resource_version) + Heap(m.labels) + Heap(m.annotations) +
         HeapVec(m.owner_references,
                 [](const kube::OwnerReference& r) {
                   return Heap(r.api_version) + Heap(r.kind) + Heap(r.name) + Heap(r.uid);
                 }) +
         Heap(m.finalizers);
}

size_t Heap(const kube::Container& c) {
  return Heap(c.name) + Heap(c.image) + Heap(c.image_pull_policy) + Heap(c.command) + Heap(c.args) +
         Heap(c.working_dir) +
         HeapVec(c.env, [](const kube::EnvVar& e) { return Heap(e.name) + Heap(e.value); }) +
         HeapVec(c.ports,
                 [](const kube::ContainerPort& p) { return Heap(p.name) + Heap(p.protocol); }) +
         Heap(c.resources.requests) + Heap(c.resources.limits) +
         HeapVec(c.volume_mounts, [](const kube::VolumeMount& m) {
           return Heap(m.name) + Heap(m.mount_path) + Heap(m.sub_path);
         });
}

size_t Heap(const kube::PodSpec& s) {
  auto container = [](const kube::Container& c) { return Heap(c); };
  return HeapVec(s.init_containers, container) + HeapVec(s.containers, container) +
         Heap(s.service_account_name) + Heap(s.node_name);
}

size_t Heap(const kube::PersistentVolumeClaim& c) {
  return Heap(c.api_version) + Heap(c.kind) + Heap(c.metadata) + Heap(c.spec.access_modes) +
         Heap(c.spec.resources.requests) + Heap(c.spec.resources.limits) +
         Heap(c.spec.volume_name) + Heap(c.spec.volume_mode) + Heap(c.status.phase) +
         Heap(c.status.access_modes) + Heap(c.status.capacity);
}

size_t Heap(const kube::ContainerStatus& cs) {
  size_t n = Heap(cs.name) + Heap(cs.image) + Heap(cs.image_id) + Heap(cs.container_id);
  for (const kube::ContainerState* s : {&cs.state, &cs.last_state}) {
    if (s->waiting) n += Heap(s->waiting->reason) + Heap(s->waiting->message);
    if (s->terminated) n += Heap(s->terminated->reason) + Heap(s->terminated->message);
  }
  return n;
}

}  // namespace

size_t ApproxBytes(const kube::StatefulSet& sts) {
  const kube::StatefulSetSpec& s = sts.spec;
  return sizeof(sts) + Heap(sts.api_version) + Heap(sts.kind) + Heap(sts.metadata) +
         Heap(s.service_name) + Heap(s.selector.match_labels) + Heap(s.template_.metadata) +
         Heap(s.template_.spec) + Heap(s.pod_management_policy) +
         HeapVec(s.volume_claim_templates,
                 [](const kube::PersistentVolumeClaim& c) { return Heap(c); }) +
         Heap(sts.status.current_revision) + Heap(sts.status.update_revision);
}

size_t ApproxBytes(const kube::Pod& pod) {
  const kube::PodStatus& s = pod.status;
  auto status = [](const kube::ContainerStatus& cs) { return Heap(cs); };
  return sizeof(pod) + Heap(pod.api_version) + Heap(pod.kind) + Heap(pod.metadata) +
         Heap(pod.spec) + Heap(s.phase) + Heap(s.reason) + Heap(s.message) + Heap(s.pod_ip) +
         Heap(s.host_ip) +
         HeapVec(s.conditions,
                 [](const kube::PodCondition& c) {
                   return Heap(c.type) + Heap(c.status) + Heap(c.reason) + Heap(c.message);
                 }) +
         HeapVec(s.init_container_statuses, status) + HeapVec(s.container_statuses, status);
}

size_t ApproxBytes(const kube::PersistentVolumeClaim& claim) { return sizeof(claim) + Heap(claim); }

size_t ApproxBytes(const domain::Sandbox& sb) {
  const domain::SandboxSpec& s = sb.spec;
  return sizeof(sb) + Heap(s.name) + Heap(s.ns) + Heap(s.project) + Heap(s.image) + Heap(s.env) +
         Heap(s.resources.requests.cpu) + Heap(s.resources.requests.memory) +
         Heap(s.resources.limits.cpu) + Heap(s.resources.limits.memory) + Heap(s.storage.size) +
         Heap(s.storage.storage_class) + Heap(s.storage.mount_path) + Heap(s.ingress_domain) +
         Heap(s.labels) + Heap(sb.message) + Heap(sb.endpoints.pod_dns) +
         Heap(sb.endpoints.app_url) + Heap(sb.endpoints.terminal_url) +
         Heap(sb.storage.claim_name) + Heap(sb.storage.phase) + Heap(sb.storage.capacity) +
         Heap(sb.storage.uid) + Heap(sb.version) + Heap(sb.uid) + Heap(sb.resource_version);
}

size_t HeapBytes(const std::string& s) { return Heap(s); }
size_t HeapBytes(const kube::StringMap& m) { return Heap(m); }

}  // namespace sandboxd::service
