#include "src/domain/builders.h"

#include <cstdint>
#include <string>
#include <utility>

#include "src/domain/naming.h"
#include "src/domain/quantity.h"

namespace sandboxd::domain {
namespace {

constexpr char kTcp[] = "TCP";
// ingress-nginx: keep WebSockets (ttyd, dev-server hot reload) open for an hour instead
// of the 60 s default. Other controllers ignore these annotations.
constexpr char kNginxProxyReadTimeout[] = "nginx.ingress.kubernetes.io/proxy-read-timeout";
constexpr char kNginxProxySendTimeout[] = "nginx.ingress.kubernetes.io/proxy-send-timeout";
constexpr char kWebSocketTimeoutSeconds[] = "3600";
constexpr char kNginxSslRedirect[] = "nginx.ingress.kubernetes.io/ssl-redirect";
constexpr char kNginxAuthUrl[] = "nginx.ingress.kubernetes.io/auth-url";
constexpr char kNginxAuthSignin[] = "nginx.ingress.kubernetes.io/auth-signin";

// Labels every object of the sandbox carries.
kube::StringMap CommonLabels(const SandboxSpec& spec) {
  kube::StringMap labels = {
      {kLabelApp, spec.name},
      {kLabelDeployManager, spec.name},
      {kLabelManagedBy, kManagedByValue},
  };
  if (!spec.project.empty()) labels[kLabelProject] = spec.project;
  return labels;
}

kube::ObjectMeta Meta(std::string name, const SandboxSpec& spec) {
  kube::ObjectMeta meta;
  meta.name = std::move(name);
  meta.ns = spec.ns;
  meta.labels = CommonLabels(spec);
  return meta;
}

kube::StringMap ResourceMap(const ResourceQuantities& q) {
  kube::StringMap out;
  if (!q.cpu.empty()) out["cpu"] = q.cpu;
  if (!q.memory.empty()) out["memory"] = q.memory;
  return out;
}

kube::Container MainContainer(const SandboxSpec& spec, const std::string& claim_template) {
  kube::Container c;
  c.name = spec.name;
  c.image = spec.image;
  c.image_pull_policy = "IfNotPresent";
  for (const auto& [name, value] : spec.env) {  // std::map: sorted by name
    c.env.push_back(kube::EnvVar{name, value, false});
  }
  c.ports = {
      kube::ContainerPort{kAppPortName, spec.ports.app, kTcp},
      kube::ContainerPort{kTerminalPortName, spec.ports.terminal, kTcp},
  };
  c.resources.requests = ResourceMap(spec.resources.requests);
  c.resources.limits = ResourceMap(spec.resources.limits);
  c.volume_mounts = {kube::VolumeMount{claim_template, spec.storage.mount_path, {}, {}}};
  kube::SecurityContext sc;
  sc.allow_privilege_escalation = false;
  sc.capabilities_drop = {"ALL"};
  c.security_context = std::move(sc);
  return c;
}

kube::Ingress BuildIngress(const SandboxSpec& spec, const SandboxDefaults& defaults,
                           std::string name, std::string host_label, std::string host,
                           int32_t port, bool authenticated) {
  kube::Ingress ing;
  ing.metadata = Meta(std::move(name), spec);
  ing.metadata.labels[kLabelDeployManagerDomain] = std::move(host_label);
  ing.metadata.annotations = {
      {kNginxProxyReadTimeout, kWebSocketTimeoutSeconds},
      {kNginxProxySendTimeout, kWebSocketTimeoutSeconds},
  };
  if (!defaults.ingress_class.empty()) ing.spec.ingress_class_name = defaults.ingress_class;
  if (!defaults.tls_secret.empty()) {
    ing.spec.tls = {kube::IngressTLS{{host}, defaults.tls_secret}};
    ing.metadata.annotations[kNginxSslRedirect] = "true";
  }
  if (authenticated && !defaults.ingress_auth_url.empty()) {
    ing.metadata.annotations[kNginxAuthUrl] = defaults.ingress_auth_url;
    if (!defaults.ingress_auth_signin.empty()) {
      ing.metadata.annotations[kNginxAuthSignin] = defaults.ingress_auth_signin;
    }
  }
  kube::HTTPIngressPath path;
  path.path = "/";
  path.path_type = "Prefix";
  path.backend_service.name = ServiceName(spec.name);
  path.backend_service.port_number = port;
  ing.spec.rules = {kube::IngressRule{std::move(host), {std::move(path)}}};
  return ing;
}

// ---- Spec hash ----------------------------------------------------------------------

class Fnv1a64 {
 public:
  void Bytes(std::string_view s) {
    for (unsigned char c : s) {
      hash_ ^= c;
      hash_ *= 0x100000001b3ULL;
    }
  }
  // Length-prefixed, so that ("ab","c") and ("a","bc") differ.
  void Field(std::string_view s) {
    Bytes(std::to_string(s.size()));
    Bytes(":");
    Bytes(s);
  }
  void Map(const std::map<std::string, std::string>& m) {
    Field(std::to_string(m.size()));
    for (const auto& [k, v] : m) {
      Field(k);
      Field(v);
    }
  }
  std::string Hex() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(16, '0');
    uint64_t h = hash_;
    for (int i = 15; i >= 0; --i) {
      out[i] = kDigits[h & 0xf];
      h >>= 4;
    }
    return out;
  }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

const kube::Container* FindContainer(const kube::PodSpec& pod, const std::string& name) {
  for (const kube::Container& c : pod.containers) {
    if (c.name == name) return &c;
  }
  return pod.containers.empty() ? nullptr : &pod.containers.front();
}

std::string Lookup(const kube::StringMap& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

}  // namespace

kube::StringMap PodSelector(std::string_view name) {
  return {{kLabelApp, std::string(name)}, {kLabelSandbox, std::string(name)}};
}

std::string ClaimTemplateNameFor(const SandboxSpec& spec, const SandboxDefaults& defaults) {
  if (!defaults.claim_template_name.empty()) return defaults.claim_template_name;
  return SealosVolumeName(spec.storage.mount_path);
}

std::string ClaimTemplateName(const kube::StatefulSet& sts) {
  if (sts.spec.volume_claim_templates.empty()) return kLegacyClaimTemplateName;
  return sts.spec.volume_claim_templates.front().metadata.name;
}

std::string ClaimNameOf(const kube::StatefulSet& sts) {
  return ClaimName(ClaimTemplateName(sts), sts.metadata.name);
}

std::string SizeInGi(const std::string& size) {
  absl::StatusOr<absl::int128> nano = ParseQuantityNano(size);
  if (!nano.ok() || *nano < 0) return "";
  const absl::int128 gi_nano = absl::int128(1073741824) * 1000000000;
  absl::int128 gi = (*nano + gi_nano - 1) / gi_nano;
  std::string digits;
  if (gi == 0) return "0";
  while (gi > 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(gi % 10)));
    gi /= 10;
  }
  return digits;
}

