#include "src/auth/caller_limits.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/domain/errors.h"

namespace sandboxd::auth {
namespace {

class CallerLimitsTest : public ::testing::Test {
 protected:
  CallerLimits::Options Opts(double qps, int burst, int streams) {
    CallerLimits::Options o;
    o.calls_per_second = qps;
    o.burst = burst;
    o.max_watch_streams = streams;
    o.clock = [this] { return now_; };
    return o;
  }
  absl::Time now_ = absl::FromUnixSeconds(1000);
};

TEST_F(CallerLimitsTest, ABurstThenTheRateThenRefusalsWithARetryDelay) {
  CallerLimits limits(Opts(/*qps=*/2, /*burst=*/3, 10));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limits.AdmitCall("alice").ok()) << i;
  absl::Status refused = limits.AdmitCall("alice");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  domain::ErrorDetail detail = domain::GetErrorDetail(refused);
  EXPECT_EQ(detail.reason, "CALLER_RATE_LIMITED");
  EXPECT_EQ(detail.metadata["retryDelayMs"], "500");  // one token at 2 per second
  now_ += absl::Milliseconds(500);
  EXPECT_TRUE(limits.AdmitCall("alice").ok());
  EXPECT_FALSE(limits.AdmitCall("alice").ok());
}

TEST_F(CallerLimitsTest, CallersDoNotShareABucket) {
  CallerLimits limits(Opts(1, 1, 10));
  EXPECT_TRUE(limits.AdmitCall("alice").ok());
  EXPECT_FALSE(limits.AdmitCall("alice").ok());
  EXPECT_TRUE(limits.AdmitCall("bob").ok());
}

TEST_F(CallerLimitsTest, ARefusedCallTakesNothing) {
  CallerLimits limits(Opts(1, 1, 10));
  EXPECT_TRUE(limits.AdmitCall("alice").ok());
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limits.AdmitCall("alice").ok());
  now_ += absl::Seconds(1);
  EXPECT_TRUE(limits.AdmitCall("alice").ok());
}

TEST_F(CallerLimitsTest, NoRateLimitWhenQpsIsZero) {
  CallerLimits limits(Opts(0, 1, 10));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limits.AdmitCall("alice").ok());
}

TEST_F(CallerLimitsTest, WatchSlotsAreGivenBackWhenTheLeaseEnds) {
  CallerLimits limits(Opts(1, 1, /*streams=*/2));
  auto first = limits.OpenWatch("alice");
  auto second = limits.OpenWatch("alice");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  auto third = limits.OpenWatch("alice");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(domain::GetErrorDetail(third.status()).reason, "TOO_MANY_WATCH_STREAMS");
  EXPECT_EQ(domain::GetErrorDetail(third.status()).metadata["retryDelayMs"], "5000");
  EXPECT_TRUE(limits.OpenWatch("bob").ok()) << "another caller has its own slots";
  EXPECT_EQ(limits.open_watches("alice"), 2);
  first->reset();
  EXPECT_EQ(limits.open_watches("alice"), 1);
  EXPECT_TRUE(limits.OpenWatch("alice").ok());
}

TEST_F(CallerLimitsTest, IdleCallersAreForgottenWhenTheTableIsFull) {
  CallerLimits::Options o = Opts(1, 1, 10);
  o.max_callers = 2;
  CallerLimits limits(o);
  EXPECT_TRUE(limits.AdmitCall("a").ok());
  auto lease = limits.OpenWatch("b");
  ASSERT_TRUE(lease.ok());
  now_ += absl::Seconds(2);
  EXPECT_TRUE(limits.AdmitCall("c").ok());  // forgets idle "a", keeps "b" (a stream is open)
  EXPECT_EQ(limits.open_watches("b"), 1);
  EXPECT_TRUE(limits.AdmitCall("a").ok()) << "a forgotten caller starts with a full bucket";
}

}  // namespace
}  // namespace sandboxd::auth
