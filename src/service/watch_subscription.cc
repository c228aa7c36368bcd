#include "src/service/watch_subscription.h"

#include <iterator>

#include "src/service/sandbox_cache.h"

namespace sandboxd::service {

using internal::SandboxState;
using internal::StatePtr;
using Type = WatchEvent::Type;

const char* WatchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case Type::kAdded: return "ADDED";
    case Type::kModified: return "MODIFIED";
    case Type::kDeleted: return "DELETED";
    case Type::kInitialStateComplete: return "INITIAL_STATE_COMPLETE";
    case Type::kReset: return "RESET";
  }
  return "UNKNOWN";
}

Progress internal::CacheLink::Published(const std::string& scope) {
  absl::MutexLock lock(&progress_mu);
  auto it = published.find(scope);
  return it == published.end() ? Progress{} : it->second;
}

WatchSubscription::WatchSubscription(std::shared_ptr<internal::CacheLink> link, std::string scope,
                                     WatchFilter filter, domain::LabelSelector selector,
                                     size_t capacity, std::function<void()> on_ready)
    : link_(std::move(link)),
      scope_(std::move(scope)),
      filter_(std::move(filter)),
      selector_(std::move(selector)),
      capacity_(capacity),
      on_ready_(std::move(on_ready)) {}

WatchSubscription::~WatchSubscription() = default;

bool WatchSubscription::Matches(const SandboxState& state) const {
  const domain::SandboxSpec& spec = state.sandbox.spec;
  return spec.ns == filter_.ns && (filter_.name.empty() || spec.name == filter_.name) &&
         (filter_.project.empty() || spec.project == filter_.project) &&
         selector_.Matches(state.labels);
}

bool WatchSubscription::Offer(Type type, SharedSandboxPtr sandbox, const Progress& before) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  if (!needs_snapshot_) {
    const std::string& name = sandbox->sandbox().spec.name;
    auto it = index_.find(name);
    if (it != index_.end() && it->second->type != Type::kDeleted) {
      Item& item = *it->second;
      link_->merged_updates.fetch_add(1, std::memory_order_relaxed);
      if (type == Type::kDeleted && item.type == Type::kAdded) {
        queue_.erase(it->second);  // the client never saw it
        index_.erase(it);
      } else {
        if (type == Type::kDeleted) item.type = Type::kDeleted;
        item.sandbox = std::move(sandbox);  // ADDED stays ADDED, MODIFIED stays MODIFIED
      }
    } else if (queue_.size() >= capacity_) {
      // Collapse: the consumer gets RESET and a fresh initial state when it catches up.
      link_->dropped_updates.fetch_add(queue_.size() + 1, std::memory_order_relaxed);
      DropPendingLocked();
      needs_snapshot_ = true;
      reset_pending_ = true;
    } else {
      queue_.push_back(Item{type, std::move(sandbox), before});
      index_[name] = std::prev(queue_.end());
    }
  }
  const bool available = needs_snapshot_ || reset_pending_ || snapshot_next_ < snapshot_.size() ||
                         !replay_.empty() || !queue_.empty();
  if (armed_ && available) {
    armed_ = false;
    return true;
  }
  return false;
}

void WatchSubscription::DropSnapshotLocked() {
  std::vector<StatePtr>().swap(snapshot_);  // clear() would keep the capacity per stream
  snapshot_next_ = 0;
}

void WatchSubscription::DropPendingLocked() {
  std::deque<Item>().swap(replay_);
  queue_.clear();
  index_.clear();
  DropSnapshotLocked();
}

std::string WatchSubscription::TokenLocked() {
  // Everything recorded before the first undelivered change has been delivered; with an
  // empty queue, everything published.
  const Progress at = !replay_.empty()  ? replay_.front().before
                      : !queue_.empty() ? queue_.front().before
                                        : link_->Published(scope_);
  delivered_ = Max(delivered_, at);
  return EncodeResumeToken(delivered_);
}

std::optional<WatchEvent> WatchSubscription::PopLocked() {
  if (closed_) return std::nullopt;
  if (!needs_snapshot_) {
    if (reset_pending_) {
      reset_pending_ = false;
      last_token_ = kIncompleteResumeToken;
      return WatchEvent{Type::kReset, nullptr, last_token_};
    }
    if (snapshot_next_ < snapshot_.size()) {
      StatePtr state = std::move(snapshot_[snapshot_next_++]);
      last_token_ = kIncompleteResumeToken;
      return WatchEvent{Type::kAdded, std::make_shared<const SharedSandbox>(std::move(state)),
                        last_token_};
    }
    if (!replay_.empty()) {
      Item item = std::move(replay_.front());
      replay_.pop_front();
      last_token_ = TokenLocked();
      return WatchEvent{item.type, std::move(item.sandbox), last_token_};
    }
    if (!queue_.empty()) {
      Item item = std::move(queue_.front());
      if (item.sandbox != nullptr) {
        auto it = index_.find(item.sandbox->sandbox().spec.name);
        if (it != index_.end() && it->second == queue_.begin()) index_.erase(it);
      } else {
        DropSnapshotLocked();  // the marker: the initial state is delivered
      }
      queue_.pop_front();
      last_token_ = TokenLocked();
      return WatchEvent{item.type, std::move(item.sandbox), last_token_};
    }
  }
  armed_ = true;
  return std::nullopt;
}

std::optional<WatchEvent> WatchSubscription::Next() {
  // A collapsed queue takes its fresh initial state now (cache lock, then ours). Another
  // collapse can come in between; after a few rounds give up until on_ready.
  for (int round = 0; round < 3; ++round) {
    {
      absl::MutexLock lock(&mu_);
      if (closed_ || !needs_snapshot_) return PopLocked();
    }
    absl::ReaderMutexLock link_lock(&link_->mu);
    if (link_->cache == nullptr) {
      absl::MutexLock lock(&mu_);
      closed_ = true;
      return std::nullopt;
    }
    link_->cache->Resnapshot(*this);
  }
  absl::MutexLock lock(&mu_);
  return PopLocked();
}

void WatchSubscription::Cancel() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    DropPendingLocked();
  }
  absl::ReaderMutexLock link_lock(&link_->mu);
  if (link_->cache != nullptr) link_->cache->Unsubscribe(this);
}

bool WatchSubscription::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

absl::Status WatchSubscription::end_status() const {
  absl::MutexLock lock(&mu_);
  return end_status_;
}

bool WatchSubscription::CloseLocked(absl::Status why) {
  if (closed_) return false;
  closed_ = true;
  end_status_ = std::move(why);
  DropPendingLocked();
  const bool wake = armed_;
  armed_ = false;
  return wake;
}

std::string WatchSubscription::last_token() const {
  absl::MutexLock lock(&mu_);
  return last_token_;
}

size_t WatchSubscription::pending() const {
  absl::MutexLock lock(&mu_);
  if (closed_) return 0;
  if (needs_snapshot_) return 1;
  return (reset_pending_ ? 1 : 0) + (snapshot_.size() - snapshot_next_) + replay_.size() +
         queue_.size();
}

}  // namespace sandboxd::service
