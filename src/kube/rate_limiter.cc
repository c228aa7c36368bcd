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

absl::Duration TokenBucket::Reserve(absl::Time now) {
  if (qps_ <= 0) return absl::ZeroDuration();
  tokens_ = Available(now);
  last_ = std::max(now, last_);
  tokens_ -= 1.0;
  if (tokens_ >= 0) return absl::ZeroDuration();
  return absl::Seconds(-tokens_ / qps_);
}

}  // namespace sandboxd::kube
