#include "src/kube/patches.h"

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace sandboxd::kube {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(JsonWriter& w, const std::string& key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}
void Str(JsonWriter& w, const std::string& value) {
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void OptionalStringMap(JsonWriter& w, const char* key,
                       const std::map<std::string, std::optional<std::string>>& entries) {
  if (entries.empty()) return;
  w.Key(key);
  w.StartObject();
  for (const auto& [name, value] : entries) {
    Key(w, name);
    if (value.has_value()) {
      Str(w, *value);
    } else {
      w.Null();
    }
  }
  w.EndObject();
}

}  // namespace

std::string ToJson(const MetadataPatch& patch) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("metadata");
  w.StartObject();
  if (!patch.resource_version.empty()) {
    w.Key("resourceVersion");
    Str(w, patch.resource_version);
  }
  OptionalStringMap(w, "labels", patch.labels);
  OptionalStringMap(w, "annotations", patch.annotations);
  if (patch.owner_references.has_value()) {
    w.Key("ownerReferences");
    if (patch.owner_references->empty()) {
      w.Null();
    } else {
      w.StartArray();
      for (const OwnerReference& o : *patch.owner_references) {
        w.StartObject();
        w.Key("apiVersion");
        Str(w, o.api_version);
        w.Key("kind");
        Str(w, o.kind);
        w.Key("name");
        Str(w, o.name);
        w.Key("uid");
        Str(w, o.uid);
        if (o.controller.has_value()) {
          w.Key("controller");
          w.Bool(*o.controller);
        }
        if (o.block_owner_deletion.has_value()) {
          w.Key("blockOwnerDeletion");
          w.Bool(*o.block_owner_deletion);
        }
        w.EndObject();
      }
      w.EndArray();
    }
  }
  w.EndObject();
  if (!patch.selector.empty()) {
    w.Key("spec");
    w.StartObject();
    OptionalStringMap(w, "selector", patch.selector);
    w.EndObject();
  }
  w.EndObject();
  return buf.GetString();
}

std::string ScalePatch(int32_t replicas) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("spec");
  w.StartObject();
  w.Key("replicas");
  w.Int(replicas);
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::string EnvPatch(const std::string& container, const std::string& resource_version,
                     const std::map<std::string, std::string>& annotations,
                     const std::map<std::string, std::string>& set,
                     const std::vector<std::string>& remove,
                     const std::vector<std::string>& order) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("metadata");
  w.StartObject();
  if (!resource_version.empty()) {
    w.Key("resourceVersion");
    Str(w, resource_version);
  }
  if (!annotations.empty()) {
    w.Key("annotations");
    w.StartObject();
    for (const auto& [key, value] : annotations) {
      Key(w, key);
      Str(w, value);
    }
    w.EndObject();
  }
  w.EndObject();
  w.Key("spec");
  w.StartObject();
  w.Key("template");
  w.StartObject();
  w.Key("spec");
  w.StartObject();
  w.Key("containers");
  w.StartArray();
  w.StartObject();
  w.Key("name");
  Str(w, container);
  if (!order.empty()) {
    w.Key("$setElementOrder/env");
    w.StartArray();
    for (const std::string& name : order) {
      w.StartObject();
      w.Key("name");
      Str(w, name);
      w.EndObject();
    }
    w.EndArray();
  }
  w.Key("env");
  w.StartArray();
  for (const auto& [name, value] : set) {
    w.StartObject();
    w.Key("name");
    Str(w, name);
    w.Key("value");
    Str(w, value);
    w.EndObject();
  }
  for (const std::string& name : remove) {
    w.StartObject();
    w.Key("name");
    Str(w, name);
    w.Key("$patch");
    w.String("delete");
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::string RetentionPolicyPatch(const std::string& when_deleted, const std::string& when_scaled) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("spec");
  w.StartObject();
  w.Key("persistentVolumeClaimRetentionPolicy");
  w.StartObject();
  w.Key("whenDeleted");
  Str(w, when_deleted);
  w.Key("whenScaled");
  Str(w, when_scaled);
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::string KeepClaimPatch(const std::string& kept_annotation) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("metadata");
  w.StartObject();
  w.Key("ownerReferences");
  w.Null();
  w.Key("annotations");
  w.StartObject();
  Key(w, kept_annotation);
  w.String("true");
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

}  // namespace sandboxd::kube
