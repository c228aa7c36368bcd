#include "server/status_mapping.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/code.pb.h"
#include "google/rpc/error_details.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/v1/error_reason.pb.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/kube/kube_errors.h"

namespace sandboxd::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// The details of one type in a google.rpc.Status.
template <typename Detail>
std::vector<Detail> DetailsOf(const google::rpc::Status& status) {
  std::vector<Detail> out;
  for (const auto& any : status.details()) {
    if (!any.Is<Detail>()) continue;
    Detail detail;
    EXPECT_TRUE(any.UnpackTo(&detail));
    out.push_back(detail);
  }
  return out;
}

google::rpc::ErrorInfo OnlyErrorInfo(const google::rpc::Status& status) {
  std::vector<google::rpc::ErrorInfo> infos = DetailsOf<google::rpc::ErrorInfo>(status);
  EXPECT_EQ(infos.size(), 1u);
  return infos.empty() ? google::rpc::ErrorInfo() : infos.front();
}

struct CodeCase {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
  google::rpc::Code rpc_code;
  std::string default_reason;
  bool redacted;  // without a reason
};

class CodeTableTest : public ::testing::TestWithParam<CodeCase> {};

TEST_P(CodeTableTest, MapsCodeReasonAndRedaction) {
  const CodeCase& c = GetParam();
  EXPECT_EQ(ToGrpcCode(c.absl_code), c.grpc_code);
  EXPECT_EQ(DefaultReason(c.absl_code), c.default_reason);
  EXPECT_EQ(static_cast<int>(c.grpc_code), static_cast<int>(c.rpc_code));

  MappedStatus mapped = MapStatus(absl::Status(c.absl_code, "secret detail"));
  EXPECT_EQ(mapped.rpc_status.code(), static_cast<int>(c.grpc_code));
  EXPECT_EQ(mapped.redacted, c.redacted);
  if (!c.redacted) {
    EXPECT_EQ(mapped.rpc_status.message(), "secret detail");
  } else if (c.absl_code == absl::StatusCode::kPermissionDenied ||
             c.absl_code == absl::StatusCode::kUnauthenticated) {
    EXPECT_EQ(mapped.rpc_status.message(), kServerCredentialsMessage);
  } else {
    EXPECT_EQ(mapped.rpc_status.message(), kInternalErrorMessage);
  }
  ASSERT_EQ(mapped.rpc_status.details_size(), 1);
  google::rpc::ErrorInfo info = OnlyErrorInfo(mapped.rpc_status);
  EXPECT_EQ(info.reason(), c.default_reason);
  EXPECT_EQ(info.domain(), "sandboxd.dev");
  EXPECT_THAT(info.metadata(), IsEmpty());

  grpc::Status grpc_status = ToGrpcStatus(absl::Status(c.absl_code, "secret detail"));
  EXPECT_EQ(grpc_status.error_code(), c.grpc_code);
  EXPECT_EQ(grpc_status.error_message(), mapped.rpc_status.message());
  google::rpc::Status decoded;
  ASSERT_TRUE(decoded.ParseFromString(grpc_status.error_details()));
  EXPECT_EQ(decoded.SerializeAsString(), mapped.rpc_status.SerializeAsString());
}

