#include "src/auth/authorizer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/auth/review_errors.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"

namespace sandboxd::auth {
namespace {

// Every part of the identity and the question, length-prefixed so that no two
// different ones share a key.
std::string DecisionKey(const kube::UserInfo& user, const AccessRequest& request) {
  std::string key;
  auto add = [&key](absl::string_view part) { absl::StrAppend(&key, part.size(), ":", part); };
  add(user.username);
  add(user.uid);
  absl::StrAppend(&key, user.groups.size(), "g");
  for (const std::string& g : user.groups) add(g);
  absl::StrAppend(&key, user.extra.size(), "x");
  for (const auto& [k, values] : user.extra) {
    add(k);
    absl::StrAppend(&key, values.size(), "v");
    for (const std::string& v : values) add(v);
  }
  add(request.verb);
  add(request.ns);
  add(request.name);
  return key;
}

}  // namespace

Authorizer::Authorizer(kube::KubeClient* kube, Options options)
    : kube_(kube), options_(std::move(options)),
      decisions_(options_.cache_capacity, options_.clock) {}

void Authorizer::Authorize(const kube::UserInfo& user, const AccessRequest& request,
                           const kube::CallOptions& opts, std::function<void(absl::Status)> done) {
  if (request.name.empty()) return Decide(user, request, opts, std::move(done));
  AccessRequest whole_namespace = request;
  whole_namespace.name.clear();
  Decide(user, whole_namespace, opts,
         [this, user, request, opts, done = std::move(done)](absl::Status status) mutable {
           if (!absl::IsPermissionDenied(status)) return done(std::move(status));
           Decide(user, request, opts, std::move(done));
         });
}

void Authorizer::Decide(const kube::UserInfo& user, const AccessRequest& request,
                        const kube::CallOptions& opts, std::function<void(absl::Status)> done) {
  auto denied = [this, request]() {
    return domain::MakeError(
        absl::StatusCode::kPermissionDenied, domain::reason::kAccessDenied,
        absl::StrCat("not allowed to ", request.verb, " ", options_.resource, ".",
                     options_.group, " in namespace ", request.ns),
        {{"verb", request.verb}, {"namespace", request.ns}});
  };
  std::string key = DecisionKey(user, request);
  if (std::optional<bool> allowed = decisions_.Find(key)) {
    return done(*allowed ? absl::OkStatus() : denied());
  }
  kube::ResourceAttributes attributes{options_.group, options_.resource, request.verb,
                                      request.ns, request.name};
  // A review stores nothing: sending it again after a transport failure is safe.
  kube::CallOptions review_opts = opts;
  review_opts.idempotent_writes = true;
  kube_->Create(kube::Kind::kSubjectAccessReview, "",
                kube::SubjectAccessReviewRequest(user, attributes), review_opts,
                [this, key = std::move(key), denied, done = std::move(done)](
                    absl::StatusOr<std::string> body) {
                  if (!body.ok()) return done(ReviewFailed(body.status(), "access"));
                  absl::StatusOr<kube::AccessReviewResult> review =
                      kube::DecodeSubjectAccessReview(*body);
                  if (!review.ok()) return done(review.status());
                  decisions_.Put(key, review->allowed, options_.ttl);
                  done(review->allowed ? absl::OkStatus() : denied());
                });
}

}  // namespace sandboxd::auth
