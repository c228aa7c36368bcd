#include "src/domain/label_selector.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "src/domain/errors.h"

namespace sandboxd::domain {
namespace {

using Labels = std::map<std::string, std::string>;

struct MatchCase {
  const char* selector;
  Labels labels;
  bool matches;
};

class LabelSelectorMatchTest : public testing::TestWithParam<MatchCase> {};

TEST_P(LabelSelectorMatchTest, Matches) {
  const MatchCase& c = GetParam();
  absl::StatusOr<LabelSelector> s = LabelSelector::Parse(c.selector);
  ASSERT_TRUE(s.ok()) << c.selector << ": " << s.status();
  EXPECT_EQ(s->Matches(c.labels), c.matches) << c.selector;
}

const Labels kTeam = {{"team", "a"}, {"tier", "web"}, {"sandboxd.dev/project", "p1"}};

INSTANTIATE_TEST_SUITE_P(
    Table, LabelSelectorMatchTest,
    testing::Values(
        MatchCase{"", {}, true}, MatchCase{"  ", kTeam, true},
        MatchCase{"team=a", kTeam, true}, MatchCase{"team=b", kTeam, false},
        MatchCase{"team==a", kTeam, true}, MatchCase{"team = a", kTeam, true},
        MatchCase{"team!=a", kTeam, false}, MatchCase{"team!=b", kTeam, true},
        MatchCase{"absent!=b", kTeam, true},  // != matches an absent label
        MatchCase{"team in (b, a)", kTeam, true}, MatchCase{"team in (b,c)", kTeam, false},
        MatchCase{"absent in (a)", kTeam, false}, MatchCase{"team notin (b)", kTeam, true},
        MatchCase{"team notin (a,b)", kTeam, false}, MatchCase{"absent notin (a)", kTeam, true},
        MatchCase{"team", kTeam, true}, MatchCase{"absent", kTeam, false},
        MatchCase{"!absent", kTeam, true}, MatchCase{"!team", kTeam, false},
        MatchCase{"team=a,tier=web", kTeam, true}, MatchCase{"team=a,tier=db", kTeam, false},
        MatchCase{"sandboxd.dev/project=p1, !gone, tier in (web)", kTeam, true},
        MatchCase{"empty=", {{"empty", ""}}, true}, MatchCase{"empty=", {{"empty", "x"}}, false},
        MatchCase{"in", {{"in", "x"}}, true},  // a key may be named "in"
        MatchCase{"a.b_c-d=X.y_z-9", {{"a.b_c-d", "X.y_z-9"}}, true}));

class LabelSelectorErrorTest : public testing::TestWithParam<const char*> {};

TEST_P(LabelSelectorErrorTest, InvalidArgument) {
  absl::StatusOr<LabelSelector> s = LabelSelector::Parse(GetParam());
  ASSERT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << GetParam();
  ErrorDetail detail = GetErrorDetail(s.status());
  EXPECT_EQ(detail.reason, "INVALID_FIELD");
  EXPECT_EQ(detail.metadata["field"], "label_selector");
}

INSTANTIATE_TEST_SUITE_P(
    Table, LabelSelectorErrorTest,
    testing::Values(",", "a,", ",a", "a,,b", "=a", "a=b=c", "a in", "a in ()", "a in (x",
                    "a in (x,)", "a notin x", "a b", "!", "!a=b", "a>1", "a<1", "-a=b",
                    "a=-b", "a=(b)", "Foo.com/a=b", "a/b/c=d", "/a=b",
                    "a=0123456789012345678901234567890123456789012345678901234567890123",
                    "a in (b) c"));

TEST(LabelSelectorTest, EmptyMatchesEverything) {
  LabelSelector s;
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.Matches({}));
  EXPECT_FALSE(LabelSelector::Parse("a")->empty());
}

}  // namespace
}  // namespace sandboxd::domain
