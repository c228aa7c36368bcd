#include "src/kube/objects_json.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "src/base/status_macros.h"
#include "src/kube/json_object_rapidjson.h"
#include "src/kube/objects_rapidjson.h"

namespace sandboxd::kube {
namespace {

using rapidjson::Value;

// ===========================================================================
// Decoding helpers. Each Read* looks up `key` in the object `obj`; an absent or null
// member leaves `*out` untouched. Errors are "<key>: <why>"; callers one level up
// prepend their own key with Nest().

absl::Status TypeError(absl::string_view key, absl::string_view want) {
  return absl::InternalError(absl::StrCat(key, ": expected ", want));
}

absl::Status Nest(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  absl::string_view msg = status.message();
  // Array elements ("[3]") attach without a dot.
  const char* sep = (!msg.empty() && msg.front() == '[') ? "" : ".";
  return absl::InternalError(absl::StrCat(prefix, sep, msg));
}

const Value* Member(const Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

absl::Status ReadString(const Value& obj, const char* key, std::string* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsString()) return TypeError(key, "a string");
  out->assign(v->GetString(), v->GetStringLength());
  return absl::OkStatus();
}

absl::Status ReadString(const Value& obj, const char* key, std::optional<std::string>* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsString()) return TypeError(key, "a string");
  out->emplace(v->GetString(), v->GetStringLength());
  return absl::OkStatus();
}

// apiVersion and kind of an object or list. Absent or empty keeps the type's own (list
// items carry neither), so that an object decodes to what it encodes to.
template <typename T>
absl::Status ReadTypeMeta(const Value& obj, T* out) {
  for (auto [key, field] : {std::pair{"apiVersion", &out->api_version}, {"kind", &out->kind}}) {
    std::string value;
    SANDBOXD_RETURN_IF_ERROR(ReadString(obj, key, &value));
    if (!value.empty()) *field = std::move(value);
  }
  return absl::OkStatus();
}

absl::Status ReadInt(const Value& obj, const char* key, int64_t* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsInt64()) return TypeError(key, "an integer");
  *out = v->GetInt64();
  return absl::OkStatus();
}

absl::Status ReadInt(const Value& obj, const char* key, int32_t* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsInt()) return TypeError(key, "a 32-bit integer");
  *out = v->GetInt();
  return absl::OkStatus();
}

template <typename Int>
absl::Status ReadInt(const Value& obj, const char* key, std::optional<Int>* out) {
  if (Member(obj, key) == nullptr) return absl::OkStatus();
  Int value = 0;
  SANDBOXD_RETURN_IF_ERROR(ReadInt(obj, key, &value));
  *out = value;
  return absl::OkStatus();
}

absl::Status ReadBool(const Value& obj, const char* key, bool* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsBool()) return TypeError(key, "a boolean");
  *out = v->GetBool();
  return absl::OkStatus();
}

absl::Status ReadBool(const Value& obj, const char* key, std::optional<bool>* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsBool()) return TypeError(key, "a boolean");
  *out = v->GetBool();
  return absl::OkStatus();
}

absl::Status ReadTime(const Value& obj, const char* key, std::optional<absl::Time>* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsString()) return TypeError(key, "an RFC 3339 timestamp string");
  absl::StatusOr<absl::Time> t =
      ParseTimestamp(std::string_view(v->GetString(), v->GetStringLength()));
  if (!t.ok()) return absl::InternalError(absl::StrCat(key, ": ", t.status().message()));
  *out = *t;
  return absl::OkStatus();
}

absl::Status ReadStringMap(const Value& obj, const char* key, StringMap* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsObject()) return TypeError(key, "an object");
  for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
    // Quantities are strings on the wire; the API server never writes numbers here, but a
    // hand-written manifest may ("cpu": 1). Accept integers and keep their decimal text.
    std::string name(it->name.GetString(), it->name.GetStringLength());
    if (it->value.IsString()) {
      (*out)[name].assign(it->value.GetString(), it->value.GetStringLength());
    } else if (it->value.IsInt64()) {
      (*out)[name] = absl::StrCat(it->value.GetInt64());
    } else {
      return TypeError(absl::StrCat(key, "[", name, "]"), "a string");
    }
  }
  return absl::OkStatus();
}

absl::Status ReadStringList(const Value& obj, const char* key, std::vector<std::string>* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsArray()) return TypeError(key, "an array");
  out->clear();
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const Value& e = (*v)[i];
    if (!e.IsString()) return TypeError(absl::StrCat(key, "[", i, "]"), "a string");
    out->emplace_back(e.GetString(), e.GetStringLength());
  }
  return absl::OkStatus();
}

// Decoders of nested types: absl::Status F(const Value& obj, T* out), `obj` an object.
template <typename T, typename F>
absl::Status ReadObject(const Value& obj, const char* key, T* out, F decode) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsObject()) return TypeError(key, "an object");
  return Nest(decode(*v, out), key);
}

template <typename T, typename F>
absl::Status ReadObject(const Value& obj, const char* key, std::optional<T>* out, F decode) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsObject()) return TypeError(key, "an object");
  T value;
  SANDBOXD_RETURN_IF_ERROR(Nest(decode(*v, &value), key));
  *out = std::move(value);
  return absl::OkStatus();
}

template <typename T, typename F>
absl::Status ReadArray(const Value& obj, const char* key, std::vector<T>* out, F decode) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsArray()) return TypeError(key, "an array");
  out->clear();
  out->reserve(v->Size());
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const Value& e = (*v)[i];
    std::string where = absl::StrCat(key, "[", i, "]");
    if (!e.IsObject()) return TypeError(where, "an object");
    T item;
    SANDBOXD_RETURN_IF_ERROR(Nest(decode(e, &item), where));
    out->push_back(std::move(item));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Decoders, one per type. `v` is a JSON object.

absl::Status DecodeOwnerReference(const Value& v, OwnerReference* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "apiVersion", &out->api_version));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "kind", &out->kind));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "name", &out->name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "uid", &out->uid));
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "controller", &out->controller));
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "blockOwnerDeletion", &out->block_owner_deletion));
  return absl::OkStatus();
}