kube::StatefulSet BuildStatefulSet(const SandboxSpec& spec, const SandboxDefaults& defaults) {
  return BuildStatefulSet(spec, defaults, ClaimTemplateNameFor(spec, defaults));
}

kube::StatefulSet BuildStatefulSet(const SandboxSpec& spec, const SandboxDefaults& defaults,
                                   const std::string& claim_template) {
  kube::StatefulSet sts;
  sts.metadata = Meta(StatefulSetName(spec.name), spec);
  for (const auto& [key, value] : spec.labels) sts.metadata.labels.emplace(key, value);
  sts.metadata.annotations = {
      {kAnnotationOriginImageName, spec.image},
      {kAnnotationMinReplicas, "1"},
      {kAnnotationMaxReplicas, "1"},
      {kAnnotationResize, spec.storage.size},
      {kAnnotationSpecHash, SpecHash(spec)},
  };
  if (!spec.ingress_domain.empty()) {
    sts.metadata.annotations[kAnnotationIngressDomain] = spec.ingress_domain;
  }

  kube::StatefulSetSpec& s = sts.spec;
  s.replicas = 1;
  s.service_name = ServiceName(spec.name);
  s.selector.match_labels = PodSelector(spec.name);
  s.update_strategy = kube::StatefulSetUpdateStrategy{"RollingUpdate", {}};
  s.revision_history_limit = kRevisionHistoryLimit;

  // Pod template: labels stay fixed for the life of the sandbox (changing them would
  // restart the pod), so caller labels are on the StatefulSet only. The managed-by label
  // lets a delete recognise an orphaned pod as ours.
  kube::PodTemplateSpec& t = s.template_;
  t.metadata.labels = CommonLabels(spec);
  t.metadata.labels[kLabelSandbox] = spec.name;
  t.spec.automount_service_account_token = false;
  kube::PodSecurityContext psc;
  psc.run_as_non_root = true;
  psc.run_as_user = defaults.run_as_user;
  psc.run_as_group = defaults.fs_group;
  psc.fs_group = defaults.fs_group;
  // Re-chown the volume only when its root does not already match: fast restarts with a
  // full home directory.
  psc.fs_group_change_policy = "OnRootMismatch";
  psc.seccomp_profile_type = "RuntimeDefault";
  t.spec.security_context = std::move(psc);
  t.spec.containers = {MainContainer(spec, claim_template)};

  kube::PersistentVolumeClaim claim;
  claim.metadata.name = claim_template;
  // The PVC can be found by label; its `app` label names the sandbox it belongs to
  // (SandboxCache joins claims to sandboxes by it).
  claim.metadata.labels = CommonLabels(spec);
  claim.metadata.annotations = {{kClaimAnnotationPath, spec.storage.mount_path},
                                {kClaimAnnotationSizeGi, SizeInGi(spec.storage.size)}};
  claim.spec.access_modes = {"ReadWriteOnce"};
  claim.spec.resources.requests = {{"storage", spec.storage.size}};
  if (!spec.storage.storage_class.empty()) {
    claim.spec.storage_class_name = spec.storage.storage_class;
  }
  s.volume_claim_templates = {std::move(claim)};
  s.persistent_volume_claim_retention_policy = RetentionPolicy(false);
  return sts;
}

