// FloorClient: the Kubernetes requests that each sandboxd RPC issues, sent directly with
// a KubeClient and nothing else around them: no gRPC, no validation, no decoding into
// typed objects, no Sandbox derivation. It is the "floor" of the unary benchmark: the
// latency sandboxd cannot go below, measured against the same API server in the same run.
//
// Each method mirrors one path of src/service/sandbox_service.cc request for request:
// the same verbs, paths, query options, patch types and bodies, in the same order, with
// the same requests in parallel where the service issues them in parallel, and every
// follow-up request issued from the previous callback (on the KubeClient's I/O thread,
// as the service does). Decisions the service takes by decoding a response (is the
// StatefulSet already at the wanted scale? has the env changed?) are passed in by the
// caller, who knows the answer; values the next request needs (uid, resourceVersion) are
// cut out of the response text rather than decoded.
//
// Every method returns at once and calls `done` exactly once on the KubeClient's I/O
// thread: OK, or the first error of the sequence (404 on the pod or claim of a Load is
// not an error, as in the service).
//
// Thread-safe: methods may be called concurrently from any thread.
#ifndef SANDBOXD_TOOLS_BENCH_FLOOR_CLIENT_H_
#define SANDBOXD_TOOLS_BENCH_FLOOR_CLIENT_H_

#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "src/domain/sandbox.h"
#include "src/kube/kube_client.h"

namespace sandboxd::bench {

using StatusCallback = std::function<void(absl::Status)>;

class FloorClient {
 public:
  // `kube` must outlive the client and every call in flight; `defaults` are those of the
  // sandboxd under comparison (they shape the objects Create builds).
  FloorClient(kube::KubeClient* kube, domain::SandboxDefaults defaults);

  // GetSandbox: GET statefulset, then the children (GET pod and GET pvc in parallel).
  void Get(const std::string& ns, const std::string& name, StatusCallback done) const;

  // ListSandboxes (first page of `page_size`): LIST statefulsets with the managed-by
  // selector, then LIST pods and LIST pvcs in parallel with `children_selector` (the
  // "app in (...)" selector the service builds from that page's names).
  void List(const std::string& ns, int page_size, const std::string& children_selector,
            StatusCallback done) const;

  // StartSandbox / StopSandbox: GET statefulset; if `patch`, PATCH scale to `replicas`
  // (merge patch) and then the Get sequence; else the children.
  void Scale(const std::string& ns, const std::string& name, int replicas, bool patch,
             StatusCallback done) const;

  // UpdateSandboxEnv without a change: GET statefulset, then the children.
  void UpdateEnvNoChange(const std::string& ns, const std::string& name,
                         StatusCallback done) const;

  // UpdateSandboxEnv with a change: GET statefulset, strategic-merge PATCH of the env
  // (kube::EnvPatch with the GET's resourceVersion, `set` and the spec-hash annotation
  // `spec_hash`), then the children (the PATCH returns the StatefulSet). A 409 restarts
  // from the GET, up to SandboxService::kMaxConflictRetries attempts.
  void UpdateEnv(const std::string& ns, const std::string& name,
                 std::map<std::string, std::string> set, std::string spec_hash,
                 StatusCallback done) const;

  // CreateSandbox of a fresh name: POST statefulset (`statefulset_json`, built from the
  // defaulted `spec`), then POST the Service and Ingresses with an owner reference to the
  // created StatefulSet's uid, in parallel, then the Get sequence.
  void Create(const domain::SandboxSpec& spec, std::string statefulset_json,
              StatusCallback done) const;

  // DeleteSandbox (keep_storage false): GET statefulset, DELETE it (foreground, uid
  // precondition), then for the Service, both Ingresses, the pod and the claim in
  // parallel: GET, and DELETE (uid precondition) those that exist and are managed.
  void Delete(const std::string& ns, const std::string& name, StatusCallback done) const;

 private:
  // GET pod and GET pvc in parallel (a missing one is fine).
  void Children(const std::string& ns, const std::string& name, StatusCallback done) const;
  void UpdateEnvAttempt(const std::string& ns, const std::string& name,
                        std::map<std::string, std::string> set, std::string spec_hash,
                        int attempt, StatusCallback done) const;

  kube::KubeClient* const kube_;  // not owned
  const domain::SandboxDefaults defaults_;
};

// The value of the first `"<field>":"..."` in a JSON text; "" if there is none. For an
// object returned by the API server the first "uid" and "resourceVersion" are those of
// its metadata (metadata precedes spec and status, uid precedes ownerReferences).
std::string FirstStringField(const std::string& json, const std::string& field);

}  // namespace sandboxd::bench

#endif  // SANDBOXD_TOOLS_BENCH_FLOOR_CLIENT_H_
