#include "src/kube/kube_request.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace sandboxd::kube {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

absl::Status CheckSegment(absl::string_view what, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (value.find('/') != absl::string_view::npos || value == "." || value == "..") {
    return absl::InvalidArgumentError(absl::StrCat(what, " \"", value, "\" is not a valid name"));
  }
  return absl::OkStatus();
}

// A namespaced kind needs a namespace; a cluster-scoped one must have none.
absl::Status CheckNamespace(Kind kind, absl::string_view ns) {
  if (ResourceFor(kind).namespaced) return CheckSegment("namespace", ns);
  if (!ns.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ResourceFor(kind).plural, " are cluster-scoped: no namespace"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ObjectPath(const ObjectRef& ref, absl::string_view subresource) {
  if (absl::Status s = CheckNamespace(ref.kind, ref.ns); !s.ok()) return s;
  if (absl::Status s = CheckSegment("name", ref.name); !s.ok()) return s;
  std::string path = absl::StrCat(CollectionPath(ref.kind, ref.ns), "/", ref.name);
  if (!subresource.empty()) {
    if (absl::Status s = CheckSegment("subresource", subresource); !s.ok()) return s;
    absl::StrAppend(&path, "/", subresource);
  }
  return path;
}

std::string WithQuery(std::string path, const Query& query) {
  if (query.empty()) return path;
  path.push_back('?');
  path += absl::StrJoin(query, "&", [](std::string* out, const auto& kv) {
    absl::StrAppend(out, UrlEncode(kv.first), "=", UrlEncode(kv.second));
  });
  return path;
}

Query WriteQuery(absl::string_view field_manager, bool dry_run) {
  Query q;
  if (dry_run) q.emplace_back("dryRun", "All");
  if (!field_manager.empty()) q.emplace_back("fieldManager", std::string(field_manager));
  return q;
}

const char* PropagationName(Propagation p) {
  switch (p) {
    case Propagation::kForeground:
      return "Foreground";
    case Propagation::kOrphan:
      return "Orphan";
    case Propagation::kBackground:
      break;
  }
  return "Background";
}

}  // namespace

ResourceInfo ResourceFor(Kind kind) {
  switch (kind) {
    case Kind::kStatefulSet:
      return {"apps", "v1", "statefulsets", "StatefulSet"};
    case Kind::kService:
      return {"", "v1", "services", "Service"};
    case Kind::kIngress:
      return {"networking.k8s.io", "v1", "ingresses", "Ingress"};
    case Kind::kNetworkPolicy:
      return {"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"};
    case Kind::kPod:
      return {"", "v1", "pods", "Pod"};
    case Kind::kPersistentVolumeClaim:
      return {"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"};
    case Kind::kDeployment:
      return {"apps", "v1", "deployments", "Deployment"};
    case Kind::kConfigMap:
      return {"", "v1", "configmaps", "ConfigMap"};
    case Kind::kNamespace:
      return {"", "v1", "namespaces", "Namespace", /*namespaced=*/false};
    case Kind::kTokenReview:
      return {"authentication.k8s.io", "v1", "tokenreviews", "TokenReview", false};
    case Kind::kSubjectAccessReview:
      return {"authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview",
              false};
    case Kind::kLease:
      return {"coordination.k8s.io", "v1", "leases", "Lease"};
  }
  return {"", "v1", "unknown", "Unknown"};
}

std::string UrlEncode(absl::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string CollectionPath(Kind kind, absl::string_view ns) {
  ResourceInfo info = ResourceFor(kind);
  std::string path = info.group.empty() ? absl::StrCat("/api/", info.version)
                                        : absl::StrCat("/apis/", info.group, "/", info.version);
  if (!ns.empty()) absl::StrAppend(&path, "/namespaces/", ns);
  absl::StrAppend(&path, "/", info.plural);
  return path;
}

absl::string_view PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

absl::StatusOr<HttpRequest> BuildGet(const ObjectRef& ref, absl::string_view subresource) {
  absl::StatusOr<std::string> path = ObjectPath(ref, subresource);
  if (!path.ok()) return path.status();
  return HttpRequest{"GET", *std::move(path), "", ""};
}

absl::StatusOr<HttpRequest> BuildList(Kind kind, absl::string_view ns, const ListOptions& list) {
  if (!ns.empty()) {
    if (absl::Status s = CheckSegment("namespace", ns); !s.ok()) return s;
  }
  if (list.limit < 0) return absl::InvalidArgumentError("limit is negative");
  Query q;
  if (!list.label_selector.empty()) q.emplace_back("labelSelector", list.label_selector);
  if (list.limit > 0) q.emplace_back("limit", absl::StrCat(list.limit));
  if (!list.continue_token.empty()) q.emplace_back("continue", list.continue_token);
  if (!list.resource_version.empty()) q.emplace_back("resourceVersion", list.resource_version);
  return HttpRequest{"GET", WithQuery(CollectionPath(kind, ns), q), "", ""};
}

absl::StatusOr<HttpRequest> BuildWatch(Kind kind, absl::string_view ns,
                                       const WatchOptions& watch) {
  if (!ns.empty()) {
    if (absl::Status s = CheckSegment("namespace", ns); !s.ok()) return s;
  }
  if (watch.timeout_seconds < 0) return absl::InvalidArgumentError("timeoutSeconds is negative");
  Query q;
  q.emplace_back("watch", "1");
  if (watch.allow_bookmarks) q.emplace_back("allowWatchBookmarks", "true");
  if (!watch.resource_version.empty()) q.emplace_back("resourceVersion", watch.resource_version);
  if (watch.timeout_seconds > 0) q.emplace_back("timeoutSeconds", absl::StrCat(watch.timeout_seconds));
  if (!watch.label_selector.empty()) q.emplace_back("labelSelector", watch.label_selector);
  return HttpRequest{"GET", WithQuery(CollectionPath(kind, ns), q), "", ""};
}

absl::StatusOr<HttpRequest> BuildCreate(Kind kind, absl::string_view ns, std::string body,
                                        absl::string_view field_manager, bool dry_run) {
  if (absl::Status s = CheckNamespace(kind, ns); !s.ok()) return s;
  return HttpRequest{"POST", WithQuery(CollectionPath(kind, ns), WriteQuery(field_manager, dry_run)),
                     "application/json", std::move(body)};
}

absl::StatusOr<HttpRequest> BuildReplace(const ObjectRef& ref, absl::string_view subresource,
                                         std::string body, absl::string_view field_manager,
                                         bool dry_run) {
  absl::StatusOr<std::string> path = ObjectPath(ref, subresource);
  if (!path.ok()) return path.status();
  return HttpRequest{"PUT", WithQuery(*std::move(path), WriteQuery(field_manager, dry_run)),
                     "application/json", std::move(body)};
}

absl::StatusOr<HttpRequest> BuildPatch(const ObjectRef& ref, absl::string_view subresource,
                                       PatchType type, std::string body,
                                       absl::string_view field_manager, bool dry_run) {
  absl::StatusOr<std::string> path = ObjectPath(ref, subresource);
  if (!path.ok()) return path.status();
  Query q = WriteQuery(field_manager, dry_run);
  if (type == PatchType::kApply) {
    if (field_manager.empty()) {
      return absl::InvalidArgumentError("server-side apply requires a field manager");
    }
    q.emplace_back("force", "true");
  }
  return HttpRequest{"PATCH", WithQuery(*std::move(path), q), std::string(PatchContentType(type)),
                     std::move(body)};
}

absl::StatusOr<HttpRequest> BuildDelete(const ObjectRef& ref, const DeleteOptions& del,
                                        bool dry_run) {
  absl::StatusOr<std::string> path = ObjectPath(ref, "");
  if (!path.ok()) return path.status();
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("apiVersion");
  w.String("v1");
  w.Key("kind");
  w.String("DeleteOptions");
  w.Key("propagationPolicy");
  w.String(PropagationName(del.propagation));
  if (!del.precondition_uid.empty() || !del.precondition_resource_version.empty()) {
    w.Key("preconditions");
    w.StartObject();
    if (!del.precondition_uid.empty()) {
      w.Key("uid");
      w.String(del.precondition_uid.data(),
               static_cast<rapidjson::SizeType>(del.precondition_uid.size()));
    }
    if (!del.precondition_resource_version.empty()) {
      w.Key("resourceVersion");
      w.String(del.precondition_resource_version.data(),
               static_cast<rapidjson::SizeType>(del.precondition_resource_version.size()));
    }
    w.EndObject();
  }
  if (dry_run) {
    w.Key("dryRun");
    w.StartArray();
    w.String("All");
    w.EndArray();
  }
  w.EndObject();
  return HttpRequest{"DELETE", *std::move(path), "application/json",
                     std::string(buf.GetString(), buf.GetSize())};
}

}  // namespace sandboxd::kube
