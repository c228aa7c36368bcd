// RapidJSON-level entry points of the objects codec, for code inside src/kube that
// already holds a parsed document (e.g. the "object" member of a watch event) and should
// not re-serialise it. Same semantics as objects_json.h. RapidJSON types must not leave
// src/kube: do not include this header from other layers.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_KUBE_OBJECTS_RAPIDJSON_H_
#define SANDBOXD_KUBE_OBJECTS_RAPIDJSON_H_

#include "absl/status/status.h"
#include "rapidjson/document.h"
#include "src/kube/objects.h"

namespace sandboxd::kube {

// `value` must be a JSON object (INTERNAL otherwise). Error messages carry the field path
// relative to `value`, without the "decode <Kind>: " prefix of FromJson.
absl::Status FromValue(const rapidjson::Value& value, StatefulSet* out);
absl::Status FromValue(const rapidjson::Value& value, Service* out);
absl::Status FromValue(const rapidjson::Value& value, Ingress* out);
absl::Status FromValue(const rapidjson::Value& value, Pod* out);
absl::Status FromValue(const rapidjson::Value& value, PersistentVolumeClaim* out);

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_OBJECTS_RAPIDJSON_H_
