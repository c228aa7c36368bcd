#include "server/status_mapping.h"

#include <cctype>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/rpc/error_details.pb.h"
#include "spdlog/spdlog.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/kube/kube_errors.h"

namespace sandboxd::server {
namespace {

namespace reason = domain::reason;

struct CodeEntry {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
  std::string_view default_reason;
};

// The mapping table. absl and gRPC number their codes identically; the table still
// names every pair so that a change on either side is caught by the unit test.
constexpr CodeEntry kCodeTable[] = {
    {absl::StatusCode::kOk, grpc::StatusCode::OK, ""},
    {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED, reason::kRequestCancelled},
    {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN, reason::kUnknownError},
    {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT,
     reason::kInvalidArgument},
    {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED,
     reason::kDeadlineExceeded},
    {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND, reason::kResourceNotFound},
    {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS,
     reason::kResourceAlreadyExists},
    {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED,
     reason::kPermissionDenied},
    {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED,
     reason::kResourceExhausted},
    {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION,
     reason::kFailedPrecondition},
    {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED, reason::kConcurrentModification},
    {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE, reason::kOutOfRange},
    {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED, reason::kNotImplemented},
    {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL, reason::kInternalError},
    {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE, reason::kServiceUnavailable},
    {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS, reason::kDataLoss},
    {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED,
     reason::kUnauthenticated},
};

const CodeEntry* FindEntry(absl::StatusCode code) {
  for (const CodeEntry& entry : kCodeTable) {
    if (entry.absl_code == code) return &entry;
  }
  return nullptr;
}

// Which redaction applies to a status, if any.
enum class Redaction { kNone, kInternal, kServerCredentials, kKube };

Redaction RedactionFor(absl::StatusCode code, std::string_view reason, kube::KubeOrigin origin) {
  if (origin == kube::KubeOrigin::kQuota || origin == kube::KubeOrigin::kAdmission) {
    return Redaction::kNone;  // Kubernetes' explanation of the caller's refusal
  }
  const bool from_kube = origin == kube::KubeOrigin::kApi;
  switch (code) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      return Redaction::kInternal;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      // From the Kubernetes API, or without a reason of sandboxd's own (ACCESS_DENIED,
      // MISSING_CREDENTIALS, ...): the API server rejected sandboxd's own credentials.
      if (from_kube || reason.empty() || reason == reason::kKubeForbidden ||
          reason == reason::kKubeUnauthenticated) {
        return Redaction::kServerCredentials;
      }
      return Redaction::kNone;
    default:
      return from_kube ? Redaction::kKube : Redaction::kNone;
  }
}

// The caller-facing message of a redacted Kubernetes error with this code.
std::string_view KubeMessage(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
      return kKubeUnavailableMessage;
    case absl::StatusCode::kDeadlineExceeded:
      return kKubeDeadlineMessage;
    case absl::StatusCode::kCancelled:
      return kKubeCancelledMessage;
    default:
      return kKubeErrorMessage;
  }
}

bool AllowsRetryInfo(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kAborted;
}

const std::string* FindValue(const std::map<std::string, std::string>& metadata,
                             std::string_view key) {
  auto it = metadata.find(std::string(key));
  return it == metadata.end() ? nullptr : &it->second;
}

}  // namespace

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  const CodeEntry* entry = FindEntry(code);
  return entry == nullptr ? grpc::StatusCode::UNKNOWN : entry->grpc_code;
}

std::string_view DefaultReason(absl::StatusCode code) {
  const CodeEntry* entry = FindEntry(code);
  return entry == nullptr ? FindEntry(absl::StatusCode::kUnknown)->default_reason
                          : entry->default_reason;
}

