// Objects that sandboxd carries over without modelling them: a migration copies a
// Deployment's pod template into a StatefulSet, and a rollback recreates the Deployment
// from a saved copy, field for field, including fields objects.h does not know (probes,
// volumes, affinity, ...). These functions change such documents as JSON, in place, and
// keep every other field as it was.
//
// Errors: INTERNAL if a document is not the JSON object described (documents come from
// the API server or from sandboxd itself, never from a caller).
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_KUBE_RAW_OBJECTS_H_
#define SANDBOXD_KUBE_RAW_OBJECTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/kube/objects.h"

namespace sandboxd::kube {

// `object_json` as it should be kept for a later restore: without `status` and
// metadata.managedFields / resourceVersion (every other field, uid included, is kept).
absl::StatusOr<std::string> SavedCopy(std::string_view object_json);

// The pod template of `deployment_json` (spec.template) with `labels` added to its
// metadata.labels and `mount` appended to the volumeMounts of the container named
// `container` (INTERNAL if there is none). A volume of the mount's name and its mounts
// are removed first (the StatefulSet's claim template provides that volume).
absl::StatusOr<std::string> MigratedPodTemplate(std::string_view deployment_json,
                                                 const StringMap& labels,
                                                 const std::string& container,
                                                 const VolumeMount& mount);

// `object_json` (a StatefulSet) with spec.template replaced by `template_json`.
absl::StatusOr<std::string> WithPodTemplate(std::string_view object_json,
                                            std::string_view template_json);

// A volume of an existing claim, mounted into one container.
struct ClaimMount {
  std::string volume;     // volume name
  std::string claim;      // persistentVolumeClaim.claimName
  std::string container;  // the container that mounts it
  std::string mount_path;
};

// The Deployment to create from `saved_json` (SavedCopy of a Deployment): without the
// fields the API server sets (uid, creationTimestamp, generation, deletion fields, the
// revision annotation), with spec.replicas = `replicas`, and with `home` added as a
// volume and mount when set.
absl::StatusOr<std::string> RestoredDeployment(std::string_view saved_json, int32_t replicas,
                                               const std::optional<ClaimMount>& home);

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_RAW_OBJECTS_H_