INSTANTIATE_TEST_SUITE_P(
    AllCodes, CodeTableTest,
    ::testing::Values(
        CodeCase{absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED,
                 google::rpc::CANCELLED, "REQUEST_CANCELLED", false},
        CodeCase{absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN, google::rpc::UNKNOWN,
                 "UNKNOWN_ERROR", true},
        CodeCase{absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT,
                 google::rpc::INVALID_ARGUMENT, "INVALID_ARGUMENT", false},
        CodeCase{absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED,
                 google::rpc::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", false},
        CodeCase{absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND,
                 google::rpc::NOT_FOUND, "RESOURCE_NOT_FOUND", false},
        CodeCase{absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS,
                 google::rpc::ALREADY_EXISTS, "RESOURCE_ALREADY_EXISTS", false},
        CodeCase{absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED,
                 google::rpc::PERMISSION_DENIED, "PERMISSION_DENIED", true},
        CodeCase{absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED,
                 google::rpc::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", false},
        CodeCase{absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION,
                 google::rpc::FAILED_PRECONDITION, "FAILED_PRECONDITION", false},
        CodeCase{absl::StatusCode::kAborted, grpc::StatusCode::ABORTED, google::rpc::ABORTED,
                 "CONCURRENT_MODIFICATION", false},
        CodeCase{absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE,
                 google::rpc::OUT_OF_RANGE, "OUT_OF_RANGE", false},
        CodeCase{absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED,
                 google::rpc::UNIMPLEMENTED, "NOT_IMPLEMENTED", false},
        CodeCase{absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL,
                 google::rpc::INTERNAL, "INTERNAL_ERROR", true},
        CodeCase{absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE,
                 google::rpc::UNAVAILABLE, "SERVICE_UNAVAILABLE", false},
        CodeCase{absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS,
                 google::rpc::DATA_LOSS, "DATA_LOSS", true},
        CodeCase{absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED,
                 google::rpc::UNAUTHENTICATED, "UNAUTHENTICATED", true}));

TEST(StatusMappingTest, OkHasNoDetails) {
  EXPECT_EQ(ToGrpcCode(absl::StatusCode::kOk), grpc::StatusCode::OK);
  EXPECT_EQ(DefaultReason(absl::StatusCode::kOk), "");
  grpc::Status status = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.error_message(), "");
  EXPECT_EQ(status.error_details(), "");
  MappedStatus mapped = MapStatus(absl::OkStatus());
  EXPECT_EQ(mapped.rpc_status.code(), 0);
  EXPECT_EQ(mapped.rpc_status.details_size(), 0);
  EXPECT_FALSE(mapped.redacted);
}

TEST(StatusMappingTest, NonCanonicalCodeIsUnknownAndRedacted) {
  absl::Status odd(static_cast<absl::StatusCode>(42), "strange");
  EXPECT_EQ(ToGrpcCode(odd.code()), grpc::StatusCode::UNKNOWN);
  MappedStatus mapped = MapStatus(odd);
  EXPECT_EQ(mapped.rpc_status.code(), google::rpc::UNKNOWN);
  EXPECT_EQ(mapped.rpc_status.message(), kInternalErrorMessage);
  EXPECT_TRUE(mapped.redacted);
  EXPECT_EQ(OnlyErrorInfo(mapped.rpc_status).reason(), "UNKNOWN_ERROR");
}

TEST(StatusMappingTest, InvalidFieldGetsErrorInfoAndBadRequest) {
  grpc::Status status =
      ToGrpcStatus(domain::InvalidField("spec.storage.size", "must be a quantity, got \"big\""));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "spec.storage.size: must be a quantity, got \"big\"");
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(status.error_details()));
  EXPECT_EQ(rpc.code(), google::rpc::INVALID_ARGUMENT);
  EXPECT_EQ(rpc.message(), status.error_message());
  ASSERT_EQ(rpc.details_size(), 2);
  google::rpc::ErrorInfo info = OnlyErrorInfo(rpc);
  EXPECT_EQ(info.reason(), "INVALID_FIELD");
  EXPECT_EQ(info.domain(), "sandboxd.dev");
  EXPECT_THAT(info.metadata(),
              UnorderedElementsAre(Pair("field", "spec.storage.size"),
                                   Pair("why", "must be a quantity, got \"big\"")));
  std::vector<google::rpc::BadRequest> bad = DetailsOf<google::rpc::BadRequest>(rpc);
  ASSERT_EQ(bad.size(), 1u);
  ASSERT_EQ(bad[0].field_violations_size(), 1);
  EXPECT_EQ(bad[0].field_violations(0).field(), "spec.storage.size");
  EXPECT_EQ(bad[0].field_violations(0).description(), "must be a quantity, got \"big\"");
}

TEST(StatusMappingTest, BadRequestDescriptionFallsBackToMessage) {
  MappedStatus mapped = MapStatus(domain::MakeError(
      absl::StatusCode::kInvalidArgument, "BAD_SELECTOR", "label_selector: cannot parse",
      {{"field", "label_selector"}}));
  std::vector<google::rpc::BadRequest> bad =
      DetailsOf<google::rpc::BadRequest>(mapped.rpc_status);
  ASSERT_EQ(bad.size(), 1u);
  ASSERT_EQ(bad[0].field_violations_size(), 1);
  EXPECT_EQ(bad[0].field_violations(0).field(), "label_selector");
  EXPECT_EQ(bad[0].field_violations(0).description(), "label_selector: cannot parse");
  EXPECT_EQ(OnlyErrorInfo(mapped.rpc_status).reason(), "BAD_SELECTOR");
}

