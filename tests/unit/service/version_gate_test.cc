#include "src/service/version_gate.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sandboxd::service {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(VersionGateTest, WaitersRunInVersionOrderWhenReached) {
  VersionGate gate;
  std::vector<std::pair<int, bool>> calls;
  gate.WhenReached(30, [&](bool r) { calls.emplace_back(30, r); });
  gate.WhenReached(10, [&](bool r) { calls.emplace_back(10, r); });
  gate.WhenReached(20, [&](bool r) { calls.emplace_back(20, r); });
  gate.Advance(9);
  EXPECT_THAT(calls, IsEmpty());
  gate.Advance(20);
  EXPECT_THAT(calls, ElementsAre(std::pair(10, true), std::pair(20, true)));
  gate.Advance(31);
  EXPECT_THAT(calls, ElementsAre(std::pair(10, true), std::pair(20, true), std::pair(30, true)));
  EXPECT_EQ(gate.version(), 31u);
}

TEST(VersionGateTest, AReachedVersionAnswersInline) {
  VersionGate gate;
  gate.Advance(5);
  std::vector<bool> calls;
  gate.WhenReached(5, [&](bool r) { calls.push_back(r); });
  gate.WhenReached(1, [&](bool r) { calls.push_back(r); });
  EXPECT_THAT(calls, ElementsAre(true, true));
}

TEST(VersionGateTest, VersionsNeverGoBack) {
  VersionGate gate;
  gate.Advance(50);
  gate.Advance(40);  // a relist may report an older list version
  EXPECT_EQ(gate.version(), 50u);
}

TEST(VersionGateTest, CloseAnswersWaitersAndLaterCallsWithFalse) {
  VersionGate gate;
  gate.Advance(3);
  std::vector<bool> calls;
  gate.WhenReached(7, [&](bool r) { calls.push_back(r); });
  gate.Close();
  EXPECT_THAT(calls, ElementsAre(false));
  gate.WhenReached(9, [&](bool r) { calls.push_back(r); });
  gate.WhenReached(2, [&](bool r) { calls.push_back(r); });  // reached before the close
  EXPECT_THAT(calls, ElementsAre(false, false, true));
  gate.Close();  // idempotent
  EXPECT_EQ(calls.size(), 3u);
}

TEST(VersionGateTest, CancelDropsAPendingWaiterOnly) {
  VersionGate gate;
  std::vector<std::string> calls;
  const VersionGate::Ticket first =
      gate.WhenReached(5, [&](bool r) { calls.emplace_back("first"); });
  const VersionGate::Ticket second =
      gate.WhenReached(5, [&](bool r) { calls.emplace_back("second"); });
  EXPECT_NE(first, 0u);
  EXPECT_NE(first, second);
  EXPECT_EQ(gate.WhenReached(0, [&](bool r) { calls.emplace_back("inline"); }), 0u);
  gate.Cancel(first);
  gate.Cancel(first);  // idempotent
  gate.Cancel(12345);  // unknown: nothing
  gate.Advance(5);
  EXPECT_THAT(calls, ElementsAre("inline", "second"));
  gate.Cancel(second);  // already ran: nothing
  EXPECT_THAT(calls, ElementsAre("inline", "second"));
}

TEST(VersionGateTest, ParsesIntegerResourceVersionsOnly) {
  EXPECT_EQ(VersionGate::Parse("12345"), 12345u);
  EXPECT_EQ(VersionGate::Parse(""), std::nullopt);
  EXPECT_EQ(VersionGate::Parse("abc"), std::nullopt);
  EXPECT_EQ(VersionGate::Parse("-1"), std::nullopt);
}

}  // namespace
}  // namespace sandboxd::service
