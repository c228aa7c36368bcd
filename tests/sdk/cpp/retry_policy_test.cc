// BackoffDelay: exponential growth, the cap, and the jitter bounds (randomness injected).
#include "sandboxd/retry_policy.h"

#include "gtest/gtest.h"

namespace sandboxd {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

TEST(BackoffDelayTest, GrowsByTheMultiplierUpToTheCap) {
  RetryPolicy policy;  // 100 ms, x2, cap 5 s, jitter 0.2
  const double kMiddle = 0.5;  // no jitter
  EXPECT_NEAR(Ms(BackoffDelay(policy, 1, kMiddle)), 100, 1e-6);
  EXPECT_NEAR(Ms(BackoffDelay(policy, 2, kMiddle)), 200, 1e-6);
  EXPECT_NEAR(Ms(BackoffDelay(policy, 4, kMiddle)), 800, 1e-6);
  EXPECT_NEAR(Ms(BackoffDelay(policy, 7, kMiddle)), 5000, 1e-6);
  EXPECT_NEAR(Ms(BackoffDelay(policy, 60, kMiddle)), 5000, 1e-6);
}

TEST(BackoffDelayTest, JitterScalesWithinItsBounds) {
  RetryPolicy policy;
  EXPECT_NEAR(Ms(BackoffDelay(policy, 1, 0.0)), 80, 1e-6);
  EXPECT_NEAR(Ms(BackoffDelay(policy, 1, 1.0)), 120, 1e-6);
  EXPECT_NEAR(Ms(BackoffDelay(policy, 7, 1.0)), 6000, 1e-6);
  policy.jitter = 0;
  EXPECT_NEAR(Ms(BackoffDelay(policy, 3, 0.9)), 400, 1e-6);
}

}  // namespace
}  // namespace sandboxd