kube::Service BuildService(const SandboxSpec& spec, const SandboxDefaults& defaults) {
  kube::Service svc;
  svc.metadata = Meta(ServiceName(spec.name), spec);
  svc.spec.cluster_ip = "None";  // headless: see the header comment
  svc.spec.selector = PodSelector(spec.name);
  kube::ServicePort app;
  app.name = kAppPortName;
  app.protocol = kTcp;
  app.port = spec.ports.app;
  app.target_port = kube::IntOrString::Int(spec.ports.app);
  kube::ServicePort ttyd;
  ttyd.name = kTerminalPortName;
  ttyd.protocol = kTcp;
  ttyd.port = spec.ports.terminal;
  ttyd.target_port = kube::IntOrString::Int(spec.ports.terminal);
  svc.spec.ports = {std::move(app), std::move(ttyd)};
  return svc;
}

kube::Service BuildService(const SandboxSpec& spec, const SandboxDefaults& defaults,
                           const kube::StatefulSet& owner) {
  kube::Service svc = BuildService(spec, defaults);
  const kube::StringMap& pod_labels = owner.spec.template_.metadata.labels;
  if (pod_labels.count(kLabelSandbox) > 0 || owner.spec.selector.match_labels.empty()) {
    return svc;
  }
  svc.spec.selector = owner.spec.selector.match_labels;
  auto managed_by = pod_labels.find(kLabelManagedBy);
  if (managed_by != pod_labels.end()) svc.spec.selector.insert(*managed_by);
  return svc;
}

std::optional<kube::NetworkPolicy> BuildNetworkPolicy(const std::string& ns,
                                                      const SandboxDefaults& defaults) {
  if (defaults.ingress_controller_namespace.empty()) return std::nullopt;
  kube::NetworkPolicy policy;
  policy.metadata.name = kNetworkPolicyName;
  policy.metadata.ns = ns;
  policy.metadata.labels = {{kLabelManagedBy, kManagedByValue}};
  policy.spec.pod_selector = {{kLabelManagedBy, kManagedByValue}};
  policy.spec.policy_types = {"Ingress"};
  kube::NetworkPolicyIngressRule rule;
  rule.from_namespace_labels = {
      {{"kubernetes.io/metadata.name", defaults.ingress_controller_namespace}}};
  rule.ports = {{kTcp, kube::IntOrString::String(kAppPortName)},
                {kTcp, kube::IntOrString::String(kTerminalPortName)}};
  policy.spec.ingress = {std::move(rule)};
  return policy;
}

kube::Ingress BuildAppIngress(const SandboxSpec& spec, const SandboxDefaults& defaults) {
  return BuildIngress(spec, defaults, AppIngressName(spec.name), AppHostLabel(spec.name),
                      AppHost(spec.name, spec.ingress_domain), spec.ports.app,
                      /*authenticated=*/defaults.ingress_auth_app);
}

