// Kubernetes error mapping: the one place where an API server response or a transport
// failure becomes an absl::Status.
//
// Mapping (HTTP code, then the Status `reason` where two reasons share a code):
//   400 -> INVALID_ARGUMENT            401 -> UNAUTHENTICATED      403 -> PERMISSION_DENIED
//   404 -> NOT_FOUND                   405 -> UNIMPLEMENTED
//   409 AlreadyExists -> ALREADY_EXISTS, any other 409 (Conflict) -> ABORTED
//   410 (Gone / Expired) -> OUT_OF_RANGE                            415 -> INTERNAL (our bug)
//   422 (Invalid) -> INVALID_ARGUMENT  429 and 5xx -> UNAVAILABLE  other codes -> UNKNOWN
//   transport: deadline -> DEADLINE_EXCEEDED, cancelled -> CANCELLED, else UNAVAILABLE.
// Refusals by admission, recognised by their message, take precedence:
//   403 "exceeded quota" / "failed quota" (ResourceQuota admission)
//       -> RESOURCE_EXHAUSTED, origin kQuota;
//   403 or 422 "admission webhook ... denied the request" or
//   "ValidatingAdmissionPolicy ... denied request" -> FAILED_PRECONDITION, origin kAdmission.
// The status message is the Kubernetes `message` unchanged when the body is a Status;
// otherwise "HTTP <code>: <start of body>". The payload kReasonPayloadKey carries the
// Status `reason` (absent when there is none).
//
// Every status made here carries the payload kOriginPayloadKey: it came from Kubernetes.
// Its messages (API paths, curl texts, API-server bodies) are for the server log only,
// except those of origin kQuota and kAdmission, which are Kubernetes' own explanation of
// a refusal of the caller's request (they name the quota or the policy) and may be shown.
// The gRPC edge (server/status_mapping) withholds the others.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_KUBE_KUBE_ERRORS_H_
#define SANDBOXD_KUBE_KUBE_ERRORS_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"

namespace sandboxd::kube {

// Payload type URL under which the Kubernetes Status reason is attached.
inline constexpr absl::string_view kReasonPayloadKey = "k8s.reason";

// One entry of a Status's details.causes.
struct StatusCause {
  std::string reason;  // e.g. "FieldValueInvalid"
  std::string message;
  std::string field;  // e.g. "spec.replicas"
};

// A decoded Kubernetes `Status` object (kind: Status). Fields absent in the body are
// empty / zero.
struct ApiStatus {
  int code = 0;
  std::string status;  // "Failure" / "Success"
  std::string reason;  // e.g. "AlreadyExists", "Conflict", "Expired"
  std::string message;
  std::vector<StatusCause> causes;
};

// Parses `body` as a Kubernetes Status. Returns nullopt when the body is not JSON or is
// not an object of kind "Status". Unknown fields are ignored.
std::optional<ApiStatus> ParseApiStatus(absl::string_view body);

// The status code for an HTTP error response with the given Status reason (may be "").
absl::StatusCode CodeForHttpError(int http_code, absl::string_view reason);

// The status for a non-2xx response. Precondition: http_code is not 2xx.
absl::Status StatusFromHttpResponse(int http_code, absl::string_view body);

// Why a request ended without an HTTP response.
enum class TransportFailure {
  kDeadlineExceeded,  // the call's deadline passed
  kCancelled,         // the CancellationToken fired or the client is shutting down
  kConnection,        // connect/TLS/reset/EOF/DNS and any other transport error
};

// The status for a request that got no HTTP response; `detail` becomes the message.
absl::Status StatusFromTransport(TransportFailure failure, absl::string_view detail);

// The Kubernetes Status reason attached to `status`, or "" when there is none.
std::string KubeReason(const absl::Status& status);

// Payload type URL marking a status as Kubernetes-originated; the value names the origin
// ("quota", "admission", or "api" for everything else).
inline constexpr absl::string_view kOriginPayloadKey = "k8s.origin";

enum class KubeOrigin {
  kNone,       // not from Kubernetes (no kOriginPayloadKey payload)
  kApi,        // from Kubernetes or the transport: the message is for the log only
  kQuota,      // a ResourceQuota refusal: Kubernetes' message may be shown
  kAdmission,  // an admission webhook / ValidatingAdmissionPolicy refusal: likewise
};

// The origin recorded on `status` (kNone for OK or unmarked statuses).
KubeOrigin OriginOf(const absl::Status& status);

// `status` marked with `origin` (kApi when it has no mark yet and `origin` is kApi; an
// existing mark is kept). OK and kNone leave it unchanged.
absl::Status WithOrigin(absl::Status status, KubeOrigin origin = KubeOrigin::kApi);

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_KUBE_ERRORS_H_
