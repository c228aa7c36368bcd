#include "src/kube/kube_errors.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

namespace sandboxd::kube {
namespace {

constexpr size_t kMaxBodyInMessage = 256;

std::string StringMember(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

constexpr absl::string_view kOriginApi = "api";
constexpr absl::string_view kOriginQuota = "quota";
constexpr absl::string_view kOriginAdmission = "admission";

// A refusal by the ResourceQuota admission plugin: "... is forbidden: exceeded quota: q,
// requested: ..." or "... is forbidden: failed quota: q: must specify limits.cpu".
bool IsQuotaRefusal(int http_code, absl::string_view message) {
  return http_code == 403 && (absl::StrContains(message, "exceeded quota") ||
                              absl::StrContains(message, "failed quota"));
}

// A refusal by an admission webhook ("admission webhook \"w\" denied the request: ...")
// or a ValidatingAdmissionPolicy ("... ValidatingAdmissionPolicy 'p' with binding 'b'
// denied request: ...").
bool IsAdmissionRefusal(int http_code, absl::string_view message) {
  if (http_code != 403 && http_code != 422) return false;
  size_t webhook = message.find("admission webhook");
  if (webhook != absl::string_view::npos &&
      message.find("denied the request", webhook) != absl::string_view::npos) {
    return true;
  }
  size_t policy = message.find("ValidatingAdmissionPolicy");
  return policy != absl::string_view::npos &&
         message.find("denied request", policy) != absl::string_view::npos;
}

}  // namespace

std::optional<ApiStatus> ParseApiStatus(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  if (StringMember(doc, "kind") != "Status") return std::nullopt;
  ApiStatus out;
  out.status = StringMember(doc, "status");
  out.reason = StringMember(doc, "reason");
  out.message = StringMember(doc, "message");
  if (auto it = doc.FindMember("code"); it != doc.MemberEnd() && it->value.IsInt()) {
    out.code = it->value.GetInt();
  }
  auto details = doc.FindMember("details");
  if (details != doc.MemberEnd() && details->value.IsObject()) {
    auto causes = details->value.FindMember("causes");
    if (causes != details->value.MemberEnd() && causes->value.IsArray()) {
      for (const auto& c : causes->value.GetArray()) {
        if (!c.IsObject()) continue;
        out.causes.push_back(
            {StringMember(c, "reason"), StringMember(c, "message"), StringMember(c, "field")});
      }
    }
  }
  return out;
}

absl::StatusCode CodeForHttpError(int http_code, absl::string_view reason) {
  switch (http_code) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 415:
      return absl::StatusCode::kInternal;
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 429:
      return absl::StatusCode::kUnavailable;
    default:
      break;
  }
  if (http_code >= 500 && http_code <= 599) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kUnknown;
}

absl::Status StatusFromHttpResponse(int http_code, absl::string_view body) {
  std::optional<ApiStatus> api = ParseApiStatus(body);
  std::string reason = api ? api->reason : "";
  std::string message;
  if (api && !api->message.empty()) {
    message = api->message;
  } else if (!reason.empty()) {
    message = absl::StrCat("HTTP ", http_code, ": ", reason);
  } else {
    message = absl::StrCat("HTTP ", http_code, ": ", body.substr(0, kMaxBodyInMessage));
  }
  const std::string api_message = api ? api->message : "";
  KubeOrigin origin = KubeOrigin::kApi;
  absl::StatusCode code = CodeForHttpError(http_code, reason);
  if (IsQuotaRefusal(http_code, api_message)) {
    origin = KubeOrigin::kQuota;
    code = absl::StatusCode::kResourceExhausted;
  } else if (IsAdmissionRefusal(http_code, api_message)) {
    origin = KubeOrigin::kAdmission;
    code = absl::StatusCode::kFailedPrecondition;
  }
  absl::Status status(code, message);
  if (!reason.empty()) status.SetPayload(kReasonPayloadKey, absl::Cord(reason));
  return WithOrigin(std::move(status), origin);
}

absl::Status StatusFromTransport(TransportFailure failure, absl::string_view detail) {
  switch (failure) {
    case TransportFailure::kDeadlineExceeded:
      return WithOrigin(absl::DeadlineExceededError(detail));
    case TransportFailure::kCancelled:
      return WithOrigin(absl::CancelledError(detail));
    case TransportFailure::kConnection:
      break;
  }
  return WithOrigin(absl::UnavailableError(detail));
}

std::string KubeReason(const absl::Status& status) {
  auto payload = status.GetPayload(kReasonPayloadKey);
  return payload ? std::string(*payload) : std::string();
}

}  // namespace sandboxd::kube

namespace sandboxd::kube {

KubeOrigin OriginOf(const absl::Status& status) {
  auto payload = status.GetPayload(kOriginPayloadKey);
  if (!payload) return KubeOrigin::kNone;
  if (*payload == kOriginQuota) return KubeOrigin::kQuota;
  if (*payload == kOriginAdmission) return KubeOrigin::kAdmission;
  return KubeOrigin::kApi;
}

absl::Status WithOrigin(absl::Status status, KubeOrigin origin) {
  if (status.ok() || origin == KubeOrigin::kNone) return status;
  if (origin == KubeOrigin::kApi && status.GetPayload(kOriginPayloadKey)) return status;
  absl::string_view value = origin == KubeOrigin::kQuota       ? kOriginQuota
                            : origin == KubeOrigin::kAdmission ? kOriginAdmission
                                                               : kOriginApi;
  status.SetPayload(kOriginPayloadKey, absl::Cord(value));
  return status;
}

}  // namespace sandboxd::kube
