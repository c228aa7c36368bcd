#include "src/auth/access_control.h"

#include <utility>

namespace sandboxd::auth {

void AccessControl::Admit(const Credentials& credentials, const AccessRequest& request,
                          const kube::CallOptions& opts, std::function<void(Admission)> done) {
  authenticator_->Authenticate(
      credentials, opts,
      [this, request, opts, done = std::move(done)](absl::StatusOr<kube::UserInfo> user) {
        if (!user.ok()) return done(Admission{user.status(), std::nullopt});
        if (absl::Status fair = limits_->AdmitCall(user->username); !fair.ok()) {
          return done(Admission{std::move(fair), *user});
        }
        // The callback keeps its own copy: `*user` is read by Authorize as it starts.
        authorizer_->Authorize(*user, request, opts,
                               [this, request, identity = *user, done](absl::Status allowed) {
                                 if (allowed.ok()) allowed = namespaces_->Check(request.ns);
                                 done(Admission{std::move(allowed), identity});
                               });
      });
}

}  // namespace sandboxd::auth
