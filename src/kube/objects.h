// Typed Kubernetes objects: the subset of StatefulSet, Service, Ingress, Pod and
// PersistentVolumeClaim (apps/v1, v1, networking.k8s.io/v1) that sandboxd writes or
// reads, as plain C++ values. JSON encoding and decoding live in objects_json.h.
//
// Conventions:
//  - Field names follow the Kubernetes JSON names in snake_case (`resourceVersion` ->
//    `resource_version`); `namespace` is `ns`, `continue` is `continue_token`.
//  - A field is std::optional<> where "absent" and the zero value mean different things
//    to Kubernetes or to us (`replicas` absent defaults to 1; `storageClassName: ""`
//    disables dynamic provisioning; `observedGeneration` absent means "never observed").
//    Elsewhere the zero value ("", 0, false, empty container) stands for "absent".
//  - Quantities ("500m", "5Gi") stay strings: they are compared and validated by the
//    domain layer, never by the codec.
//  - Timestamps are absl::Time (RFC 3339 on the wire, second precision).
//
// Plain values, no I/O. Thread-compatible.
#ifndef SANDBOXD_KUBE_OBJECTS_H_
#define SANDBOXD_KUBE_OBJECTS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace sandboxd::kube {

using StringMap = std::map<std::string, std::string>;

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  std::optional<bool> controller;
  std::optional<bool> block_owner_deletion;

  bool operator==(const OwnerReference& o) const;
};

struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string ns;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::optional<absl::Time> creation_timestamp;
  std::optional<absl::Time> deletion_timestamp;
  StringMap labels;
  StringMap annotations;
  std::vector<OwnerReference> owner_references;
  std::vector<std::string> finalizers;
  // managedFields, selfLink and anything else are ignored on decode.

  bool operator==(const ObjectMeta& o) const;
};

struct ListMeta {
  std::string resource_version;
  std::string continue_token;  // "continue"
  std::optional<int64_t> remaining_item_count;

  bool operator==(const ListMeta& o) const;
};

// ---------------------------------------------------------------------------
// Pod template building blocks (core/v1)

struct EnvVar {
  std::string name;
  std::string value;
  // valueFrom is not modelled; such entries decode with an empty value and
  // has_value_from = true so that callers can tell them apart. They encode as a bare
  // {"name"} (the source is lost): never write back an object decoded with one.
  bool has_value_from = false;

  bool operator==(const EnvVar& o) const;
};

struct ContainerPort {
  std::string name;
  int32_t container_port = 0;
  std::string protocol;  // empty: TCP

  bool operator==(const ContainerPort& o) const;
};

struct ResourceRequirements {
  StringMap requests;  // "cpu", "memory", "storage" -> quantity
  StringMap limits;

  bool operator==(const ResourceRequirements& o) const;
};

struct VolumeMount {
  std::string name;
  std::string mount_path;
  std::optional<bool> read_only;
  std::string sub_path;

  bool operator==(const VolumeMount& o) const;
};

struct SecurityContext {  // container-level
  std::optional<bool> run_as_non_root;
  std::optional<int64_t> run_as_user;
  std::optional<int64_t> run_as_group;
  std::optional<bool> allow_privilege_escalation;
  std::optional<bool> privileged;
  std::optional<bool> read_only_root_filesystem;
  std::vector<std::string> capabilities_add;   // capabilities.add
  std::vector<std::string> capabilities_drop;  // capabilities.drop
  std::string seccomp_profile_type;            // seccompProfile.type

  bool operator==(const SecurityContext& o) const;
};

struct PodSecurityContext {
  std::optional<bool> run_as_non_root;
  std::optional<int64_t> run_as_user;
  std::optional<int64_t> run_as_group;
  std::optional<int64_t> fs_group;
  std::string fs_group_change_policy;  // "OnRootMismatch" | "Always" | ""
  std::string seccomp_profile_type;    // seccompProfile.type

  bool operator==(const PodSecurityContext& o) const;
};

