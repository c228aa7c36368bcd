// The two review APIs through which sandboxd asks Kubernetes about its callers:
// TokenReview (authentication.k8s.io/v1: whose bearer token is this?) and
// SubjectAccessReview (authorization.k8s.io/v1: may this identity do that?). Request
// documents to POST (KubeClient::Create, cluster-scoped) and decoders of the answers.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_KUBE_REVIEWS_H_
#define SANDBOXD_KUBE_REVIEWS_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sandboxd::kube {

// A user as Kubernetes authentication describes it (user.Info).
struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

struct TokenReviewResult {
  bool authenticated = false;
  UserInfo user;                       // when authenticated
  std::vector<std::string> audiences;  // the audiences the token is valid for
  std::string error;                   // why not, when the API server says
};

// {"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{...}}.
// `audiences` empty: the API server's own audiences.
std::string TokenReviewRequest(std::string_view token, const std::vector<std::string>& audiences);
// The status of a TokenReview answer. INTERNAL if `json` is not one.
absl::StatusOr<TokenReviewResult> DecodeTokenReview(std::string_view json);

struct ResourceAttributes {
  std::string group;
  std::string resource;
  std::string verb;
  std::string ns;    // namespace
  std::string name;  // "" for collection verbs (create, list, watch)
};

struct AccessReviewResult {
  bool allowed = false;
  bool denied = false;  // explicitly denied (no other authorizer may allow)
  std::string reason;
  std::string evaluation_error;
};

std::string SubjectAccessReviewRequest(const UserInfo& user, const ResourceAttributes& attributes);
// The status of a SubjectAccessReview answer. INTERNAL if `json` is not one.
absl::StatusOr<AccessReviewResult> DecodeSubjectAccessReview(std::string_view json);

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_REVIEWS_H_
