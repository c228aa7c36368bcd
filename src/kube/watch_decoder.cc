#include "src/kube/watch_decoder.h"

#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "src/kube/json_object_rapidjson.h"
#include "src/kube/kube_errors.h"

namespace sandboxd::kube {
namespace {

constexpr size_t kMaxLineInMessage = 200;

std::optional<WatchEvent::Type> TypeFromName(absl::string_view name) {
  if (name == "ADDED") return WatchEvent::Type::kAdded;
  if (name == "MODIFIED") return WatchEvent::Type::kModified;
  if (name == "DELETED") return WatchEvent::Type::kDeleted;
  if (name == "BOOKMARK") return WatchEvent::Type::kBookmark;
  return std::nullopt;
}

std::string Serialise(const rapidjson::Value& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  value.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

absl::Status Malformed(absl::string_view why, absl::string_view line) {
  return absl::InternalError(absl::StrCat("malformed watch event (", why,
                                          "): ", line.substr(0, kMaxLineInMessage)));
}

}  // namespace

absl::Status StatusFromWatchError(absl::string_view status_json) {
  std::optional<ApiStatus> api = ParseApiStatus(status_json);
  int code = api ? api->code : 0;
  if (code < 300 || code > 599) {
    bool expired = api && (api->reason == "Expired" || api->reason == "Gone");
    code = expired ? 410 : 500;
  }
  absl::Status status = StatusFromHttpResponse(code, status_json);
  absl::Status out(status.code(), absl::StrCat("watch ERROR event: ", status.message()));
  std::string reason = KubeReason(status);
  if (!reason.empty()) out.SetPayload(kReasonPayloadKey, absl::Cord(reason));
  return WithOrigin(std::move(out), OriginOf(status));
}

absl::StatusOr<std::optional<WatchEvent>> DecodeWatchLine(absl::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (absl::StripAsciiWhitespace(line).empty()) return std::optional<WatchEvent>();
  // The one parse of this event: the object is handed on as this document.
  auto doc = std::make_shared<rapidjson::Document>();
  doc->Parse(line.data(), line.size());
  if (doc->HasParseError() || !doc->IsObject()) return Malformed("not a JSON object", line);
  auto type = doc->FindMember("type");
  auto object = doc->FindMember("object");
  if (type == doc->MemberEnd() || !type->value.IsString()) return Malformed("no type", line);
  if (object == doc->MemberEnd() || !object->value.IsObject()) {
    return Malformed("no object", line);
  }
  absl::string_view name(type->value.GetString(), type->value.GetStringLength());
  if (name == "ERROR") {
    return StatusFromWatchError(Serialise(object->value));  // rare: the stream ends
  }
  std::optional<WatchEvent::Type> t = TypeFromName(name);
  if (!t) return Malformed(absl::StrCat("unknown type ", name), line);
  const rapidjson::Value* value = &object->value;
  return std::optional<WatchEvent>(
      WatchEvent{*t, internal::JsonObjectAccess::Make(std::move(doc), value)});
}

absl::Status WatchDecoder::Line(absl::string_view line, const Emit& emit) {
  absl::StatusOr<std::optional<WatchEvent>> event = DecodeWatchLine(line);
  if (!event.ok()) return event.status();
  if (!event->has_value()) return absl::OkStatus();
  if (!emit(**std::move(event))) return absl::CancelledError("watch stopped");
  return absl::OkStatus();
}

absl::Status WatchDecoder::Feed(absl::string_view bytes, const Emit& emit) {
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    // The line so far (held back + this chunk's part): the limit holds however the line
    // is split into chunks, also for a line that arrives complete.
    const size_t line_bytes = pending_.size() + (nl == absl::string_view::npos ? bytes.size() : nl);
    if (line_bytes > max_line_bytes_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("watch event longer than ", max_line_bytes_, " bytes"));
    }
    if (nl == absl::string_view::npos) {
      pending_.append(bytes.data(), bytes.size());
      return absl::OkStatus();
    }
    absl::Status s;
    if (pending_.empty()) {
      s = Line(bytes.substr(0, nl), emit);  // common case: no copy
    } else {
      pending_.append(bytes.data(), nl);
      std::string line = std::move(pending_);
      pending_.clear();
      s = Line(line, emit);
    }
    if (!s.ok()) return s;
    bytes.remove_prefix(nl + 1);
  }
  return absl::OkStatus();
}

absl::Status WatchDecoder::Finish(const Emit& emit) {
  std::string line = std::move(pending_);
  pending_.clear();
  return Line(line, emit);
}

}  // namespace sandboxd::kube
