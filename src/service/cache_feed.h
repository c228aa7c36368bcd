// CacheFeed: keeps a SandboxCache up to date from the Kubernetes API with one reflector
// (list + watch) per resource type a sandbox's state depends on — StatefulSets, Pods and
// PersistentVolumeClaims labelled app.kubernetes.io/managed-by=sandboxd, in all
// namespaces. However many gRPC streams are open, the API server sees three watches.
//
// Thread-safe. `client` and `cache` must outlive the feed.
#ifndef SANDBOXD_SERVICE_CACHE_FEED_H_
#define SANDBOXD_SERVICE_CACHE_FEED_H_

#include <memory>
#include <vector>

#include "src/kube/kube_client.h"
#include "src/kube/reflector.h"
#include "src/service/sandbox_cache.h"

namespace sandboxd::service {

class CacheFeed {
 public:
  // Sums over the three reflectors.
  struct Stats {
    int64_t lists = 0;
    int64_t watches_started = 0;
    int64_t relists_after_410 = 0;
    int64_t events = 0;
  };

  CacheFeed(kube::KubeClient* client, SandboxCache* cache);
  ~CacheFeed();  // Stop()

  // Starts listing and watching; the cache becomes synced() once every first list has
  // been applied.
  void Start();
  // Stops the reflectors; no cache input happens after it returns.
  void Stop();

  Stats stats() const;

 private:
  class Sink;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<std::unique_ptr<kube::Reflector>> reflectors_;
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_CACHE_FEED_H_