absl::Status DecodeObjectMeta(const Value& v, ObjectMeta* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "name", &out->name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "generateName", &out->generate_name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "namespace", &out->ns));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "uid", &out->uid));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "resourceVersion", &out->resource_version));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "generation", &out->generation));
  SANDBOXD_RETURN_IF_ERROR(ReadTime(v, "creationTimestamp", &out->creation_timestamp));
  SANDBOXD_RETURN_IF_ERROR(ReadTime(v, "deletionTimestamp", &out->deletion_timestamp));
  SANDBOXD_RETURN_IF_ERROR(ReadStringMap(v, "labels", &out->labels));
  SANDBOXD_RETURN_IF_ERROR(ReadStringMap(v, "annotations", &out->annotations));
  SANDBOXD_RETURN_IF_ERROR(
      ReadArray(v, "ownerReferences", &out->owner_references, DecodeOwnerReference));
  SANDBOXD_RETURN_IF_ERROR(ReadStringList(v, "finalizers", &out->finalizers));
  return absl::OkStatus();
}

absl::Status DecodeListMeta(const Value& v, ListMeta* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "resourceVersion", &out->resource_version));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "continue", &out->continue_token));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "remainingItemCount", &out->remaining_item_count));
  return absl::OkStatus();
}

absl::Status DecodeEnvVar(const Value& v, EnvVar* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "name", &out->name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "value", &out->value));
  out->has_value_from = Member(v, "valueFrom") != nullptr;
  return absl::OkStatus();
}

absl::Status DecodeContainerPort(const Value& v, ContainerPort* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "name", &out->name));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "containerPort", &out->container_port));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "protocol", &out->protocol));
  return absl::OkStatus();
}

absl::Status DecodeResources(const Value& v, ResourceRequirements* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadStringMap(v, "requests", &out->requests));
  SANDBOXD_RETURN_IF_ERROR(ReadStringMap(v, "limits", &out->limits));
  return absl::OkStatus();
}

absl::Status DecodeVolumeMount(const Value& v, VolumeMount* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "name", &out->name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "mountPath", &out->mount_path));
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "readOnly", &out->read_only));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "subPath", &out->sub_path));
  return absl::OkStatus();
}

absl::Status DecodeSeccompType(const Value& v, std::string* out) {
  return ReadString(v, "type", out);
}

absl::Status DecodeSecurityContext(const Value& v, SecurityContext* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "runAsNonRoot", &out->run_as_non_root));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "runAsUser", &out->run_as_user));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "runAsGroup", &out->run_as_group));
  SANDBOXD_RETURN_IF_ERROR(
      ReadBool(v, "allowPrivilegeEscalation", &out->allow_privilege_escalation));
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "privileged", &out->privileged));
  SANDBOXD_RETURN_IF_ERROR(
      ReadBool(v, "readOnlyRootFilesystem", &out->read_only_root_filesystem));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "capabilities", out,
                                  [](const Value& c, SecurityContext* sc) {
                                    SANDBOXD_RETURN_IF_ERROR(
                                        ReadStringList(c, "add", &sc->capabilities_add));
                                    return ReadStringList(c, "drop", &sc->capabilities_drop);
                                  }));
  SANDBOXD_RETURN_IF_ERROR(
      ReadObject(v, "seccompProfile", &out->seccomp_profile_type, DecodeSeccompType));
  return absl::OkStatus();
}

absl::Status DecodePodSecurityContext(const Value& v, PodSecurityContext* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "runAsNonRoot", &out->run_as_non_root));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "runAsUser", &out->run_as_user));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "runAsGroup", &out->run_as_group));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "fsGroup", &out->fs_group));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "fsGroupChangePolicy", &out->fs_group_change_policy));
  SANDBOXD_RETURN_IF_ERROR(
      ReadObject(v, "seccompProfile", &out->seccomp_profile_type, DecodeSeccompType));
  return absl::OkStatus();
}

absl::Status DecodeContainer(const Value& v, Container* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "name", &out->name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "image", &out->image));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "imagePullPolicy", &out->image_pull_policy));
  SANDBOXD_RETURN_IF_ERROR(ReadStringList(v, "command", &out->command));
  SANDBOXD_RETURN_IF_ERROR(ReadStringList(v, "args", &out->args));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "workingDir", &out->working_dir));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "env", &out->env, DecodeEnvVar));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "ports", &out->ports, DecodeContainerPort));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "resources", &out->resources, DecodeResources));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "volumeMounts", &out->volume_mounts, DecodeVolumeMount));
  SANDBOXD_RETURN_IF_ERROR(
      ReadObject(v, "securityContext", &out->security_context, DecodeSecurityContext));
  return absl::OkStatus();
}

absl::Status DecodePodSpec(const Value& v, PodSpec* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "initContainers", &out->init_containers, DecodeContainer));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "containers", &out->containers, DecodeContainer));
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "automountServiceAccountToken",
                                &out->automount_service_account_token));
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "enableServiceLinks", &out->enable_service_links));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "serviceAccountName", &out->service_account_name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "nodeName", &out->node_name));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "terminationGracePeriodSeconds",
                               &out->termination_grace_period_seconds));
  SANDBOXD_RETURN_IF_ERROR(
      ReadObject(v, "securityContext", &out->security_context, DecodePodSecurityContext));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "volumes", &out->volumes,
                                 [](const Value& vol, VolumeRef* ref) {
                                   SANDBOXD_RETURN_IF_ERROR(ReadString(vol, "name", &ref->name));
                                   const Value* claim = Member(vol, "persistentVolumeClaim");
                                   if (claim == nullptr || !claim->IsObject()) {
                                     return absl::OkStatus();
                                   }
                                   return ReadString(*claim, "claimName", &ref->claim_name);
                                 }));
  return absl::OkStatus();
}

absl::Status DecodePodTemplateSpec(const Value& v, PodTemplateSpec* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "metadata", &out->metadata, DecodeObjectMeta));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "spec", &out->spec, DecodePodSpec));
  return absl::OkStatus();
}

absl::Status DecodeLabelSelector(const Value& v, LabelSelector* out) {
  return ReadStringMap(v, "matchLabels", &out->match_labels);
}

