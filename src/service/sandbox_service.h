// SandboxService: the sandbox lifecycle (create, get, list, start, stop, update env,
// delete) orchestrated over the asynchronous KubeClient. Each operation validates its
// input (nothing is written on INVALID_ARGUMENT), builds the desired objects with the
// pure domain layer, issues Kubernetes requests, and derives the Sandbox view from the
// StatefulSet, its pod and its claim.
//
// The watch cache is the source of what is already known. Once it has synced:
//  - reads (Get, List) are answered from it, unless the caller asks for consistent_read;
//  - a write that depends on the current state (Start, Stop, UpdateEnv, Delete) reads it
//    from the cache, not the API server; state that the write depends on rides along as a
//    precondition the API server checks (UpdateEnv: resourceVersion; Delete: UID);
//  - read-your-writes: a mutating call answers only once the cache has applied the
//    resourceVersion its write returned (bounded by min(kMaxCacheWait, half the time to
//    the deadline)), and then from the cache. So every Get, List or Watch on this
//    process that starts after a mutating call returned reflects that write or
//    something newer. If the cache does not catch up in time, the answer comes from
//    fresh API reads instead (the write is then not yet visible to cached reads).
// Requests per call on the success path, with a synced cache (src/service/request_plan.h
// lists them): Create 2 + one per Ingress (whether a foreign claim has the new sandbox's
// claim name comes from the cache; the namespace's first create on this process also
// creates its NetworkPolicy), Start/Stop 1 (0 when already there), UpdateEnv 1 (0
// without a change; a 409 re-reads from the API server), Delete 2 (the claim is read
// after the DELETE: one no StatefulSet owns yet is deleted too; 3 with keep_storage),
// Get/List 0.
//
// Asynchronous: every method returns at once and calls `done` exactly once, later, on
// the KubeClient's I/O thread or the cache's input thread (or inline if the input is
// invalid or the answer comes straight from the cache). `done` must not block.
//
// Errors (absl codes; reason in the ErrorDetail, see domain/errors.h):
//   INVALID_ARGUMENT   bad input (INVALID_FIELD, metadata names the field)
//   NOT_FOUND          SANDBOX_NOT_FOUND: no sandbox of that name (or not ours)
//   ALREADY_EXISTS     SANDBOX_ALREADY_EXISTS: Create of an existing name, different spec
//   FAILED_PRECONDITION VERSION_MISMATCH (UpdateEnv etag) / SANDBOX_DELETING
//   ABORTED            CONCURRENT_MODIFICATION: conflicts persisted after retries
//   others             as mapped by the KubeClient (UNAVAILABLE, DEADLINE_EXCEEDED, ...)
//
// Thread-safe: methods may be called concurrently from any thread.
#ifndef SANDBOXD_SERVICE_SANDBOX_SERVICE_H_
#define SANDBOXD_SERVICE_SANDBOX_SERVICE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/domain/sandbox.h"
#include "src/kube/kube_client.h"
#include "src/kube/objects.h"
#include "src/service/ingress_hosts.h"
#include "src/service/sandbox_cache.h"

namespace sandboxd::service {

template <typename T>
using Done = std::function<void(absl::StatusOr<T>)>;

// The ingress domains a namespace allows, if it narrows the configured ones (see
// domain::ValidateNamespaceIngressDomain). Thread-safe.
using NamespaceIngressDomains =
    std::function<std::optional<std::vector<std::string>>(const std::string& ns)>;

class SandboxService {
 public:
  // How often UpdateEnv re-reads and retries after a 409 Conflict. Every round of
  // concurrent writers lets at least one through, so this many concurrent updates of one
  // sandbox always succeed; each retry starts with a fresh GET, which spaces them out.
  static constexpr int kMaxConflictRetries = 10;
  static constexpr int32_t kDefaultPageSize = 50;
  static constexpr int32_t kMaxPageSize = 500;
  // The longest a mutating call waits for the cache to apply its write.
  static constexpr absl::Duration kMaxCacheWait = absl::Seconds(5);
  static constexpr absl::Duration kObservePollInterval = absl::Milliseconds(25);

  // `kube` and `cache` must outlive the service; `cache` may be null (every read then
  // goes to the API server). `clock` returns the current time (injected for status
  // derivation: a claim Pending for too long is an error).
  // `hosts` may be null too (no check that a new Ingress host is free), and so may
  // `namespace_domains` (no namespace narrows the allowed ingress domains).
  SandboxService(kube::KubeClient* kube, SandboxCache* cache, domain::SandboxDefaults defaults,
                 IngressHosts* hosts = nullptr, std::function<absl::Time()> clock = absl::Now,
                 NamespaceIngressDomains namespace_domains = nullptr);

