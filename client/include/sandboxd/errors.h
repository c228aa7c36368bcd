// The error model of the sandboxd client: every failure is an absl::Status whose code is
// the gRPC code the server sent (absl and gRPC number their codes alike). The server's
// google.rpc.Status (ErrorInfo, BadRequest, RetryInfo) travels as a payload of that
// absl::Status; ErrorDetailsOf() decodes it.
//
// Errors the client makes itself (a wait that sees the sandbox deleted or failing, an
// unreadable token file) carry an ErrorInfo too, so callers read every error one way.
#ifndef SANDBOXD_CLIENT_ERRORS_H_
#define SANDBOXD_CLIENT_ERRORS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace sandboxd {

// The payload type URL under which the serialized google.rpc.Status is kept.
inline constexpr char kRpcStatusPayloadUrl[] = "type.googleapis.com/google.rpc.Status";

// The ErrorInfo domain of sandboxd's errors.
inline constexpr char kErrorDomain[] = "sandboxd.dev";

// One entry of google.rpc.BadRequest.
struct FieldViolation {
  std::string field;  // a field path relative to the request, e.g. "spec.name"
  std::string description;
};

// What a failed call says, decoded. Plain value type.
struct ErrorDetails {
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  std::string domain;  // ErrorInfo.domain: "sandboxd.dev" for the server's errors
  std::string reason;  // ErrorInfo.reason: a name of enum sandbox.v1.ErrorReason
  std::map<std::string, std::string> metadata;    // ErrorInfo.metadata
  std::vector<FieldViolation> field_violations;  // BadRequest (INVALID_ARGUMENT)
  std::optional<absl::Duration> retry_delay;     // RetryInfo (RESOURCE_EXHAUSTED)

  // The offending field: metadata "field", else the first violation's field, else "".
  std::string Field() const;
};

// Decodes `status`. A status without details yields only code and message.
ErrorDetails ErrorDetailsOf(const absl::Status& status);

// ErrorDetailsOf(status).reason.
std::string ErrorReasonOf(const absl::Status& status);

// Converts a gRPC status, keeping its error_details() as the payload.
absl::Status StatusFromGrpc(const grpc::Status& status);

// A status with an ErrorInfo (domain kErrorDomain) of `reason` and `metadata`.
absl::Status MakeError(absl::StatusCode code, absl::string_view reason,
                       absl::string_view message,
                       const std::map<std::string, std::string>& metadata = {});

// The canonical upper-case name of a code, e.g. "NOT_FOUND".
std::string StatusCodeName(absl::StatusCode code);

}  // namespace sandboxd

#endif  // SANDBOXD_CLIENT_ERRORS_H_
