// RapidJSON side of JsonObject, for code inside src/kube that builds JsonObjects from a
// document it parsed (WatchDecoder, Reflector) or decodes them (objects_json.cc).
// RapidJSON types must not leave src/kube: do not include this header from other layers.
#ifndef SANDBOXD_KUBE_JSON_OBJECT_RAPIDJSON_H_
#define SANDBOXD_KUBE_JSON_OBJECT_RAPIDJSON_H_

#include <memory>
#include <utility>

#include "rapidjson/document.h"
#include "src/kube/json_object.h"

namespace sandboxd::kube::internal {

struct JsonObjectAccess {
  // `value` (a JSON object) inside `owner`, which keeps it alive; neither may change
  // afterwards.
  static JsonObject Make(std::shared_ptr<const void> owner, const rapidjson::Value* value) {
    JsonObject out;
    out.owner_ = std::move(owner);
    out.value_ = value;
    return out;
  }
  // Precondition: !object.null().
  static const rapidjson::Value& Value(const JsonObject& object) {
    return *static_cast<const rapidjson::Value*>(object.value_);
  }
};

}  // namespace sandboxd::kube::internal

#endif  // SANDBOXD_KUBE_JSON_OBJECT_RAPIDJSON_H_
