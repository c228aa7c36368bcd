#include "src/kube/backoff.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace sandboxd::kube {

Backoff::Backoff(Options options, std::function<double()> uniform01)
    : options_(options), uniform01_(std::move(uniform01)) {
  if (!uniform01_) {
    // shared_ptr: std::function requires a copyable callable.
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    uniform01_ = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
  }
}

absl::Duration Backoff::Delay(int retry) {
  double base = absl::ToDoubleSeconds(options_.initial) *
                std::pow(options_.multiplier, static_cast<double>(std::max(retry, 0)));
  double max = absl::ToDoubleSeconds(options_.max);
  base = std::min(base, max);
  double u = std::clamp(uniform01_(), 0.0, 1.0);
  double jittered = std::min(base + base * options_.jitter * u, max);
  return absl::Seconds(jittered);
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value) {
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &seconds) || seconds < 0) {
    return std::nullopt;
  }
  return absl::Seconds(seconds);
}

absl::Duration RetryWait(absl::Duration backoff, std::optional<absl::Duration> retry_after) {
  return retry_after ? std::max(backoff, *retry_after) : backoff;
}

}  // namespace sandboxd::kube
