// AccessControl: the tenant boundary in front of every SandboxLifecycle call. Admit()
// authenticates the caller (Authenticator), holds it to its fair share of calls
// (CallerLimits), asks Kubernetes RBAC whether it may do what the call does (Authorizer),
// and refuses namespaces sandboxd does not serve (NamespaceGate) — in that order, so a
// caller learns nothing about a namespace it may not use and a flood costs no reviews.
// Nothing reaches the service before Admit() said OK.
//
// Verbs by RPC: create (CreateSandbox), get (GetSandbox), list (ListSandboxes), watch
// (WatchSandbox, WatchSandboxes), update (StartSandbox, StopSandbox, UpdateSandboxEnv),
// delete (DeleteSandbox).
//
// Errors: those of the three parts (a review that sandboxd's own identity may not make
// is INTERNAL: review_errors.h).
//
// Thread-safe. The parts must outlive it. `done` runs on the KubeClient's I/O thread or
// inline.
#ifndef SANDBOXD_AUTH_ACCESS_CONTROL_H_
#define SANDBOXD_AUTH_ACCESS_CONTROL_H_

#include <functional>
#include <optional>

#include "absl/status/statusor.h"
#include "src/auth/authenticator.h"
#include "src/auth/authorizer.h"
#include "src/auth/caller_limits.h"
#include "src/auth/namespace_gate.h"

namespace sandboxd::auth {

// What Admit() decided. `caller` is set as soon as the credentials are verified, so a
// call refused after that (fair use, RBAC, namespace) is still logged with who made it.
struct Admission {
  absl::Status status;                   // OK: the call may proceed
  std::optional<kube::UserInfo> caller;  // the authenticated identity
};

class AccessControl {
 public:
  AccessControl(Authenticator* authenticator, CallerLimits* limits, Authorizer* authorizer,
                NamespaceGate* namespaces)
      : authenticator_(authenticator), limits_(limits), authorizer_(authorizer),
        namespaces_(namespaces) {}

  // Whether the caller may make `request`, and who it is.
  void Admit(const Credentials& credentials, const AccessRequest& request,
             const kube::CallOptions& opts, std::function<void(Admission)> done);

  // A slot for one more watch stream of an admitted `caller` (CallerLimits::OpenWatch).
  absl::StatusOr<CallerLimits::WatchLease> OpenWatch(const kube::UserInfo& caller) {
    return limits_->OpenWatch(caller.username);
  }

 private:
  Authenticator* const authenticator_;
  CallerLimits* const limits_;
  Authorizer* const authorizer_;
  NamespaceGate* const namespaces_;
};

}  // namespace sandboxd::auth

#endif  // SANDBOXD_AUTH_ACCESS_CONTROL_H_