  // Creates the StatefulSet, then its Service and Ingresses (owned by it). Idempotent:
  // the same spec again repairs missing children and returns the sandbox without writing
  // the StatefulSet; a different spec under an existing name is ALREADY_EXISTS. A claim
  // of the sandbox's claim name that sandboxd did not create (it would be mounted into
  // the sandbox and deleted with it) is FAILED_PRECONDITION FOREIGN_CLAIM, and an Ingress
  // host another Ingress already claims is ALREADY_EXISTS INGRESS_HOST_TAKEN; nothing is
  // written then.
  void Create(domain::SandboxSpec spec, const kube::CallOptions& opts, Done<domain::Sandbox> done);

  // From the cache once it has synced, else (or with `consistent_read`) from the API
  // server. Read-your-writes across replicas: with a `min_resource_version` (a
  // Sandbox.resource_version, e.g. the answer of a write on another replica), a cached
  // read waits until the cache has applied every StatefulSet change up to it (see
  // AwaitProgress for the bound and the errors); INVALID_ARGUMENT (INVALID_FIELD
  // min_resource_version) if it is not a resource version.
  void Get(const std::string& ns, const std::string& name, bool consistent_read,
           const std::string& min_resource_version, const kube::CallOptions& opts,
           Done<domain::Sandbox> done);

  // Sandboxes managed by sandboxd in query.ns, optionally filtered by project and a label
  // selector, one page at a time (page_token: opaque, from the previous result; an expired
  // token is INVALID_ARGUMENT). Source as Get.
  // min_resource_version as in Get.
  void List(domain::ListQuery query, bool consistent_read, const std::string& min_resource_version,
            const kube::CallOptions& opts, Done<domain::ListResult> done);

  // Before a watch stream subscribes (SandboxCache::Subscribe): runs `then(OK)` once the
  // cache has reached the position of `resume_token` (a token of the current format; any
  // other resumes or resets at once) and `min_resource_version` (as in Get). Errors:
  // INVALID_ARGUMENT (INVALID_FIELD resume_token or min_resource_version), and those of
  // AwaitProgress.
  void AwaitWatchStart(const std::string& ns, const std::string& resume_token,
                       const std::string& min_resource_version, const kube::CallOptions& opts,
                       std::function<void(absl::Status)> then);

  // Scale to 1 / 0 through the scale subresource. No write if already there.
  void Start(const std::string& ns, const std::string& name, const kube::CallOptions& opts,
             Done<domain::Sandbox> done);
  void Stop(const std::string& ns, const std::string& name, const kube::CallOptions& opts,
            Done<domain::Sandbox> done);

  // Merges `update` into the main container's env. No change: no write (no pod restart).
  // Conflicts are retried on fresh state unless update.expected_version is set, in which
  // case a changed sandbox is FAILED_PRECONDITION.
  void UpdateEnv(const std::string& ns, const std::string& name, domain::EnvUpdate update,
                 const kube::CallOptions& opts, Done<domain::Sandbox> done);

  // Deletes the StatefulSet (foreground: its pod, Service and Ingresses go first by
  // their owner references; the claim by the retention policy, unless keep_storage, in
  // which case the claim is released and marked kept). With no StatefulSet, leftovers of
  // an orphaning delete are removed (never a kept claim); NOT_FOUND if there was nothing
  // at all (OK with allow_missing).
  void Delete(domain::DeleteRequest request, const kube::CallOptions& opts,
              std::function<void(absl::Status)> done);

