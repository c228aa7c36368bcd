// FloorClient: the Kubernetes requests that each sandboxd RPC sends, sent directly with
// a KubeClient and nothing else around them: no gRPC, no validation, no decoding into
// typed objects, no Sandbox derivation, no watch cache. It is the "floor" of the
// benchmarks: the latency sandboxd cannot go below, measured against the same API server
// in the same run.
//
// The writes are not written out here: each mutating call sends the requests of
// src/service/request_plan.h, the values SandboxService sends on its success path, in the
// same order and parallelism, each follow-up issued from the previous callback (on the
// KubeClient's I/O thread, as the service does). What the service knows from its watch
// cache (the StatefulSet's uid and resourceVersion, whether a change is needed at all)
// the caller passes in; values the next request needs are cut out of the response text
// (FirstStringField) rather than decoded. The reads are the requests of a
// consistent_read GetSandbox / ListSandboxes (a cached read sends none).
//
// Every method returns at once and calls `done` exactly once on the KubeClient's I/O
// thread: OK (or a value), or the first error of the sequence.
//
// Thread-safe: methods may be called concurrently from any thread.
#ifndef SANDBOXD_TOOLS_BENCH_FLOOR_CLIENT_H_
#define SANDBOXD_TOOLS_BENCH_FLOOR_CLIENT_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/domain/sandbox.h"
#include "src/kube/kube_client.h"
#include "src/kube/objects.h"

namespace sandboxd::bench {

using StatusCallback = std::function<void(absl::Status)>;
using ValueCallback = std::function<void(absl::StatusOr<std::string>)>;

class FloorClient {
 public:
  // `kube` must outlive the client and every call in flight; `defaults` are those of the
  // sandboxd under comparison (they shape the objects Create builds).
  FloorClient(kube::KubeClient* kube, domain::SandboxDefaults defaults);

  // GetSandbox (consistent_read): GET statefulset, then GET pod and GET pvc in parallel
  // (a missing pod or claim is not an error).
  void Get(const std::string& ns, const std::string& name, StatusCallback done) const;

  // ListSandboxes (consistent_read, first page of `page_size`): LIST statefulsets with the
  // managed-by selector, then LIST pods and LIST pvcs in parallel with
  // `children_selector` (the "app in (...)" selector the service builds from that page).
  void List(const std::string& ns, int page_size, const std::string& children_selector,
            StatusCallback done) const;

  // CreateSandbox of a fresh name in a namespace that has its NetworkPolicy, `spec` with
  // defaults applied: plan::CreateStatefulSet, then plan::CreateChildren in parallel (their
  // owner is the StatefulSet the plan built, with the uid cut from the POST's answer).
  // `done` gets the StatefulSet's uid (for Delete).
  void Create(const domain::SandboxSpec& spec, ValueCallback done) const;

  // Start/StopSandbox that changes the count: plan::Scale.
  void Scale(const std::string& ns, const std::string& name, int replicas,
             StatusCallback done) const;

  // UpdateSandboxEnv with a change: plan::UpdateEnv(current, update). A 409 re-reads as
  // the service does (GET statefulset, its resourceVersion cut from the text) and sends
  // again, up to SandboxService::kMaxConflictRetries attempts.
  void UpdateEnv(kube::StatefulSet current, domain::EnvUpdate update, StatusCallback done) const;

  // DeleteSandbox (keep_storage false) of the StatefulSet with `uid`:
  // plan::DeleteStatefulSet, then plan::ClaimCheck of its claim (configured template).
  void Delete(const std::string& ns, const std::string& name, const std::string& uid,
              StatusCallback done) const;

 private:
  // GET pod and GET pvc in parallel (a missing one is fine).
  void Children(const std::string& ns, const std::string& name, StatusCallback done) const;
  void UpdateEnvAttempt(kube::StatefulSet current, domain::EnvUpdate update, int attempt,
                        StatusCallback done) const;

  kube::KubeClient* const kube_;  // not owned
  const domain::SandboxDefaults defaults_;
};

// The value of the first `"<field>":"..."` in a JSON text; "" if there is none. For an
// object returned by the API server the first "uid" and "resourceVersion" are those of
// its metadata (metadata precedes spec and status, uid precedes ownerReferences).
std::string FirstStringField(const std::string& json, const std::string& field);

}  // namespace sandboxd::bench

#endif  // SANDBOXD_TOOLS_BENCH_FLOOR_CLIENT_H_