absl::Status DecodePvcSpec(const Value& v, PersistentVolumeClaimSpec* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadStringList(v, "accessModes", &out->access_modes));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "resources", &out->resources, DecodeResources));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "storageClassName", &out->storage_class_name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "volumeName", &out->volume_name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "volumeMode", &out->volume_mode));
  return absl::OkStatus();
}

absl::Status DecodePvcStatus(const Value& v, PersistentVolumeClaimStatus* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "phase", &out->phase));
  SANDBOXD_RETURN_IF_ERROR(ReadStringList(v, "accessModes", &out->access_modes));
  SANDBOXD_RETURN_IF_ERROR(ReadStringMap(v, "capacity", &out->capacity));
  return absl::OkStatus();
}

absl::Status DecodePvc(const Value& v, PersistentVolumeClaim* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadTypeMeta(v, out));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "metadata", &out->metadata, DecodeObjectMeta));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "spec", &out->spec, DecodePvcSpec));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "status", &out->status, DecodePvcStatus));
  return absl::OkStatus();
}

absl::Status DecodeUpdateStrategy(const Value& v, StatefulSetUpdateStrategy* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "type", &out->type));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "rollingUpdate", out,
                                  [](const Value& r, StatefulSetUpdateStrategy* s) {
                                    return ReadInt(r, "partition", &s->partition);
                                  }));
  return absl::OkStatus();
}

absl::Status DecodeRetentionPolicy(const Value& v,
                                   StatefulSetPersistentVolumeClaimRetentionPolicy* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "whenDeleted", &out->when_deleted));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "whenScaled", &out->when_scaled));
  return absl::OkStatus();
}

absl::Status DecodeStatefulSetSpec(const Value& v, StatefulSetSpec* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "replicas", &out->replicas));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "serviceName", &out->service_name));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "selector", &out->selector, DecodeLabelSelector));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "template", &out->template_, DecodePodTemplateSpec));
  SANDBOXD_RETURN_IF_ERROR(
      ReadObject(v, "updateStrategy", &out->update_strategy, DecodeUpdateStrategy));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "podManagementPolicy", &out->pod_management_policy));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "revisionHistoryLimit", &out->revision_history_limit));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "minReadySeconds", &out->min_ready_seconds));
  SANDBOXD_RETURN_IF_ERROR(
      ReadArray(v, "volumeClaimTemplates", &out->volume_claim_templates, DecodePvc));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "persistentVolumeClaimRetentionPolicy",
                                  &out->persistent_volume_claim_retention_policy,
                                  DecodeRetentionPolicy));
  return absl::OkStatus();
}

absl::Status DecodeStatefulSetStatus(const Value& v, StatefulSetStatus* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "observedGeneration", &out->observed_generation));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "replicas", &out->replicas));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "readyReplicas", &out->ready_replicas));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "availableReplicas", &out->available_replicas));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "currentReplicas", &out->current_replicas));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "updatedReplicas", &out->updated_replicas));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "currentRevision", &out->current_revision));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "updateRevision", &out->update_revision));
  return absl::OkStatus();
}

absl::Status DecodeStatefulSet(const Value& v, StatefulSet* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadTypeMeta(v, out));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "metadata", &out->metadata, DecodeObjectMeta));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "spec", &out->spec, DecodeStatefulSetSpec));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "status", &out->status, DecodeStatefulSetStatus));
  return absl::OkStatus();
}

absl::Status DecodeIntOrString(const Value& obj, const char* key,
                               std::optional<IntOrString>* out) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (v->IsInt()) {
    *out = IntOrString::Int(v->GetInt());
  } else if (v->IsString()) {
    *out = IntOrString::String(std::string(v->GetString(), v->GetStringLength()));
  } else {
    return TypeError(key, "an integer or a string");
  }
  return absl::OkStatus();
}

absl::Status DecodeDeploymentSpec(const Value& v, DeploymentSpec* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "replicas", &out->replicas));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "selector", &out->selector, DecodeLabelSelector));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "template", &out->template_, DecodePodTemplateSpec));
  return absl::OkStatus();
}

absl::Status DecodeDeployment(const Value& v, Deployment* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadTypeMeta(v, out));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "metadata", &out->metadata, DecodeObjectMeta));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "spec", &out->spec, DecodeDeploymentSpec));
  return absl::OkStatus();
}

absl::Status DecodeConfigMap(const Value& v, ConfigMap* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadTypeMeta(v, out));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "metadata", &out->metadata, DecodeObjectMeta));
  SANDBOXD_RETURN_IF_ERROR(ReadStringMap(v, "data", &out->data));
  return absl::OkStatus();
}

absl::Status DecodeServicePort(const Value& v, ServicePort* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "name", &out->name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "protocol", &out->protocol));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "port", &out->port));
  SANDBOXD_RETURN_IF_ERROR(DecodeIntOrString(v, "targetPort", &out->target_port));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "appProtocol", &out->app_protocol));
  return absl::OkStatus();
}

absl::Status DecodeServiceSpec(const Value& v, ServiceSpec* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "type", &out->type));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "clusterIP", &out->cluster_ip));
  SANDBOXD_RETURN_IF_ERROR(ReadStringMap(v, "selector", &out->selector));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "ports", &out->ports, DecodeServicePort));
  SANDBOXD_RETURN_IF_ERROR(
      ReadBool(v, "publishNotReadyAddresses", &out->publish_not_ready_addresses));
  return absl::OkStatus();
}

absl::Status DecodeService(const Value& v, Service* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadTypeMeta(v, out));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "metadata", &out->metadata, DecodeObjectMeta));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "spec", &out->spec, DecodeServiceSpec));
  return absl::OkStatus();
}

absl::Status DecodeIngressBackend(const Value& v, IngressServiceBackend* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "name", &out->name));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "port", out, [](const Value& p, IngressServiceBackend* b) {
    SANDBOXD_RETURN_IF_ERROR(ReadInt(p, "number", &b->port_number));
    return ReadString(p, "name", &b->port_name);
  }));
  return absl::OkStatus();
}

absl::Status DecodeHttpPath(const Value& v, HTTPIngressPath* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "path", &out->path));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "pathType", &out->path_type));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "backend", &out->backend_service,
                                  [](const Value& b, IngressServiceBackend* s) {
                                    return ReadObject(b, "service", s, DecodeIngressBackend);
                                  }));
  return absl::OkStatus();
}

