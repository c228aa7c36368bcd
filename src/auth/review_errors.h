// How a failed TokenReview / SubjectAccessReview request is reported to a caller.
//
// Pure function. Thread-safe.
#ifndef SANDBOXD_AUTH_REVIEW_ERRORS_H_
#define SANDBOXD_AUTH_REVIEW_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/domain/errors.h"

namespace sandboxd::auth {

// `status` of a review request about `what` ("token", "access"), with context. A 401 or
// 403 of the review request itself is sandboxd's own identity lacking the permission to
// create reviews: INTERNAL (a deployment problem), never the caller's UNAUTHENTICATED or
// PERMISSION_DENIED.
inline absl::Status ReviewFailed(const absl::Status& status, const std::string& what) {
  if (absl::IsPermissionDenied(status) || absl::IsUnauthenticated(status)) {
    return absl::InternalError(absl::StrCat("sandboxd's Kubernetes identity may not review ",
                                            what, ": ", status.message()));
  }
  return domain::WithContext(status, absl::StrCat("review ", what));
}

}  // namespace sandboxd::auth

#endif  // SANDBOXD_AUTH_REVIEW_ERRORS_H_
