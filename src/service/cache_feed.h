// CacheFeed: keeps a SandboxCache up to date from the Kubernetes API with one reflector
// (list + watch) per resource type a sandbox's state depends on — StatefulSets, Pods and
// PersistentVolumeClaims labelled app.kubernetes.io/managed-by=sandboxd, in all
// namespaces. However many gRPC streams are open, the API server sees three watches.
//
// The reflectors only queue what they receive; one input thread of the feed decodes it
// and applies it to the cache, in arrival order across the three kinds, followed by each
// reflector's progress (SandboxCache::MarkProgress: every event, bookmark and list), which
// resume tokens and read-your-writes rest on; deletes carry the deletion's version. So
// the Kubernetes client's I/O thread, which also completes every RPC's requests, never
// waits for JSON decoding or for a change being offered to thousands of watch streams.
//
// Thread-safe, except that Stop() must not run concurrently with itself. `client` and
// `cache` must outlive the feed.
#ifndef SANDBOXD_SERVICE_CACHE_FEED_H_
#define SANDBOXD_SERVICE_CACHE_FEED_H_

#include <memory>
#include <vector>

#include "src/kube/kube_client.h"
#include "src/kube/reflector.h"
#include "src/service/sandbox_cache.h"
#include "src/service/task_pool.h"

namespace sandboxd::service {

class CacheFeed {
 public:
  // Sums over the three reflectors.
  struct Stats {
    int64_t lists = 0;
    int64_t watches_started = 0;
    int64_t relists_after_410 = 0;
    int64_t events = 0;
    size_t queued = 0;  // received, not yet applied to the cache
  };

  CacheFeed(kube::KubeClient* client, SandboxCache* cache);
  ~CacheFeed();  // Stop()

  // Starts listing and watching; the cache becomes synced() once every first list has
  // been applied.
  void Start();
  // Stops the reflectors and applies what they had already queued; no cache input
  // happens after it returns. Idempotent.
  void Stop();

  Stats stats() const;

 private:
  class Sink;
  std::unique_ptr<TaskPool> input_;  // one thread; null after Stop()
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<std::unique_ptr<kube::Reflector>> reflectors_;
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_CACHE_FEED_H_