struct Container {
  std::string name;
  std::string image;
  std::string image_pull_policy;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::string working_dir;
  std::vector<EnvVar> env;
  std::vector<ContainerPort> ports;
  ResourceRequirements resources;
  std::vector<VolumeMount> volume_mounts;
  std::optional<SecurityContext> security_context;

  bool operator==(const Container& o) const;
};

// A pod volume: its name and, for a persistentVolumeClaim volume, the claim.
struct VolumeRef {
  std::string name;
  std::string claim_name;  // persistentVolumeClaim.claimName; empty for other sources
  bool operator==(const VolumeRef& o) const;
};

struct PodSpec {
  std::vector<Container> init_containers;
  std::vector<Container> containers;
  std::optional<bool> automount_service_account_token;
  std::optional<bool> enable_service_links;
  std::string service_account_name;
  std::string node_name;
  std::optional<int64_t> termination_grace_period_seconds;
  std::optional<PodSecurityContext> security_context;
  // spec.volumes, decoded only, never encoded (their sources are not modelled): a
  // PodSpec decoded with volumes must not be written back.
  std::vector<VolumeRef> volumes;
  // affinity, tolerations... are not modelled.

  bool operator==(const PodSpec& o) const;
};

struct PodTemplateSpec {
  ObjectMeta metadata;
  PodSpec spec;

  bool operator==(const PodTemplateSpec& o) const;
};

struct LabelSelector {
  StringMap match_labels;
  // matchExpressions are not modelled.

  bool operator==(const LabelSelector& o) const;
};

// ---------------------------------------------------------------------------
// PersistentVolumeClaim (v1)

struct PersistentVolumeClaimSpec {
  std::vector<std::string> access_modes;
  ResourceRequirements resources;
  std::optional<std::string> storage_class_name;  // "" is not "absent"
  std::string volume_name;
  std::string volume_mode;

  bool operator==(const PersistentVolumeClaimSpec& o) const;
};

struct PersistentVolumeClaimStatus {
  std::string phase;  // Pending | Bound | Lost
  std::vector<std::string> access_modes;
  StringMap capacity;  // "storage" -> quantity

  bool operator==(const PersistentVolumeClaimStatus& o) const;
};

struct PersistentVolumeClaim {
  std::string api_version = "v1";
  std::string kind = "PersistentVolumeClaim";
  ObjectMeta metadata;
  PersistentVolumeClaimSpec spec;
  PersistentVolumeClaimStatus status;

  bool operator==(const PersistentVolumeClaim& o) const;
};

// ---------------------------------------------------------------------------
// StatefulSet (apps/v1)

struct StatefulSetUpdateStrategy {
  std::string type;  // RollingUpdate | OnDelete
  std::optional<int32_t> partition;  // rollingUpdate.partition

  bool operator==(const StatefulSetUpdateStrategy& o) const;
};

struct StatefulSetPersistentVolumeClaimRetentionPolicy {
  std::string when_deleted;  // Retain | Delete
  std::string when_scaled;   // Retain | Delete

  bool operator==(const StatefulSetPersistentVolumeClaimRetentionPolicy& o) const;
};

struct StatefulSetSpec {
  std::optional<int32_t> replicas;  // absent: 1
  std::string service_name;
  LabelSelector selector;
  PodTemplateSpec template_;  // "template"
  std::optional<StatefulSetUpdateStrategy> update_strategy;
  std::string pod_management_policy;
  std::optional<int32_t> revision_history_limit;
  std::optional<int32_t> min_ready_seconds;
  std::vector<PersistentVolumeClaim> volume_claim_templates;
  std::optional<StatefulSetPersistentVolumeClaimRetentionPolicy>
      persistent_volume_claim_retention_policy;

  bool operator==(const StatefulSetSpec& o) const;
};

struct StatefulSetStatus {
  std::optional<int64_t> observed_generation;  // absent: never observed
  int32_t replicas = 0;
  int32_t ready_replicas = 0;
  int32_t available_replicas = 0;
  int32_t current_replicas = 0;
  int32_t updated_replicas = 0;
  std::string current_revision;
  std::string update_revision;

