#include "src/domain/errors.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "src/domain/error_reasons.h"
#include "absl/strings/str_split.h"

namespace sandboxd::domain {
namespace {

// This Abseil build has its own absl::string_view (not std::string_view): convert at the
// boundary of every Abseil call.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Payload encoding: "reason\nkey=value\nkey=value..." (keys and values never contain
// newlines: they are identifiers and short texts we produce ourselves).
constexpr std::string_view kPayloadUrl = "type.sandboxd.dev/ErrorDetail";

std::string Sanitize(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

}  // namespace

absl::Status MakeError(absl::StatusCode code, std::string_view reason, std::string_view message,
                       std::map<std::string, std::string> metadata) {
  absl::Status status(code, AV(message));
  std::string payload = Sanitize(reason);
  for (const auto& [key, value] : metadata) {
    absl::StrAppend(&payload, "\n", Sanitize(key), "=", Sanitize(value));
  }
  status.SetPayload(AV(kPayloadUrl), absl::Cord(payload));
  return status;
}

absl::Status InvalidField(std::string_view field, std::string_view why) {
  return MakeError(absl::StatusCode::kInvalidArgument, reason::kInvalidField,
                   absl::StrCat(AV(field), ": ", AV(why)),
                   {{"field", std::string(field)}, {"why", std::string(why)}});
}

ErrorDetail GetErrorDetail(const absl::Status& status) {
  ErrorDetail detail;
  absl::optional<absl::Cord> payload = status.GetPayload(AV(kPayloadUrl));
  if (!payload.has_value()) return detail;
  bool first = true;
  const std::string text(*payload);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (first) {
      detail.reason = std::string(line);
      first = false;
      continue;
    }
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    detail.metadata.insert(std::move(kv));
  }
  return detail;
}

absl::Status WithContext(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(AV(context), ": ", status.message()));
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

}  // namespace sandboxd::domain
