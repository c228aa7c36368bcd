// The one place where an internal absl::Status becomes the grpc::Status a caller sees.
//
// Every non-OK result carries a serialized google.rpc.Status in the grpc::Status binary
// details (the `grpc-status-details-bin` trailer) with:
//   - exactly one google.rpc.ErrorInfo: reason from domain::GetErrorDetail(), or the
//     per-code default of DefaultReason(); domain domain::kErrorDomain; metadata from
//     the status, keys converted to lowerCamelCase;
//   - for INVALID_ARGUMENT with a "field" metadata key: a google.rpc.BadRequest with one
//     field violation (field = metadata "field", description = metadata "why", else the
//     message);
//   - for NOT_FOUND and ALREADY_EXISTS with a "name" metadata key: a
//     google.rpc.ResourceInfo (type kSandboxResourceType unless metadata "resourceType"
//     says otherwise; name "<namespace>/<name>" or "<name>");
//   - for UNAVAILABLE, RESOURCE_EXHAUSTED and ABORTED with a valid kRetryDelayMsKey
//     metadata value: a google.rpc.RetryInfo.
//
// Codes map one to one (absl and gRPC share the numbering; the table is explicit).
//
// Redaction: the caller must not see internals. For INTERNAL, UNKNOWN and DATA_LOSS,
// and for PERMISSION_DENIED / UNAUTHENTICATED caused by our own Kubernetes credentials
// (reason empty, reason::kKubeForbidden or reason::kKubeUnauthenticated), the message is
// replaced by a fixed text and the metadata is dropped; the code and reason are kept.
// Errors from Kubernetes (kube::OriginOf() is not kNone: API responses, transport and
// credential failures) are redacted the same way whatever their code, so that API paths,
// curl texts and API-server bodies stay in the log:
//   - PERMISSION_DENIED / UNAUTHENTICATED: our own credentials -> INTERNAL,
//     kServerCredentialsMessage, reason reason::kKubeForbidden / reason::kKubeUnauthenticated;
//   - INTERNAL, UNKNOWN, DATA_LOSS: kInternalErrorMessage;
//   - UNAVAILABLE: kKubeUnavailableMessage; DEADLINE_EXCEEDED: kKubeDeadlineMessage;
//     CANCELLED: kKubeCancelledMessage; any other code: kKubeErrorMessage.
//   Exception: refusals of the caller's request at admission keep Kubernetes' message
//   (it names the quota or policy), unredacted: origin kQuota -> reason QUOTA_EXCEEDED,
//   origin kAdmission -> reason ADMISSION_DENIED (codes as set by kube_errors:
//   RESOURCE_EXHAUSTED, FAILED_PRECONDITION), unless the status has its own reason.
// Redaction never changes the code except for the Kubernetes credential case above.
// ToGrpcStatus() logs the original status of a redacted error.
//
// Conventions for the layers below (they attach these with domain::MakeError):
//   - kRetryDelayMsKey: metadata key, decimal milliseconds > 0, e.g. from a Kubernetes
//     429 Retry-After header or API Priority and Fairness.
//   - reason::kKubeForbidden / reason::kKubeUnauthenticated: reasons of Kubernetes 403 / 401.
//
// Thread-safe: MapStatus() is pure; ToGrpcStatus() also writes to spdlog's default
// logger, which is thread-safe. MappedStatus is a plain value: thread-compatible.
#ifndef SANDBOXD_SERVER_STATUS_MAPPING_H_
#define SANDBOXD_SERVER_STATUS_MAPPING_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace sandboxd::server {

// ErrorInfo metadata key carrying a retry delay in decimal milliseconds.
inline constexpr std::string_view kRetryDelayMsKey = "retryDelayMs";
// ResourceInfo.resource_type of sandboxes.
inline constexpr std::string_view kSandboxResourceType = "sandbox.v1.Sandbox";

// Message of redacted INTERNAL / UNKNOWN / DATA_LOSS errors.
inline constexpr std::string_view kInternalErrorMessage =
    "internal error; the details are in the server log";
// Messages of redacted errors from Kubernetes (see Redaction above).
inline constexpr std::string_view kKubeUnavailableMessage =
    "the Kubernetes API is unavailable; retry later (the details are in the server log)";
inline constexpr std::string_view kKubeDeadlineMessage =
    "the deadline passed before the Kubernetes API answered";
inline constexpr std::string_view kKubeCancelledMessage = "the request was cancelled";
inline constexpr std::string_view kKubeErrorMessage =
    "the Kubernetes API did not accept the request; the details are in the server log";
// Message of redacted PERMISSION_DENIED / UNAUTHENTICATED errors.
inline constexpr std::string_view kServerCredentialsMessage =
    "the server's Kubernetes credentials do not allow this operation; the details are in "
    "the server log";

// The gRPC code of an absl code. Values outside the canonical range map to UNKNOWN.
grpc::StatusCode ToGrpcCode(absl::StatusCode code);

// The ErrorInfo reason used when a status carries none, e.g. NOT_FOUND ->
// "RESOURCE_NOT_FOUND". Empty for OK.
std::string_view DefaultReason(absl::StatusCode code);

// "field_name" -> "fieldName"; keys already in lowerCamelCase are returned unchanged.
std::string ToLowerCamel(std::string_view key);

// The result of mapping, before serialization.
struct MappedStatus {
  google::rpc::Status rpc_status;  // code, caller-facing message and details
  bool redacted = false;           // message and metadata were withheld: log the original
};

// Maps a non-OK `status`. For an OK status: code 0, no details, redacted false.
MappedStatus MapStatus(const absl::Status& status);

// The grpc::Status for `status`: OK for OK; otherwise code and message of MapStatus()
// and its google.rpc.Status serialized as binary details. Logs redacted errors at error
// level with the original message and payloads; `method` (e.g. "CreateSandbox") is
// added to the log line when non-empty.
grpc::Status ToGrpcStatus(const absl::Status& status, std::string_view method = {});

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_STATUS_MAPPING_H_
