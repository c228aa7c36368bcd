// KubeClient: the asynchronous seam between sandboxd and the Kubernetes API.
//
// Every write that stores fields (Create, Patch, Replace) sends fieldManager=sandboxd.
//
// Every call returns at once; its callback runs exactly once, later, on a thread owned
// by the implementation (never on the caller's stack), with either the response body
// (a JSON document) or an error status mapped once from the Kubernetes response:
//   404 NotFound -> NOT_FOUND          409 AlreadyExists -> ALREADY_EXISTS
//   409 Conflict -> ABORTED            410 Gone/Expired  -> OUT_OF_RANGE
//   422 Invalid  -> INVALID_ARGUMENT   401 -> UNAUTHENTICATED, 403 -> PERMISSION_DENIED
//   429 / 5xx after retries -> UNAVAILABLE, deadline -> DEADLINE_EXCEEDED,
//   cancelled -> CANCELLED, transport failure -> UNAVAILABLE.
// The error's payload "k8s.reason" carries the Kubernetes Status reason when there is one.
//
// Callbacks must not block: they run on the I/O thread. Issuing new calls from inside a
// callback is allowed.
//
// Thread-safe: every method may be called from any thread.
#ifndef SANDBOXD_KUBE_KUBE_CLIENT_H_
#define SANDBOXD_KUBE_KUBE_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sandboxd::kube {

// The resource kinds sandboxd manages or reads. Each maps to one API group/version/plural.
enum class Kind {
  kStatefulSet,            // apps/v1 statefulsets
  kService,                // v1 services
  kIngress,                // networking.k8s.io/v1 ingresses
  kPod,                    // v1 pods
  kPersistentVolumeClaim,  // v1 persistentvolumeclaims
  kDeployment,             // apps/v1 deployments (migration source)
};

// Cooperative cancellation shared between a caller (e.g. a gRPC reactor's OnCancel) and
// in-flight requests. Thread-safe.
class CancellationToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool IsCancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

// Per-call options. `deadline` bounds the whole call including retries; a call whose
// deadline passes fails with DEADLINE_EXCEEDED. `cancel`, when set, aborts the call with
// CANCELLED as soon as it is observed (shared: it must outlive the call).
struct CallOptions {
  absl::Time deadline = absl::InfiniteFuture();
  std::shared_ptr<const CancellationToken> cancel;
  std::string request_id;  // logged with every Kubernetes request of this call
  bool dry_run = false;    // writes only: adds dryRun=All (validation without persisting)
};

struct ObjectRef {
  Kind kind;
  std::string ns;
  std::string name;
};

struct ListOptions {
  std::string label_selector;  // raw selector syntax; the client URL-encodes it
  int64_t limit = 0;           // 0: no paging
  std::string continue_token;
  std::string resource_version;  // "" = consistent read, "0" = any (watch cache)
};

enum class PatchType {
  kMerge,           // application/merge-patch+json
  kStrategicMerge,  // application/strategic-merge-patch+json
  kJson,            // application/json-patch+json
  kApply,           // application/apply-patch+yaml (server-side apply, force=true; a JSON
                    // body is valid YAML). Send only the fields sandboxd owns.
};

enum class Propagation { kBackground, kForeground, kOrphan };

struct DeleteOptions {
  Propagation propagation = Propagation::kBackground;
  std::string precondition_uid;               // empty: none
  std::string precondition_resource_version;  // empty: none
};

using ResponseCallback = std::function<void(absl::StatusOr<std::string> body)>;

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // GET one object. `subresource` may be "" or e.g. "scale", "status".
  virtual void Get(const ObjectRef& ref, const std::string& subresource, const CallOptions& opts,
                   ResponseCallback done) = 0;
  // GET a list (one page). Returns the List document.
  virtual void List(Kind kind, const std::string& ns, const ListOptions& list,
                    const CallOptions& opts, ResponseCallback done) = 0;
  // POST a new object (JSON body). Returns the created object.
  virtual void Create(Kind kind, const std::string& ns, std::string body, const CallOptions& opts,
                      ResponseCallback done) = 0;
  // PATCH an object or a subresource. Returns the patched object.
  virtual void Patch(const ObjectRef& ref, const std::string& subresource, PatchType type,
                     std::string body, const CallOptions& opts, ResponseCallback done) = 0;
  // DELETE an object. Returns the response body (the object being deleted or a Status).
  virtual void Delete(const ObjectRef& ref, const DeleteOptions& del, const CallOptions& opts,
                      ResponseCallback done) = 0;
  // PUT a whole object (optimistic concurrency: the body carries metadata.resourceVersion;
  // a stale one fails with ABORTED, and the caller GETs, re-applies and retries).
  // Returns the stored object. The default implementation exists only so that fakes
  // written before Replace was added still compile: it runs `done` inline with
  // UNIMPLEMENTED. CurlKubeClient overrides it and honours the callback contract.
  virtual void Replace(const ObjectRef& ref, const std::string& subresource, std::string body,
                       const CallOptions& opts, ResponseCallback done) {
    done(absl::UnimplementedError("KubeClient::Replace is not implemented"));
  }
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_KUBE_CLIENT_H_
