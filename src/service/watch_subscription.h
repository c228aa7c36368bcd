// WatchSubscription: one watch stream's queue of sandbox changes, and the values it
// carries (SharedSandbox, WatchEvent, WatchFilter). SandboxCache creates, fills and
// closes subscriptions; the header comment of sandbox_cache.h states the stream's
// contract (initial state, resumption, merging, collapse on overflow).
#ifndef SANDBOXD_SERVICE_WATCH_SUBSCRIPTION_H_
#define SANDBOXD_SERVICE_WATCH_SUBSCRIPTION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "src/domain/label_selector.h"
#include "src/domain/sandbox.h"
#include "src/kube/objects.h"
#include "src/service/resume_token.h"

namespace sandboxd::service {

class SandboxCache;

namespace internal {
// One recorded state of a sandbox: the derived view and the StatefulSet labels (which
// label selectors match). Immutable once published; shared by the store, the history and
// subscriber queues (shared_ptr: these hold it for independent, unbounded times).
struct SandboxState {
  domain::Sandbox sandbox;
  kube::StringMap labels;
};
using StatePtr = std::shared_ptr<const SandboxState>;
}  // namespace internal

// A sandbox state as watch streams receive it: immutable and shared, never copied, by the
// history and by every stream queue it is offered to (one per recorded change; one per
// event of an initial state). Encoded() keeps the one wire encoding the transport makes
// of it, so a change fanned out to N streams is encoded once, not N times. The encoding
// lives as long as the change is referenced (the history is bounded), not as long as the
// sandbox is cached.
class SharedSandbox {
 public:
  explicit SharedSandbox(internal::StatePtr state) : state_(std::move(state)) {}
  ~SharedSandbox() { delete encoded_.load(std::memory_order_acquire); }
  SharedSandbox(const SharedSandbox&) = delete;
  SharedSandbox& operator=(const SharedSandbox&) = delete;

  const domain::Sandbox& sandbox() const { return state_->sandbox; }
  const internal::SandboxState& state() const { return *state_; }
  const internal::StatePtr& state_ptr() const { return state_; }
  // Heap bytes of the kept encoding (0 before the first Encoded()).
  size_t encoded_bytes() const {
    const std::string* kept = encoded_.load(std::memory_order_acquire);
    return kept == nullptr ? 0 : sizeof(std::string) + kept->capacity() + 1;
  }

  // encode(sandbox()), computed by the first caller and kept for the others. Thread-safe
  // and lock-free: concurrent first callers may each run `encode`; one result is kept and
  // returned to all of them. Every caller must pass an equivalent `encode`.
  template <typename Encode>
  const std::string& Encoded(const Encode& encode) const {
    const std::string* kept = encoded_.load(std::memory_order_acquire);
    if (kept != nullptr) return *kept;
    auto* mine = new std::string(encode(sandbox()));
    if (encoded_.compare_exchange_strong(kept, mine, std::memory_order_acq_rel)) return *mine;
    delete mine;  // another caller's result was kept first
    return *kept;
  }

 private:
  const internal::StatePtr state_;
  mutable std::atomic<const std::string*> encoded_{nullptr};
};
using SharedSandboxPtr = std::shared_ptr<const SharedSandbox>;

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kInitialStateComplete, kReset };
  Type type = Type::kAdded;
  SharedSandboxPtr sandbox;  // null for kInitialStateComplete and kReset
  std::string resume_token;  // see the header comment
};

const char* WatchEventTypeName(WatchEvent::Type type);  // "ADDED", ..., "RESET"

struct WatchFilter {
  std::string ns;              // required
  std::string name;            // non-empty: only this sandbox
  std::string project;         // non-empty: only this project
  std::string label_selector;  // Kubernetes syntax, on the StatefulSet labels
};

namespace internal {
// Outlives the cache for subscriptions still held by writers. Thread-safe.
struct CacheLink {
  absl::Mutex mu;
  SandboxCache* cache ABSL_GUARDED_BY(mu) = nullptr;  // null once the cache is destroyed
  // Per scope: the progress as of the last publication (every change recorded before it
  // was offered to every subscription). A leaf lock.
  absl::Mutex progress_mu;
  std::map<std::string, Progress> published ABSL_GUARDED_BY(progress_mu);
  Progress Published(const std::string& scope);
  std::atomic<uint64_t> merged_updates{0};   // Stats::merged_updates
  std::atomic<uint64_t> dropped_updates{0};  // Stats::dropped_updates
};
}  // namespace internal

