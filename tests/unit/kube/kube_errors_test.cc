#include "src/kube/kube_errors.h"

#include <string>

#include "gtest/gtest.h"

namespace sandboxd::kube {
namespace {

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":" +
         std::to_string(code) + ",\"reason\":\"" + reason + "\",\"message\":\"" + message + "\"}";
}

// `text` as the inside of a JSON string (Kubernetes messages quote object names).
std::string JsonEscaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
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

// Refusals at admission: recognised by Kubernetes' message, which is kept verbatim.
TEST(KubeErrorsTest, AdmissionRefusalsTable) {
  struct Case {
    int http;
    std::string reason;
    std::string message;
    absl::StatusCode want;
    KubeOrigin origin;
  };
  const Case cases[] = {
      {403, "Forbidden",
       "pods \"sb-0\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=3, "
       "limited: cpu=4",
       absl::StatusCode::kResourceExhausted, KubeOrigin::kQuota},
      {403, "Forbidden",
       "persistentvolumeclaims \"home-sb-0\" is forbidden: exceeded quota: storage, "
       "requested: requests.storage=10Gi, used: requests.storage=95Gi, limited: "
       "requests.storage=100Gi",
       absl::StatusCode::kResourceExhausted, KubeOrigin::kQuota},
      {403, "Forbidden",
       "pods \"sb-0\" is forbidden: failed quota: compute: must specify limits.cpu",
       absl::StatusCode::kResourceExhausted, KubeOrigin::kQuota},
      {403, "Forbidden",
       "admission webhook \"policy.example.dev\" denied the request: image not allowed",
       absl::StatusCode::kFailedPrecondition, KubeOrigin::kAdmission},
      {422, "Invalid",
       "statefulsets.apps \"sb\" is forbidden: ValidatingAdmissionPolicy 'no-root' with "
       "binding 'no-root-b' denied request: runAsNonRoot required",
       absl::StatusCode::kFailedPrecondition, KubeOrigin::kAdmission},
      {403, "Forbidden",
       "statefulsets.apps \"sb\" is forbidden: ValidatingAdmissionPolicy 'p' with binding "
       "'b' denied request: failed expression",
       absl::StatusCode::kFailedPrecondition, KubeOrigin::kAdmission},
      // Not a refusal of the caller's request: sandboxd's own RBAC.
      {403, "Forbidden",
       "statefulsets.apps is forbidden: User \"system:serviceaccount:sandboxd:sandboxd\" "
       "cannot create resource \"statefulsets\" in API group \"apps\" in the namespace \"u1\"",
       absl::StatusCode::kPermissionDenied, KubeOrigin::kApi},
      // The quota words on another code are not a quota refusal.
      {422, "Invalid", "spec.x: Invalid value: \"exceeded quota\"",
       absl::StatusCode::kInvalidArgument, KubeOrigin::kApi},
      // An admission message on a 500 (webhook unreachable) is an outage, not a refusal.
      {500, "InternalError",
       "Internal error occurred: failed calling webhook \"w.example.dev\": admission webhook "
       "\"w.example.dev\" denied the request: timeout",
       absl::StatusCode::kUnavailable, KubeOrigin::kApi},
      {422, "Invalid", "admission webhook \"w\" is misconfigured",
       absl::StatusCode::kInvalidArgument, KubeOrigin::kApi},
  };
  for (const Case& c : cases) {
    absl::Status s =
        StatusFromHttpResponse(c.http, StatusBody(c.http, c.reason, JsonEscaped(c.message)));
    EXPECT_EQ(s.code(), c.want) << c.message;
    EXPECT_EQ(s.message(), c.message);
    EXPECT_EQ(KubeReason(s), c.reason) << c.message;
    EXPECT_EQ(OriginOf(s), c.origin) << c.message;
  }
}

TEST(KubeErrorsTest, EveryStatusIsMarkedAsFromKubernetes) {
  EXPECT_EQ(OriginOf(StatusFromHttpResponse(404, StatusBody(404, "NotFound", "x"))),
            KubeOrigin::kApi);
  EXPECT_EQ(OriginOf(StatusFromHttpResponse(502, "<html/>")), KubeOrigin::kApi);
  for (TransportFailure f : {TransportFailure::kDeadlineExceeded, TransportFailure::kCancelled,
                             TransportFailure::kConnection}) {
    EXPECT_EQ(OriginOf(StatusFromTransport(f, "GET /api/v1/x: transport: reset")),
              KubeOrigin::kApi);
  }
  EXPECT_EQ(OriginOf(absl::UnavailableError("not from kube")), KubeOrigin::kNone);
  EXPECT_EQ(OriginOf(absl::OkStatus()), KubeOrigin::kNone);
}

TEST(KubeErrorsTest, WithOriginKeepsAnExistingMark) {
  absl::Status quota = StatusFromHttpResponse(
      403, StatusBody(403, "Forbidden", JsonEscaped("pods \"p\" is forbidden: exceeded quota: q")));
  EXPECT_EQ(OriginOf(WithOrigin(quota)), KubeOrigin::kQuota);
  EXPECT_EQ(OriginOf(WithOrigin(absl::InternalError("x"))), KubeOrigin::kApi);
  EXPECT_EQ(OriginOf(WithOrigin(absl::InternalError("x"), KubeOrigin::kAdmission)),
            KubeOrigin::kAdmission);
  EXPECT_TRUE(WithOrigin(absl::OkStatus()).ok());
  EXPECT_EQ(OriginOf(WithOrigin(absl::OkStatus())), KubeOrigin::kNone);
  EXPECT_EQ(OriginOf(WithOrigin(absl::InternalError("x"), KubeOrigin::kNone)),
            KubeOrigin::kNone);
}

}  // namespace
}  // namespace sandboxd::kube
