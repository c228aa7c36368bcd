#include "src/kube/reviews.h"

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace sandboxd::kube {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(JsonWriter& w, std::string_view value) {
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void Strings(JsonWriter& w, const std::vector<std::string>& values) {
  w.StartArray();
  for (const std::string& v : values) Str(w, v);
  w.EndArray();
}

std::string StringAt(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it != obj.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : std::string();
}

bool BoolAt(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it != obj.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

std::vector<std::string> StringsAt(const rapidjson::Value& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsArray()) return out;
  for (const auto& v : it->value.GetArray()) {
    if (v.IsString()) out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return out;
}

// The "status" object of a review answer of `kind`.
absl::StatusOr<const rapidjson::Value*> StatusOf(const rapidjson::Document& doc,
                                                 std::string_view json, const char* kind) {
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InternalError(absl::StrCat("decode ", kind, ": not a JSON object"));
  }
  auto status = doc.FindMember("status");
  if (status == doc.MemberEnd() || !status->value.IsObject()) {
    return absl::InternalError(absl::StrCat("decode ", kind, ": no status"));
  }
  return &status->value;
}

}  // namespace

std::string TokenReviewRequest(std::string_view token, const std::vector<std::string>& audiences) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("apiVersion");
  w.String("authentication.k8s.io/v1");
  w.Key("kind");
  w.String("TokenReview");
  w.Key("spec");
  w.StartObject();
  w.Key("token");
  Str(w, token);
  if (!audiences.empty()) {
    w.Key("audiences");
    Strings(w, audiences);
  }
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

absl::StatusOr<TokenReviewResult> DecodeTokenReview(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  absl::StatusOr<const rapidjson::Value*> status = StatusOf(doc, json, "TokenReview");
  if (!status.ok()) return status.status();
  const rapidjson::Value& s = **status;
  TokenReviewResult result;
  result.authenticated = BoolAt(s, "authenticated");
  result.error = StringAt(s, "error");
  result.audiences = StringsAt(s, "audiences");
  auto user = s.FindMember("user");
  if (user != s.MemberEnd() && user->value.IsObject()) {
    result.user.username = StringAt(user->value, "username");
    result.user.uid = StringAt(user->value, "uid");
    result.user.groups = StringsAt(user->value, "groups");
    auto extra = user->value.FindMember("extra");
    if (extra != user->value.MemberEnd() && extra->value.IsObject()) {
      for (const auto& m : extra->value.GetObject()) {
        result.user.extra[std::string(m.name.GetString(), m.name.GetStringLength())] =
            StringsAt(extra->value, m.name.GetString());
      }
    }
  }
  if (result.authenticated && result.user.username.empty()) {
    return absl::InternalError("decode TokenReview: authenticated without a username");
  }
  return result;
}

std::string SubjectAccessReviewRequest(const UserInfo& user, const ResourceAttributes& attributes) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("apiVersion");
  w.String("authorization.k8s.io/v1");
  w.Key("kind");
  w.String("SubjectAccessReview");
  w.Key("spec");
  w.StartObject();
  w.Key("user");
  Str(w, user.username);
  if (!user.uid.empty()) {
    w.Key("uid");
    Str(w, user.uid);
  }
  w.Key("groups");
  Strings(w, user.groups);
  if (!user.extra.empty()) {
    w.Key("extra");
    w.StartObject();
    for (const auto& [key, values] : user.extra) {
      w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
      Strings(w, values);
    }
    w.EndObject();
  }
  w.Key("resourceAttributes");
  w.StartObject();
  w.Key("group");
  Str(w, attributes.group);
  w.Key("resource");
  Str(w, attributes.resource);
  w.Key("verb");
  Str(w, attributes.verb);
  w.Key("namespace");
  Str(w, attributes.ns);
  if (!attributes.name.empty()) {
    w.Key("name");
    Str(w, attributes.name);
  }
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

absl::StatusOr<AccessReviewResult> DecodeSubjectAccessReview(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  absl::StatusOr<const rapidjson::Value*> status = StatusOf(doc, json, "SubjectAccessReview");
  if (!status.ok()) return status.status();
  const rapidjson::Value& s = **status;
  AccessReviewResult result;
  result.allowed = BoolAt(s, "allowed");
  result.denied = BoolAt(s, "denied");
  result.reason = StringAt(s, "reason");
  result.evaluation_error = StringAt(s, "evaluationError");
  if (result.denied) result.allowed = false;
  return result;
}

}  // namespace sandboxd::kube