// One watch stream's queue. Obtained from SandboxCache::Subscribe; the cache holds it
// while it is open (shared_ptr: the writer and the cache both hold it, and either may let
// go first). Thread-safe; Next() has a single consumer (must not run concurrently with
// itself).
class WatchSubscription {
 public:
  ~WatchSubscription();
  WatchSubscription(const WatchSubscription&) = delete;
  WatchSubscription& operator=(const WatchSubscription&) = delete;

  // The next event, or nullopt if none is pending now or the subscription is closed.
  // Non-blocking (it may take the cache lock briefly to take a fresh initial state after
  // a collapse). After it returned nullopt on an open subscription, on_ready is invoked
  // once when an event becomes available.
  std::optional<WatchEvent> Next();

  // Closes the subscription: pending events are dropped, Next() returns nullopt and the
  // cache forgets it. Idempotent; may be called from any thread, including on_ready.
  void Cancel();

  // True after Cancel(), SandboxCache::Shutdown() or ForgetNamespace() of its namespace;
  // Next() then returns nullopt.
  bool closed() const;
  // Why the cache closed it: UNAVAILABLE SERVER_SHUTTING_DOWN (metadata resumeToken)
  // after Shutdown(), PERMISSION_DENIED NAMESPACE_NOT_SERVED after ForgetNamespace();
  // OK while open or after Cancel().
  absl::Status end_status() const;
  // The resume token of the last event Next() returned ("" before the first one unless
  // the subscription resumed from a token: then that token). A client resuming with it,
  // on any replica, misses nothing.
  std::string last_token() const;
  // Events Next() would return now (0 while a collapsed queue awaits its fresh snapshot
  // counts as 1).
  size_t pending() const;
  const WatchFilter& filter() const { return filter_; }
  // Changes the cache has offered to this subscription since it opened, whether or not
  // its filter let them through (the cost of fan-out: only changes of its namespace, and
  // of its sandbox when the filter names one, are offered).
  uint64_t offered() const { return offered_.load(std::memory_order_relaxed); }

 private:
  friend class SandboxCache;
  struct Item {
    WatchEvent::Type type;
    SharedSandboxPtr sandbox;  // null for the INITIAL_STATE_COMPLETE marker
    Progress before;           // the progress before the first change merged into it
  };
  // `scope` is the progress scope of the filter's namespace; `selector` is the parsed
  // filter.label_selector.
  WatchSubscription(std::shared_ptr<internal::CacheLink> link, std::string scope,
                    WatchFilter filter, domain::LabelSelector selector, size_t capacity,
                    std::function<void()> on_ready);

  bool Matches(const internal::SandboxState& state) const;
  // Queues a change (already translated for this filter). Returns true if on_ready must
  // be invoked (after the caller released its locks).
  bool Offer(WatchEvent::Type type, SharedSandboxPtr sandbox, const Progress& before);
  // The token after the events delivered so far; raises delivered_.
  std::string TokenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Empties the initial state and frees its storage.
  void DropSnapshotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops every pending event: the queue and the initial state.
  void DropPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes it for `why` (end_status()); returns true if on_ready must be invoked.
  bool CloseLocked(absl::Status why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<WatchEvent> PopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<internal::CacheLink> link_;
  const std::string scope_;
  const WatchFilter filter_;
  const domain::LabelSelector selector_;
  const size_t capacity_;
  const std::function<void()> on_ready_;
  std::atomic<uint64_t> offered_{0};  // offered()

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
  bool armed_ ABSL_GUARDED_BY(mu_) = false;           // Next() returned nullopt last
  bool needs_snapshot_ ABSL_GUARDED_BY(mu_) = false;  // collapsed: snapshot at next Next()
  bool reset_pending_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<internal::StatePtr> snapshot_ ABSL_GUARDED_BY(mu_);  // initial state
  size_t snapshot_next_ ABSL_GUARDED_BY(mu_) = 0;
  // A resumed stream's replayed changes, each delivered (never merged), before queue_.
  std::deque<Item> replay_ ABSL_GUARDED_BY(mu_);
  std::list<Item> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::list<Item>::iterator> index_ ABSL_GUARDED_BY(mu_);
  std::string last_token_ ABSL_GUARDED_BY(mu_);
  // The highest position the client holds: the resumed-from token, raised by every token
  // delivered since. A token is never lower.
  Progress delivered_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_WATCH_SUBSCRIPTION_H_
