// CallerLimits: fair use per caller identity, so that one caller cannot starve the
// others or sandboxd itself: a token bucket of calls per second (every RPC, watches
// included) and a bound on the watch streams a caller holds open at once.
//
// Errors: RESOURCE_EXHAUSTED, reason CALLER_RATE_LIMITED or TOO_MANY_WATCH_STREAMS, with
// metadata retryDelayMs (a google.rpc.RetryInfo for the caller): when the next call would
// be admitted, or a fixed delay for streams (one must end first).
//
// Thread-safe. Memory: one bucket per caller seen recently; callers idle long enough for
// a full bucket are forgotten when the table grows past `max_callers`.
#ifndef SANDBOXD_AUTH_CALLER_LIMITS_H_
#define SANDBOXD_AUTH_CALLER_LIMITS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sandboxd::auth {

class CallerLimits {
 public:
  struct Options {
    double calls_per_second = 100;  // <= 0: no rate limit
    int burst = 200;
    int max_watch_streams = 100;  // per caller; <= 0: no limit
    size_t max_callers = 100000;
    std::function<absl::Time()> clock = absl::Now;
  };
  // Held for the life of one watch stream; releases its slot when destroyed.
  using WatchLease = std::shared_ptr<void>;

  explicit CallerLimits(Options options) : options_(std::move(options)) {}

  // OK and one call taken from `caller`'s bucket, or the error above (nothing taken).
  absl::Status AdmitCall(const std::string& caller);
  // A slot for one more open watch stream of `caller`, or the error above.
  absl::StatusOr<WatchLease> OpenWatch(const std::string& caller);

  int open_watches(const std::string& caller) const;

 private:
  struct Caller {
    double tokens = 0;
    absl::Time refilled;
    int watches = 0;
  };
  void ForgetIdleLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseWatch(const std::string& caller);

  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Caller> callers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::auth

#endif  // SANDBOXD_AUTH_CALLER_LIMITS_H_
