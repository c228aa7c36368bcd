#include "src/kube/objects.h"

#include <tuple>

namespace sandboxd::kube {

const PodCondition* Pod::FindCondition(const std::string& type) const {
  for (const PodCondition& c : status.conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

// Member-wise equality, in declaration order.
bool OwnerReference::operator==(const OwnerReference& o) const {
  return std::tie(api_version, kind, name, uid, controller, block_owner_deletion) ==
         std::tie(o.api_version, o.kind, o.name, o.uid, o.controller, o.block_owner_deletion);
}

bool ObjectMeta::operator==(const ObjectMeta& o) const {
  return std::tie(name, generate_name, ns, uid, resource_version, generation, creation_timestamp, deletion_timestamp, labels, annotations, owner_references, finalizers) ==
         std::tie(o.name, o.generate_name, o.ns, o.uid, o.resource_version, o.generation, o.creation_timestamp, o.deletion_timestamp, o.labels, o.annotations, o.owner_references, o.finalizers);
}

bool ListMeta::operator==(const ListMeta& o) const {
  return std::tie(resource_version, continue_token, remaining_item_count) ==
         std::tie(o.resource_version, o.continue_token, o.remaining_item_count);
}

bool EnvVar::operator==(const EnvVar& o) const {
  return std::tie(name, value, has_value_from) ==
         std::tie(o.name, o.value, o.has_value_from);
}

bool ContainerPort::operator==(const ContainerPort& o) const {
  return std::tie(name, container_port, protocol) ==
         std::tie(o.name, o.container_port, o.protocol);
}

bool ResourceRequirements::operator==(const ResourceRequirements& o) const {
  return std::tie(requests, limits) ==
         std::tie(o.requests, o.limits);
}

bool VolumeMount::operator==(const VolumeMount& o) const {
  return std::tie(name, mount_path, read_only, sub_path) ==
         std::tie(o.name, o.mount_path, o.read_only, o.sub_path);
}

bool SecurityContext::operator==(const SecurityContext& o) const {
  return std::tie(run_as_non_root, run_as_user, run_as_group, allow_privilege_escalation, privileged, read_only_root_filesystem, capabilities_add, capabilities_drop, seccomp_profile_type) ==
         std::tie(o.run_as_non_root, o.run_as_user, o.run_as_group, o.allow_privilege_escalation, o.privileged, o.read_only_root_filesystem, o.capabilities_add, o.capabilities_drop, o.seccomp_profile_type);
}

bool PodSecurityContext::operator==(const PodSecurityContext& o) const {
  return std::tie(run_as_non_root, run_as_user, run_as_group, fs_group, fs_group_change_policy, seccomp_profile_type) ==
         std::tie(o.run_as_non_root, o.run_as_user, o.run_as_group, o.fs_group, o.fs_group_change_policy, o.seccomp_profile_type);
}

bool Container::operator==(const Container& o) const {
  return std::tie(name, image, image_pull_policy, command, args, working_dir, env, ports, resources, volume_mounts, security_context) ==
         std::tie(o.name, o.image, o.image_pull_policy, o.command, o.args, o.working_dir, o.env, o.ports, o.resources, o.volume_mounts, o.security_context);
}

bool PodSpec::operator==(const PodSpec& o) const {
  return std::tie(init_containers, containers, automount_service_account_token, enable_service_links, service_account_name, node_name, termination_grace_period_seconds, security_context, volumes) ==
         std::tie(o.init_containers, o.containers, o.automount_service_account_token, o.enable_service_links, o.service_account_name, o.node_name, o.termination_grace_period_seconds, o.security_context, o.volumes);
}

bool PodTemplateSpec::operator==(const PodTemplateSpec& o) const {
  return std::tie(metadata, spec) ==
         std::tie(o.metadata, o.spec);
}

bool LabelSelector::operator==(const LabelSelector& o) const {
  return std::tie(match_labels) ==
         std::tie(o.match_labels);
}

bool PersistentVolumeClaimSpec::operator==(const PersistentVolumeClaimSpec& o) const {
  return std::tie(access_modes, resources, storage_class_name, volume_name, volume_mode) ==
         std::tie(o.access_modes, o.resources, o.storage_class_name, o.volume_name, o.volume_mode);
}

bool PersistentVolumeClaimStatus::operator==(const PersistentVolumeClaimStatus& o) const {
  return std::tie(phase, access_modes, capacity) ==
         std::tie(o.phase, o.access_modes, o.capacity);
}

bool PersistentVolumeClaim::operator==(const PersistentVolumeClaim& o) const {
  return std::tie(api_version, kind, metadata, spec, status) ==
         std::tie(o.api_version, o.kind, o.metadata, o.spec, o.status);
}

bool StatefulSetUpdateStrategy::operator==(const StatefulSetUpdateStrategy& o) const {
  return std::tie(type, partition) ==
         std::tie(o.type, o.partition);
}

bool StatefulSetPersistentVolumeClaimRetentionPolicy::operator==(const StatefulSetPersistentVolumeClaimRetentionPolicy& o) const {
  return std::tie(when_deleted, when_scaled) ==
         std::tie(o.when_deleted, o.when_scaled);
}

bool StatefulSetSpec::operator==(const StatefulSetSpec& o) const {
  return std::tie(replicas, service_name, selector, template_, update_strategy, pod_management_policy, revision_history_limit, min_ready_seconds, volume_claim_templates, persistent_volume_claim_retention_policy) ==
         std::tie(o.replicas, o.service_name, o.selector, o.template_, o.update_strategy, o.pod_management_policy, o.revision_history_limit, o.min_ready_seconds, o.volume_claim_templates, o.persistent_volume_claim_retention_policy);
}

bool StatefulSetStatus::operator==(const StatefulSetStatus& o) const {
  return std::tie(observed_generation, replicas, ready_replicas, available_replicas, current_replicas, updated_replicas, current_revision, update_revision) ==
         std::tie(o.observed_generation, o.replicas, o.ready_replicas, o.available_replicas, o.current_replicas, o.updated_replicas, o.current_revision, o.update_revision);
}

bool StatefulSet::operator==(const StatefulSet& o) const {
  return std::tie(api_version, kind, metadata, spec, status) ==
         std::tie(o.api_version, o.kind, o.metadata, o.spec, o.status);
}

bool IntOrString::operator==(const IntOrString& o) const {
  return std::tie(is_string, int_value, string_value) ==
         std::tie(o.is_string, o.int_value, o.string_value);
}

bool ServicePort::operator==(const ServicePort& o) const {
  return std::tie(name, protocol, port, target_port, app_protocol) ==
         std::tie(o.name, o.protocol, o.port, o.target_port, o.app_protocol);
}

bool ServiceSpec::operator==(const ServiceSpec& o) const {
  return std::tie(type, cluster_ip, selector, ports, publish_not_ready_addresses) ==
         std::tie(o.type, o.cluster_ip, o.selector, o.ports, o.publish_not_ready_addresses);
}

bool Service::operator==(const Service& o) const {
  return std::tie(api_version, kind, metadata, spec) ==
         std::tie(o.api_version, o.kind, o.metadata, o.spec);
}

bool IngressServiceBackend::operator==(const IngressServiceBackend& o) const {
  return std::tie(name, port_number, port_name) ==
         std::tie(o.name, o.port_number, o.port_name);
}

bool HTTPIngressPath::operator==(const HTTPIngressPath& o) const {
  return std::tie(path, path_type, backend_service) ==
         std::tie(o.path, o.path_type, o.backend_service);
}

bool IngressRule::operator==(const IngressRule& o) const {
  return std::tie(host, http_paths) ==
         std::tie(o.host, o.http_paths);
}

bool IngressTLS::operator==(const IngressTLS& o) const {
  return std::tie(hosts, secret_name) ==
         std::tie(o.hosts, o.secret_name);
}

bool IngressSpec::operator==(const IngressSpec& o) const {
  return std::tie(ingress_class_name, tls, rules) ==
         std::tie(o.ingress_class_name, o.tls, o.rules);
}

bool NetworkPolicyPort::operator==(const NetworkPolicyPort& o) const {
  return protocol == o.protocol && port == o.port;
}

bool NetworkPolicyIngressRule::operator==(const NetworkPolicyIngressRule& o) const {
  return from_namespace_labels == o.from_namespace_labels && ports == o.ports;
}

bool NetworkPolicySpec::operator==(const NetworkPolicySpec& o) const {
  return pod_selector == o.pod_selector && policy_types == o.policy_types &&
         ingress == o.ingress;
}

bool VolumeRef::operator==(const VolumeRef& o) const {
  return std::tie(name, claim_name) == std::tie(o.name, o.claim_name);
}

bool DeploymentSpec::operator==(const DeploymentSpec& o) const {
  return std::tie(replicas, selector, template_) == std::tie(o.replicas, o.selector, o.template_);
}

bool Deployment::operator==(const Deployment& o) const {
  return api_version == o.api_version && kind == o.kind && metadata == o.metadata &&
         spec == o.spec;
}

bool ConfigMap::operator==(const ConfigMap& o) const {
  return api_version == o.api_version && kind == o.kind && metadata == o.metadata &&
         data == o.data;
}

bool NetworkPolicy::operator==(const NetworkPolicy& o) const {
  return api_version == o.api_version && kind == o.kind && metadata == o.metadata &&
         spec == o.spec;
}

bool Ingress::operator==(const Ingress& o) const {
  return std::tie(api_version, kind, metadata, spec) ==
         std::tie(o.api_version, o.kind, o.metadata, o.spec);
}

bool PodCondition::operator==(const PodCondition& o) const {
  return std::tie(type, status, reason, message, last_transition_time) ==
         std::tie(o.type, o.status, o.reason, o.message, o.last_transition_time);
}

bool ContainerStateWaiting::operator==(const ContainerStateWaiting& o) const {
  return std::tie(reason, message) ==
         std::tie(o.reason, o.message);
}

bool ContainerStateRunning::operator==(const ContainerStateRunning& o) const {
  return std::tie(started_at) ==
         std::tie(o.started_at);
}

bool ContainerStateTerminated::operator==(const ContainerStateTerminated& o) const {
  return std::tie(exit_code, signal, reason, message, started_at, finished_at) ==
         std::tie(o.exit_code, o.signal, o.reason, o.message, o.started_at, o.finished_at);
}

bool ContainerState::operator==(const ContainerState& o) const {
  return std::tie(waiting, running, terminated) ==
         std::tie(o.waiting, o.running, o.terminated);
}

bool ContainerStatus::operator==(const ContainerStatus& o) const {
  return std::tie(name, image, image_id, container_id, ready, started, restart_count, state, last_state) ==
         std::tie(o.name, o.image, o.image_id, o.container_id, o.ready, o.started, o.restart_count, o.state, o.last_state);
}

bool PodStatus::operator==(const PodStatus& o) const {
  return std::tie(phase, conditions, reason, message, pod_ip, host_ip, start_time, init_container_statuses, container_statuses) ==
         std::tie(o.phase, o.conditions, o.reason, o.message, o.pod_ip, o.host_ip, o.start_time, o.init_container_statuses, o.container_statuses);
}

bool Pod::operator==(const Pod& o) const {
  return std::tie(api_version, kind, metadata, spec, status) ==
         std::tie(o.api_version, o.kind, o.metadata, o.spec, o.status);
}
}  // namespace sandboxd::kube
