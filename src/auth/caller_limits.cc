#include "src/auth/caller_limits.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"

namespace sandboxd::auth {
namespace {

// How long a caller with too many streams is told to wait before trying again.
constexpr absl::Duration kWatchRetryDelay = absl::Seconds(5);

absl::Status Exhausted(const char* reason, const std::string& message, absl::Duration retry) {
  const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(
                                              retry, absl::Milliseconds(1))));
  return domain::MakeError(absl::StatusCode::kResourceExhausted, reason, message,
                           {{"retryDelayMs", absl::StrCat(ms)}});
}

}  // namespace

absl::Status CallerLimits::AdmitCall(const std::string& caller) {
  if (options_.calls_per_second <= 0) return absl::OkStatus();
  const absl::Time now = options_.clock();
  const double burst = std::max(1, options_.burst);
  absl::MutexLock lock(&mu_);
  auto it = callers_.find(caller);
  if (it == callers_.end()) {
    ForgetIdleLocked(now);
    it = callers_.emplace(caller, Caller{burst, now, 0}).first;
  }
  Caller& c = it->second;
  c.tokens = std::min(burst, c.tokens + absl::ToDoubleSeconds(now - c.refilled) *
                                            options_.calls_per_second);
  c.refilled = now;
  if (c.tokens >= 1) {
    c.tokens -= 1;
    return absl::OkStatus();
  }
  return Exhausted(domain::reason::kCallerRateLimited,
                   absl::StrCat("too many calls from ", caller, " (", options_.calls_per_second,
                                " per second); retry later"),
                   absl::Seconds((1 - c.tokens) / options_.calls_per_second));
}

absl::StatusOr<CallerLimits::WatchLease> CallerLimits::OpenWatch(const std::string& caller) {
  {
    absl::MutexLock lock(&mu_);
    auto it = callers_.find(caller);
    if (it == callers_.end()) {
      const absl::Time now = options_.clock();
      ForgetIdleLocked(now);
      it = callers_.emplace(caller, Caller{static_cast<double>(std::max(1, options_.burst)),
                                           now, 0})
               .first;
    }
    if (options_.max_watch_streams > 0 && it->second.watches >= options_.max_watch_streams) {
      return Exhausted(domain::reason::kTooManyWatchStreams,
                       absl::StrCat(caller, " has ", it->second.watches,
                                    " watch streams open, the most allowed; close one first"),
                       kWatchRetryDelay);
    }
    ++it->second.watches;
  }
  // The lease's deleter gives the slot back; `this` outlives every stream.
  return WatchLease(static_cast<void*>(this),
                    [this, caller](void*) { CloseWatch(caller); });
}

void CallerLimits::CloseWatch(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  auto it = callers_.find(caller);
  if (it != callers_.end() && it->second.watches > 0) --it->second.watches;
}

int CallerLimits::open_watches(const std::string& caller) const {
  absl::MutexLock lock(&mu_);
  auto it = callers_.find(caller);
  return it == callers_.end() ? 0 : it->second.watches;
}

void CallerLimits::ForgetIdleLocked(absl::Time now) {
  if (callers_.size() < options_.max_callers) return;
  const absl::Duration refill =
      options_.calls_per_second > 0
          ? absl::Seconds(std::max(1, options_.burst) / options_.calls_per_second)
          : absl::ZeroDuration();
  for (auto it = callers_.begin(); it != callers_.end();) {
    auto next = std::next(it);
    if (it->second.watches == 0 && now - it->second.refilled >= refill) callers_.erase(it);
    it = next;
  }
}

}  // namespace sandboxd::auth
