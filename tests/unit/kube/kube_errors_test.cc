#include "src/kube/kube_errors.h"

#include <string>

#include "gtest/gtest.h"

namespace sandboxd::kube {
namespace {

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":" +
         std::to_string(code) + ",\"reason\":\"" + reason + "\",\"message\":\"" + message + "\"}";
}

struct Row {
  int http;
  std::string reason;
  absl::StatusCode want;
};

TEST(KubeErrorsTest, MapsHttpCodeAndReason) {
  const Row rows[] = {
      {400, "BadRequest", absl::StatusCode::kInvalidArgument},
      {401, "Unauthorized", absl::StatusCode::kUnauthenticated},
      {403, "Forbidden", absl::StatusCode::kPermissionDenied},
      {404, "NotFound", absl::StatusCode::kNotFound},
      {405, "MethodNotAllowed", absl::StatusCode::kUnimplemented},
      {409, "AlreadyExists", absl::StatusCode::kAlreadyExists},
      {409, "Conflict", absl::StatusCode::kAborted},
      {410, "Expired", absl::StatusCode::kOutOfRange},
      {410, "Gone", absl::StatusCode::kOutOfRange},
      {415, "UnsupportedMediaType", absl::StatusCode::kInternal},
      {422, "Invalid", absl::StatusCode::kInvalidArgument},
      {429, "TooManyRequests", absl::StatusCode::kUnavailable},
      {500, "InternalError", absl::StatusCode::kUnavailable},
      {503, "ServiceUnavailable", absl::StatusCode::kUnavailable},
      {504, "Timeout", absl::StatusCode::kUnavailable},
      {418, "Teapot", absl::StatusCode::kUnknown},
  };
  for (const Row& r : rows) {
    absl::Status s = StatusFromHttpResponse(r.http, StatusBody(r.http, r.reason, "the message"));
    EXPECT_EQ(s.code(), r.want) << r.http << " " << r.reason;
    EXPECT_EQ(s.message(), "the message") << r.http;
    EXPECT_EQ(KubeReason(s), r.reason) << r.http;
  }
}

TEST(KubeErrorsTest, NonStatusBodyKeepsHttpCodeAndNoReason) {
  absl::Status s = StatusFromHttpResponse(502, "<html>bad gateway</html>");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "HTTP 502: <html>bad gateway</html>");
  EXPECT_EQ(KubeReason(s), "");
  EXPECT_FALSE(s.GetPayload(kReasonPayloadKey).has_value());
}

TEST(KubeErrorsTest, BareConflictWithoutBodyIsAborted) {
  EXPECT_EQ(StatusFromHttpResponse(409, "").code(), absl::StatusCode::kAborted);
}

TEST(KubeErrorsTest, ParsesCauses) {
  const std::string body = R"({"kind":"Status","apiVersion":"v1","status":"Failure",
    "message":"StatefulSet.apps \"x\" is invalid","reason":"Invalid","code":422,
    "details":{"name":"x","kind":"StatefulSet","causes":[
      {"reason":"FieldValueInvalid","message":"must be >= 0","field":"spec.replicas"},
      {"reason":"FieldValueRequired","message":"Required value","field":"spec.selector"}]},
    "extra":1})";
  std::optional<ApiStatus> st = ParseApiStatus(body);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->code, 422);
  EXPECT_EQ(st->reason, "Invalid");
  EXPECT_EQ(st->status, "Failure");
  ASSERT_EQ(st->causes.size(), 2u);
  EXPECT_EQ(st->causes[0].field, "spec.replicas");
  EXPECT_EQ(st->causes[1].reason, "FieldValueRequired");
  absl::Status s = StatusFromHttpResponse(422, body);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "StatefulSet.apps \"x\" is invalid");
}

TEST(KubeErrorsTest, ParseRejectsNonStatus) {
  EXPECT_FALSE(ParseApiStatus("not json").has_value());
  EXPECT_FALSE(ParseApiStatus("[1]").has_value());
  EXPECT_FALSE(ParseApiStatus(R"({"kind":"Pod"})").has_value());
}

TEST(KubeErrorsTest, ReasonWithoutMessage) {
  absl::Status s = StatusFromHttpResponse(404, R"({"kind":"Status","reason":"NotFound"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "HTTP 404: NotFound");
}

TEST(KubeErrorsTest, TransportTable) {
  EXPECT_EQ(StatusFromTransport(TransportFailure::kDeadlineExceeded, "d").code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(StatusFromTransport(TransportFailure::kCancelled, "c").code(),
            absl::StatusCode::kCancelled);
  absl::Status s = StatusFromTransport(TransportFailure::kConnection, "reset");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "reset");
}

}  // namespace
}  // namespace sandboxd::kube
