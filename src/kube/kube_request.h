// Request building: turns a KubeClient call into an HTTP method, path+query and body.
//
// Knows each Kind's group/version/plural, builds namespaced and subresource paths,
// percent-encodes query values, adds fieldManager to writes, picks the patch content type
// and encodes DeleteOptions. Names and namespaces are checked to be non-empty and free of
// '/', so a caller's value can never change which path is hit.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_KUBE_KUBE_REQUEST_H_
#define SANDBOXD_KUBE_KUBE_REQUEST_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "src/kube/kube_client.h"

namespace sandboxd::kube {

// Where a Kind lives in the API. `group` is "" for the core group.
struct ResourceInfo {
  absl::string_view group;
  absl::string_view version;
  absl::string_view plural;
  absl::string_view kind;  // "StatefulSet", ...
  bool namespaced = true;
};

ResourceInfo ResourceFor(Kind kind);

// An HTTP request relative to the API server URL.
struct HttpRequest {
  std::string method;        // "GET", "POST", "PUT", "PATCH", "DELETE"
  std::string path;          // absolute path plus query, e.g. "/api/v1/namespaces/a/pods?limit=5"
  std::string content_type;  // "" when there is no body
  std::string body;
};

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(absl::string_view value);

// The collection path of `kind` in `ns` ("" = all namespaces), e.g. "/apis/apps/v1/namespaces/a/statefulsets".
std::string CollectionPath(Kind kind, absl::string_view ns);

// The content type sent for a patch of `type`.
absl::string_view PatchContentType(PatchType type);

// Each returns INVALID_ARGUMENT when a required name/namespace is empty or contains '/'
// (the namespace is required for namespaced kinds and must be empty for cluster-scoped
// ones) or a subresource is malformed. `field_manager` is added as fieldManager=<value> when
// not empty; `dry_run` adds dryRun=All.
absl::StatusOr<HttpRequest> BuildGet(const ObjectRef& ref, absl::string_view subresource);
absl::StatusOr<HttpRequest> BuildList(Kind kind, absl::string_view ns, const ListOptions& list);
// GET <collection>?watch=1[&allowWatchBookmarks=true][&resourceVersion=RV]
// [&timeoutSeconds=T][&labelSelector=S]; INVALID_ARGUMENT for a bad namespace or a
// negative timeout.
absl::StatusOr<HttpRequest> BuildWatch(Kind kind, absl::string_view ns, const WatchOptions& watch);
absl::StatusOr<HttpRequest> BuildCreate(Kind kind, absl::string_view ns, std::string body,
                                        absl::string_view field_manager, bool dry_run);
absl::StatusOr<HttpRequest> BuildReplace(const ObjectRef& ref, absl::string_view subresource,
                                         std::string body, absl::string_view field_manager,
                                         bool dry_run);
// Server-side apply (kApply) also sends force=true.
absl::StatusOr<HttpRequest> BuildPatch(const ObjectRef& ref, absl::string_view subresource,
                                       PatchType type, std::string body,
                                       absl::string_view field_manager, bool dry_run);
// The body is a DeleteOptions document with propagationPolicy and, when set,
// preconditions {uid, resourceVersion}.
absl::StatusOr<HttpRequest> BuildDelete(const ObjectRef& ref, const DeleteOptions& del,
                                        bool dry_run);

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_KUBE_REQUEST_H_
