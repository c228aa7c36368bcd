#include "src/auth/expiring_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace sandboxd::auth {
namespace {

TEST(ExpiringCacheTest, EntriesExpireAfterTheirTtl) {
  absl::Time now = absl::FromUnixSeconds(100);
  ExpiringCache<std::string, int> cache(10, [&now] { return now; });
  cache.Put("a", 1, absl::Seconds(10));
  cache.Put("b", 2, absl::Seconds(2));
  cache.Put("c", 3, absl::ZeroDuration());  // not kept
  EXPECT_EQ(cache.Find("a"), 1);
  EXPECT_EQ(cache.Find("b"), 2);
  EXPECT_EQ(cache.Find("c"), std::nullopt);
  now += absl::Seconds(2);
  EXPECT_EQ(cache.Find("b"), std::nullopt);
  EXPECT_EQ(cache.Find("a"), 1);
  now += absl::Seconds(8);
  EXPECT_EQ(cache.Find("a"), std::nullopt);
}

TEST(ExpiringCacheTest, AFullCacheDropsExpiredEntriesFirstThenEverything) {
  absl::Time now = absl::FromUnixSeconds(100);
  ExpiringCache<int, int> cache(2, [&now] { return now; });
  cache.Put(1, 1, absl::Seconds(1));
  cache.Put(2, 2, absl::Seconds(10));
  now += absl::Seconds(1);
  cache.Put(3, 3, absl::Seconds(10));  // 1 expired: dropped to make room
  EXPECT_EQ(cache.Find(2), 2);
  EXPECT_EQ(cache.Find(3), 3);
  cache.Put(4, 4, absl::Seconds(10));  // nothing expired: the cache starts over
  EXPECT_EQ(cache.Find(2), std::nullopt);
  EXPECT_EQ(cache.Find(4), 4);
}

}  // namespace
}  // namespace sandboxd::auth
