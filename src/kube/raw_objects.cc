#include "src/kube/raw_objects.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace sandboxd::kube {
namespace {

using rapidjson::Document;
using rapidjson::Value;

absl::StatusOr<Document> Parse(std::string_view json, const char* what) {
  Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InternalError(absl::StrCat(what, ": not a JSON object"));
  }
  return doc;
}

std::string Write(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

Value Str(const std::string& s, Document::AllocatorType& a) {
  return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

// The object member `key` of `obj`, created (empty) if absent or not an object.
Value& ObjectMember(Value& obj, const char* key, Document::AllocatorType& a) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) {
    obj.AddMember(Value(key, a), Value(rapidjson::kObjectType), a);
    it = obj.FindMember(key);
  }
  if (!it->value.IsObject()) it->value.SetObject();
  return it->value;
}

// The array member `key` of `obj`, created (empty) if absent or not an array.
Value& ArrayMember(Value& obj, const char* key, Document::AllocatorType& a) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) {
    obj.AddMember(Value(key, a), Value(rapidjson::kArrayType), a);
    it = obj.FindMember(key);
  }
  if (!it->value.IsArray()) it->value.SetArray();
  return it->value;
}

void SetString(Value& obj, const std::string& key, const std::string& value,
               Document::AllocatorType& a) {
  auto it = obj.FindMember(key.c_str());
  if (it != obj.MemberEnd()) {
    it->value = Str(value, a);
  } else {
    obj.AddMember(Str(key, a), Str(value, a), a);
  }
}

bool NameIs(const Value& v, const std::string& name) {
  if (!v.IsObject()) return false;
  auto n = v.FindMember("name");
  return n != v.MemberEnd() && n->value.IsString() && name == n->value.GetString();
}

// Removes the elements of array member `key` of `obj` whose name is `name`.
void RemoveNamed(Value& obj, const char* key, const std::string& name) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsArray()) return;
  Value& array = it->value;
  for (auto e = array.Begin(); e != array.End();) {
    e = NameIs(*e, name) ? array.Erase(e) : e + 1;
  }
}

// The container named `name` in pod spec `spec`, or nullptr.
Value* FindContainer(Value& spec, const std::string& name) {
  auto containers = spec.FindMember("containers");
  if (containers == spec.MemberEnd() || !containers->value.IsArray()) return nullptr;
  for (Value& c : containers->value.GetArray()) {
    if (NameIs(c, name)) return &c;
  }
  return nullptr;
}

void AppendMount(Value& container, const std::string& volume, const std::string& path,
                 Document::AllocatorType& a) {
  Value mount(rapidjson::kObjectType);
  mount.AddMember("name", Str(volume, a), a);
  mount.AddMember("mountPath", Str(path, a), a);
  ArrayMember(container, "volumeMounts", a).PushBack(mount, a);
}

}  // namespace

absl::StatusOr<std::string> SavedCopy(std::string_view object_json) {
  absl::StatusOr<Document> doc = Parse(object_json, "saved copy");
  if (!doc.ok()) return doc.status();
  doc->RemoveMember("status");
  auto meta = doc->FindMember("metadata");
  if (meta != doc->MemberEnd() && meta->value.IsObject()) {
    meta->value.RemoveMember("managedFields");
    meta->value.RemoveMember("resourceVersion");
  }
  return Write(*doc);
}

absl::StatusOr<std::string> MigratedPodTemplate(std::string_view deployment_json,
                                                const StringMap& labels,
                                                const std::string& container,
                                                const VolumeMount& mount) {
  absl::StatusOr<Document> doc = Parse(deployment_json, "Deployment");
  if (!doc.ok()) return doc.status();
  auto& a = doc->GetAllocator();
  Value& spec = ObjectMember(*doc, "spec", a);
  Value& tmpl = ObjectMember(spec, "template", a);
  Value& tmpl_meta = ObjectMember(tmpl, "metadata", a);
  // The API server writes "creationTimestamp": null inside templates.
  tmpl_meta.RemoveMember("creationTimestamp");
  Value& tmpl_labels = ObjectMember(tmpl_meta, "labels", a);
  for (const auto& [key, value] : labels) SetString(tmpl_labels, key, value, a);
  Value& pod = ObjectMember(tmpl, "spec", a);
  RemoveNamed(pod, "volumes", mount.name);
  for (const char* list : {"containers", "initContainers"}) {
    auto containers = pod.FindMember(list);
    if (containers == pod.MemberEnd() || !containers->value.IsArray()) continue;
    for (Value& c : containers->value.GetArray()) {
      if (c.IsObject()) RemoveNamed(c, "volumeMounts", mount.name);
    }
  }
  Value* c = FindContainer(pod, container);
  if (c == nullptr) {
    return absl::InternalError(absl::StrCat("Deployment: no container named ", container));
  }
  AppendMount(*c, mount.name, mount.mount_path, a);
  return Write(tmpl);
}

absl::StatusOr<std::string> WithPodTemplate(std::string_view object_json,
                                            std::string_view template_json) {
  absl::StatusOr<Document> doc = Parse(object_json, "StatefulSet");
  if (!doc.ok()) return doc.status();
  absl::StatusOr<Document> tmpl = Parse(template_json, "pod template");
  if (!tmpl.ok()) return tmpl.status();
  auto& a = doc->GetAllocator();
  Value& spec = ObjectMember(*doc, "spec", a);
  spec.RemoveMember("template");
  spec.AddMember("template", Value(*tmpl, a), a);
  return Write(*doc);
}

absl::StatusOr<std::string> RestoredDeployment(std::string_view saved_json, int32_t replicas,
                                               const std::optional<ClaimMount>& home) {
  absl::StatusOr<Document> doc = Parse(saved_json, "saved Deployment");
  if (!doc.ok()) return doc.status();
  auto& a = doc->GetAllocator();
  doc->RemoveMember("status");
  Value& meta = ObjectMember(*doc, "metadata", a);
  for (const char* key : {"uid", "resourceVersion", "generation", "creationTimestamp",
                          "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields",
                          "selfLink"}) {
    meta.RemoveMember(key);
  }
  auto annotations = meta.FindMember("annotations");
  if (annotations != meta.MemberEnd() && annotations->value.IsObject()) {
    annotations->value.RemoveMember("deployment.kubernetes.io/revision");
  }
  Value& spec = ObjectMember(*doc, "spec", a);
  spec.RemoveMember("replicas");
  spec.AddMember("replicas", Value(replicas), a);
  if (home.has_value()) {
    Value& pod = ObjectMember(ObjectMember(spec, "template", a), "spec", a);
    Value* c = FindContainer(pod, home->container);
    if (c == nullptr) {
      return absl::InternalError(
          absl::StrCat("saved Deployment: no container named ", home->container));
    }
    AppendMount(*c, home->volume, home->mount_path, a);
    Value volume(rapidjson::kObjectType);
    volume.AddMember("name", Str(home->volume, a), a);
    Value claim(rapidjson::kObjectType);
    claim.AddMember("claimName", Str(home->claim, a), a);
    volume.AddMember("persistentVolumeClaim", claim, a);
    ArrayMember(pod, "volumes", a).PushBack(volume, a);
  }
  return Write(*doc);
}

}  // namespace sandboxd::kube
