#include "src/kube/json_object.h"

#include <utility>

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "src/kube/json_object_rapidjson.h"

namespace sandboxd::kube {
namespace {

using internal::JsonObjectAccess;

absl::string_view MetadataString(const JsonObject& object, const char* key) {
  if (object.null()) return {};
  const rapidjson::Value& v = JsonObjectAccess::Value(object);
  auto meta = v.FindMember("metadata");
  if (meta == v.MemberEnd() || !meta->value.IsObject()) return {};
  auto it = meta->value.FindMember(key);
  if (it == meta->value.MemberEnd() || !it->value.IsString()) return {};
  return absl::string_view(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

absl::StatusOr<JsonObject> JsonObject::Parse(absl::string_view json) {
  auto doc = std::make_shared<rapidjson::Document>();
  doc->Parse(json.data(), json.size());
  if (doc->HasParseError() || !doc->IsObject()) {
    return absl::InternalError("not a JSON object");
  }
  const rapidjson::Value* value = doc.get();
  return JsonObjectAccess::Make(std::move(doc), value);
}

absl::string_view JsonObject::ns() const { return MetadataString(*this, "namespace"); }
absl::string_view JsonObject::name() const { return MetadataString(*this, "name"); }
absl::string_view JsonObject::resource_version() const {
  return MetadataString(*this, "resourceVersion");
}

std::string JsonObject::Json() const {
  if (null()) return "";
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  JsonObjectAccess::Value(*this).Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace sandboxd::kube
