// ClaimJanitor: deletes the home-volume claims that deleted sandboxes left behind.
//
// DeleteSandbox deletes the StatefulSet and then, once, its claim if the StatefulSet
// controller had not yet given it an owner reference (SandboxService::Delete). A
// controller whose informer lags (after an API-server restart) can still create the
// claim from its stale copy of the StatefulSet after that check; with the StatefulSet
// gone the claim never gets an owner reference, so neither that check nor the garbage
// collector removes it. The janitor does, in periodic sweeps:
//
//   Candidates  SandboxCache::StrayClaims(): claims labelled managed-by=sandboxd, not
//               kept (sandboxd.dev/kept: "true"), without owner references, of sandboxes
//               without a StatefulSet in the cache, in the namespaces the cache serves
//               and has synced.
//   Grace       a candidate is handled once this janitor has seen it as one (same UID)
//               in every sweep for at least `grace` and it is at least `grace` old
//               (creationTimestamp). A janitor that starts counts from its first sweep.
//   Confirm     one GET of the StatefulSet from the API server (the cache can lag): only
//               NOT_FOUND goes on; a StatefulSet found, or an error, leaves the claim to a
//               later sweep.
//   Delete      DELETE of the claim with its cached UID and resourceVersion as
//               preconditions, so that a claim recreated, adopted by a new StatefulSet of
//               the same name or otherwise changed since the cache saw it is left alone
//               (409; a later sweep sees its new state). NOT_FOUND and 409 count as done.
//               Each deletion is logged (info) and counted (deleted()).
//
// A sweep handles its claims one after the other; the next sweep is scheduled `interval`
// after the last answer. Everything runs on the KubeClient's I/O thread (RunAfter timers
// and response callbacks) and never blocks: the cache is read under its own mutex only.
//
// Every replica runs one; no leader election is needed: the GET and the preconditions make
// concurrent janitors (and a concurrent DeleteSandbox) safe, the later DELETE of the same
// claim answering 404 or 409.
//
// Calls sent: GET statefulsets/<sandbox>, DELETE persistentvolumeclaims/<claim> (RBAC:
// get on StatefulSets, delete on claims), and RunAfter timers.
//
// Thread-safe.
#ifndef SANDBOXD_SERVICE_CLAIM_JANITOR_H_
#define SANDBOXD_SERVICE_CLAIM_JANITOR_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "src/kube/kube_client.h"
#include "src/service/sandbox_cache.h"

namespace sandboxd::service {

class ClaimJanitor {
 public:
  struct Options {
    absl::Duration grace = absl::Seconds(60);  // > 0
    // Between the end of a sweep and the next; zero: DefaultInterval(grace).
    absl::Duration interval = absl::ZeroDuration();
    absl::Duration request_timeout = absl::Seconds(10);  // each GET and DELETE
    std::function<absl::Time()> clock;                   // for the grace; null: absl::Now
  };
  // grace / 4, within [1 s, 30 s].
  static absl::Duration DefaultInterval(absl::Duration grace);

  // `kube` and `cache` are not owned and must outlive the janitor; `kube` must also
  // outlive the callbacks the janitor has pending in it (with CurlKubeClient: destroy or
  // stop the janitor first; the client drops pending timers when it shuts down).
  ClaimJanitor(kube::KubeClient* kube, const SandboxCache* cache, Options options);
  ~ClaimJanitor();  // Stop()
  ClaimJanitor(const ClaimJanitor&) = delete;
  ClaimJanitor& operator=(const ClaimJanitor&) = delete;

  // Schedules the first sweep, `interval` from now. Idempotent; nothing after Stop().
  void Start();
  // Ends the sweeps and cancels the request in flight; when it returns no code of the
  // janitor runs any more (a callback running on the I/O thread is waited for).
  // Idempotent. Must not be called on the KubeClient's I/O thread.
  void Stop();

  // Claims deleted so far (a DELETE answered 2xx).
  uint64_t deleted() const;

 private:
  class Core;
  // Shared with the callbacks pending in the client, which may run after Stop (they then
  // do nothing).
  std::shared_ptr<Core> core_;
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_CLAIM_JANITOR_H_