  bool operator==(const StatefulSetStatus& o) const;
};

struct StatefulSet {
  std::string api_version = "apps/v1";
  std::string kind = "StatefulSet";
  ObjectMeta metadata;
  StatefulSetSpec spec;
  StatefulSetStatus status;

  bool operator==(const StatefulSet& o) const;
};

// ---------------------------------------------------------------------------
// Service (v1)

// An int-or-string (e.g. Service targetPort): exactly one of the two is meaningful.
struct IntOrString {
  bool is_string = false;
  int32_t int_value = 0;
  std::string string_value;

  static IntOrString Int(int32_t v) { return IntOrString{false, v, {}}; }
  static IntOrString String(std::string v) { return IntOrString{true, 0, std::move(v)}; }
  bool operator==(const IntOrString& o) const;
};

struct ServicePort {
  std::string name;
  std::string protocol;  // empty: TCP
  int32_t port = 0;
  std::optional<IntOrString> target_port;
  std::string app_protocol;

  bool operator==(const ServicePort& o) const;
};

struct ServiceSpec {
  std::string type;                       // empty: ClusterIP
  std::optional<std::string> cluster_ip;  // "None": headless
  StringMap selector;
  std::vector<ServicePort> ports;
  std::optional<bool> publish_not_ready_addresses;

  bool operator==(const ServiceSpec& o) const;
};

struct Service {
  std::string api_version = "v1";
  std::string kind = "Service";
  ObjectMeta metadata;
  ServiceSpec spec;
  // status (load balancer ingress) is not modelled.

  bool operator==(const Service& o) const;
};

// ---------------------------------------------------------------------------
// Ingress (networking.k8s.io/v1)

struct IngressServiceBackend {
  std::string name;
  std::optional<int32_t> port_number;  // port.number
  std::string port_name;               // port.name

  bool operator==(const IngressServiceBackend& o) const;
};

struct HTTPIngressPath {
  std::string path;
  std::string path_type;  // Prefix | Exact | ImplementationSpecific
  IngressServiceBackend backend_service;  // backend.service

  bool operator==(const HTTPIngressPath& o) const;
};

struct IngressRule {
  std::string host;
  std::vector<HTTPIngressPath> http_paths;  // http.paths

  bool operator==(const IngressRule& o) const;
};

struct IngressTLS {
  std::vector<std::string> hosts;
  std::string secret_name;

  bool operator==(const IngressTLS& o) const;
};

struct IngressSpec {
  std::optional<std::string> ingress_class_name;
  std::vector<IngressTLS> tls;
  std::vector<IngressRule> rules;

  bool operator==(const IngressSpec& o) const;
};

struct Ingress {
  std::string api_version = "networking.k8s.io/v1";
  std::string kind = "Ingress";
  ObjectMeta metadata;
  IngressSpec spec;

  bool operator==(const Ingress& o) const;
};

// ---------------------------------------------------------------------------
// NetworkPolicy (networking.k8s.io/v1): written by sandboxd, never read back, so only
// the fields it sets are modelled (ingress rules from namespaces to ports).

struct NetworkPolicyPort {
  std::string protocol;  // TCP
  IntOrString port;      // a number, or the name of a container port

  bool operator==(const NetworkPolicyPort& o) const;
};

struct NetworkPolicyIngressRule {
  // from[].namespaceSelector.matchLabels, one peer per entry.
  std::vector<StringMap> from_namespace_labels;
  std::vector<NetworkPolicyPort> ports;

  bool operator==(const NetworkPolicyIngressRule& o) const;
};

struct NetworkPolicySpec {
  StringMap pod_selector;                  // podSelector.matchLabels
  std::vector<std::string> policy_types;   // ["Ingress"]
  std::vector<NetworkPolicyIngressRule> ingress;

  bool operator==(const NetworkPolicySpec& o) const;
};

struct NetworkPolicy {
  std::string api_version = "networking.k8s.io/v1";
  std::string kind = "NetworkPolicy";
  ObjectMeta metadata;
  NetworkPolicySpec spec;

  bool operator==(const NetworkPolicy& o) const;
};

