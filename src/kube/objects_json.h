// JSON codec for the typed Kubernetes objects of objects.h.
//
// Encoding (ToJson) produces compact JSON with a fixed key order and maps sorted by key,
// so equal objects encode to equal bytes. Fields at their "absent" value (see objects.h)
// are omitted, std::optional<> fields are written exactly when set, and `null` is never
// written.
//
// Decoding (FromJson / Decode) is tolerant in the way the API server requires:
//  - unknown fields (managedFields, status fields we do not model, new API fields) are
//    ignored;
//  - `null` is the same as absent (the API server writes `"creationTimestamp": null`
//    inside templates);
//  - absent keeps the C++ default, so optional<> fields stay distinct from 0 / "" / false.
// A known field of the wrong JSON type, an unparsable timestamp or malformed JSON is an
// error: INTERNAL, since documents come from the API server (or our own encoder), never
// from a user; the message names the field path, e.g.
// "decode StatefulSet: spec.template.spec.containers[0].ports[1].containerPort: expected
// an integer".
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_KUBE_OBJECTS_JSON_H_
#define SANDBOXD_KUBE_OBJECTS_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/kube/json_object.h"
#include "src/kube/objects.h"

namespace sandboxd::kube {

std::string ToJson(const StatefulSet& obj);
std::string ToJson(const Service& obj);
std::string ToJson(const Ingress& obj);
std::string ToJson(const NetworkPolicy& obj);
std::string ToJson(const ConfigMap& obj);
std::string ToJson(const Pod& obj);
std::string ToJson(const PersistentVolumeClaim& obj);
std::string ToJson(const StatefulSetList& list);
std::string ToJson(const ServiceList& list);
std::string ToJson(const IngressList& list);
std::string ToJson(const PodList& list);
std::string ToJson(const PersistentVolumeClaimList& list);

// Decodes `json` into `*out`, which should be default-constructed. On error `*out` is
// unspecified. Errors: INTERNAL as described above.
absl::Status FromJson(std::string_view json, StatefulSet* out);
absl::Status FromJson(std::string_view json, Service* out);
absl::Status FromJson(std::string_view json, Ingress* out);
absl::Status FromJson(std::string_view json, Pod* out);
absl::Status FromJson(std::string_view json, PersistentVolumeClaim* out);
absl::Status FromJson(std::string_view json, Deployment* out);
absl::Status FromJson(std::string_view json, ConfigMap* out);
// The `metadata` of any object document (a Scale, a Service, ...).
absl::Status FromJson(std::string_view json, ObjectMeta* out);
absl::Status FromJson(std::string_view json, StatefulSetList* out);
absl::Status FromJson(std::string_view json, ServiceList* out);
absl::Status FromJson(std::string_view json, IngressList* out);
absl::Status FromJson(std::string_view json, PodList* out);
absl::Status FromJson(std::string_view json, PersistentVolumeClaimList* out);
absl::Status FromJson(std::string_view json, DeploymentList* out);
absl::Status FromJson(std::string_view json, ConfigMapList* out);

// The same from an already parsed object (a watch event's or a list item's; see
// json_object.h): no JSON text is parsed. INTERNAL as above, also for a null() object.
absl::Status FromObject(const JsonObject& object, StatefulSet* out);
absl::Status FromObject(const JsonObject& object, Ingress* out);
absl::Status FromObject(const JsonObject& object, Pod* out);
absl::Status FromObject(const JsonObject& object, PersistentVolumeClaim* out);
// The `metadata` of any object.
absl::Status FromObject(const JsonObject& object, ObjectMeta* out);

// Convenience: `auto sts = Decode<StatefulSet>(body);`
template <typename T>
absl::StatusOr<T> Decode(std::string_view json) {
  T out;
  absl::Status status = FromJson(json, &out);
  if (!status.ok()) return status;
  return out;
}

// Convenience: `auto sts = Decode<StatefulSet>(event.object);`
template <typename T>
absl::StatusOr<T> Decode(const JsonObject& object) {
  T out;
  absl::Status status = FromObject(object, &out);
  if (!status.ok()) return status;
  return out;
}

// RFC 3339 timestamps as Kubernetes writes them ("2024-05-01T12:00:00Z", UTC, seconds).
std::string FormatTimestamp(absl::Time t);
// Accepts any RFC 3339 timestamp (offset or "Z", optional fractional seconds).
// INVALID_ARGUMENT if `text` is not one.
absl::StatusOr<absl::Time> ParseTimestamp(std::string_view text);

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_OBJECTS_JSON_H_