absl::Status DecodeIngressRule(const Value& v, IngressRule* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "host", &out->host));
  SANDBOXD_RETURN_IF_ERROR(
      ReadObject(v, "http", &out->http_paths, [](const Value& h, std::vector<HTTPIngressPath>* p) {
        return ReadArray(h, "paths", p, DecodeHttpPath);
      }));
  return absl::OkStatus();
}

absl::Status DecodeIngressTls(const Value& v, IngressTLS* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadStringList(v, "hosts", &out->hosts));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "secretName", &out->secret_name));
  return absl::OkStatus();
}

absl::Status DecodeIngressSpec(const Value& v, IngressSpec* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "ingressClassName", &out->ingress_class_name));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "tls", &out->tls, DecodeIngressTls));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "rules", &out->rules, DecodeIngressRule));
  return absl::OkStatus();
}

absl::Status DecodeIngress(const Value& v, Ingress* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadTypeMeta(v, out));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "metadata", &out->metadata, DecodeObjectMeta));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "spec", &out->spec, DecodeIngressSpec));
  return absl::OkStatus();
}

absl::Status DecodePodCondition(const Value& v, PodCondition* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "type", &out->type));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "status", &out->status));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "reason", &out->reason));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "message", &out->message));
  SANDBOXD_RETURN_IF_ERROR(ReadTime(v, "lastTransitionTime", &out->last_transition_time));
  return absl::OkStatus();
}

absl::Status DecodeContainerState(const Value& v, ContainerState* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "waiting", &out->waiting,
                                  [](const Value& w, ContainerStateWaiting* s) {
                                    SANDBOXD_RETURN_IF_ERROR(ReadString(w, "reason", &s->reason));
                                    return ReadString(w, "message", &s->message);
                                  }));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "running", &out->running,
                                  [](const Value& r, ContainerStateRunning* s) {
                                    return ReadTime(r, "startedAt", &s->started_at);
                                  }));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(
      v, "terminated", &out->terminated, [](const Value& t, ContainerStateTerminated* s) {
        SANDBOXD_RETURN_IF_ERROR(ReadInt(t, "exitCode", &s->exit_code));
        SANDBOXD_RETURN_IF_ERROR(ReadInt(t, "signal", &s->signal));
        SANDBOXD_RETURN_IF_ERROR(ReadString(t, "reason", &s->reason));
        SANDBOXD_RETURN_IF_ERROR(ReadString(t, "message", &s->message));
        SANDBOXD_RETURN_IF_ERROR(ReadTime(t, "startedAt", &s->started_at));
        return ReadTime(t, "finishedAt", &s->finished_at);
      }));
  return absl::OkStatus();
}

absl::Status DecodeContainerStatus(const Value& v, ContainerStatus* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "name", &out->name));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "image", &out->image));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "imageID", &out->image_id));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "containerID", &out->container_id));
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "ready", &out->ready));
  SANDBOXD_RETURN_IF_ERROR(ReadBool(v, "started", &out->started));
  SANDBOXD_RETURN_IF_ERROR(ReadInt(v, "restartCount", &out->restart_count));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "state", &out->state, DecodeContainerState));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "lastState", &out->last_state, DecodeContainerState));
  return absl::OkStatus();
}

absl::Status DecodePodStatus(const Value& v, PodStatus* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "phase", &out->phase));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "conditions", &out->conditions, DecodePodCondition));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "reason", &out->reason));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "message", &out->message));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "podIP", &out->pod_ip));
  SANDBOXD_RETURN_IF_ERROR(ReadString(v, "hostIP", &out->host_ip));
  SANDBOXD_RETURN_IF_ERROR(ReadTime(v, "startTime", &out->start_time));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "initContainerStatuses", &out->init_container_statuses,
                                 DecodeContainerStatus));
  SANDBOXD_RETURN_IF_ERROR(
      ReadArray(v, "containerStatuses", &out->container_statuses, DecodeContainerStatus));
  return absl::OkStatus();
}

absl::Status DecodePod(const Value& v, Pod* out) {
  SANDBOXD_RETURN_IF_ERROR(ReadTypeMeta(v, out));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "metadata", &out->metadata, DecodeObjectMeta));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "spec", &out->spec, DecodePodSpec));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "status", &out->status, DecodePodStatus));
  return absl::OkStatus();
}

template <typename T, typename F>
absl::Status DecodeList(const Value& v, ObjectList<T>* out, F decode_item) {
  SANDBOXD_RETURN_IF_ERROR(ReadTypeMeta(v, out));
  SANDBOXD_RETURN_IF_ERROR(ReadObject(v, "metadata", &out->metadata, DecodeListMeta));
  SANDBOXD_RETURN_IF_ERROR(ReadArray(v, "items", &out->items, decode_item));
  return absl::OkStatus();
}

// Parses `json` and runs `decode` on the top-level object.
template <typename T, typename F>
absl::Status DecodeDocument(std::string_view json, absl::string_view what, T* out, F decode) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InternalError(absl::StrCat("decode ", what, ": malformed JSON at offset ",
                                            doc.GetErrorOffset(), ": ",
                                            rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (!doc.IsObject()) {
    return absl::InternalError(absl::StrCat("decode ", what, ": expected a JSON object"));
  }
  absl::Status status = decode(doc, out);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("decode ", what, ": ", status.message()));
  }
  return absl::OkStatus();
}

template <typename T, typename F>
absl::Status DecodeTopValue(const Value& v, T* out, F decode) {
  if (!v.IsObject()) return absl::InternalError("expected a JSON object");
  return decode(v, out);
}

// ===========================================================================
// Encoding. Enc wraps a rapidjson::Writer; its *Field helpers skip absent values.

class Enc {
 public:
  Enc() : w_(buf_) {}

  std::string Take() { return std::string(buf_.GetString(), buf_.GetSize()); }

