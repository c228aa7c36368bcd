// CacheFeed: keeps a SandboxCache up to date from the Kubernetes API with one reflector
// (list + watch) per resource type a sandbox's state depends on — StatefulSets and Pods
// labelled app.kubernetes.io/managed-by=sandboxd, and every PersistentVolumeClaim (a
// create must see the foreign ones) — and holds only objects of the namespaces sandboxd
// serves (NamespaceGate tells it which).
//
// Two scopes:
//   kCluster       three reflectors over all namespaces: the API server sees three watches
//                  however many namespaces and streams there are. Objects of namespaces
//                  not served are dropped on arrival. A namespace that becomes served is
//                  pending in the cache (reads of it go to the API server, watches of it
//                  are UNAVAILABLE CACHE_NOT_SYNCED) until all three reflectors have
//                  listed again (Reflector::Relist; several namespaces served together
//                  share one relist).
//   kPerNamespace  three reflectors per served namespace, started when it becomes served
//                  (pending until they have listed) and stopped when it no longer is. Needs
//                  only namespaced permissions (RoleBindings in the served namespaces);
//                  costs three watches per served namespace. Read-your-writes follows
//                  each namespace's StatefulSet watch (SandboxCache::AddProgressScope).
// Either way, a namespace that stops being served is forgotten by the cache at once
// (SandboxCache::ForgetNamespace): its objects dropped, its streams closed.
//
// The reflectors only queue what they receive (objects parsed once by the watch decoder
// or the reflector's list, kube/json_object.h); one input thread of the feed decodes
// them into typed objects (from the parsed document, not from text) and applies them to
// the cache, in arrival order across kinds and namespaces, followed by
// each reflector's progress (SandboxCache::MarkProgress: every event, bookmark and list, in
// the scope of its group), which resume tokens and read-your-writes rest on; deletes carry
// the deletion's version. So the Kubernetes client's I/O thread, which also completes
// every RPC's requests, never waits for typed decoding, for the cache or for a change
// being offered to thousands of watch streams.
//
// Bounded input. At most `queue_capacity` objects and deletes (plus at most one list page
// or one watch event per reflector) wait for the input thread. When the queue is full,
// each reflector that delivers to it pauses (ReflectorSink::HasRoom, Reflector "Flow
// control"): it stops reading its watch, without dropping anything and without blocking
// the Kubernetes client's I/O thread, and is resumed by the input thread once the queue
// has drained to half the capacity. Meanwhile the cache serves the state it has.
//
// Wiring: NamespaceServed / NamespaceUnserved / Start are NamespaceGate::Observer's
// served / unserved / synced. Thread-safe; they must not be called after Stop(), so stop
// the gate first. `client` and `cache` must outlive the feed.
#ifndef SANDBOXD_SERVICE_CACHE_FEED_H_
#define SANDBOXD_SERVICE_CACHE_FEED_H_

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "src/kube/kube_client.h"
#include "src/kube/reflector.h"
#include "src/service/sandbox_cache.h"
#include "src/service/task_pool.h"

namespace sandboxd::service {

class CacheFeed {
 public:
  enum class Scope { kCluster, kPerNamespace };

  // Sums over the reflectors.
  struct Stats {
    int64_t lists = 0;
    int64_t watches_started = 0;
    int64_t relists_after_410 = 0;
    int64_t events = 0;
    size_t queued = 0;      // received, not yet applied to the cache (tasks)
    int64_t pauses = 0;     // reflector pauses for a full queue
    size_t reflectors = 0;  // running
  };

  static constexpr size_t kDefaultQueueCapacity = 10000;

  CacheFeed(kube::KubeClient* client, SandboxCache* cache, Scope scope = Scope::kCluster,
            size_t queue_capacity = kDefaultQueueCapacity);
  ~CacheFeed();  // Stop()

  // `ns` is served from now on (before any call on it passes the gate).
  void NamespaceServed(const std::string& ns);
  // `ns` is no longer served (after calls on it stopped passing the gate).
  void NamespaceUnserved(const std::string& ns);
  // The served set is known: starts listing and watching. The cache becomes synced()
  // once the first lists have been applied (kCluster), or at once (kPerNamespace: each
  // namespace is pending until its own lists are in).
  void Start();
  // Stops the reflectors and applies what they had already queued; no cache input
  // happens after it returns. Idempotent; not concurrent with itself.
  void Stop();

  Stats stats() const;

 private:
  class Sink;
  static constexpr size_t kKinds = 3;  // StatefulSets, Pods, claims
  // Three sinks and reflectors: the cluster's, or one namespace's.
  struct Group {
    std::string ns;  // "" for the cluster group
    std::vector<std::unique_ptr<Sink>> sinks;
    std::vector<std::unique_ptr<kube::Reflector>> reflectors;
    unsigned synced_kinds = 0;  // input thread: kinds listed (bit per kind index)
  };
  // Namespaces served together in kCluster mode, pending until each reflector has
  // completed a list numbered at least `first_list[kind]`.
  struct Relist {
    std::set<std::string> namespaces;
    std::array<int64_t, kKinds> first_list{};
    unsigned synced_kinds = 0;
  };

  std::unique_ptr<Group> MakeGroup(const std::string& ns);
  void StopGroup(Group& group);
  // Input thread.
  void Upsert(kube::Kind kind, const kube::JsonObject& object);
  void Delete(kube::Kind kind, const std::string& ns, const std::string& name, uint64_t rv);
  void Synced(Group* group, size_t kind_index, int64_t list_number);
  void RelistWaiting();
  void Forget(const std::string& ns);
  // Flow control: an object or delete was queued / applied.
  bool HasRoom();
  void Applied();
  void ResumeAll() ABSL_LOCKS_EXCLUDED(mu_);

  SandboxCache* const cache_;
  kube::KubeClient* const client_;
  const Scope scope_;
  const size_t queue_capacity_;
  // Objects and deletes queued and not yet applied.
  std::atomic<size_t> queued_inputs_{0};
  // A reflector found the queue full since the last ResumeAll.
  std::atomic<bool> paused_any_{false};

  mutable absl::Mutex mu_;  // before the cache's lock
  std::set<std::string> served_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<Group> cluster_;  // kCluster; reflectors constant
  std::map<std::string, std::shared_ptr<Group>> namespaces_ ABSL_GUARDED_BY(mu_);
  // One thread. Stop() destroys it (draining it); the raw pointer is used by the sinks,
  // by tasks that post follow-ups and under mu_ while not stopped_.
  std::unique_ptr<TaskPool> input_owner_;
  TaskPool* const input_;

  // Input thread only: the namespaces whose objects are applied (in input order, so that
  // a list begun after a namespace became served is never filtered by an older state),
  // and kCluster's relist bookkeeping.
  absl::flat_hash_set<std::string> applying_;
  bool listing_ = false;           // the first lists have begun
  std::set<std::string> waiting_;  // served, in no relist yet
  bool relist_posted_ = false;
  std::vector<Relist> relists_;
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_CACHE_FEED_H_
