#include "src/kube/rate_limiter.h"

#include <optional>

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

TEST(TokenBucketTest, ReserveBeforeTakesNothingWhenTheWaitEndsAfterTheDeadline) {
  struct Case {
    const char* name;
    absl::Duration deadline_in;
    bool reserved;
    double available_after;
  } cases[] = {
      {"wait ends before the deadline", absl::Milliseconds(500), true, -2.0},
      {"wait ends at the deadline", absl::Milliseconds(400), true, -2.0},
      {"wait ends after the deadline", absl::Milliseconds(399), false, -1.0},
      {"deadline now", absl::ZeroDuration(), false, -1.0},
  };
  for (const Case& c : cases) {
    TokenBucket b(/*qps=*/5, /*burst=*/1, kT0);
    b.Reserve(kT0);
    b.Reserve(kT0);  // balance -1: one more token is ready in 400 ms
    ASSERT_DOUBLE_EQ(b.Available(kT0), -1.0);
    std::optional<absl::Duration> wait = b.ReserveBefore(kT0, kT0 + c.deadline_in);
    EXPECT_EQ(wait.has_value(), c.reserved) << c.name;
    if (wait) {
      EXPECT_EQ(*wait, absl::Milliseconds(400)) << c.name;
    }
    EXPECT_DOUBLE_EQ(b.Available(kT0), c.available_after) << c.name;
  }
}

TEST(TokenBucketTest, ReserveBeforeIsFreeWithinBurst) {
  TokenBucket b(5, 2, kT0);
  EXPECT_EQ(b.ReserveBefore(kT0, kT0), absl::ZeroDuration());
  EXPECT_DOUBLE_EQ(b.Available(kT0), 1.0);
}

// N calls that gave up while waiting (cancelled or past their deadline) and N calls that
// were refused by ReserveBefore leave a later call the wait it would have had without them.
TEST(TokenBucketTest, AbandonedReservationsDoNotDelayLaterCalls) {
  const int kAbandoned = 50;
  TokenBucket baseline(10, 1, kT0);
  baseline.Reserve(kT0);
  const double expected_available = baseline.Available(kT0 + absl::Milliseconds(10));
  const absl::Duration expected = baseline.Reserve(kT0 + absl::Milliseconds(20));

  TokenBucket b(10, 1, kT0);
  b.Reserve(kT0);
  for (int i = 0; i < kAbandoned; ++i) {
    ASSERT_GT(b.Reserve(kT0), absl::ZeroDuration());  // waiting...
  }
  for (int i = 0; i < kAbandoned; ++i) {
    ASSERT_EQ(b.ReserveBefore(kT0, kT0 + absl::Milliseconds(50)), std::nullopt);
  }
  for (int i = 0; i < kAbandoned; ++i) b.Unreserve(kT0 + absl::Milliseconds(10));  // ...gave up
  // 150 reservations and returns: equal up to floating-point rounding.
  EXPECT_NEAR(b.Available(kT0 + absl::Milliseconds(10)), expected_available, 1e-9);
  EXPECT_NEAR(absl::ToDoubleMilliseconds(b.Reserve(kT0 + absl::Milliseconds(20))),
              absl::ToDoubleMilliseconds(expected), 1e-6);
  EXPECT_EQ(expected, absl::Milliseconds(80));
}

TEST(TokenBucketTest, UnreserveNeverExceedsBurst) {
  TokenBucket b(10, 2, kT0);
  b.Unreserve(kT0);
  b.Unreserve(kT0);
  EXPECT_DOUBLE_EQ(b.Available(kT0), 2.0);
  TokenBucket off(0, 1, kT0);
  off.Unreserve(kT0);
  EXPECT_DOUBLE_EQ(off.Available(kT0), 1.0);
}

}  // namespace
}  // namespace sandboxd::kube
