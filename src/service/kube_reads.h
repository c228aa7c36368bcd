// Small helpers for reading Kubernetes objects in the service layer: GETs whose object
// may legitimately be missing, and whether sandboxd made an object.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_SERVICE_KUBE_READS_H_
#define SANDBOXD_SERVICE_KUBE_READS_H_

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/domain/naming.h"
#include "src/kube/objects.h"
#include "src/kube/objects_json.h"

namespace sandboxd::service {

// Result of a GET that may legitimately be missing: the body, nullopt for 404, or error.
using MaybeBody = absl::StatusOr<std::optional<std::string>>;

inline MaybeBody AllowNotFound(absl::StatusOr<std::string> body) {
  if (body.ok()) return std::optional<std::string>(std::move(*body));
  if (absl::IsNotFound(body.status())) return std::optional<std::string>();
  return body.status();
}

template <typename T>
absl::StatusOr<std::optional<T>> DecodeMaybe(const MaybeBody& body) {
  if (!body.ok()) return body.status();
  if (!body->has_value()) return std::optional<T>();
  absl::StatusOr<T> decoded = kube::Decode<T>(**body);
  if (!decoded.ok()) return decoded.status();
  return std::optional<T>(std::move(*decoded));
}

// True if sandboxd made the object (managed-by label).
inline bool IsManaged(const kube::ObjectMeta& meta) {
  auto it = meta.labels.find(domain::kLabelManagedBy);
  return it != meta.labels.end() && it->second == domain::kManagedByValue;
}

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_KUBE_READS_H_
