// Authorizer against a FakeKubeClient: which SubjectAccessReviews a question costs, and
// what each answer means for the caller.
#include "src/auth/authorizer.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/unit/kube/fake_kube_client.h"

namespace sandboxd::auth {
namespace {

constexpr char kAllowed[] =
    R"({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","status":{"allowed":true}})";
constexpr char kNotAllowed[] =
    R"({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","status":{"allowed":false}})";

class AuthorizerTest : public ::testing::Test {
 protected:
  AuthorizerTest() : authorizer_(&kube_, Authorizer::Options{}) { user_.username = "alice"; }

  // Asks; returns the answer if it came without a review request still pending.
  std::optional<absl::Status> Ask(const std::string& verb, const std::string& name) {
    answer_.reset();
    authorizer_.Authorize(user_, {verb, "team-a", name}, kube::CallOptions{},
                          [this](absl::Status s) { answer_ = std::move(s); });
    return answer_;
  }
  // Answers the oldest review with `body`; returns the attributes it asked about.
  std::string Review(absl::StatusOr<std::string> body) {
    kube::FakeKubeClient::PendingCall call = kube_.PopCall();
    EXPECT_EQ(call.Describe(), "POST subjectaccessreviews");
    const size_t at = call.body.find("\"resourceAttributes\":");
    std::string attributes = at == std::string::npos ? "" : call.body.substr(at + 21);
    call.done(std::move(body));
    return attributes;
  }

  kube::FakeKubeClient kube_;
  Authorizer authorizer_;
  kube::UserInfo user_;
  std::optional<absl::Status> answer_;
};

constexpr char kWholeNamespace[] =
    R"({"group":"sandboxd.dev","resource":"sandboxes","verb":"get","namespace":"team-a"}}})";

TEST_F(AuthorizerTest, ANamespaceWideGrantAnswersForEverySandboxWithOneReview) {
  EXPECT_EQ(Ask("get", "one"), std::nullopt);
  EXPECT_EQ(Review(kAllowed), kWholeNamespace);
  EXPECT_EQ(answer_, absl::OkStatus());
  EXPECT_EQ(Ask("get", "two"), absl::OkStatus());  // from the cache
  EXPECT_EQ(Ask("get", ""), absl::OkStatus());
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(AuthorizerTest, AGrantOfSomeNamesIsAskedAboutEachName) {
  EXPECT_EQ(Ask("update", "one"), std::nullopt);
  EXPECT_EQ(
      Review(kNotAllowed),
      R"({"group":"sandboxd.dev","resource":"sandboxes","verb":"update","namespace":"team-a"}}})");
  EXPECT_EQ(answer_, std::nullopt);
  EXPECT_EQ(
      Review(kAllowed),
      R"({"group":"sandboxd.dev","resource":"sandboxes","verb":"update","namespace":"team-a","name":"one"}}})");
  EXPECT_EQ(answer_, absl::OkStatus());
  EXPECT_EQ(Ask("update", "one"), absl::OkStatus());  // both decisions cached

  EXPECT_EQ(Ask("update", "two"), std::nullopt);  // only the name is asked
  EXPECT_EQ(
      Review(kNotAllowed),
      R"({"group":"sandboxd.dev","resource":"sandboxes","verb":"update","namespace":"team-a","name":"two"}}})");
  ASSERT_TRUE(answer_.has_value());
  EXPECT_EQ(answer_->code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(answer_->message(), "not allowed to update sandboxes.sandboxd.dev in namespace team-a");
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(AuthorizerTest, AFailedReviewIsTheAnswerAndIsNotCached) {
  EXPECT_EQ(Ask("get", "one"), std::nullopt);
  EXPECT_EQ(Review(absl::UnavailableError("connection refused")), kWholeNamespace);
  ASSERT_TRUE(answer_.has_value());
  EXPECT_EQ(answer_->code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(kube_.PendingCalls(), 0u);  // the name is not asked about

  EXPECT_EQ(Ask("get", "one"), std::nullopt);  // asked again
  EXPECT_EQ(Review(absl::PermissionDeniedError("forbidden")), kWholeNamespace);
  ASSERT_TRUE(answer_.has_value());
  EXPECT_EQ(answer_->code(), absl::StatusCode::kInternal);  // sandboxd's own identity
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

}  // namespace
}  // namespace sandboxd::auth
