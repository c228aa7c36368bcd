#include "server/call_credentials.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sandboxd::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(OrganizationsOfTest, ReadsEveryOrganizationOfASubject) {
  EXPECT_THAT(OrganizationsOf("CN=alice,O=team-a,O=dev"), ElementsAre("team-a", "dev"));
  EXPECT_THAT(OrganizationsOf("O=ops, CN=bob"), ElementsAre("ops"));
  EXPECT_THAT(OrganizationsOf("CN=carol"), IsEmpty());
  EXPECT_THAT(OrganizationsOf(""), IsEmpty());
}

TEST(OrganizationsOfTest, EscapedSeparatorsStayInTheValue) {
  EXPECT_THAT(OrganizationsOf("CN=x,O=a\\,b,OU=not-an-o"), ElementsAre("a,b"));
  EXPECT_THAT(OrganizationsOf("CN=x+O=multi"), ElementsAre("multi"));
}

}  // namespace
}  // namespace sandboxd::server
