// Retry timing for Kubernetes requests: jittered exponential backoff plus Retry-After.
//
// Delay(n) for the n-th retry (n >= 0) is d = min(initial * multiplier^n, max), stretched
// by jitter to d + d * jitter * u (u uniform in [0, 1) from the injected source) and capped
// at `max`. The random source is injected so tests are deterministic.
//
// Thread-compatible.
#ifndef SANDBOXD_KUBE_BACKOFF_H_
#define SANDBOXD_KUBE_BACKOFF_H_

#include <functional>
#include <optional>
#include "absl/strings/string_view.h"

#include "absl/time/time.h"

namespace sandboxd::kube {

class Backoff {
 public:
  struct Options {
    absl::Duration initial = absl::Milliseconds(200);
    absl::Duration max = absl::Seconds(10);
    double multiplier = 2.0;
    double jitter = 1.0;  // 0: no jitter
  };

  // `uniform01` returns values in [0, 1); when null, a seeded std::mt19937_64 is used.
  Backoff(Options options, std::function<double()> uniform01);

  // The wait before retry number `retry` (0 for the first retry).
  absl::Duration Delay(int retry);

 private:
  Options options_;
  std::function<double()> uniform01_;
};

// Parses a Retry-After header value given as integer seconds (surrounding spaces allowed).
// HTTP-date values and garbage give nullopt; negative values are rejected.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value);

// The wait before a retry: the longer of the backoff delay and Retry-After.
absl::Duration RetryWait(absl::Duration backoff, std::optional<absl::Duration> retry_after);

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_BACKOFF_H_