TEST(StatusMappingTest, InvalidArgumentWithoutFieldHasNoBadRequest) {
  MappedStatus mapped = MapStatus(absl::InvalidArgumentError("bad"));
  EXPECT_EQ(mapped.rpc_status.message(), "bad");
  EXPECT_EQ(mapped.rpc_status.details_size(), 1);
  EXPECT_THAT(DetailsOf<google::rpc::BadRequest>(mapped.rpc_status), IsEmpty());
  EXPECT_EQ(OnlyErrorInfo(mapped.rpc_status).reason(), "INVALID_ARGUMENT");
}

TEST(StatusMappingTest, NotFoundWithNameGetsResourceInfo) {
  MappedStatus mapped = MapStatus(domain::MakeError(
      absl::StatusCode::kNotFound, "SANDBOX_NOT_FOUND", "sandbox team-a/alice not found",
      {{"namespace", "team-a"}, {"name", "alice"}}));
  EXPECT_EQ(mapped.rpc_status.code(), google::rpc::NOT_FOUND);
  EXPECT_EQ(mapped.rpc_status.message(), "sandbox team-a/alice not found");
  ASSERT_EQ(mapped.rpc_status.details_size(), 2);
  google::rpc::ErrorInfo info = OnlyErrorInfo(mapped.rpc_status);
  EXPECT_EQ(info.reason(), "SANDBOX_NOT_FOUND");
  EXPECT_THAT(info.metadata(),
              UnorderedElementsAre(Pair("namespace", "team-a"), Pair("name", "alice")));
  std::vector<google::rpc::ResourceInfo> resources =
      DetailsOf<google::rpc::ResourceInfo>(mapped.rpc_status);
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].resource_type(), "sandbox.v1.Sandbox");
  EXPECT_EQ(resources[0].resource_name(), "team-a/alice");
  EXPECT_EQ(resources[0].description(), "sandbox team-a/alice not found");
}

TEST(StatusMappingTest, AlreadyExistsResourceTypeFromMetadata) {
  MappedStatus mapped = MapStatus(domain::MakeError(
      absl::StatusCode::kAlreadyExists, "", "claim exists",
      {{"name", "home-alice-0"}, {"resource_type", "PersistentVolumeClaim"}}));
  EXPECT_EQ(OnlyErrorInfo(mapped.rpc_status).reason(), "RESOURCE_ALREADY_EXISTS");
  std::vector<google::rpc::ResourceInfo> resources =
      DetailsOf<google::rpc::ResourceInfo>(mapped.rpc_status);
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].resource_type(), "PersistentVolumeClaim");
  EXPECT_EQ(resources[0].resource_name(), "home-alice-0");
}

TEST(StatusMappingTest, ThrottledUnavailableGetsRetryInfo) {
  MappedStatus mapped = MapStatus(domain::MakeError(
      absl::StatusCode::kUnavailable, "KUBERNETES_THROTTLED",
      "Kubernetes API throttled the request", {{"retryDelayMs", "1500"}}));
  EXPECT_EQ(mapped.rpc_status.code(), google::rpc::UNAVAILABLE);
  EXPECT_FALSE(mapped.redacted);
  ASSERT_EQ(mapped.rpc_status.details_size(), 2);
  google::rpc::ErrorInfo info = OnlyErrorInfo(mapped.rpc_status);
  EXPECT_EQ(info.reason(), "KUBERNETES_THROTTLED");
  EXPECT_THAT(info.metadata(), ElementsAre(Pair("retryDelayMs", "1500")));
  std::vector<google::rpc::RetryInfo> retry = DetailsOf<google::rpc::RetryInfo>(mapped.rpc_status);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].retry_delay().seconds(), 1);
  EXPECT_EQ(retry[0].retry_delay().nanos(), 500000000);
}

TEST(StatusMappingTest, RetryInfoOnlyForValidDelayAndRetryableCode) {
  struct Case {
    absl::StatusCode code;
    std::string delay;
    bool expect_retry_info;
  };
  const Case cases[] = {
      {absl::StatusCode::kUnavailable, "250", true},
      {absl::StatusCode::kResourceExhausted, "3000", true},
      {absl::StatusCode::kAborted, "10", true},
      {absl::StatusCode::kUnavailable, "0", false},
      {absl::StatusCode::kUnavailable, "-5", false},
      {absl::StatusCode::kUnavailable, "soon", false},
      {absl::StatusCode::kInvalidArgument, "250", false},
      {absl::StatusCode::kNotFound, "250", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(static_cast<int>(c.code), " delay ", c.delay));
    MappedStatus mapped =
        MapStatus(domain::MakeError(c.code, "", "msg", {{"retryDelayMs", c.delay}}));
    EXPECT_EQ(DetailsOf<google::rpc::RetryInfo>(mapped.rpc_status).size(),
              c.expect_retry_info ? 1u : 0u);
  }
  MappedStatus snake = MapStatus(
      domain::MakeError(absl::StatusCode::kUnavailable, "", "msg", {{"retry_delay_ms", "2"}}));
  std::vector<google::rpc::RetryInfo> retry = DetailsOf<google::rpc::RetryInfo>(snake.rpc_status);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].retry_delay().seconds(), 0);
  EXPECT_EQ(retry[0].retry_delay().nanos(), 2000000);
}

