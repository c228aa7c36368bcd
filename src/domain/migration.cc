#include "src/domain/migration.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/domain/builders.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"
#include "src/kube/objects_json.h"
#include "src/kube/raw_objects.h"

namespace sandboxd::domain {
namespace {

constexpr std::pair<MigrationStep, const char*> kStepNames[] = {
    {MigrationStep::kPlanned, "PLANNED"},
    {MigrationStep::kRecorded, "RECORDED"},
    {MigrationStep::kDeploymentScaledDown, "DEPLOYMENT_SCALED_DOWN"},
    {MigrationStep::kStatefulSetCreated, "STATEFULSET_CREATED"},
    {MigrationStep::kAdopted, "ADOPTED"},
    {MigrationStep::kSandboxReady, "SANDBOX_READY"},
    {MigrationStep::kDeploymentDeleted, "DEPLOYMENT_DELETED"},
};

// Annotations that belong to the controller or the client that wrote the Deployment,
// not to the sandbox.
constexpr const char* kControllerAnnotations[] = {"deployment.kubernetes.io/revision",
                                                   "kubectl.kubernetes.io/last-applied-configuration"};

std::string Lookup(const kube::StringMap& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

absl::Status Refuse(std::string_view reason, const std::string& object, const std::string& field,
                    const std::string& why) {
  std::map<std::string, std::string> metadata = {{"object", object}, {"field", field}};
  if (reason == reason::kUnsupportedField) metadata["why"] = why;
  return MakeError(absl::StatusCode::kFailedPrecondition, reason,
                   absl::StrCat(object, ": ", field, ": ", why), std::move(metadata));
}

// The ingress's first backend port number, or `fallback`.
int32_t BackendPort(const std::optional<kube::Ingress>& ingress, int32_t fallback) {
  if (!ingress.has_value()) return fallback;
  for (const kube::IngressRule& rule : ingress->spec.rules) {
    for (const kube::HTTPIngressPath& path : rule.http_paths) {
      if (path.backend_service.port_number.has_value()) return *path.backend_service.port_number;
    }
  }
  return fallback;
}

std::string FirstHost(const std::optional<kube::Ingress>& ingress) {
  if (!ingress.has_value() || ingress->spec.rules.empty()) return "";
  return ingress->spec.rules.front().host;
}

// The URL of the ingress's first host: https if its TLS covers the host.
std::string IngressUrl(const std::optional<kube::Ingress>& ingress) {
  const std::string host = FirstHost(ingress);
  if (host.empty()) return "";
  for (const kube::IngressTLS& tls : ingress->spec.tls) {
    if (std::find(tls.hosts.begin(), tls.hosts.end(), host) != tls.hosts.end()) {
      return absl::StrCat("https://", host);
    }
  }
  return absl::StrCat("http://", host);
}

// A Service or Ingress of the sandbox's names must be the Deployment-era sandbox's own
// (labelled for it) to be adopted.
absl::Status CheckChild(const kube::ObjectMeta* meta, const char* kind, const std::string& name) {
  if (meta == nullptr || Lookup(meta->labels, kLabelDeployManager) == name) return absl::OkStatus();
  return Refuse(reason::kUnsupportedField, absl::StrCat(kind, "/", meta->name),
                absl::StrCat("metadata.labels[", kLabelDeployManager, "]"),
                absl::StrCat("not labelled for sandbox ", name, "; sandboxd adopts only the ",
                             "sandbox's own objects"));
}

}  // namespace

std::string MigrationRecordName(std::string_view name) {
  return absl::StrCat(absl::string_view(name.data(), name.size()), "-migration");
}

std::string MigrationStepName(MigrationStep step) {
  for (const auto& [s, n] : kStepNames) {
    if (s == step) return n;
  }
  return "";
}

MigrationStep ParseMigrationStep(std::string_view name) {
  for (const auto& [s, n] : kStepNames) {
    if (name == n) return s;
  }
  return MigrationStep::kNone;
}

void MigrationSummary::Add(MigrationOutcome outcome) {
  ++total;
  switch (outcome) {
    case MigrationOutcome::kMigrated: ++migrated; break;
    case MigrationOutcome::kAlreadyMigrated: ++already_migrated; break;
    case MigrationOutcome::kWouldMigrate: ++would_migrate; break;
    case MigrationOutcome::kSkipped: ++skipped; break;
    default: ++failed; break;
  }
}

MigrationOutcome OutcomeOfError(const absl::Status& error) {
  const std::string r = GetErrorDetail(error).reason;
  if (r == reason::kNotDeploymentEra || r == reason::kUnsupportedField ||
      r == reason::kMigrationInProgress || r == reason::kSandboxAlreadyExists) {
    return MigrationOutcome::kSkipped;
  }
  return MigrationOutcome::kFailed;
}

absl::Status CheckMigratable(const DeploymentEraObjects& objects, const std::string& claim_template,
                             const SandboxDefaults& defaults) {
  const kube::Deployment& d = objects.deployment;
  const std::string& name = d.metadata.name;
  const std::string object = absl::StrCat("Deployment/", name);
  if (Lookup(d.metadata.labels, kLabelDeployManager) != name) {
    return Refuse(reason::kNotDeploymentEra, object,
                  absl::StrCat("metadata.labels[", kLabelDeployManager, "]"),
                  absl::StrCat("not labelled ", kLabelDeployManager, "=", name));
  }
  const kube::PodSpec& pod = d.spec.template_.spec;
  auto main = std::find_if(pod.containers.begin(), pod.containers.end(),
                           [&](const kube::Container& c) { return c.name == name; });
  if (main == pod.containers.end()) {
    return Refuse(reason::kNotDeploymentEra, object, "spec.template.spec.containers",
                  absl::StrCat("no container named ", name));
  }
  if (absl::Status s = ValidateName(name); !s.ok()) {
    return Refuse(reason::kUnsupportedField, object, "metadata.name",
                  std::string(GetErrorDetail(s).metadata["why"]));
  }
  if (absl::Status s = ValidateClaimTemplate(claim_template, name, "storage.claim_template_name");
      !s.ok()) {
    return Refuse(reason::kUnsupportedField, object, "metadata.name",
                  absl::StrCat("too long for its home volume claim ", ClaimName(claim_template, name)));
  }
  if (d.metadata.deletion_timestamp.has_value()) {
    return Refuse(reason::kUnsupportedField, object, "metadata.deletionTimestamp",
                  "the Deployment is being deleted");
  }
  if (!d.metadata.owner_references.empty()) {
    const kube::OwnerReference& o = d.metadata.owner_references.front();
    return Refuse(reason::kUnsupportedField, object, "metadata.ownerReferences",
                  absl::StrCat("owned by ", o.kind, "/", o.name, ", which would recreate it"));
  }
  if (d.spec.replicas.value_or(1) > 1) {
    return Refuse(reason::kUnsupportedField, object, "spec.replicas",
                  "a sandbox has at most one replica");
  }
  if (Lookup(d.spec.template_.metadata.labels, kLabelApp) != name) {
    return Refuse(reason::kUnsupportedField, object, "spec.template.metadata.labels[app]",
                  absl::StrCat("the pod template must be labelled app=", name));
  }
  // The sandbox's own home claim may be mounted already (a rollback with mount_home
  // leaves it so): the StatefulSet's claim template takes its place.
  const std::string home_claim = ClaimName(claim_template, name);
  for (size_t i = 0; i < pod.volumes.size(); ++i) {
    if (pod.volumes[i].name == claim_template && pod.volumes[i].claim_name != home_claim) {
      return Refuse(reason::kUnsupportedField, object,
                    absl::StrCat("spec.template.spec.volumes[", i, "].name"),
                    absl::StrCat("the home volume is named ", claim_template));
    }
  }
  for (size_t i = 0; i < pod.containers.size(); ++i) {
    const auto& mounts = pod.containers[i].volume_mounts;
    for (size_t j = 0; j < mounts.size(); ++j) {
      if (mounts[j].mount_path == defaults.mount_path && mounts[j].name != claim_template) {
        return Refuse(reason::kUnsupportedField, object,
                      absl::StrCat("spec.template.spec.containers[", i, "].volumeMounts[", j,
                                   "].mountPath"),
                      absl::StrCat("the home volume is mounted at ", defaults.mount_path));
      }
    }
  }
  std::map<std::string, std::string> env;
  for (const kube::EnvVar& e : main->env) env[e.name] = e.value;
  if (absl::Status s = ValidateUpdatedEnv(env, defaults.limits); !s.ok()) {
    return Refuse(reason::kUnsupportedField, object,
                  absl::StrCat("spec.template.spec.containers[", main - pod.containers.begin(),
                               "].env"),
                  std::string(GetErrorDetail(s).metadata["why"]));
  }
  SANDBOXD_RETURN_IF_ERROR(CheckChild(objects.service ? &objects.service->metadata : nullptr,
                                      "Service", name));
  SANDBOXD_RETURN_IF_ERROR(CheckChild(
      objects.app_ingress ? &objects.app_ingress->metadata : nullptr, "Ingress", name));
  SANDBOXD_RETURN_IF_ERROR(CheckChild(
      objects.ttyd_ingress ? &objects.ttyd_ingress->metadata : nullptr, "Ingress", name));
  return absl::OkStatus();
}

SandboxSpec MigratedSpec(const DeploymentEraObjects& objects, const SandboxDefaults& defaults) {
  const kube::Deployment& d = objects.deployment;
  SandboxSpec spec;
  spec.name = d.metadata.name;
  spec.ns = d.metadata.ns;
  spec.project = Lookup(d.metadata.labels, kLabelPlatformProject);
  for (const kube::Container& c : d.spec.template_.spec.containers) {
    if (c.name != spec.name) continue;
    spec.image = c.image;
    for (const kube::EnvVar& e : c.env) {
      if (!e.has_value_from) spec.env[e.name] = e.value;
    }
    spec.resources.requests.cpu = Lookup(c.resources.requests, "cpu");
    spec.resources.requests.memory = Lookup(c.resources.requests, "memory");
    spec.resources.limits.cpu = Lookup(c.resources.limits, "cpu");
    spec.resources.limits.memory = Lookup(c.resources.limits, "memory");
  }
  spec.ports.app = BackendPort(objects.app_ingress, defaults.app_port);
  spec.ports.terminal = BackendPort(objects.ttyd_ingress, defaults.terminal_port);
  const std::string host = FirstHost(objects.app_ingress);
  if (auto dot = host.find('.'); dot != std::string::npos) spec.ingress_domain = host.substr(dot + 1);
  return ApplyDefaults(std::move(spec), defaults);
}

absl::StatusOr<std::string> MigratedStatefulSetJson(const DeploymentEraObjects& objects,
                                                    const std::string& deployment_json,
                                                    const std::string& claim_template,
                                                    const SandboxDefaults& defaults) {
  const kube::Deployment& d = objects.deployment;
  kube::StatefulSet sts = BuildStatefulSet(MigratedSpec(objects, defaults), defaults, claim_template);
  sts.spec.replicas = d.spec.replicas.value_or(1);
  for (const auto& [key, value] : d.metadata.labels) sts.metadata.labels.emplace(key, value);
  for (const auto& [key, value] : d.metadata.annotations) {
    const bool controllers =
        std::any_of(std::begin(kControllerAnnotations), std::end(kControllerAnnotations),
                    [&name = key](const char* k) { return name == k; });
    if (!controllers) sts.metadata.annotations.emplace(key, value);
  }
  auto& annotations = sts.metadata.annotations;
  annotations[kAnnotationMigratedFrom] = absl::StrCat("Deployment/", d.metadata.uid);
  const auto& service = objects.service;
  if (service.has_value() && service->spec.cluster_ip.value_or("") != "None") {
    annotations[kAnnotationNoPodDns] = "true";
  }
  if (std::string url = IngressUrl(objects.app_ingress); !url.empty()) {
    annotations[kAnnotationAppUrl] = url;
  }
  if (std::string url = IngressUrl(objects.ttyd_ingress); !url.empty()) {
    annotations[kAnnotationTerminalUrl] = url;
  }
  kube::VolumeMount home;
  home.name = claim_template;
  home.mount_path = defaults.mount_path;
  const std::string& name = d.metadata.name;
  absl::StatusOr<std::string> pod_template = kube::MigratedPodTemplate(
      deployment_json, {{kLabelSandbox, name}, {kLabelManagedBy, kManagedByValue}}, name, home);
  if (!pod_template.ok()) return pod_template.status();
  return kube::WithPodTemplate(kube::ToJson(sts), *pod_template);
}

absl::StatusOr<std::string> RestoredDeploymentJson(
    const std::string& saved_json, const std::string& name, int32_t replicas,
    const std::optional<std::string>& home_claim_template, const SandboxDefaults& defaults) {
  std::optional<kube::ClaimMount> home;
  if (home_claim_template.has_value()) {
    home = kube::ClaimMount{*home_claim_template, ClaimName(*home_claim_template, name), name,
                            defaults.mount_path};
  }
  return kube::RestoredDeployment(saved_json, replicas, home);
}

kube::MetadataPatch AdoptPatch(const kube::ObjectMeta& current, const kube::OwnerReference& owner,
                               bool narrow_selector) {
  kube::MetadataPatch patch;
  patch.resource_version = current.resource_version;
  patch.labels[kLabelManagedBy] = kManagedByValue;
  kube::ObjectMeta owned = current;
  SetOwnerReference(owner, &owned);
  patch.owner_references = owned.owner_references;
  if (narrow_selector) patch.selector[kLabelSandbox] = owner.name;
  return patch;
}

kube::MetadataPatch ReleasePatch(const kube::ObjectMeta& saved, const kube::StringMap& saved_selector,
                                 const kube::ObjectMeta& current,
                                 const kube::StringMap& current_selector) {
  kube::MetadataPatch patch;
  patch.resource_version = current.resource_version;
  for (const auto& [key, value] : current.labels) {
    if (saved.labels.count(key) == 0) patch.labels[key] = std::nullopt;
  }
  for (const auto& [key, value] : saved.labels) {
    if (Lookup(current.labels, key) != value) patch.labels[key] = value;
  }
  patch.owner_references = saved.owner_references;
  for (const auto& [key, value] : current_selector) {
    if (saved_selector.count(key) == 0) patch.selector[key] = std::nullopt;
  }
  for (const auto& [key, value] : saved_selector) {
    if (Lookup(current_selector, key) != value) patch.selector[key] = value;
  }
  return patch;
}

bool OwnedBy(const kube::ObjectMeta& meta, std::string_view uid) {
  return std::any_of(meta.owner_references.begin(), meta.owner_references.end(),
                     [&](const kube::OwnerReference& o) { return o.uid == uid; });
}

kube::ConfigMap BuildMigrationRecord(const kube::Deployment& deployment,
                                     const kube::StringMap& originals, const MigrationLease& lease) {
  kube::ConfigMap record;
  const std::string& name = deployment.metadata.name;
  record.metadata.name = MigrationRecordName(name);
  record.metadata.ns = deployment.metadata.ns;
  record.metadata.labels = deployment.metadata.labels;
  record.metadata.labels[kLabelManagedBy] = kManagedByValue;
  record.metadata.labels[kLabelMigration] = name;
  record.metadata.annotations = {
      {kAnnotationMigrationStep, MigrationStepName(MigrationStep::kRecorded)},
      {kAnnotationMigrationHolder, lease.holder},
      {kAnnotationMigrationLeaseExpires, kube::FormatTimestamp(lease.expires)},
  };
  record.data = originals;
  return record;
}

MigrationStep RecordedStep(const kube::ConfigMap& record) {
  return ParseMigrationStep(Lookup(record.metadata.annotations, kAnnotationMigrationStep));
}

MigrationLease LeaseOf(const kube::ConfigMap& record) {
  MigrationLease lease;
  lease.holder = Lookup(record.metadata.annotations, kAnnotationMigrationHolder);
  std::string err;
  absl::Time expires;
  if (absl::ParseTime(absl::RFC3339_full,
                      Lookup(record.metadata.annotations, kAnnotationMigrationLeaseExpires),
                      &expires, &err)) {
    lease.expires = expires;
  }
  return lease;
}

kube::MetadataPatch RecordPatch(const std::string& resource_version, MigrationStep step,
                                const MigrationLease& lease,
                                std::optional<std::vector<kube::OwnerReference>> owners) {
  kube::MetadataPatch patch;
  patch.resource_version = resource_version;
  if (step != MigrationStep::kNone) patch.annotations[kAnnotationMigrationStep] = MigrationStepName(step);
  patch.annotations[kAnnotationMigrationHolder] =
      lease.holder.empty() ? std::nullopt : std::optional<std::string>(lease.holder);
  patch.annotations[kAnnotationMigrationLeaseExpires] =
      lease.holder.empty() ? std::nullopt
                           : std::optional<std::string>(kube::FormatTimestamp(lease.expires));
  patch.owner_references = std::move(owners);
  return patch;
}

}  // namespace sandboxd::domain
