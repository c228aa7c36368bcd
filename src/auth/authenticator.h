// Authenticator: who is calling. A caller proves its identity with a bearer token in the
// "authorization" metadata ("Bearer <token>"), which Kubernetes checks (TokenReview with
// the configured audiences), or with a client certificate that the TLS layer has already
// verified against the configured client CA (common name = user, organizations =
// groups). A bearer token, when present, is the identity; otherwise the certificate.
//
// Token reviews are cached by token for `ttl` (failed ones for `negative_ttl`), so a
// caller's burst of calls costs one review. Tokens are kept in memory only, never logged.
//
// Errors (reasons in domain/error_reasons.h):
//   UNAUTHENTICATED  MISSING_CREDENTIALS (neither), INVALID_CREDENTIALS (malformed
//                    authorization metadata, or a token Kubernetes does not accept:
//                    expired, revoked, another audience);
//   others           the TokenReview request failed (UNAVAILABLE, DEADLINE_EXCEEDED, ...).
//
// Thread-safe. `done` runs on the KubeClient's I/O thread, or inline on a cache hit.
#ifndef SANDBOXD_AUTH_AUTHENTICATOR_H_
#define SANDBOXD_AUTH_AUTHENTICATOR_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/auth/expiring_cache.h"
#include "src/kube/kube_client.h"
#include "src/kube/reviews.h"

namespace sandboxd::auth {

// What a caller presented on one call.
struct Credentials {
  std::string authorization;  // the "authorization" metadata value; "" if none
  // Subject of the client certificate the TLS handshake verified; empty common name if
  // the connection has none.
  std::string certificate_common_name;
  std::vector<std::string> certificate_organizations;
};

class Authenticator {
 public:
  struct Options {
    std::vector<std::string> audiences;  // empty: the API server's own audiences
    absl::Duration ttl = absl::Seconds(10);
    absl::Duration negative_ttl = absl::Seconds(2);
    size_t cache_capacity = 10000;
    std::function<absl::Time()> clock = absl::Now;
  };

  // `kube` must outlive the authenticator.
  Authenticator(kube::KubeClient* kube, Options options);

  void Authenticate(const Credentials& credentials, const kube::CallOptions& opts,
                    std::function<void(absl::StatusOr<kube::UserInfo>)> done);

 private:
  kube::KubeClient* const kube_;
  const Options options_;
  ExpiringCache<std::string, absl::StatusOr<kube::UserInfo>> reviews_;
};

}  // namespace sandboxd::auth

#endif  // SANDBOXD_AUTH_AUTHENTICATOR_H_
