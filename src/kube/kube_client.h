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
// Watches (Watch) are long-lived streams with their own contract, documented at Watch.
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
#include "src/kube/json_object.h"

namespace sandboxd::kube {

// The resource kinds sandboxd manages or reads. Each maps to one API group/version/plural.
enum class Kind {
  kStatefulSet,            // apps/v1 statefulsets
  kService,                // v1 services
  kIngress,                // networking.k8s.io/v1 ingresses
  kNetworkPolicy,          // networking.k8s.io/v1 networkpolicies
  kPod,                    // v1 pods
  kPersistentVolumeClaim,  // v1 persistentvolumeclaims
  kDeployment,             // apps/v1 deployments (migration source)
  kConfigMap,              // v1 configmaps (migration records)
  kNamespace,              // v1 namespaces (cluster-scoped): which ones sandboxd serves
  kTokenReview,            // authentication.k8s.io/v1 tokenreviews (cluster-scoped, create only)
  kSubjectAccessReview,    // authorization.k8s.io/v1 subjectaccessreviews (cluster-scoped,
                           // create only)
  kLease,                  // coordination.k8s.io/v1 leases (leader election)
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
  // The caller's writes are idempotent: a write that failed in transport (the server may
  // or may not have applied it) is sent again, like a GET, within the deadline. A repeated
  // POST may then answer ALREADY_EXISTS (the first attempt's object), a repeated PATCH
  // with a resourceVersion ABORTED; a repeated DELETE that finds nothing (404) succeeds
  // with an empty body. Without it, writes are never repeated after a transport failure.
  // (Any call that met a transport failure also retries a 403: an API server that has
  // just restarted refuses requests until its authorizer has synced.)
  bool idempotent_writes = false;
};

// `ns` is "" for a cluster-scoped kind.
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

// Parameters of a watch (GET ...?watch=1).
struct WatchOptions {
  std::string label_selector;    // raw selector syntax; the client URL-encodes it
  std::string resource_version;  // start after this RV; "" = "most recent" (no replay)
  bool allow_bookmarks = true;   // allowWatchBookmarks=true
  int64_t timeout_seconds = 0;   // server closes the stream after this long; 0: server default
};

// One event of a watch stream. ERROR events are never delivered as events: they end the
// watch (see KubeClient::Watch).
struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type;
  // The event's "object" member, parsed once by the decoder (never null in an event a
  // client delivers).
  JsonObject object;
};

// Stops one watch. Thread-safe. The handle does not own the watch's callbacks, and may
// be destroyed at any time, also after the client is gone; destroying it calls Stop().
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
  // Requests the end of the watch. Never blocks, never runs a callback on the caller's
  // stack; idempotent; callable from any thread, including from the watch's own callbacks.
  // If the watch has not ended yet, on_done(CANCELLED) follows soon on the I/O thread
  // (possibly after Stop() returns); if it has already ended, nothing more happens.
  // When called on the I/O thread (i.e. from any callback of the same client), no
  // further on_event of this watch runs. When called from another thread, an on_event
  // that is running or about to start may still run; callers needing a hard fence keep
  // their own flag (Reflector does).
  virtual void Stop() = 0;
};

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

  // Opens a watch on `kind` in `ns` ("" = all namespaces): GET <collection>?watch=1 with
  // allowWatchBookmarks, resourceVersion, timeoutSeconds and labelSelector from `opts`.
  // Each ADDED/MODIFIED/DELETED/BOOKMARK event runs `on_event` in stream order; then
  // `on_done` runs exactly once (both on the I/O thread; no on_event after on_done):
  //   OK                 the server ended the stream (normal at timeoutSeconds);
  //   <mapped code>      an ERROR event (a Status inside HTTP 200; 410 Expired/Gone ->
  //                      OUT_OF_RANGE) or a non-2xx response, mapped as for every call;
  //   CANCELLED          Stop(), `call.cancel`, or client shutdown;
  //   UNAVAILABLE        transport failure, including a stalled stream;
  //   INTERNAL           an undecodable event line;
  //   INVALID_ARGUMENT   bad namespace or negative timeout (before any request).
  // The request goes through the client's throttle; events do not. There are no retries
  // (callers such as Reflector re-watch); `call.deadline` only bounds the wait before the
  // request is sent. Everything `on_event`/`on_done` capture must stay valid until
  // on_done has run. The returned handle is never null.
  // The default implementation exists for fakes that predate watches: it runs `on_done`
  // inline with UNIMPLEMENTED and returns an inert handle.
  virtual std::unique_ptr<WatchHandle> Watch(Kind kind, const std::string& ns,
                                             const WatchOptions& opts, const CallOptions& call,
                                             std::function<void(WatchEvent)> on_event,
                                             std::function<void(absl::Status)> on_done);

  // Runs `fn` once on the I/O thread, no earlier than `delay` from now: a timer for
  // backoffs and periodic work that never blocks a thread. Returns OK when scheduled;
  // CANCELLED when the client is shutting down (fn is dropped); UNIMPLEMENTED from the
  // default implementation (fn is dropped). A timer still pending when the client shuts
  // down is destroyed without running.
  virtual absl::Status RunAfter(absl::Duration delay, std::function<void()> fn) {
    return absl::UnimplementedError("KubeClient::RunAfter is not implemented");
  }
};

namespace internal {
// The handle returned by the default KubeClient::Watch.
class InertWatchHandle final : public WatchHandle {
 public:
  void Stop() override {}
};
}  // namespace internal

inline std::unique_ptr<WatchHandle> KubeClient::Watch(Kind kind, const std::string& ns,
                                                      const WatchOptions& opts,
                                                      const CallOptions& call,
                                                      std::function<void(WatchEvent)> on_event,
                                                      std::function<void(absl::Status)> on_done) {
  on_done(absl::UnimplementedError("KubeClient::Watch is not implemented"));
  return std::make_unique<internal::InertWatchHandle>();
}

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_KUBE_CLIENT_H_
