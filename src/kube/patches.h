// Patch documents for the changes sandboxd makes to existing objects. Each function
// returns the JSON body of one PATCH request; the PatchType to send it with is named in
// its comment.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_KUBE_PATCHES_H_
#define SANDBOXD_KUBE_PATCHES_H_

#include <cstdint>
#include <map>
#include <string>
#include <optional>
#include <vector>

#include "src/kube/objects.h"

namespace sandboxd::kube {

// PatchType::kMerge on a StatefulSet: {"spec":{"replicas":N}}.
std::string ScalePatch(int32_t replicas);

// PatchType::kStrategicMerge on a StatefulSet: in the pod template's container named
// `container`, sets each variable of `set` (name -> value) and deletes each of `remove`;
// other variables are kept. `order`, when not empty, is every variable's name after the
// patch in the order the list must have ($setElementOrder/env; without it the API
// server puts new variables first). Also sets `annotations` on the StatefulSet. When
// `resource_version` is non-empty the patch carries it, and the API server refuses it
// with 409 Conflict if the object changed since.
std::string EnvPatch(const std::string& container, const std::string& resource_version,
                     const std::map<std::string, std::string>& annotations,
                     const std::map<std::string, std::string>& set,
                     const std::vector<std::string>& remove,
                     const std::vector<std::string>& order = {});

// PatchType::kMerge on a StatefulSet: spec.persistentVolumeClaimRetentionPolicy.
std::string RetentionPolicyPatch(const std::string& when_deleted, const std::string& when_scaled);

// PatchType::kMerge: removes every ownerReference of a claim and sets `kept_annotation`
// to "true" on it (a claim kept when its sandbox was deleted).
std::string KeepClaimPatch(const std::string& kept_annotation);

// A JSON merge patch (PatchType::kMerge) of an object's metadata and, for a Service, its
// selector: how sandboxd adopts and releases objects it did not create (migration) and
// records progress. In each map a value sets the key and nullopt removes it.
struct MetadataPatch {
  // When set, the API server refuses the patch with 409 Conflict if the object changed.
  std::string resource_version;
  std::map<std::string, std::optional<std::string>> labels;
  std::map<std::string, std::optional<std::string>> annotations;
  // Replaces metadata.ownerReferences when set (an empty list removes them all).
  std::optional<std::vector<OwnerReference>> owner_references;
  std::map<std::string, std::optional<std::string>> selector;  // spec.selector
};
std::string ToJson(const MetadataPatch& patch);

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_PATCHES_H_
