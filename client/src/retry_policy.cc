#include "sandboxd/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace sandboxd {

absl::Duration BackoffDelay(const RetryPolicy& policy, int retry, double unit_random) {
  double seconds = absl::ToDoubleSeconds(policy.initial_backoff) *
                   std::pow(policy.multiplier, std::max(0, retry - 1));
  seconds = std::min(seconds, absl::ToDoubleSeconds(policy.max_backoff));
  const double factor = 1.0 + policy.jitter * (2.0 * unit_random - 1.0);
  return absl::Seconds(std::max(0.0, seconds * factor));
}

}  // namespace sandboxd
