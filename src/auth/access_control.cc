#include "src/auth/access_control.h"

#include <utility>

namespace sandboxd::auth {

void AccessControl::Admit(const Credentials& credentials, const AccessRequest& request,
                          const kube::CallOptions& opts,
                          std::function<void(absl::StatusOr<kube::UserInfo>)> done) {
  authenticator_->Authenticate(
      credentials, opts,
      [this, request, opts, done = std::move(done)](absl::StatusOr<kube::UserInfo> user) {
        if (!user.ok()) return done(user.status());
        if (absl::Status fair = limits_->AdmitCall(user->username); !fair.ok()) return done(fair);
        // The callback keeps its own copy: `*user` is read by Authorize as it starts.
        authorizer_->Authorize(
            *user, request, opts, [this, request, identity = *user, done](absl::Status allowed) {
              if (!allowed.ok()) return done(allowed);
              if (absl::Status served = namespaces_->Check(request.ns); !served.ok()) {
                return done(served);
              }
              done(identity);
            });
      });
}

}  // namespace sandboxd::auth
