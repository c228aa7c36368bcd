// Authorizer: may this caller do that? Each question is a Kubernetes SubjectAccessReview
// on API group `group`, resource `resource`, in the request's namespace (and the sandbox
// name where there is one), so platform teams grant access with ordinary Roles and
// RoleBindings. Decisions are cached for `ttl` per (identity, verb, namespace, name);
// never shared across identities.
//
// A question about one sandbox is first asked about the whole namespace: what a caller may
// do to every sandbox there (an RBAC rule without resourceNames), it may do to this one.
// Only when that is not allowed is the sandbox's name asked about. A caller with a
// namespace-wide role so costs one review per (verb, namespace) and ttl, not one per
// sandbox; one limited to resourceNames costs one more per sandbox.
//
// Errors (reasons in domain/error_reasons.h):
//   PERMISSION_DENIED  ACCESS_DENIED: the message names the verb and resource, never
//                      whether the sandbox or namespace exists;
//   others             the review request failed (UNAVAILABLE, DEADLINE_EXCEEDED, ...).
//
// Thread-safe. `done` runs on the KubeClient's I/O thread, or inline on a cache hit.
#ifndef SANDBOXD_AUTH_AUTHORIZER_H_
#define SANDBOXD_AUTH_AUTHORIZER_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/auth/expiring_cache.h"
#include "src/kube/kube_client.h"
#include "src/kube/reviews.h"

namespace sandboxd::auth {

// One call's question: verb on the sandboxes of `ns` (named `name`, or all of them).
struct AccessRequest {
  std::string verb;  // create, get, list, watch, update, delete
  std::string ns;
  std::string name;  // "" for create, list and watch of a namespace
};

class Authorizer {
 public:
  struct Options {
    std::string group = "sandboxd.dev";
    std::string resource = "sandboxes";
    absl::Duration ttl = absl::Seconds(5);
    size_t cache_capacity = 10000;
    std::function<absl::Time()> clock = absl::Now;
  };

  // `kube` must outlive the authorizer.
  Authorizer(kube::KubeClient* kube, Options options);

  void Authorize(const kube::UserInfo& user, const AccessRequest& request,
                 const kube::CallOptions& opts, std::function<void(absl::Status)> done);

 private:
  // `request` exactly as asked: from the cache, else by a SubjectAccessReview.
  void Decide(const kube::UserInfo& user, const AccessRequest& request,
              const kube::CallOptions& opts, std::function<void(absl::Status)> done);

  kube::KubeClient* const kube_;
  const Options options_;
  ExpiringCache<std::string, bool> decisions_;  // key: identity + request; value: allowed
};

}  // namespace sandboxd::auth

#endif  // SANDBOXD_AUTH_AUTHORIZER_H_