  void BeginObject() { w_.StartObject(); }
  void EndObject() { w_.EndObject(); }
  void Key(absl::string_view k) { w_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
  void Str(absl::string_view s) {
    w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  }

  // Written when non-empty.
  void StrField(absl::string_view k, const std::string& s) {
    if (s.empty()) return;
    Key(k);
    Str(s);
  }
  // Written when set, even if empty.
  void StrField(absl::string_view k, const std::optional<std::string>& s) {
    if (!s.has_value()) return;
    Key(k);
    Str(*s);
  }
  void IntField(absl::string_view k, int64_t v) {
    Key(k);
    w_.Int64(v);
  }
  void NonZeroIntField(absl::string_view k, int64_t v) {
    if (v != 0) IntField(k, v);
  }
  template <typename Int>
  void IntField(absl::string_view k, const std::optional<Int>& v) {
    if (v.has_value()) IntField(k, static_cast<int64_t>(*v));
  }
  void BoolField(absl::string_view k, bool v) {
    Key(k);
    w_.Bool(v);
  }
  void TrueField(absl::string_view k, bool v) {
    if (v) BoolField(k, v);
  }
  void BoolField(absl::string_view k, const std::optional<bool>& v) {
    if (v.has_value()) BoolField(k, *v);
  }
  void TimeField(absl::string_view k, const std::optional<absl::Time>& t) {
    if (!t.has_value()) return;
    Key(k);
    Str(FormatTimestamp(*t));
  }
  void MapField(absl::string_view k, const StringMap& m) {
    if (m.empty()) return;
    Key(k);
    w_.StartObject();
    for (const auto& [key, value] : m) {
      Key(key);
      Str(value);
    }
    w_.EndObject();
  }
  void ListField(absl::string_view k, const std::vector<std::string>& list) {
    if (list.empty()) return;
    Key(k);
    w_.StartArray();
    for (const std::string& s : list) Str(s);
    w_.EndArray();
  }
  // Writes `k: {...}` with `fill` producing the members.
  template <typename F>
  void ObjectField(absl::string_view k, F fill) {
    Key(k);
    w_.StartObject();
    fill();
    w_.EndObject();
  }
  template <typename T, typename F>
  void ArrayField(absl::string_view k, const std::vector<T>& items, F write_item,
                  bool always = false) {
    if (items.empty() && !always) return;
    Key(k);
    w_.StartArray();
    for (const T& item : items) {
      w_.StartObject();
      write_item(*this, item);
      w_.EndObject();
    }
    w_.EndArray();
  }
  void IntOrStringValue(const IntOrString& v) {
    if (v.is_string) {
      Str(v.string_value);
    } else {
      w_.Int(v.int_value);
    }
  }

 private:
  rapidjson::StringBuffer buf_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

bool IsEmpty(const ResourceRequirements& r) { return r.requests.empty() && r.limits.empty(); }

void WriteOwnerReference(Enc& e, const OwnerReference& o) {
  e.StrField("apiVersion", o.api_version);
  e.StrField("kind", o.kind);
  e.StrField("name", o.name);
  e.StrField("uid", o.uid);
  e.BoolField("controller", o.controller);
  e.BoolField("blockOwnerDeletion", o.block_owner_deletion);
}

void WriteObjectMeta(Enc& e, const ObjectMeta& m) {
  e.StrField("name", m.name);
  e.StrField("generateName", m.generate_name);
  e.StrField("namespace", m.ns);
  e.StrField("uid", m.uid);
  e.StrField("resourceVersion", m.resource_version);
  e.NonZeroIntField("generation", m.generation);
  e.TimeField("creationTimestamp", m.creation_timestamp);
  e.TimeField("deletionTimestamp", m.deletion_timestamp);
  e.MapField("labels", m.labels);
  e.MapField("annotations", m.annotations);
  e.ArrayField("ownerReferences", m.owner_references, WriteOwnerReference);
  e.ListField("finalizers", m.finalizers);
}

void WriteListMeta(Enc& e, const ListMeta& m) {
  e.StrField("resourceVersion", m.resource_version);
  e.StrField("continue", m.continue_token);
  e.IntField("remainingItemCount", m.remaining_item_count);
}

void WriteResources(Enc& e, const ResourceRequirements& r) {
  e.MapField("limits", r.limits);
  e.MapField("requests", r.requests);
}

void WriteEnvVar(Enc& e, const EnvVar& v) {
  e.StrField("name", v.name);
  // An explicit empty value is meaningful; write it unless the value comes from elsewhere.
  if (!v.has_value_from) {
    e.Key("value");
    e.Str(v.value);
  }
}

void WriteContainerPort(Enc& e, const ContainerPort& p) {
  e.StrField("name", p.name);
  e.IntField("containerPort", p.container_port);
  e.StrField("protocol", p.protocol);
}

void WriteVolumeMount(Enc& e, const VolumeMount& m) {
  e.StrField("name", m.name);
  e.StrField("mountPath", m.mount_path);
  e.BoolField("readOnly", m.read_only);
  e.StrField("subPath", m.sub_path);
}

void WriteSeccomp(Enc& e, const std::string& type) {
  if (type.empty()) return;
  e.ObjectField("seccompProfile", [&] { e.StrField("type", type); });
}

void WriteSecurityContext(Enc& e, const SecurityContext& s) {
  e.BoolField("allowPrivilegeEscalation", s.allow_privilege_escalation);
  if (!s.capabilities_add.empty() || !s.capabilities_drop.empty()) {
    e.ObjectField("capabilities", [&] {
      e.ListField("add", s.capabilities_add);
      e.ListField("drop", s.capabilities_drop);
    });
  }
  e.BoolField("privileged", s.privileged);
  e.BoolField("readOnlyRootFilesystem", s.read_only_root_filesystem);
  e.IntField("runAsGroup", s.run_as_group);
  e.BoolField("runAsNonRoot", s.run_as_non_root);
  e.IntField("runAsUser", s.run_as_user);
  WriteSeccomp(e, s.seccomp_profile_type);
}

void WritePodSecurityContext(Enc& e, const PodSecurityContext& s) {
  e.IntField("fsGroup", s.fs_group);
  e.StrField("fsGroupChangePolicy", s.fs_group_change_policy);
  e.IntField("runAsGroup", s.run_as_group);
  e.BoolField("runAsNonRoot", s.run_as_non_root);
  e.IntField("runAsUser", s.run_as_user);
  WriteSeccomp(e, s.seccomp_profile_type);
}

void WriteContainer(Enc& e, const Container& c) {
  e.StrField("name", c.name);
  e.StrField("image", c.image);
  e.StrField("imagePullPolicy", c.image_pull_policy);
  e.ListField("command", c.command);
  e.ListField("args", c.args);
  e.StrField("workingDir", c.working_dir);
  e.ArrayField("env", c.env, WriteEnvVar);
  e.ArrayField("ports", c.ports, WriteContainerPort);
  if (!IsEmpty(c.resources)) e.ObjectField("resources", [&] { WriteResources(e, c.resources); });
  e.ArrayField("volumeMounts", c.volume_mounts, WriteVolumeMount);
  if (c.security_context.has_value()) {
    e.ObjectField("securityContext", [&] { WriteSecurityContext(e, *c.security_context); });
  }
}

void WritePodSpec(Enc& e, const PodSpec& s) {
  e.BoolField("automountServiceAccountToken", s.automount_service_account_token);
  e.BoolField("enableServiceLinks", s.enable_service_links);
  e.ArrayField("initContainers", s.init_containers, WriteContainer);
  e.ArrayField("containers", s.containers, WriteContainer);
  e.StrField("serviceAccountName", s.service_account_name);
  e.StrField("nodeName", s.node_name);
  e.IntField("terminationGracePeriodSeconds", s.termination_grace_period_seconds);
  if (s.security_context.has_value()) {
    e.ObjectField("securityContext", [&] { WritePodSecurityContext(e, *s.security_context); });
  }
}

void WritePvcSpec(Enc& e, const PersistentVolumeClaimSpec& s) {
  e.ListField("accessModes", s.access_modes);
  if (!IsEmpty(s.resources)) e.ObjectField("resources", [&] { WriteResources(e, s.resources); });
  e.StrField("storageClassName", s.storage_class_name);
  e.StrField("volumeName", s.volume_name);
  e.StrField("volumeMode", s.volume_mode);
}

void WritePvc(Enc& e, const PersistentVolumeClaim& p) {
  e.StrField("apiVersion", p.api_version);
  e.StrField("kind", p.kind);
  e.ObjectField("metadata", [&] { WriteObjectMeta(e, p.metadata); });
  e.ObjectField("spec", [&] { WritePvcSpec(e, p.spec); });
  const PersistentVolumeClaimStatus& st = p.status;
  if (!st.phase.empty() || !st.access_modes.empty() || !st.capacity.empty()) {
    e.ObjectField("status", [&] {
      e.StrField("phase", st.phase);
      e.ListField("accessModes", st.access_modes);
      e.MapField("capacity", st.capacity);
    });
  }
}

void WriteStatefulSet(Enc& e, const StatefulSet& s) {
  e.StrField("apiVersion", s.api_version);
  e.StrField("kind", s.kind);
  e.ObjectField("metadata", [&] { WriteObjectMeta(e, s.metadata); });
  e.ObjectField("spec", [&] {
    const StatefulSetSpec& sp = s.spec;
    e.IntField("replicas", sp.replicas);
    e.StrField("serviceName", sp.service_name);
    e.ObjectField("selector", [&] { e.MapField("matchLabels", sp.selector.match_labels); });
    e.ObjectField("template", [&] {
      e.ObjectField("metadata", [&] { WriteObjectMeta(e, sp.template_.metadata); });
      e.ObjectField("spec", [&] { WritePodSpec(e, sp.template_.spec); });
    });
    if (sp.update_strategy.has_value()) {
      e.ObjectField("updateStrategy", [&] {
        e.StrField("type", sp.update_strategy->type);
        if (sp.update_strategy->partition.has_value()) {
          e.ObjectField("rollingUpdate",
                        [&] { e.IntField("partition", sp.update_strategy->partition); });
        }
      });
    }
    e.StrField("podManagementPolicy", sp.pod_management_policy);
    e.IntField("revisionHistoryLimit", sp.revision_history_limit);
    e.IntField("minReadySeconds", sp.min_ready_seconds);
    e.ArrayField("volumeClaimTemplates", sp.volume_claim_templates, WritePvc);
    if (sp.persistent_volume_claim_retention_policy.has_value()) {
      const auto& policy = *sp.persistent_volume_claim_retention_policy;
      e.ObjectField("persistentVolumeClaimRetentionPolicy", [&] {
        e.StrField("whenDeleted", policy.when_deleted);
        e.StrField("whenScaled", policy.when_scaled);
      });
    }
  });
  const StatefulSetStatus& st = s.status;
  if (!(st == StatefulSetStatus{})) {
    e.ObjectField("status", [&] {
      e.IntField("observedGeneration", st.observed_generation);
      e.IntField("replicas", st.replicas);
      e.NonZeroIntField("readyReplicas", st.ready_replicas);
      e.NonZeroIntField("availableReplicas", st.available_replicas);
      e.NonZeroIntField("currentReplicas", st.current_replicas);
      e.NonZeroIntField("updatedReplicas", st.updated_replicas);
      e.StrField("currentRevision", st.current_revision);
      e.StrField("updateRevision", st.update_revision);
    });
  }
}

void WriteServicePort(Enc& e, const ServicePort& p) {
  e.StrField("name", p.name);
  e.StrField("protocol", p.protocol);
  e.StrField("appProtocol", p.app_protocol);
  e.IntField("port", p.port);
  if (p.target_port.has_value()) {
    e.Key("targetPort");
    e.IntOrStringValue(*p.target_port);
  }
}

void WriteService(Enc& e, const Service& s) {
  e.StrField("apiVersion", s.api_version);
  e.StrField("kind", s.kind);
  e.ObjectField("metadata", [&] { WriteObjectMeta(e, s.metadata); });
  e.ObjectField("spec", [&] {
    e.StrField("type", s.spec.type);
    e.StrField("clusterIP", s.spec.cluster_ip);
    e.MapField("selector", s.spec.selector);
    e.ArrayField("ports", s.spec.ports, WriteServicePort);
    e.BoolField("publishNotReadyAddresses", s.spec.publish_not_ready_addresses);
  });
}

void WriteHttpPath(Enc& e, const HTTPIngressPath& p) {
  e.StrField("path", p.path);
  e.StrField("pathType", p.path_type);
  e.ObjectField("backend", [&] {
    e.ObjectField("service", [&] {
      const IngressServiceBackend& b = p.backend_service;
      e.StrField("name", b.name);
      if (b.port_number.has_value() || !b.port_name.empty()) {
        e.ObjectField("port", [&] {
          e.StrField("name", b.port_name);
          e.IntField("number", b.port_number);
        });
      }
    });
  });
}

void WriteIngress(Enc& e, const Ingress& i) {
  e.StrField("apiVersion", i.api_version);
  e.StrField("kind", i.kind);
  e.ObjectField("metadata", [&] { WriteObjectMeta(e, i.metadata); });
  e.ObjectField("spec", [&] {
    e.StrField("ingressClassName", i.spec.ingress_class_name);
    e.ArrayField("tls", i.spec.tls, [](Enc& e2, const IngressTLS& t) {
      e2.ListField("hosts", t.hosts);
      e2.StrField("secretName", t.secret_name);
    });
    e.ArrayField("rules", i.spec.rules, [](Enc& e2, const IngressRule& r) {
      e2.StrField("host", r.host);
      if (!r.http_paths.empty()) {
        e2.ObjectField("http", [&] { e2.ArrayField("paths", r.http_paths, WriteHttpPath); });
      }
    });
  });
}

void WriteConfigMap(Enc& e, const ConfigMap& c) {
  e.StrField("apiVersion", c.api_version);
  e.StrField("kind", c.kind);
  e.ObjectField("metadata", [&] { WriteObjectMeta(e, c.metadata); });
  e.MapField("data", c.data);
}

void WriteNetworkPolicy(Enc& e, const NetworkPolicy& n) {
  e.StrField("apiVersion", n.api_version);
  e.StrField("kind", n.kind);
  e.ObjectField("metadata", [&] { WriteObjectMeta(e, n.metadata); });
  e.ObjectField("spec", [&] {
    e.ObjectField("podSelector", [&] { e.MapField("matchLabels", n.spec.pod_selector); });
    e.ListField("policyTypes", n.spec.policy_types);
    e.ArrayField("ingress", n.spec.ingress, [](Enc& e2, const NetworkPolicyIngressRule& r) {
      e2.ArrayField("from", r.from_namespace_labels, [](Enc& e3, const StringMap& labels) {
        e3.ObjectField("namespaceSelector", [&] { e3.MapField("matchLabels", labels); });
      });
      e2.ArrayField("ports", r.ports, [](Enc& e3, const NetworkPolicyPort& p) {
        e3.StrField("protocol", p.protocol);
        e3.Key("port");
        e3.IntOrStringValue(p.port);
      });
    });
  });
}

void WriteContainerState(Enc& e, const ContainerState& s) {
  if (s.waiting.has_value()) {
    e.ObjectField("waiting", [&] {
      e.StrField("reason", s.waiting->reason);
      e.StrField("message", s.waiting->message);
    });
  }
  if (s.running.has_value()) {
    e.ObjectField("running", [&] { e.TimeField("startedAt", s.running->started_at); });
  }
  if (s.terminated.has_value()) {
    const ContainerStateTerminated& t = *s.terminated;
    e.ObjectField("terminated", [&] {
      e.IntField("exitCode", t.exit_code);
      e.IntField("signal", t.signal);
      e.StrField("reason", t.reason);
      e.StrField("message", t.message);
      e.TimeField("startedAt", t.started_at);
      e.TimeField("finishedAt", t.finished_at);
    });
  }
}

void WriteContainerStatus(Enc& e, const ContainerStatus& s) {
  e.StrField("name", s.name);
  e.StrField("image", s.image);
  e.StrField("imageID", s.image_id);
  e.StrField("containerID", s.container_id);
  e.BoolField("ready", s.ready);
  e.BoolField("started", s.started);
  e.IntField("restartCount", s.restart_count);
  e.ObjectField("state", [&] { WriteContainerState(e, s.state); });
  e.ObjectField("lastState", [&] { WriteContainerState(e, s.last_state); });
}

void WritePodCondition(Enc& e, const PodCondition& c) {
  e.StrField("type", c.type);
  e.StrField("status", c.status);
  e.StrField("reason", c.reason);
  e.StrField("message", c.message);
  e.TimeField("lastTransitionTime", c.last_transition_time);
}

void WritePod(Enc& e, const Pod& p) {
  e.StrField("apiVersion", p.api_version);
  e.StrField("kind", p.kind);
  e.ObjectField("metadata", [&] { WriteObjectMeta(e, p.metadata); });
  e.ObjectField("spec", [&] { WritePodSpec(e, p.spec); });
  e.ObjectField("status", [&] {
    const PodStatus& s = p.status;
    e.StrField("phase", s.phase);
    e.ArrayField("conditions", s.conditions, WritePodCondition);
    e.StrField("reason", s.reason);
    e.StrField("message", s.message);
    e.StrField("podIP", s.pod_ip);
    e.StrField("hostIP", s.host_ip);
    e.TimeField("startTime", s.start_time);
    e.ArrayField("initContainerStatuses", s.init_container_statuses, WriteContainerStatus);
    e.ArrayField("containerStatuses", s.container_statuses, WriteContainerStatus);
  });
}

template <typename T, typename F>
std::string WriteTop(const T& obj, F write) {
  Enc e;
  e.BeginObject();
  write(e, obj);
  e.EndObject();
  return e.Take();
}

template <typename T, typename F>
std::string WriteList(const ObjectList<T>& list, F write_item) {
  Enc e;
  e.BeginObject();
  e.StrField("apiVersion", list.api_version);
  e.StrField("kind", list.kind);
  e.ObjectField("metadata", [&] { WriteListMeta(e, list.metadata); });
  // An empty list is written as "items": [] (the API server does the same).
  e.ArrayField("items", list.items, write_item, /*always=*/true);
  e.EndObject();
  return e.Take();
}

}  // namespace

// ===========================================================================
// Public API

std::string FormatTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseTimestamp(std::string_view text) {
  const absl::string_view view(text.data(), text.size());
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, view, &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid RFC 3339 timestamp \"", view, "\": ", err));
  }
  return t;
}