TEST(StatusMappingTest, InternalErrorsHideMessageAndMetadataButKeepReason) {
  MappedStatus mapped = MapStatus(domain::MakeError(
      absl::StatusCode::kInternal, "KUBE_RESPONSE_MALFORMED",
      "decode StatefulSet team-a/alice: unexpected token at offset 17",
      {{"path", "/apis/apps/v1/namespaces/team-a/statefulsets/alice"}}));
  EXPECT_TRUE(mapped.redacted);
  EXPECT_EQ(mapped.rpc_status.code(), google::rpc::INTERNAL);
  EXPECT_EQ(mapped.rpc_status.message(), "internal error; the details are in the server log");
  ASSERT_EQ(mapped.rpc_status.details_size(), 1);
  google::rpc::ErrorInfo info = OnlyErrorInfo(mapped.rpc_status);
  EXPECT_EQ(info.reason(), "KUBE_RESPONSE_MALFORMED");
  EXPECT_EQ(info.domain(), "sandboxd.dev");
  EXPECT_THAT(info.metadata(), IsEmpty());

  grpc::Status status = ToGrpcStatus(
      absl::DataLossError("etcd said something odd"), "GetSandbox");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(status.error_message(), "internal error; the details are in the server log");
}

TEST(StatusMappingTest, ServerCredentialDenialsAreRedacted) {
  for (const char* reason : {"", "KUBERNETES_FORBIDDEN"}) {
    SCOPED_TRACE(reason);
    MappedStatus mapped = MapStatus(domain::MakeError(
        absl::StatusCode::kPermissionDenied, reason,
        "statefulsets.apps is forbidden: User \"system:serviceaccount:sandboxd:sandboxd\"",
        {{"verb", "create"}}));
    EXPECT_TRUE(mapped.redacted);
    EXPECT_EQ(mapped.rpc_status.code(), google::rpc::PERMISSION_DENIED);
    EXPECT_EQ(mapped.rpc_status.message(),
              "the server's Kubernetes credentials do not allow this operation; the details "
              "are in the server log");
    google::rpc::ErrorInfo info = OnlyErrorInfo(mapped.rpc_status);
    EXPECT_EQ(info.reason(), *reason == '\0' ? "PERMISSION_DENIED" : reason);
    EXPECT_THAT(info.metadata(), IsEmpty());
  }
  MappedStatus unauthenticated = MapStatus(domain::MakeError(
      absl::StatusCode::kUnauthenticated, "KUBERNETES_UNAUTHENTICATED", "token expired"));
  EXPECT_TRUE(unauthenticated.redacted);
  EXPECT_EQ(unauthenticated.rpc_status.message(), kServerCredentialsMessage);
}

TEST(StatusMappingTest, CallerDenialWithOwnReasonPassesThrough) {
  MappedStatus mapped = MapStatus(domain::MakeError(absl::StatusCode::kPermissionDenied,
                                                    "PROJECT_ACCESS_DENIED",
                                                    "caller may not use project p1",
                                                    {{"project", "p1"}}));
  EXPECT_FALSE(mapped.redacted);
  EXPECT_EQ(mapped.rpc_status.message(), "caller may not use project p1");
  google::rpc::ErrorInfo info = OnlyErrorInfo(mapped.rpc_status);
  EXPECT_EQ(info.reason(), "PROJECT_ACCESS_DENIED");
  EXPECT_THAT(info.metadata(), ElementsAre(Pair("project", "p1")));
}

