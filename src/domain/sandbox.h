// Value types of the sandbox domain: what a caller asks for (SandboxSpec), the
// deployment-wide defaults that fill its gaps (SandboxDefaults) and the maxima it must
// stay within (SandboxLimits), and the observed view of a sandbox (Sandbox) derived from
// its Kubernetes objects.
//
// Plain values, no I/O. Thread-compatible.
#ifndef SANDBOXD_DOMAIN_SANDBOX_H_
#define SANDBOXD_DOMAIN_SANDBOX_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/time.h"

namespace sandboxd::domain {

// Kubernetes quantities as the caller wrote them ("500m", "1Gi"); empty means unset.
struct ResourceQuantities {
  std::string cpu;
  std::string memory;
};

struct Resources {
  ResourceQuantities requests;
  ResourceQuantities limits;
};

struct StorageSpec {
  std::string size;           // quantity, e.g. "5Gi"
  std::string storage_class;  // empty: the cluster's default StorageClass
  std::string mount_path;     // absolute path in the main container
};

struct PortsSpec {
  int32_t app = 0;       // application port (default 3000)
  int32_t terminal = 0;  // ttyd terminal port (default 7681)
};

// What a caller asks for. After ApplyDefaults() every field that has a default is set.
struct SandboxSpec {
  std::string name;
  std::string ns;  // namespace
  std::string project;
  std::string image;
  std::map<std::string, std::string> env;  // ordered by name: deterministic objects
  Resources resources;
  StorageSpec storage;
  PortsSpec ports;
  std::string ingress_domain;  // empty: no Ingresses
  std::map<std::string, std::string> labels;
};

// Deployment-wide maxima of caller input (server flags / config file `limits:`), checked
// by ValidateSpec, ValidateEnvUpdate, ValidateUpdatedEnv and ValidateListFilter
// (validation.h). Quantities are Kubernetes quantities; an empty quantity is no maximum.
// The default counts and sizes keep one StatefulSet well below the API server's object
// size limit (~1.5 MiB) and selectors cheap to match.
struct SandboxLimits {
  std::string max_storage_size = "100Gi";            // storage.size
  std::vector<std::string> allowed_storage_classes;  // empty: any, else storage_class in it
  std::vector<std::string> allowed_ingress_domains;  // empty: any, else ingress_domain in it
  std::string max_cpu = "16";                        // resources.{requests,limits}.cpu
  std::string max_memory = "64Gi";                   // resources.{requests,limits}.memory
  int64_t max_env_vars = 256;                        // entries of env
  int64_t max_env_bytes = int64_t{256} * 1024;       // sum of env names and values
  int64_t max_labels = 32;                           // caller labels
  int64_t max_selector_length = 1024;                // List/WatchSandboxes label_selector
  int64_t max_selector_terms = 20;                   // its requirements
};

// Deployment-wide defaults and settings (server flags / config file).
struct SandboxDefaults {
  std::string image;
  // Non-empty requests by default: a pod with no request and no limit is BestEffort (the
  // first evicted, no CPU share under contention). No limits by default.
  Resources resources = {{"500m", "1Gi"}, {}};
  std::string storage_size = "5Gi";
  std::string storage_class;  // empty: the cluster's default
  std::string mount_path = "/home/agent";
  // The name of a new sandbox's volumeClaimTemplate (its claim is <name>-<sandbox>-0).
  // Empty: the Sealos launchpad name of the spec's mount path (SealosVolumeName,
  // "vn-homevn-agent" for /home/agent). "home" gives the pre-Sealos naming.
  std::string claim_template_name;
  int32_t app_port = 3000;
  int32_t terminal_port = 7681;
  std::string ingress_domain;  // used when the spec leaves it empty; empty: no Ingresses
  std::string ingress_class = "nginx";
  std::string tls_secret;  // empty: Ingresses without TLS (and URLs say http://)
  // External authentication of the Ingresses (ingress-nginx auth-url / auth-signin, as
  // oauth2-proxy setups use). Empty: none. Always on the terminal Ingress when set; on
  // the app Ingress too if ingress_auth_app.
  std::string ingress_auth_url;
  std::string ingress_auth_signin;
  bool ingress_auth_app = false;
  // The ingress controller's namespace: the NetworkPolicy of each namespace
  // (BuildNetworkPolicy) admits only its pods to the sandboxes' ports. Empty: none.
  std::string ingress_controller_namespace = "ingress-nginx";
  int64_t run_as_user = 1000;
  int64_t fs_group = 1000;
  // How long a claim may stay Pending before the sandbox is ERROR(CLAIM_NOT_BOUND).
  absl::Duration claim_bind_timeout = absl::Minutes(2);
  // How long a pod may be reported Unschedulable before the sandbox is
  // ERROR(UNSCHEDULABLE): the scheduler retries by itself, e.g. once a claim binds.
  absl::Duration unschedulable_grace = absl::Seconds(30);
  SandboxLimits limits;  // what callers may ask for (config `limits:`)
};

enum class Phase {
  kUnspecified,
  kStarting,  // wants 1 replica, pod not ready yet
  kRunning,   // pod ready and the controller observed the latest generation
  kStopping,  // wants 0 replicas, pod still there
  kStopped,   // wants 0 replicas, no pod
  kDeleting,  // deletion timestamp set
  kError,     // see ErrorReason
};

enum class ErrorReason {
  kNone,
  kImagePullFailure,  // ErrImagePull / ImagePullBackOff / InvalidImageName
  kCrashLoop,         // CrashLoopBackOff
  kUnschedulable,     // PodScheduled=False reason Unschedulable
  kClaimNotBound,     // claim Pending longer than SandboxDefaults::claim_bind_timeout
  kContainerConfig,   // CreateContainerConfigError / CreateContainerError
};

struct Endpoints {
  std::string pod_dns;       // <name>-0.<name>-service.<ns>.svc.cluster.local
  std::string app_url;       // https://<name>-app.<domain>, empty without ingress domain
  std::string terminal_url;  // https://<name>-ttyd.<domain>, empty without ingress domain
};

struct StorageStatus {
  std::string claim_name;  // <claim>-<name>-0
  std::string phase;       // PVC phase: Pending, Bound, Lost; empty if no claim yet
  std::string capacity;    // status.capacity.storage once bound
  std::string uid;         // PVC UID: the same claim is re-bound across stop/start
};

// The observed view of one sandbox.
struct Sandbox {
  SandboxSpec spec;
  Phase phase = Phase::kUnspecified;
  ErrorReason error_reason = ErrorReason::kNone;
  std::string message;  // human-readable detail for ERROR and transitional phases
  int32_t desired_replicas = 0;
  int32_t ready_replicas = 0;
  Endpoints endpoints;
  StorageStatus storage;
  absl::Time created = absl::InfinitePast();
  std::string version;  // StatefulSet metadata.generation: an etag for preconditions
  std::string uid;      // StatefulSet UID
  // StatefulSet metadata.resourceVersion this view was derived from (at least: a
  // StatefulSet write that changes nothing visible does not record a new watch state).
  // Awaited by min_resource_version (read-your-writes across replicas).
  std::string resource_version;
};

// UpdateSandboxEnv: keys in `set` are added or overwritten, keys in `remove` are
// dropped, every other key is kept. A key may not be in both.
struct EnvUpdate {
  std::map<std::string, std::string> set;
  std::vector<std::string> remove;
  std::string expected_version;  // non-empty: FAILED_PRECONDITION unless it matches
};

struct ListQuery {
  std::string ns;              // required
  std::string project;         // empty: any project
  std::string label_selector;  // Kubernetes selector syntax, ANDed with the above
  int32_t page_size = 0;       // 0: server default
  std::string page_token;      // from a previous ListResult
};

struct ListResult {
  std::vector<Sandbox> sandboxes;
  std::string next_page_token;  // empty: last page
};

struct DeleteRequest {
  std::string ns;
  std::string name;
  bool keep_storage = false;   // keep the PVC (the home volume)
  bool allow_missing = false;  // OK instead of NOT_FOUND when there is no such sandbox
};

// ---- Equality: every field (tests/unit/domain/sandbox_equality_test.cc changes each one).
// A field added to one of these types must be added to its Tie() too.

inline auto Tie(const ResourceQuantities& q) { return std::tie(q.cpu, q.memory); }
inline auto Tie(const Resources& r) { return std::tie(r.requests, r.limits); }
inline auto Tie(const StorageSpec& s) { return std::tie(s.size, s.storage_class, s.mount_path); }
inline auto Tie(const PortsSpec& p) { return std::tie(p.app, p.terminal); }
inline auto Tie(const SandboxSpec& s) {
  return std::tie(s.name, s.ns, s.project, s.image, s.env, s.resources, s.storage, s.ports,
                  s.ingress_domain, s.labels);
}
inline auto Tie(const Endpoints& e) { return std::tie(e.pod_dns, e.app_url, e.terminal_url); }
inline auto Tie(const StorageStatus& s) {
  return std::tie(s.claim_name, s.phase, s.capacity, s.uid);
}
inline auto Tie(const Sandbox& s) {
  return std::tie(s.spec, s.phase, s.error_reason, s.message, s.desired_replicas, s.ready_replicas,
                  s.endpoints, s.storage, s.created, s.version, s.uid, s.resource_version);
}

#define SANDBOXD_DOMAIN_EQUALITY(T)                                           \
  inline bool operator==(const T& a, const T& b) { return Tie(a) == Tie(b); } \
  inline bool operator!=(const T& a, const T& b) { return !(a == b); }
SANDBOXD_DOMAIN_EQUALITY(ResourceQuantities)
SANDBOXD_DOMAIN_EQUALITY(Resources)
SANDBOXD_DOMAIN_EQUALITY(StorageSpec)
SANDBOXD_DOMAIN_EQUALITY(PortsSpec)
SANDBOXD_DOMAIN_EQUALITY(SandboxSpec)
SANDBOXD_DOMAIN_EQUALITY(Endpoints)
SANDBOXD_DOMAIN_EQUALITY(StorageStatus)
SANDBOXD_DOMAIN_EQUALITY(Sandbox)
#undef SANDBOXD_DOMAIN_EQUALITY

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_SANDBOX_H_
