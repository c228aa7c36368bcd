// TokenBucket: the client-side request throttle (client-go's flowcontrol token bucket).
//
// The bucket holds up to `burst` tokens and refills at `qps` tokens per second. Reserve()
// always takes a token, letting the balance go negative, and returns how long the caller
// must wait before sending; waits therefore queue up fairly in call order.
// ReserveBefore() takes a token only when that wait ends by a deadline. A caller that
// gives up while still waiting hands its token back with Unreserve(), so abandoned
// calls do not lengthen the waits of later ones. Time is passed in, so the bucket is a
// pure value and tests need no clock.
//
// Thread-compatible: CurlKubeClient uses one from its I/O thread only.
#ifndef SANDBOXD_KUBE_RATE_LIMITER_H_
#define SANDBOXD_KUBE_RATE_LIMITER_H_

#include <optional>

#include "absl/time/time.h"

namespace sandboxd::kube {

class TokenBucket {
 public:
  // qps <= 0 disables throttling (Reserve always returns zero). burst < 1 is treated as 1.
  // The bucket starts full at `now`.
  TokenBucket(double qps, int burst, absl::Time now);

  // Takes one token at `now` and returns the wait before it may be used (zero when one is
  // available). `now` must not go backwards between calls.
  absl::Duration Reserve(absl::Time now);

  // Like Reserve(), but when the wait would end after `deadline` takes nothing and
  // returns nullopt.
  std::optional<absl::Duration> ReserveBefore(absl::Time now, absl::Time deadline);

  // Gives back one token taken by Reserve*() whose wait had not ended at `now` (the
  // caller gave up while waiting). Never raises the balance above `burst`.
  void Unreserve(absl::Time now);

  // Tokens available at `now` (negative while reservations are outstanding). For tests.
  double Available(absl::Time now) const;

 private:
  // The wait before a token taken at `now` could be used, without taking it.
  absl::Duration WaitAt(absl::Time now) const;

  double qps_;
  double burst_;
  double tokens_;
  absl::Time last_;
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_RATE_LIMITER_H_