// ---------------------------------------------------------------------------
// Pod (v1): read-only for sandboxd; spec is decoded for completeness.

struct PodCondition {
  std::string type;    // PodScheduled | Initialized | ContainersReady | Ready | ...
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  std::optional<absl::Time> last_transition_time;

  bool operator==(const PodCondition& o) const;
};

struct ContainerStateWaiting {
  std::string reason;
  std::string message;

  bool operator==(const ContainerStateWaiting& o) const;
};

struct ContainerStateRunning {
  std::optional<absl::Time> started_at;

  bool operator==(const ContainerStateRunning& o) const;
};

struct ContainerStateTerminated {
  int32_t exit_code = 0;
  std::optional<int32_t> signal;
  std::string reason;
  std::string message;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> finished_at;

  bool operator==(const ContainerStateTerminated& o) const;
};

// At most one member is set (none: state unknown).
struct ContainerState {
  std::optional<ContainerStateWaiting> waiting;
  std::optional<ContainerStateRunning> running;
  std::optional<ContainerStateTerminated> terminated;

  bool operator==(const ContainerState& o) const;
};

struct ContainerStatus {
  std::string name;
  std::string image;
  std::string image_id;
  std::string container_id;
  bool ready = false;
  std::optional<bool> started;
  int32_t restart_count = 0;
  ContainerState state;
  ContainerState last_state;  // "lastState"

  bool operator==(const ContainerStatus& o) const;
};

struct PodStatus {
  std::string phase;  // Pending | Running | Succeeded | Failed | Unknown
  std::vector<PodCondition> conditions;
  std::string reason;
  std::string message;
  std::string pod_ip;
  std::string host_ip;
  std::optional<absl::Time> start_time;
  std::vector<ContainerStatus> init_container_statuses;
  std::vector<ContainerStatus> container_statuses;

  bool operator==(const PodStatus& o) const;
};

struct Pod {
  std::string api_version = "v1";
  std::string kind = "Pod";
  ObjectMeta metadata;
  PodSpec spec;
  PodStatus status;

  // The condition of `type`, or nullptr. The pointer lives as long as this Pod.
  const PodCondition* FindCondition(const std::string& type) const;

  bool operator==(const Pod& o) const;
};

// ---------------------------------------------------------------------------
// Deployment (apps/v1): read only (the source of a migration); the parts sandboxd carries
// over without modelling them stay JSON (raw_objects.h).
struct DeploymentSpec {
  std::optional<int32_t> replicas;  // absent: 1
  LabelSelector selector;
  PodTemplateSpec template_;  // "template"
  bool operator==(const DeploymentSpec& o) const;
};

struct Deployment {
  std::string api_version = "apps/v1";
  std::string kind = "Deployment";
  ObjectMeta metadata;
  DeploymentSpec spec;
  bool operator==(const Deployment& o) const;
};

// ---------------------------------------------------------------------------
// ConfigMap (v1): string data only (binaryData is not modelled).
struct ConfigMap {
  std::string api_version = "v1";
  std::string kind = "ConfigMap";
  ObjectMeta metadata;
  StringMap data;
  bool operator==(const ConfigMap& o) const;
};

// ---------------------------------------------------------------------------
// Lists: {"apiVersion", "kind": "<Kind>List", "metadata": ListMeta, "items": [...]}

template <typename T>
struct ObjectList {
  std::string api_version;
  std::string kind;
  ListMeta metadata;
  std::vector<T> items;

  bool operator==(const ObjectList& o) const {
    return api_version == o.api_version && kind == o.kind && metadata == o.metadata &&
           items == o.items;
  }
};

using StatefulSetList = ObjectList<StatefulSet>;
using ServiceList = ObjectList<Service>;
using IngressList = ObjectList<Ingress>;
using PodList = ObjectList<Pod>;
using PersistentVolumeClaimList = ObjectList<PersistentVolumeClaim>;
using DeploymentList = ObjectList<Deployment>;
using ConfigMapList = ObjectList<ConfigMap>;

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_OBJECTS_H_
