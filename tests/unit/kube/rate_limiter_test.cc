#include "src/kube/rate_limiter.h"

#include "gtest/gtest.h"

namespace sandboxd::kube {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

TEST(TokenBucketTest, BurstIsFreeThenPacedAtQps) {
  TokenBucket b(/*qps=*/5, /*burst=*/3, kT0);
  EXPECT_EQ(b.Reserve(kT0), absl::ZeroDuration());
  EXPECT_EQ(b.Reserve(kT0), absl::ZeroDuration());
  EXPECT_EQ(b.Reserve(kT0), absl::ZeroDuration());
  EXPECT_EQ(b.Reserve(kT0), absl::Milliseconds(200));
  EXPECT_EQ(b.Reserve(kT0), absl::Milliseconds(400));  // reservations queue up
}

TEST(TokenBucketTest, RefillsOverTimeUpToBurst) {
  TokenBucket b(10, 2, kT0);
  b.Reserve(kT0);
  b.Reserve(kT0);
  EXPECT_DOUBLE_EQ(b.Available(kT0), 0.0);
  EXPECT_DOUBLE_EQ(b.Available(kT0 + absl::Milliseconds(100)), 1.0);
  EXPECT_DOUBLE_EQ(b.Available(kT0 + absl::Seconds(60)), 2.0);
  EXPECT_EQ(b.Reserve(kT0 + absl::Milliseconds(100)), absl::ZeroDuration());
  EXPECT_EQ(b.Reserve(kT0 + absl::Milliseconds(100)), absl::Milliseconds(100));
}

TEST(TokenBucketTest, ZeroQpsDisablesThrottling) {
  TokenBucket b(0, 1, kT0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.Reserve(kT0), absl::ZeroDuration());
}

TEST(TokenBucketTest, HighQpsForSandboxd) {
  TokenBucket b(100, 200, kT0);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(b.Reserve(kT0), absl::ZeroDuration());
  EXPECT_EQ(b.Reserve(kT0), absl::Milliseconds(10));
}

}  // namespace
}  // namespace sandboxd::kube
