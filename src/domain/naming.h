// Naming: the names, hosts, labels and annotations of the Kubernetes objects of one
// sandbox, derived from its name. These keep the platform's (Sealos) conventions and are
// read by the platform's own tools: do not change a value without a migration.
//
// Objects of sandbox <name> in namespace <ns>:
//   StatefulSet <name>, Service <name>-service, Ingresses
//   <name>-app-ingress and <name>-ttyd-ingress, claim template <tmpl> => PVC
//   <tmpl>-<name>-0 (<tmpl> is SealosVolumeName(mount path), "vn-homevn-agent", unless
//   configured; "home" on StatefulSets created before that), pod <name>-0,
//   pod DNS <name>-0.<name>-service.<ns>.svc.cluster.local,
//   hosts <name>-app.<domain> and <name>-ttyd.<domain>; and, shared by the sandboxes of
//   the namespace, NetworkPolicy sandboxd-sandboxes.
//
// Pure functions and constants. Thread-safe.
#ifndef SANDBOXD_DOMAIN_NAMING_H_
#define SANDBOXD_DOMAIN_NAMING_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sandboxd::domain {

// ---- Labels -------------------------------------------------------------------------
inline constexpr char kLabelApp[] = "app";  // = <name>; in every pod selector
// = <name>, on the pod template only. Only sandboxd sets it (its prefix is reserved), so
// the selectors of a sandbox's StatefulSet and Service, {app, sandboxd.dev/sandbox},
// never match a foreign pod that happens to be labelled app=<name>. StatefulSets created
// before it existed select {app} only (a StatefulSet's selector is immutable).
inline constexpr char kLabelSandbox[] = "sandboxd.dev/sandbox";
inline constexpr char kLabelDeployManager[] = "cloud.sealos.io/app-deploy-manager";  // <name>
// On Ingresses: the first DNS label of the host (<name>-app / <name>-ttyd).
inline constexpr char kLabelDeployManagerDomain[] = "cloud.sealos.io/app-deploy-manager-domain";
inline constexpr char kLabelProject[] = "sandboxd.dev/project";
inline constexpr char kLabelManagedBy[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "sandboxd";

// ---- Annotations --------------------------------------------------------------------
inline constexpr char kAnnotationOriginImageName[] = "originImageName";
inline constexpr char kAnnotationMinReplicas[] = "deploy.cloud.sealos.io/minReplicas";
inline constexpr char kAnnotationMaxReplicas[] = "deploy.cloud.sealos.io/maxReplicas";
inline constexpr char kAnnotationResize[] = "deploy.cloud.sealos.io/resize";  // storage size
// SpecHash() of the normalized spec the StatefulSet was created from.
inline constexpr char kAnnotationSpecHash[] = "sandboxd.dev/spec-hash";
// The ingress domain the sandbox was created with (absent: no Ingresses), so that
// SpecFromStatefulSet() can return it.
inline constexpr char kAnnotationIngressDomain[] = "sandboxd.dev/ingress-domain";
// On a served namespace: the ingress domains its sandboxes may use, comma-separated
// (ParseDomainList). Narrows limits.allowed_ingress_domains; "" allows none.
inline constexpr char kAnnotationAllowedIngressDomains[] =
    "sandboxd.dev/allowed-ingress-domains";
// On a migrated StatefulSet: the URLs of its adopted Ingresses (random hosts, not
// AppHost/TerminalHost; https when the Ingress has TLS for the host), which the Sandbox
// view's endpoints show (DeriveSandbox).
inline constexpr char kAnnotationAppUrl[] = "sandboxd.dev/app-url";
inline constexpr char kAnnotationTerminalUrl[] = "sandboxd.dev/terminal-url";
// On a migrated StatefulSet whose adopted Service is not headless (a Deployment-era
// ClusterIP Service): "true"; its pod has no DNS name of its own, so the view shows none.
inline constexpr char kAnnotationNoPodDns[] = "sandboxd.dev/no-pod-dns";
// On a claim kept by DeleteSandbox(keep_storage): "true". Only a new sandbox of the same
// name adopts it; no cleanup of an absent sandbox deletes it.
inline constexpr char kAnnotationKeptClaim[] = "sandboxd.dev/kept";

// Label-key prefixes a caller may not use in SandboxSpec::labels (ours, the platform's,
// Kubernetes'); a key is reserved if its prefix equals one of these or ends with
// "." + one of these.
inline constexpr const char* kReservedLabelPrefixes[] = {"sandboxd.dev", "cloud.sealos.io",
                                                          "kubernetes.io", "k8s.io"};

// True if `key` is a label key sandboxd sets itself or that belongs to the platform or
// Kubernetes: "app", or a prefix in kReservedLabelPrefixes (or a subdomain of one).
bool IsReservedLabelKey(std::string_view key);

// On the home volumeClaimTemplate (Sealos launchpad convention, read by its UI to show
// and resize the volume): the mount path and the size in Gi (an integer, rounded up).
inline constexpr char kClaimAnnotationPath[] = "path";
inline constexpr char kClaimAnnotationSizeGi[] = "value";

// ---- Fixed object parts -------------------------------------------------------------
// The claim template (and volume) name of StatefulSets created before the Sealos
// convention; such sandboxes keep it for life (a StatefulSet's templates are immutable).
inline constexpr char kLegacyClaimTemplateName[] = "home";
inline constexpr char kAppPortName[] = "app";
inline constexpr char kTerminalPortName[] = "ttyd";
// The NetworkPolicy of a namespace's sandboxes (one per namespace, builders.h).
inline constexpr char kNetworkPolicyName[] = "sandboxd-sandboxes";

// ---- Name budget --------------------------------------------------------------------
// Longest suffix appended to a sandbox name in any derived DNS-1123 label:
//   "-ttyd-ingress" (13); also covers "home-" + "-0" (7), "-service" (8), and the pod's
//   controller-revision-hash label value "<name>-<10 chars>" (11). A longer claim
//   template name (the Sealos "vn-homevn-agent-" + "-0" is 18) is checked when a sandbox
//   is created (ValidateClaimTemplate), so existing names stay valid.
inline constexpr size_t kMaxDerivedSuffix = 13;
inline constexpr size_t kMaxDnsLabel = 63;
inline constexpr size_t kMaxSandboxNameLength = kMaxDnsLabel - kMaxDerivedSuffix;  // 50

std::string StatefulSetName(std::string_view name);   // <name>
std::string ServiceName(std::string_view name);       // <name>-service
std::string AppIngressName(std::string_view name);    // <name>-app-ingress
std::string TtydIngressName(std::string_view name);   // <name>-ttyd-ingress
// <claim_template>-<name>-0: the PVC the StatefulSet controller makes for pod <name>-0.
std::string ClaimName(std::string_view claim_template, std::string_view name);
// The Sealos launchpad volume name of a mount path: each "/" written as "vn-"
// ("/home/agent" -> "vn-homevn-agent"). Not necessarily a valid DNS label.
std::string SealosVolumeName(std::string_view mount_path);
std::string PodName(std::string_view name);           // <name>-0
// <name>-0.<name>-service.<ns>.svc.cluster.local
std::string PodDnsName(std::string_view name, std::string_view ns);
std::string AppHost(std::string_view name, std::string_view domain);       // <name>-app.<domain>
std::string TerminalHost(std::string_view name, std::string_view domain);  // <name>-ttyd.<domain>
// First DNS label of AppHost / TerminalHost: the value of kLabelDeployManagerDomain.
std::string AppHostLabel(std::string_view name);       // <name>-app
std::string TerminalHostLabel(std::string_view name);  // <name>-ttyd

// All derived DNS-1123 label names of `name` (for validation of the name budget), with
// the claim of the legacy template.
// Each must be a valid label of at most 63 characters.
struct DerivedName {
  const char* what;  // e.g. "PVC"
  std::string value;
};
std::vector<DerivedName> DerivedLabelNames(std::string_view name);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_NAMING_H_