absl::Status FromValue(const Value& v, StatefulSet* out) {
  return DecodeTopValue(v, out, DecodeStatefulSet);
}
absl::Status FromValue(const Value& v, Service* out) {
  return DecodeTopValue(v, out, DecodeService);
}
absl::Status FromValue(const Value& v, Ingress* out) {
  return DecodeTopValue(v, out, DecodeIngress);
}
absl::Status FromValue(const Value& v, Pod* out) { return DecodeTopValue(v, out, DecodePod); }
absl::Status FromValue(const Value& v, PersistentVolumeClaim* out) {
  return DecodeTopValue(v, out, DecodePvc);
}

namespace {
// Runs `decode` on the parsed object, with FromJson's error prefix.
template <typename T, typename F>
absl::Status DecodeObject(const JsonObject& object, absl::string_view what, T* out, F decode) {
  if (object.null()) return absl::InternalError(absl::StrCat("decode ", what, ": no object"));
  const Value& v = internal::JsonObjectAccess::Value(object);
  if (!v.IsObject()) {
    return absl::InternalError(absl::StrCat("decode ", what, ": expected a JSON object"));
  }
  absl::Status status = decode(v, out);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("decode ", what, ": ", status.message()));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status FromObject(const JsonObject& object, StatefulSet* out) {
  return DecodeObject(object, "StatefulSet", out, DecodeStatefulSet);
}
absl::Status FromObject(const JsonObject& object, Ingress* out) {
  return DecodeObject(object, "Ingress", out, DecodeIngress);
}
absl::Status FromObject(const JsonObject& object, Pod* out) {
  return DecodeObject(object, "Pod", out, DecodePod);
}
absl::Status FromObject(const JsonObject& object, PersistentVolumeClaim* out) {
  return DecodeObject(object, "PersistentVolumeClaim", out, DecodePvc);
}
absl::Status FromObject(const JsonObject& object, ObjectMeta* out) {
  return DecodeObject(object, "object", out, [](const Value& v, ObjectMeta* m) {
    return ReadObject(v, "metadata", m, DecodeObjectMeta);
  });
}

absl::Status FromJson(std::string_view json, StatefulSet* out) {
  return DecodeDocument(json, "StatefulSet", out, DecodeStatefulSet);
}
absl::Status FromJson(std::string_view json, Service* out) {
  return DecodeDocument(json, "Service", out, DecodeService);
}
absl::Status FromJson(std::string_view json, Ingress* out) {
  return DecodeDocument(json, "Ingress", out, DecodeIngress);
}
absl::Status FromJson(std::string_view json, Pod* out) {
  return DecodeDocument(json, "Pod", out, DecodePod);
}
absl::Status FromJson(std::string_view json, PersistentVolumeClaim* out) {
  return DecodeDocument(json, "PersistentVolumeClaim", out, DecodePvc);
}
absl::Status FromJson(std::string_view json, Deployment* out) {
  return DecodeDocument(json, "Deployment", out, DecodeDeployment);
}
absl::Status FromJson(std::string_view json, ConfigMap* out) {
  return DecodeDocument(json, "ConfigMap", out, DecodeConfigMap);
}
absl::Status FromJson(std::string_view json, ObjectMeta* out) {
  return DecodeDocument(json, "object", out, [](const Value& v, ObjectMeta* m) {
    return ReadObject(v, "metadata", m, DecodeObjectMeta);
  });
}
absl::Status FromJson(std::string_view json, StatefulSetList* out) {
  return DecodeDocument(json, "StatefulSetList", out, [](const Value& v, StatefulSetList* l) {
    return DecodeList(v, l, DecodeStatefulSet);
  });
}
absl::Status FromJson(std::string_view json, ServiceList* out) {
  return DecodeDocument(json, "ServiceList", out, [](const Value& v, ServiceList* l) {
    return DecodeList(v, l, DecodeService);
  });
}
absl::Status FromJson(std::string_view json, IngressList* out) {
  return DecodeDocument(json, "IngressList", out, [](const Value& v, IngressList* l) {
    return DecodeList(v, l, DecodeIngress);
  });
}
absl::Status FromJson(std::string_view json, PodList* out) {
  return DecodeDocument(json, "PodList", out,
                        [](const Value& v, PodList* l) { return DecodeList(v, l, DecodePod); });
}
absl::Status FromJson(std::string_view json, DeploymentList* out) {
  return DecodeDocument(json, "DeploymentList", out, [](const Value& v, DeploymentList* l) {
    return DecodeList(v, l, DecodeDeployment);
  });
}
absl::Status FromJson(std::string_view json, ConfigMapList* out) {
  return DecodeDocument(json, "ConfigMapList", out, [](const Value& v, ConfigMapList* l) {
    return DecodeList(v, l, DecodeConfigMap);
  });
}
absl::Status FromJson(std::string_view json, PersistentVolumeClaimList* out) {
  return DecodeDocument(json, "PersistentVolumeClaimList", out,
                        [](const Value& v, PersistentVolumeClaimList* l) {
                          return DecodeList(v, l, DecodePvc);
                        });
}

std::string ToJson(const StatefulSet& obj) { return WriteTop(obj, WriteStatefulSet); }
std::string ToJson(const Service& obj) { return WriteTop(obj, WriteService); }
std::string ToJson(const Ingress& obj) { return WriteTop(obj, WriteIngress); }
std::string ToJson(const NetworkPolicy& obj) { return WriteTop(obj, WriteNetworkPolicy); }
std::string ToJson(const ConfigMap& obj) { return WriteTop(obj, WriteConfigMap); }
std::string ToJson(const Pod& obj) { return WriteTop(obj, WritePod); }
std::string ToJson(const PersistentVolumeClaim& obj) { return WriteTop(obj, WritePvc); }
std::string ToJson(const StatefulSetList& list) { return WriteList(list, WriteStatefulSet); }
std::string ToJson(const ServiceList& list) { return WriteList(list, WriteService); }
std::string ToJson(const IngressList& list) { return WriteList(list, WriteIngress); }
std::string ToJson(const PodList& list) { return WriteList(list, WritePod); }
std::string ToJson(const PersistentVolumeClaimList& list) { return WriteList(list, WritePvc); }

}  // namespace sandboxd::kube