TEST(StatusMappingTest, MetadataKeysBecomeLowerCamel) {
  EXPECT_EQ(ToLowerCamel("field"), "field");
  EXPECT_EQ(ToLowerCamel("retryDelayMs"), "retryDelayMs");
  EXPECT_EQ(ToLowerCamel("retry_delay_ms"), "retryDelayMs");
  EXPECT_EQ(ToLowerCamel("resource-version"), "resourceVersion");
  EXPECT_EQ(ToLowerCamel("_leading"), "leading");
  EXPECT_EQ(ToLowerCamel("trailing_"), "trailing");
  EXPECT_EQ(ToLowerCamel("_"), "");

  MappedStatus mapped = MapStatus(domain::MakeError(
      absl::StatusCode::kFailedPrecondition, "VERSION_MISMATCH", "version mismatch",
      {{"expected_version", "12"}, {"current_version", "13"}}));
  EXPECT_THAT(OnlyErrorInfo(mapped.rpc_status).metadata(),
              UnorderedElementsAre(Pair("expectedVersion", "12"), Pair("currentVersion", "13")));
}

TEST(StatusMappingTest, ContextIsKeptInMessage) {
  absl::Status status = domain::WithContext(
      domain::MakeError(absl::StatusCode::kAborted, "", "conflict"), "update env team-a/alice");
  grpc::Status mapped = ToGrpcStatus(status, "UpdateSandboxEnv");
  EXPECT_EQ(mapped.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(mapped.error_message(), "update env team-a/alice: conflict");
}

std::string KubeBody(int code, const std::string& reason, const std::string& message) {
  return absl::StrCat(R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":)", code,
                      R"(,"reason":")", reason, R"(","message":")", message, R"("})");
}

// Errors from Kubernetes: the caller gets a fixed text (the detail is logged with the
// request id); the code is kept, except for our own credentials (INTERNAL).
TEST(StatusMappingTest, KubernetesErrorsAreRedactedTable) {
  struct Case {
    const char* name;
    absl::Status status;
    grpc::StatusCode code;
    std::string message;
    std::string reason;
  };
  const Case cases[] = {
      {"transport", kube::StatusFromTransport(
           kube::TransportFailure::kConnection,
           "GET /apis/apps/v1/namespaces/u1/statefulsets/sb: transport: Connection refused"),
       grpc::StatusCode::UNAVAILABLE, std::string(kKubeUnavailableMessage),
       "SERVICE_UNAVAILABLE"},
      {"5xx body", kube::StatusFromHttpResponse(503, "<html>etcd leader changed</html>"),
       grpc::StatusCode::UNAVAILABLE, std::string(kKubeUnavailableMessage),
       "SERVICE_UNAVAILABLE"},
      {"429", kube::StatusFromHttpResponse(429, KubeBody(429, "TooManyRequests", "slow down")),
       grpc::StatusCode::UNAVAILABLE, std::string(kKubeUnavailableMessage),
       "SERVICE_UNAVAILABLE"},
      {"deadline", kube::StatusFromTransport(
           kube::TransportFailure::kDeadlineExceeded,
           "GET /api/v1/namespaces/u1/pods: deadline exceeded: Operation timed out"),
       grpc::StatusCode::DEADLINE_EXCEEDED, std::string(kKubeDeadlineMessage),
       "DEADLINE_EXCEEDED"},
      {"cancelled", kube::StatusFromTransport(kube::TransportFailure::kCancelled,
                                              "cancelled by the caller"),
       grpc::StatusCode::CANCELLED, std::string(kKubeCancelledMessage), "REQUEST_CANCELLED"},
      {"conflict with context",
       domain::WithContext(
           kube::StatusFromHttpResponse(
               409, KubeBody(409, "Conflict",
                             "Operation cannot be fulfilled on statefulsets.apps \\\"sb\\\"")),
           "update env u1/sb"),
       grpc::StatusCode::ABORTED, std::string(kKubeErrorMessage), "CONCURRENT_MODIFICATION"},
      {"422", kube::StatusFromHttpResponse(
           422, KubeBody(422, "Invalid", "StatefulSet.apps \\\"sb\\\" is invalid: spec.x")),
       grpc::StatusCode::INVALID_ARGUMENT, std::string(kKubeErrorMessage), "INVALID_ARGUMENT"},
      {"415", kube::StatusFromHttpResponse(415, KubeBody(415, "UnsupportedMediaType", "x")),
       grpc::StatusCode::INTERNAL, std::string(kInternalErrorMessage), "INTERNAL_ERROR"},
      {"our RBAC", kube::StatusFromHttpResponse(
           403, KubeBody(403, "Forbidden",
                         "statefulsets.apps is forbidden: User \\\"system:serviceaccount:"
                         "sandboxd:sandboxd\\\" cannot create resource")),
       grpc::StatusCode::INTERNAL, std::string(kServerCredentialsMessage),
       "KUBERNETES_FORBIDDEN"},
      {"our token", kube::StatusFromHttpResponse(401, KubeBody(401, "Unauthorized", "x")),
       grpc::StatusCode::INTERNAL, std::string(kServerCredentialsMessage),
       "KUBERNETES_UNAUTHENTICATED"},
      {"exec plugin", kube::WithOrigin(absl::UnauthenticatedError(
           "exec plugin /usr/bin/aws: exit status 1: token expired")),
       grpc::StatusCode::INTERNAL, std::string(kServerCredentialsMessage),
       "KUBERNETES_UNAUTHENTICATED"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    MappedStatus mapped = MapStatus(c.status);
    EXPECT_TRUE(mapped.redacted);
    EXPECT_EQ(mapped.rpc_status.code(), static_cast<int>(c.code));
    EXPECT_EQ(mapped.rpc_status.message(), c.message);
    ASSERT_EQ(mapped.rpc_status.details_size(), 1);
    google::rpc::ErrorInfo info = OnlyErrorInfo(mapped.rpc_status);
    EXPECT_EQ(info.reason(), c.reason);
    EXPECT_THAT(info.metadata(), IsEmpty());
    grpc::Status grpc_status = ToGrpcStatus(c.status, "GetSandbox");
    EXPECT_EQ(grpc_status.error_code(), c.code);
    EXPECT_EQ(grpc_status.error_message(), c.message);
  }
}

// Kubernetes' explanation of a refusal of the caller's request is shown as it is.
TEST(StatusMappingTest, AdmissionRefusalsKeepKubernetesMessageTable) {
  struct Case {
    int http;
    std::string reason;
    std::string message;
    grpc::StatusCode code;
    std::string error_reason;
  };
  const Case cases[] = {
      {403, "Forbidden",
       "pods \"sb-0\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=3, "
       "limited: cpu=4",
       grpc::StatusCode::RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED"},
      {403, "Forbidden",
       "admission webhook \"policy.example.dev\" denied the request: image not allowed",
       grpc::StatusCode::FAILED_PRECONDITION, "ADMISSION_DENIED"},
      {422, "Invalid",
       "statefulsets.apps \"sb\" is forbidden: ValidatingAdmissionPolicy 'no-root' with "
       "binding 'b' denied request: runAsNonRoot required",
       grpc::StatusCode::FAILED_PRECONDITION, "ADMISSION_DENIED"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    std::string escaped;
    for (char ch : c.message) {
      if (ch == '"') escaped += '\\';
      escaped += ch;
    }
    absl::Status status = kube::StatusFromHttpResponse(c.http, KubeBody(c.http, c.reason, escaped));
    MappedStatus mapped = MapStatus(status);
    EXPECT_FALSE(mapped.redacted);
    EXPECT_EQ(mapped.rpc_status.code(), static_cast<int>(c.code));
    EXPECT_EQ(mapped.rpc_status.message(), c.message);
    google::rpc::ErrorInfo info = OnlyErrorInfo(mapped.rpc_status);
    EXPECT_EQ(info.reason(), c.error_reason);
    EXPECT_EQ(info.domain(), "sandboxd.dev");
  }
}

TEST(StatusMappingTest, UnmarkedUnavailableKeepsItsMessage) {
  MappedStatus mapped = MapStatus(domain::MakeError(
      absl::StatusCode::kUnavailable, "CACHE_NOT_SYNCED", "the sandbox cache is starting"));
  EXPECT_FALSE(mapped.redacted);
  EXPECT_EQ(mapped.rpc_status.message(), "the sandbox cache is starting");
}

// The proto's ErrorReason enum is the contract; domain::reason is the server's one list.
// They name the same reasons in the same order, and every default reason of the code
// table is one of them.
TEST(ErrorReasonTest, TheServersListIsTheProtosEnum) {
  std::vector<std::string> from_proto;
  const auto* descriptor = sandbox::v1::ErrorReason_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    if (descriptor->value(i)->number() == 0) continue;
    from_proto.push_back(descriptor->value(i)->name());
  }
  std::vector<std::string> from_server(std::begin(domain::reason::kAllCallerReasons),
                                       std::end(domain::reason::kAllCallerReasons));
  EXPECT_EQ(from_server, from_proto);
  for (int code = 1; code <= 16; ++code) {
    EXPECT_THAT(from_proto, ::testing::Contains(std::string(
                                DefaultReason(static_cast<absl::StatusCode>(code)))))
        << "code " << code;
  }
}

}  // namespace
}  // namespace sandboxd::server
