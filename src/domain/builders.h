// Builders: the desired Kubernetes objects of one sandbox, as pure functions of its spec,
// and the inverse (the spec a StatefulSet was built from).
//
// Objects (docs/ARCHITECTURE.md "Kubernetes objects of a sandbox", and naming.h):
//  - StatefulSet <name>: 1 replica, governing Service <name>-service, selector
//    {app, sandboxd.dev/sandbox} = <name> (PodSelector; naming.h kLabelSandbox),
//    RollingUpdate, one volumeClaimTemplate (ClaimTemplateNameFor; Sealos annotations
//    path and value, the size in Gi) mounted at the spec's mount path,
//    PVC retention {whenScaled: Retain, whenDeleted: Delete}, Sealos labels/annotations,
//    the spec hash; one non-root container named <name>.
//  - Service <name>-service: headless (clusterIP None) governing Service with the
//    StatefulSet's pod selector; it exists so that the pod has the stable DNS name
//    <name>-0.<name>-service.<ns>.svc.cluster.local.
//    How the Ingresses reach the pod: their backends name this Service and its "app" /
//    "ttyd" port. Ingress controllers (ingress-nginx, Traefik, HAProxy, ...) do not use a
//    Service's cluster IP: they watch its EndpointSlices and proxy straight to the ready
//    pod IPs, which a headless Service has like any other. So one headless Service serves
//    both DNS and Ingress, and no second ClusterIP Service is needed. (An ingress
//    controller configured to proxy to the Service's cluster IP, e.g. ingress-nginx
//    `service-upstream: "true"`, would not work with it.)
//  - Ingresses <name>-app-ingress / <name>-ttyd-ingress, only when the spec has an
//    ingress domain.
// Service and Ingresses are created after the StatefulSet and carry a controller
// ownerReference to it (SetOwnerReference), so deleting the StatefulSet garbage-collects
// them and a half-finished create leaves no orphans.
// One object is per namespace, not per sandbox: the NetworkPolicy sandboxd-sandboxes
// (BuildNetworkPolicy), shared by every sandbox of the namespace and never deleted.
//
// Preconditions for every Build*: `spec` is the result of ApplyDefaults() and passed
// ValidateSpec(). Objects come out without uid/resourceVersion/status.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_DOMAIN_BUILDERS_H_
#define SANDBOXD_DOMAIN_BUILDERS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/domain/sandbox.h"
#include "src/kube/objects.h"

namespace sandboxd::domain {

inline constexpr int32_t kRevisionHistoryLimit = 2;

kube::StatefulSet BuildStatefulSet(const SandboxSpec& spec, const SandboxDefaults& defaults);
// The same with the claim template named `claim_template` (e.g. to adopt a kept claim
// of the legacy name).
kube::StatefulSet BuildStatefulSet(const SandboxSpec& spec, const SandboxDefaults& defaults,
                                   const std::string& claim_template);

// The claim template name a new sandbox of `spec` gets: defaults.claim_template_name, or
// when that is empty SealosVolumeName(spec.storage.mount_path).
std::string ClaimTemplateNameFor(const SandboxSpec& spec, const SandboxDefaults& defaults);
// The claim template name of an existing StatefulSet: its first volumeClaimTemplate's
// name; kLegacyClaimTemplateName if it has none.
std::string ClaimTemplateName(const kube::StatefulSet& sts);
// ClaimName(ClaimTemplateName(sts), sts.metadata.name).
std::string ClaimNameOf(const kube::StatefulSet& sts);
// The Sealos "value" annotation of a storage size: whole Gi, rounded up ("5Gi" -> "5",
// "500Mi" -> "1"); "" if `size` is not a quantity.
std::string SizeInGi(const std::string& size);
// {app: <name>, sandboxd.dev/sandbox: <name>}: the selector of a sandbox's pods.
kube::StringMap PodSelector(std::string_view name);

kube::Service BuildService(const SandboxSpec& spec, const SandboxDefaults& defaults);
// The Service of the existing StatefulSet `owner`, selecting its pods: PodSelector() if
// its pod template carries kLabelSandbox; otherwise (a StatefulSet created before that
// label existed) its own selector's matchLabels, narrowed by the managed-by label when
// its pod template carries it. Use it to create the Service once the StatefulSet exists.
kube::Service BuildService(const SandboxSpec& spec, const SandboxDefaults& defaults,
                           const kube::StatefulSet& owner);
// NetworkPolicy sandboxd-sandboxes of namespace `ns` (kNetworkPolicyName): ingress to
// every sandbox pod of the namespace (label managed-by=sandboxd) only from pods of the
// namespace defaults.ingress_controller_namespace (by its kubernetes.io/metadata.name
// label), only to the container ports named "app" and "ttyd". Egress is not restricted.
// One per namespace, without an owner. nullopt when that setting is empty.
std::optional<kube::NetworkPolicy> BuildNetworkPolicy(const std::string& ns,
                                                      const SandboxDefaults& defaults);
kube::Ingress BuildAppIngress(const SandboxSpec& spec, const SandboxDefaults& defaults);
kube::Ingress BuildTtydIngress(const SandboxSpec& spec, const SandboxDefaults& defaults);
// {app, ttyd} when spec.ingress_domain is set; empty otherwise.
std::vector<kube::Ingress> BuildIngresses(const SandboxSpec& spec,
                                          const SandboxDefaults& defaults);

// The controller reference to StatefulSet `name` with `uid` (the uid of the created
// object): apps/v1 StatefulSet, controller: true, blockOwnerDeletion: true.
kube::OwnerReference StatefulSetOwnerReference(std::string_view name, std::string_view uid);

// Sets `ref` on `meta`, replacing an existing reference of the same kind and name.
void SetOwnerReference(const kube::OwnerReference& ref, kube::ObjectMeta* meta);

// The PVC retention policy: whenScaled Retain (stop keeps the data); whenDeleted Retain
// if `keep_storage_on_delete`, else Delete. BuildStatefulSet uses
// RetentionPolicy(false); a delete that keeps the data patches in RetentionPolicy(true)
// first.
kube::StatefulSetPersistentVolumeClaimRetentionPolicy RetentionPolicy(bool keep_storage_on_delete);

// A stable hash of a normalized spec (after ApplyDefaults), written to the StatefulSet's
// kAnnotationSpecHash: equal hashes mean equal specs, which makes Create idempotent.
// Stable across processes, builds and platforms (FNV-1a 64 over a length-prefixed
// canonical encoding with a version tag): 16 lowercase hex digits.
std::string SpecHash(const SandboxSpec& spec);

// The sandbox's container of `sts`: the one named like the sandbox, else the first;
// nullptr if there is none. Points into `sts`.
const kube::Container* FindMainContainer(const kube::StatefulSet& sts);

// The spec a StatefulSet was built from by BuildStatefulSet (as stored by Kubernetes):
// name, namespace, project, image, env, resources, storage, ports, ingress domain and
// caller labels (every label that is not reserved, see IsReservedLabelKey). For an object
// that BuildStatefulSet did not make, the fields it cannot find are left empty.
// SpecFromStatefulSet(BuildStatefulSet(s, d)) == s for every valid defaulted s.
SandboxSpec SpecFromStatefulSet(const kube::StatefulSet& sts);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_BUILDERS_H_
