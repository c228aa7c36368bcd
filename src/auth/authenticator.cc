#include "src/auth/authenticator.h"

#include <utility>

#include "absl/strings/string_view.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/auth/review_errors.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"

namespace sandboxd::auth {
namespace {

absl::Status Unauthenticated(const char* reason, const std::string& message) {
  return domain::MakeError(absl::StatusCode::kUnauthenticated, reason, message);
}

// The token of "Bearer <token>" (scheme case-insensitive), or an error.
absl::StatusOr<std::string> BearerToken(absl::string_view authorization) {
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !absl::StartsWithIgnoreCase(authorization, kScheme)) {
    return Unauthenticated(domain::reason::kInvalidCredentials,
                           "the authorization metadata must be \"Bearer <token>\"");
  }
  absl::string_view token = absl::StripAsciiWhitespace(authorization.substr(kScheme.size()));
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Unauthenticated(domain::reason::kInvalidCredentials,
                             "the bearer token contains whitespace or control characters");
    }
  }
  if (token.empty()) {
    return Unauthenticated(domain::reason::kInvalidCredentials, "the bearer token is empty");
  }
  return std::string(token);
}

}  // namespace

Authenticator::Authenticator(kube::KubeClient* kube, Options options)
    : kube_(kube), options_(std::move(options)),
      reviews_(options_.cache_capacity, options_.clock) {}

void Authenticator::Authenticate(const Credentials& credentials, const kube::CallOptions& opts,
                                 std::function<void(absl::StatusOr<kube::UserInfo>)> done) {
  if (credentials.authorization.empty()) {
    if (credentials.certificate_common_name.empty()) {
      return done(Unauthenticated(domain::reason::kMissingCredentials,
                                  "no credentials: send \"authorization: Bearer <token>\" "
                                  "or connect with a client certificate"));
    }
    kube::UserInfo user;
    user.username = credentials.certificate_common_name;
    user.groups = credentials.certificate_organizations;
    return done(std::move(user));
  }
  absl::StatusOr<std::string> token = BearerToken(credentials.authorization);
  if (!token.ok()) return done(token.status());
  if (auto cached = reviews_.Find(*token)) return done(*std::move(cached));

  // A review stores nothing: sending it again after a transport failure is safe.
  kube::CallOptions review_opts = opts;
  review_opts.idempotent_writes = true;
  kube_->Create(
      kube::Kind::kTokenReview, "", kube::TokenReviewRequest(*token, options_.audiences),
      review_opts,
      [this, token = *token, done = std::move(done)](absl::StatusOr<std::string> body) {
        if (!body.ok()) return done(ReviewFailed(body.status(), "tokens"));
        absl::StatusOr<kube::TokenReviewResult> review = kube::DecodeTokenReview(*body);
        if (!review.ok()) return done(review.status());
        if (!review->authenticated) {
          absl::Status refused = Unauthenticated(
              domain::reason::kInvalidCredentials,
              "the bearer token was not accepted (expired, revoked, or for another audience)");
          reviews_.Put(token, refused, options_.negative_ttl);
          return done(refused);
        }
        reviews_.Put(token, review->user, options_.ttl);
        done(std::move(review->user));
      });
}

}  // namespace sandboxd::auth
