#include "src/kube/rate_limiter.h"

#include <algorithm>

namespace sandboxd::kube {

TokenBucket::TokenBucket(double qps, int burst, absl::Time now)
    : qps_(qps), burst_(std::max(burst, 1)), tokens_(burst_), last_(now) {}

double TokenBucket::Available(absl::Time now) const {
  if (qps_ <= 0) return burst_;
  double elapsed = absl::ToDoubleSeconds(std::max(now - last_, absl::ZeroDuration()));
  return std::min(burst_, tokens_ + elapsed * qps_);
}

absl::Duration TokenBucket::WaitAt(absl::Time now) const {
  if (qps_ <= 0) return absl::ZeroDuration();
  double after = Available(now) - 1.0;
  if (after >= 0) return absl::ZeroDuration();
  return absl::Seconds(-after / qps_);
}

absl::Duration TokenBucket::Reserve(absl::Time now) {
  if (qps_ <= 0) return absl::ZeroDuration();
  tokens_ = Available(now);
  last_ = std::max(now, last_);
  tokens_ -= 1.0;
  if (tokens_ >= 0) return absl::ZeroDuration();
  return absl::Seconds(-tokens_ / qps_);
}

std::optional<absl::Duration> TokenBucket::ReserveBefore(absl::Time now, absl::Time deadline) {
  if (now + WaitAt(now) > deadline) return std::nullopt;
  return Reserve(now);
}

void TokenBucket::Unreserve(absl::Time now) {
  if (qps_ <= 0) return;
  tokens_ = std::min(burst_, Available(now) + 1.0);
  last_ = std::max(now, last_);
}

}  // namespace sandboxd::kube
