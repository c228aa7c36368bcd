// How the client retries: every RPC of sandboxd is idempotent, so a call that fails with
// UNAVAILABLE (server restarting, connection lost) is sent again after an exponential
// backoff with jitter. Watches reconnect with the same backoff.
#ifndef SANDBOXD_CLIENT_RETRY_POLICY_H_
#define SANDBOXD_CLIENT_RETRY_POLICY_H_

#include "absl/time/time.h"

namespace sandboxd {

struct RetryPolicy {
  // Attempts of one unary call, the first included; 1 disables retries.
  int max_attempts = 8;
  // The wait before the second attempt; each further wait is `multiplier` times longer,
  // up to `max_backoff`.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  double multiplier = 2.0;
  // Each wait is scaled by a random factor in [1 - jitter, 1 + jitter].
  double jitter = 0.2;
};

// The wait before retry number `retry` (1 for the first retry) under `policy`, with
// `unit_random` a uniform random number in [0, 1) that picks the jitter.
absl::Duration BackoffDelay(const RetryPolicy& policy, int retry, double unit_random);

}  // namespace sandboxd

#endif  // SANDBOXD_CLIENT_RETRY_POLICY_H_
