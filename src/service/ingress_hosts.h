// IngressHosts: which Ingress in the cluster claims which host, so that a sandbox never
// claims a host another Ingress already serves (one host belongs to one sandbox; two
// Ingresses with the same host would split or hijack its traffic). Kept current by one
// reflector over every Ingress of the cluster (not only sandboxd's); only hosts and the
// namespace/name of their Ingresses are kept.
//
// Checks are as current as the watch, plus the Ingresses this replica created itself
// (Created): two creates racing for one new host on different replicas within the
// watch's latency can both pass.
//
// Thread-safe. `kube` must outlive it; Stop() (or the destructor) before the client goes.
#ifndef SANDBOXD_SERVICE_INGRESS_HOSTS_H_
#define SANDBOXD_SERVICE_INGRESS_HOSTS_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "src/kube/kube_client.h"
#include "src/kube/reflector.h"

namespace sandboxd::service {

class IngressHosts {
 public:
  explicit IngressHosts(kube::KubeClient* kube);
  ~IngressHosts();  // Stop()

  void Start();
  void Stop();  // idempotent
  bool synced() const;

  // OK if no Ingress other than `ns`/`ingress` claims `host`. ALREADY_EXISTS, reason
  // INGRESS_HOST_TAKEN, naming the host (not the other Ingress, which may be another
  // tenant's); UNAVAILABLE (CACHE_NOT_SYNCED) before the first list.
  absl::Status CheckFree(const std::string& ns, const std::string& ingress,
                         const std::string& host) const;

  // sandboxd has just created Ingress `ns`/`ingress` with `hosts`: recorded at once, as
  // the watch will report it, so that a check on this replica right after the create
  // already sees the hosts taken.
  void Created(const std::string& ns, const std::string& ingress, std::vector<std::string> hosts);

 private:
  class Sink;
  using Key = std::string;  // "<namespace>/<name>"
  void Set(const Key& key, std::vector<std::string> hosts);

  mutable absl::Mutex mu_;
  std::map<std::string, std::set<Key>> ingresses_by_host_ ABSL_GUARDED_BY(mu_);
  std::map<Key, std::vector<std::string>> hosts_by_ingress_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<kube::Reflector> reflector_;
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_INGRESS_HOSTS_H_
