// ExpiringCache: a small map whose entries expire a fixed time after they were put, for
// answers that may be reused briefly (token reviews, access decisions). Bounded: when
// full, expired entries are dropped first, then the whole map (a cache, not a store).
//
// Thread-safe.
#ifndef SANDBOXD_AUTH_EXPIRING_CACHE_H_
#define SANDBOXD_AUTH_EXPIRING_CACHE_H_

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sandboxd::auth {

template <typename Key, typename Value>
class ExpiringCache {
 public:
  ExpiringCache(size_t capacity, std::function<absl::Time()> clock = absl::Now)
      : capacity_(capacity), clock_(std::move(clock)) {}

  // The value put under `key` if it has not expired.
  std::optional<Value> Find(const Key& key) const {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.expires <= clock_()) return std::nullopt;
    return it->second.value;
  }

  // Keeps `value` under `key` for `ttl` (nothing for a non-positive ttl).
  void Put(const Key& key, Value value, absl::Duration ttl) {
    if (ttl <= absl::ZeroDuration()) return;
    const absl::Time now = clock_();
    absl::MutexLock lock(&mu_);
    if (entries_.size() >= capacity_ && entries_.find(key) == entries_.end()) {
      for (auto it = entries_.begin(); it != entries_.end();) {
        it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
      }
      if (entries_.size() >= capacity_) entries_.clear();
    }
    entries_[key] = Entry{std::move(value), now + ttl};
  }

 private:
  struct Entry {
    Value value;
    absl::Time expires;
  };
  const size_t capacity_;
  const std::function<absl::Time()> clock_;
  mutable absl::Mutex mu_;
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::auth

#endif  // SANDBOXD_AUTH_EXPIRING_CACHE_H_