 private:
  // Every mutating call's writes may be repeated after a transport failure (within the
  // caller's deadline): a repeated create takes the existing-object path, a repeated
  // patch is a no-op or a conflict that re-reads, a repeated delete that finds nothing
  // succeeds (kube::CallOptions::idempotent_writes). So a short API-server outage
  // delays a call instead of failing it.
  static kube::CallOptions IdempotentWrites(kube::CallOptions opts);
  bool CacheReady(const std::string& ns) const;
  // GET the StatefulSet and the pod and claim, and derive the view.
  void Load(const std::string& ns, const std::string& name, const kube::CallOptions& opts,
            Done<domain::Sandbox> done);
  // GET + decode the StatefulSet; NOT_FOUND if missing or not made by sandboxd.
  void LoadManagedStatefulSet(const std::string& ns, const std::string& name,
                              const kube::CallOptions& opts, Done<kube::StatefulSet> done);
  // The view of `sts`: GETs its pod and claim (in parallel) and derives.
  void Complete(kube::StatefulSet sts, const kube::CallOptions& opts, Done<domain::Sandbox> done);
  void LoadStatefulSet(const std::string& ns, const std::string& name,
                       const kube::CallOptions& opts, Done<std::string> done);
  // The current StatefulSet of a sandbox a write depends on: from the cache when it has
  // synced and holds it, else from the API server (`cached` says which).
  struct Current {
    kube::StatefulSet sts;
    bool cached = false;
  };
  void ReadCurrent(const std::string& ns, const std::string& name, const kube::CallOptions& opts,
                   Done<Current> done);
  // The view of `current` when nothing was written: from the cache if it came from there.
  void ReplyUnchanged(Current current, const kube::CallOptions& opts, Done<domain::Sandbox> done);
  // Runs `then(true)` once the cache has applied `resource_version` (see the class
  // comment for the bound), `then(false)` if it did not in time, has not synced, or
  // there is no cache.
  void AwaitCache(const std::string& ns, const std::string& resource_version,
                  const kube::CallOptions& opts, std::function<void(bool reached)> then);
  // Runs `then(OK)` once the cache (scope of `ns`) has reached `target` in every kind: at
  // once for an all-zero target or without a synced cache (reads then go to the API
  // server; Subscribe answers CACHE_NOT_SYNCED). Waits at most kMaxCacheWait, then
  // UNAVAILABLE CACHE_BEHIND (retry, here or on another replica), or DEADLINE_EXCEEDED
  // if opts.deadline comes first; UNAVAILABLE SERVER_SHUTTING_DOWN if the cache shuts
  // down. `then` runs on the cache's input thread, the client's I/O thread, or inline.
  void AwaitProgress(const std::string& ns, const Progress& target, const kube::CallOptions& opts,
                     std::function<void(absl::Status)> then);
  // The StatefulSet progress `min_resource_version` asks for ("" : none).
  static absl::StatusOr<Progress> MinProgress(const std::string& min_resource_version);
  // The answer of a write that left the StatefulSet at `resource_version`: from the cache
  // once it has applied it, else from fresh reads.
  void ReplyAfterWrite(const std::string& ns, const std::string& name,
                       const std::string& resource_version, const kube::CallOptions& opts,
                       Done<domain::Sandbox> done);
  void Scale(const std::string& ns, const std::string& name, int32_t replicas,
             const kube::CallOptions& opts, Done<domain::Sandbox> done);
  // The claim template of a new sandbox: the configured one (ClaimTemplateNameFor),
  // unless a claim of the legacy template that DeleteSandbox(keep_storage) kept before
  // the Sealos naming exists: then the legacy one, so that the sandbox adopts that claim.
  // Reads that claim only if the watch cache has it (or is not ready).
  void ChooseClaimTemplate(const domain::SandboxSpec& spec, const kube::CallOptions& opts,
                           std::function<void(absl::StatusOr<std::string>)> then);
  // OK if no claim named `claim` exists or sandboxd made it. Asks the watch cache once it
  // has synced `ns`, else the API server.
  void CheckClaimIsOurs(const std::string& ns, const std::string& name, const std::string& claim,
                        const kube::CallOptions& opts, std::function<void(absl::Status)> then);
  // Creates the NetworkPolicy of namespace `ns` (plan::CreateNetworkPolicy) unless this
  // process has created or found it before; OK if it exists. So a namespace's first
  // create on each process sends it; one deleted by hand comes back after a restart.
  void EnsureNetworkPolicy(const std::string& ns, const kube::CallOptions& opts,
                           std::function<void(absl::Status)> then);
  void CreateStatefulSet(const domain::SandboxSpec& spec, const std::string& claim_template,
                         const kube::CallOptions& opts, Done<domain::Sandbox> done);
  void EnsureChildren(const std::string& sts_json, const domain::SandboxSpec& spec,
                      bool fresh, const kube::CallOptions& opts, Done<domain::Sandbox> done);
  // Attempt 1 reads the current state from the cache; later attempts (after a 409, or
  // to confirm a version mismatch seen in the cache) from the API server.
  void UpdateEnvAttempt(const std::string& ns, const std::string& name, domain::EnvUpdate update,
                        int attempt, const kube::CallOptions& opts, Done<domain::Sandbox> done);
  void UpdateEnvFrom(Current current, const std::string& ns, const std::string& name,
                     domain::EnvUpdate update, int attempt, const kube::CallOptions& opts,
                     Done<domain::Sandbox> done);
  // Runs `then(OK)` once the StatefulSet controller has observed `generation` of the
  // StatefulSet `name` (status.observedGeneration), polling the cache (or the API server
  // when the cache does not hold it) every kObservePollInterval; DEADLINE_EXCEEDED after
  // min(2 * kMaxCacheWait, half the time to the deadline).
  void WaitUntilObserved(const std::string& ns, const std::string& name, int64_t generation,
                         const kube::CallOptions& opts, std::function<void(absl::Status)> then);
  void PollObserved(const std::string& ns, const std::string& name, int64_t generation,
                    absl::Time give_up, const kube::CallOptions& opts,
                    std::function<void(absl::Status)> then);
  void DeleteLeftovers(const domain::DeleteRequest& request, bool found_statefulset,
                       const kube::CallOptions& opts, std::function<void(absl::Status)> done);

  kube::KubeClient* const kube_;  // not owned
  SandboxCache* const cache_;     // not owned; may be null
  IngressHosts* const hosts_;     // not owned; may be null
  const domain::SandboxDefaults defaults_;
  const std::function<absl::Time()> clock_;
  const NamespaceIngressDomains namespace_domains_;  // may be null
  // Namespaces whose NetworkPolicy this process created or found (EnsureNetworkPolicy).
  absl::Mutex policies_mu_;
  absl::flat_hash_set<std::string> policies_ ABSL_GUARDED_BY(policies_mu_);
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_SANDBOX_SERVICE_H_
