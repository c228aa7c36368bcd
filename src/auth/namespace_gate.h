// NamespaceGate: which namespaces sandboxd serves. Only namespaces that match a label
// selector (default sandboxd.dev/enabled=true) are served; `kube-*` and sandboxd's own
// namespace never are, whatever their labels. The set is kept current by one reflector
// (list + watch of namespaces with that selector), so a check costs no request. It also
// keeps each served namespace's own list of allowed ingress domains (an annotation).
//
// Check errors (reasons in domain/error_reasons.h):
//   PERMISSION_DENIED  NAMESPACE_NOT_SERVED (the same answer for a namespace that does
//                      not exist);
//   UNAVAILABLE        CACHE_NOT_SYNCED before the first list has arrived.
//
// Observer: told of every change of the served set, so that the watch cache can hold
// exactly the served namespaces. `served(ns)` runs before Check(ns) starts to pass,
// `unserved(ns)` after it has stopped passing, `synced()` once after the first complete
// list (after the `served` calls of its namespaces). Calls come from the Kubernetes
// client's thread, one at a time, with no gate lock held; they must not block.
//
// Thread-safe. `kube` must outlive the gate; Stop() (or the destructor) before the
// client is destroyed.
#ifndef SANDBOXD_AUTH_NAMESPACE_GATE_H_
#define SANDBOXD_AUTH_NAMESPACE_GATE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "src/kube/kube_client.h"
#include "src/kube/reflector.h"

namespace sandboxd::auth {

class NamespaceGate {
 public:
  struct Options {
    std::string label_selector = "sandboxd.dev/enabled=true";
    std::string own_namespace = "sandboxd-system";  // never served
  };

  struct Observer {
    std::function<void(const std::string& ns)> served;
    std::function<void(const std::string& ns)> unserved;
    std::function<void()> synced;
  };

  // `observer`'s callbacks may be empty.
  NamespaceGate(kube::KubeClient* kube, Options options, Observer observer = {});
  ~NamespaceGate();  // Stop()

  void Start();
  void Stop();  // idempotent
  bool synced() const;

  // OK if `ns` is served; the errors above otherwise.
  absl::Status Check(const std::string& ns) const;

  // The ingress domains served namespace `ns` allows (its annotation
  // sandboxd.dev/allowed-ingress-domains); nullopt without the annotation or for a
  // namespace not served.
  std::optional<std::vector<std::string>> AllowedIngressDomains(const std::string& ns) const;

 private:
  class Sink;
  // Never served, whatever its labels: `kube-*` and sandboxd's own namespace.
  bool Reserved(const std::string& ns) const;

  const Options options_;
  const Observer observer_;
  mutable absl::Mutex mu_;
  // Served namespaces -> their allowed ingress domains (nullopt: no annotation).
  absl::flat_hash_map<std::string, std::optional<std::vector<std::string>>> served_
      ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<kube::Reflector> reflector_;
};

}  // namespace sandboxd::auth

#endif  // SANDBOXD_AUTH_NAMESPACE_GATE_H_