std::string ToLowerCamel(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  bool upper_next = false;
  for (char c : key) {
    if (c == '_' || c == '-') {
      upper_next = !out.empty();
      continue;
    }
    if (upper_next) {
      out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      upper_next = false;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

MappedStatus MapStatus(const absl::Status& status) {
  MappedStatus mapped;
  if (status.ok()) return mapped;

  const absl::StatusCode code = status.code();
  // Canonical absl code of what we report; a non-canonical code is treated as UNKNOWN.
  const absl::StatusCode effective =
      FindEntry(code) == nullptr ? absl::StatusCode::kUnknown : code;

  domain::ErrorDetail detail = domain::GetErrorDetail(status);
  const kube::KubeOrigin origin = kube::OriginOf(status);
  const Redaction redaction = RedactionFor(effective, detail.reason, origin);
  // Our own Kubernetes credentials failing is a deployment problem, not the caller's.
  const bool kube_credentials =
      origin == kube::KubeOrigin::kApi && redaction == Redaction::kServerCredentials;
  const grpc::StatusCode grpc_code =
      kube_credentials ? grpc::StatusCode::INTERNAL : ToGrpcCode(code);
  if (detail.reason.empty()) {
    if (origin == kube::KubeOrigin::kQuota) detail.reason = reason::kQuotaExceeded;
    if (origin == kube::KubeOrigin::kAdmission) detail.reason = reason::kAdmissionDenied;
    if (kube_credentials) {
      detail.reason = std::string(effective == absl::StatusCode::kUnauthenticated
                                      ? reason::kKubeUnauthenticated
                                      : reason::kKubeForbidden);
    }
  }
  std::string reason = detail.reason.empty() ? std::string(DefaultReason(effective))
                                             : std::move(detail.reason);
  std::map<std::string, std::string> metadata;
  for (auto& [key, value] : detail.metadata) {
    std::string camel = ToLowerCamel(key);
    if (!camel.empty()) metadata[std::move(camel)] = std::move(value);
  }

  mapped.redacted = redaction != Redaction::kNone;
  google::rpc::Status& rpc = mapped.rpc_status;
  rpc.set_code(static_cast<int32_t>(grpc_code));
  switch (redaction) {
    case Redaction::kNone:
      rpc.set_message(std::string(status.message()));
      break;
    case Redaction::kInternal:
      rpc.set_message(std::string(kInternalErrorMessage));
      break;
    case Redaction::kServerCredentials:
      rpc.set_message(std::string(kServerCredentialsMessage));
      break;
    case Redaction::kKube:
      rpc.set_message(std::string(KubeMessage(effective)));
      break;
  }

  google::rpc::ErrorInfo info;
  info.set_reason(reason);
  info.set_domain(std::string(domain::kErrorDomain));
  if (!mapped.redacted) {
    for (const auto& [key, value] : metadata) (*info.mutable_metadata())[key] = value;
  }
  rpc.add_details()->PackFrom(info);
  if (mapped.redacted) return mapped;

  if (effective == absl::StatusCode::kInvalidArgument) {
    if (const std::string* field = FindValue(metadata, "field"); field != nullptr) {
      google::rpc::BadRequest bad_request;
      google::rpc::BadRequest::FieldViolation* violation =
          bad_request.add_field_violations();
      violation->set_field(*field);
      const std::string* why = FindValue(metadata, "why");
      violation->set_description(why != nullptr ? *why : std::string(status.message()));
      rpc.add_details()->PackFrom(bad_request);
    }
  }

  if (effective == absl::StatusCode::kNotFound ||
      effective == absl::StatusCode::kAlreadyExists) {
    if (const std::string* name = FindValue(metadata, "name"); name != nullptr) {
      google::rpc::ResourceInfo resource;
      const std::string* type = FindValue(metadata, "resourceType");
      resource.set_resource_type(type != nullptr ? *type : std::string(kSandboxResourceType));
      const std::string* ns = FindValue(metadata, "namespace");
      resource.set_resource_name(ns != nullptr ? absl::StrCat(*ns, "/", *name) : *name);
      resource.set_description(std::string(status.message()));
      rpc.add_details()->PackFrom(resource);
    }
  }

  if (AllowsRetryInfo(effective)) {
    const std::string* delay = FindValue(metadata, kRetryDelayMsKey);
    int64_t delay_ms = 0;
    if (delay != nullptr && absl::SimpleAtoi(*delay, &delay_ms) && delay_ms > 0) {
      google::rpc::RetryInfo retry;
      retry.mutable_retry_delay()->set_seconds(delay_ms / 1000);
      retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>((delay_ms % 1000) * 1000000));
      rpc.add_details()->PackFrom(retry);
    }
  }
  return mapped;
}

grpc::Status ToGrpcStatus(const absl::Status& status, std::string_view method) {
  if (status.ok()) return grpc::Status::OK;
  MappedStatus mapped = MapStatus(status);
  if (mapped.redacted) {
    std::string payloads;
    status.ForEachPayload([&payloads](absl::string_view url, const absl::Cord& payload) {
      absl::StrAppend(&payloads, " [", url, ": ",
                      absl::StrReplaceAll(std::string(payload), {{"\n", "; "}}), "]");
    });
    if (method.empty()) {
      spdlog::error("error withheld from the caller: {}{}", status.ToString(
                        absl::StatusToStringMode::kWithNoExtraData), payloads);
    } else {
      spdlog::error("{}: error withheld from the caller: {}{}", std::string(method),
                    status.ToString(absl::StatusToStringMode::kWithNoExtraData), payloads);
    }
  }
  return grpc::Status(static_cast<grpc::StatusCode>(mapped.rpc_status.code()),
                      mapped.rpc_status.message(), mapped.rpc_status.SerializeAsString());
}

}  // namespace sandboxd::server
