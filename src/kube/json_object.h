// JsonObject: one Kubernetes object as a parsed JSON document, shared and immutable. A
// watch event or list item is parsed once, where its bytes arrive (WatchDecoder, the
// Reflector's list pages); the reflector reads its metadata and the consumer decodes the
// typed object (objects_json.h, FromObject) from the same parsed document, never from
// text again.
//
// The document is held by shared ownership (copies are cheap: a list page's items share
// the page's document), and never changes once a JsonObject refers to it. RapidJSON stays
// inside src/kube (json_object_rapidjson.h); this header exposes absl only.
//
// Thread-safe: const methods may run concurrently on copies sharing one document.
#ifndef SANDBOXD_KUBE_JSON_OBJECT_H_
#define SANDBOXD_KUBE_JSON_OBJECT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sandboxd::kube {

namespace internal {
struct JsonObjectAccess;
}  // namespace internal

class JsonObject {
 public:
  // Empty: no document (null()).
  JsonObject() = default;

  // Parses `json`, which must be one JSON object. INTERNAL if it is not. For tests and
  // callers that hold text; the watch and list paths build JsonObjects from the
  // documents they have already parsed.
  static absl::StatusOr<JsonObject> Parse(absl::string_view json);

  bool null() const { return value_ == nullptr; }

  // metadata.namespace / .name / .resourceVersion; "" when absent or not a string (and
  // when null()). Views into the document: valid while a JsonObject sharing it lives.
  absl::string_view ns() const;
  absl::string_view name() const;
  absl::string_view resource_version() const;

  // The object re-serialised as compact JSON ("" when null()): for tests, logs and
  // callers that need text. Not on the watch path.
  std::string Json() const;

 private:
  friend struct internal::JsonObjectAccess;

  std::shared_ptr<const void> owner_;  // keeps the document alive
  const void* value_ = nullptr;        // the rapidjson::Value of the object, in owner_
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_JSON_OBJECT_H_
