#include "sandboxd/errors.h"

#include <utility>

#include "absl/strings/cord.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace sandboxd {

std::string ErrorDetails::Field() const {
  auto it = metadata.find("field");
  if (it != metadata.end()) return it->second;
  if (!field_violations.empty()) return field_violations.front().field;
  return "";
}

ErrorDetails ErrorDetailsOf(const absl::Status& status) {
  ErrorDetails details;
  details.code = status.code();
  details.message = std::string(status.message());
  auto payload = status.GetPayload(kRpcStatusPayloadUrl);
  google::rpc::Status rpc;
  if (!payload.has_value() || !rpc.ParseFromString(std::string(*payload))) return details;
  for (const google::protobuf::Any& any : rpc.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::BadRequest bad_request;
    google::rpc::RetryInfo retry_info;
    if (any.Is<google::rpc::ErrorInfo>() && any.UnpackTo(&info)) {
      details.domain = info.domain();
      details.reason = info.reason();
      details.metadata.insert(info.metadata().begin(), info.metadata().end());
    } else if (any.Is<google::rpc::BadRequest>() && any.UnpackTo(&bad_request)) {
      for (const auto& v : bad_request.field_violations()) {
        details.field_violations.push_back({v.field(), v.description()});
      }
    } else if (any.Is<google::rpc::RetryInfo>() && any.UnpackTo(&retry_info)) {
      details.retry_delay = absl::Seconds(retry_info.retry_delay().seconds()) +
                            absl::Nanoseconds(retry_info.retry_delay().nanos());
    }
  }
  return details;
}

std::string ErrorReasonOf(const absl::Status& status) { return ErrorDetailsOf(status).reason; }

absl::Status StatusFromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (!status.error_details().empty()) {
    out.SetPayload(kRpcStatusPayloadUrl, absl::Cord(status.error_details()));
  }
  return out;
}

absl::Status MakeError(absl::StatusCode code, absl::string_view reason, absl::string_view message,
                       const std::map<std::string, std::string>& metadata) {
  google::rpc::ErrorInfo info;
  info.set_domain(kErrorDomain);
  info.set_reason(std::string(reason));
  info.mutable_metadata()->insert(metadata.begin(), metadata.end());
  google::rpc::Status rpc;
  rpc.set_code(static_cast<int>(code));
  rpc.set_message(std::string(message));
  rpc.add_details()->PackFrom(info);
  absl::Status out(code, message);
  out.SetPayload(kRpcStatusPayloadUrl, absl::Cord(rpc.SerializeAsString()));
  return out;
}

std::string StatusCodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return "OK";
    case absl::StatusCode::kCancelled: return "CANCELLED";
    case absl::StatusCode::kUnknown: return "UNKNOWN";
    case absl::StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kNotFound: return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case absl::StatusCode::kAborted: return "ABORTED";
    case absl::StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case absl::StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case absl::StatusCode::kInternal: return "INTERNAL";
    case absl::StatusCode::kUnavailable: return "UNAVAILABLE";
    case absl::StatusCode::kDataLoss: return "DATA_LOSS";
    case absl::StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    default: return "CODE_" + std::to_string(static_cast<int>(code));
  }
}

}  // namespace sandboxd
