#include "src/kube/backoff.h"

#include "gtest/gtest.h"

namespace sandboxd::kube {
namespace {

TEST(BackoffTest, DoublesWithoutJitterAndCaps) {
  Backoff b({absl::Milliseconds(100), absl::Seconds(1), 2.0, 0.0}, [] { return 0.9; });
  EXPECT_EQ(b.Delay(0), absl::Milliseconds(100));
  EXPECT_EQ(b.Delay(1), absl::Milliseconds(200));
  EXPECT_EQ(b.Delay(2), absl::Milliseconds(400));
  EXPECT_EQ(b.Delay(3), absl::Milliseconds(800));
  EXPECT_EQ(b.Delay(4), absl::Seconds(1));
  EXPECT_EQ(b.Delay(30), absl::Seconds(1));
}

TEST(BackoffTest, JitterStretchesByInjectedRandom) {
  double u = 0.0;
  Backoff b({absl::Milliseconds(100), absl::Seconds(10), 2.0, 1.0}, [&u] { return u; });
  EXPECT_EQ(b.Delay(0), absl::Milliseconds(100));
  u = 0.5;
  EXPECT_EQ(b.Delay(0), absl::Milliseconds(150));
  EXPECT_EQ(b.Delay(2), absl::Milliseconds(600));
  u = 0.99;
  EXPECT_EQ(b.Delay(10), absl::Seconds(10));  // capped after jitter
}

TEST(BackoffTest, DefaultRandomStaysInRange) {
  Backoff b({absl::Milliseconds(100), absl::Seconds(10), 2.0, 1.0}, nullptr);
  for (int i = 0; i < 100; ++i) {
    absl::Duration d = b.Delay(1);
    EXPECT_GE(d, absl::Milliseconds(200));
    EXPECT_LE(d, absl::Milliseconds(400));
  }
}

TEST(RetryAfterTest, ParsesIntegerSecondsOnly) {
  EXPECT_EQ(ParseRetryAfter("3"), absl::Seconds(3));
  EXPECT_EQ(ParseRetryAfter(" 0 "), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter(""), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-1"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
}

TEST(RetryAfterTest, WaitIsTheLongerOfBackoffAndRetryAfter) {
  EXPECT_EQ(RetryWait(absl::Milliseconds(300), absl::Seconds(2)), absl::Seconds(2));
  EXPECT_EQ(RetryWait(absl::Seconds(5), absl::Seconds(2)), absl::Seconds(5));
  EXPECT_EQ(RetryWait(absl::Seconds(5), std::nullopt), absl::Seconds(5));
}

}  // namespace
}  // namespace sandboxd::kube