kube::Ingress BuildTtydIngress(const SandboxSpec& spec, const SandboxDefaults& defaults) {
  return BuildIngress(spec, defaults, TtydIngressName(spec.name), TerminalHostLabel(spec.name),
                      TerminalHost(spec.name, spec.ingress_domain), spec.ports.terminal,
                      /*authenticated=*/true);
}

std::vector<kube::Ingress> BuildIngresses(const SandboxSpec& spec,
                                          const SandboxDefaults& defaults) {
  if (spec.ingress_domain.empty()) return {};
  return {BuildAppIngress(spec, defaults), BuildTtydIngress(spec, defaults)};
}

kube::OwnerReference StatefulSetOwnerReference(std::string_view name, std::string_view uid) {
  kube::OwnerReference ref;
  ref.api_version = "apps/v1";
  ref.kind = "StatefulSet";
  ref.name = std::string(name);
  ref.uid = std::string(uid);
  ref.controller = true;
  ref.block_owner_deletion = true;
  return ref;
}

void SetOwnerReference(const kube::OwnerReference& ref, kube::ObjectMeta* meta) {
  for (kube::OwnerReference& existing : meta->owner_references) {
    if (existing.kind == ref.kind && existing.name == ref.name) {
      existing = ref;
      return;
    }
  }
  meta->owner_references.push_back(ref);
}

kube::StatefulSetPersistentVolumeClaimRetentionPolicy RetentionPolicy(
    bool keep_storage_on_delete) {
  return {keep_storage_on_delete ? "Retain" : "Delete", "Retain"};
}

std::string SpecHash(const SandboxSpec& spec) {
  Fnv1a64 h;
  h.Field("sandboxd-spec-v1");
  h.Field(spec.name);
  h.Field(spec.ns);
  h.Field(spec.project);
  h.Field(spec.image);
  h.Map(spec.env);
  h.Field(spec.resources.requests.cpu);
  h.Field(spec.resources.requests.memory);
  h.Field(spec.resources.limits.cpu);
  h.Field(spec.resources.limits.memory);
  h.Field(spec.storage.size);
  h.Field(spec.storage.storage_class);
  h.Field(spec.storage.mount_path);
  h.Field(std::to_string(spec.ports.app));
  h.Field(std::to_string(spec.ports.terminal));
  h.Field(spec.ingress_domain);
  h.Map(spec.labels);
  return h.Hex();
}

const kube::Container* FindMainContainer(const kube::StatefulSet& sts) {
  return FindContainer(sts.spec.template_.spec, sts.metadata.name);
}

SandboxSpec SpecFromStatefulSet(const kube::StatefulSet& sts) {
  SandboxSpec spec;
  const kube::ObjectMeta& meta = sts.metadata;
  spec.name = meta.name;
  spec.ns = meta.ns;
  spec.project = Lookup(meta.labels, kLabelProject);
  for (const auto& [key, value] : meta.labels) {
    if (!IsReservedLabelKey(key)) spec.labels.emplace(key, value);
  }
  spec.ingress_domain = Lookup(meta.annotations, kAnnotationIngressDomain);

  if (const kube::Container* c = FindContainer(sts.spec.template_.spec, meta.name)) {
    spec.image = c->image;
    for (const kube::EnvVar& e : c->env) {
      if (!e.has_value_from) spec.env[e.name] = e.value;
    }
    spec.resources.requests.cpu = Lookup(c->resources.requests, "cpu");
    spec.resources.requests.memory = Lookup(c->resources.requests, "memory");
    spec.resources.limits.cpu = Lookup(c->resources.limits, "cpu");
    spec.resources.limits.memory = Lookup(c->resources.limits, "memory");
    for (const kube::ContainerPort& p : c->ports) {
      if (p.name == kAppPortName) spec.ports.app = p.container_port;
      if (p.name == kTerminalPortName) spec.ports.terminal = p.container_port;
    }
    const std::string claim_template = ClaimTemplateName(sts);
    for (const kube::VolumeMount& m : c->volume_mounts) {
      if (m.name == claim_template) spec.storage.mount_path = m.mount_path;
    }
  }
  for (const kube::PersistentVolumeClaim& claim : sts.spec.volume_claim_templates) {
    if (claim.metadata.name != ClaimTemplateName(sts)) continue;
    spec.storage.size = Lookup(claim.spec.resources.requests, "storage");
    spec.storage.storage_class = claim.spec.storage_class_name.value_or("");
  }
  return spec;
}

}  // namespace sandboxd::domain
