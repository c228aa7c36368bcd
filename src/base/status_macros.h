// Early returns on absl::Status / absl::StatusOr (the Abseil on Debian bookworm has
// none), for every layer: the Kubernetes codecs below the domain use them too.
#ifndef SANDBOXD_BASE_STATUS_MACROS_H_
#define SANDBOXD_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"

// Returns the status of `expr` from the enclosing function if it is not OK.
#define SANDBOXD_RETURN_IF_ERROR(expr)            \
  do {                                            \
    if (absl::Status _st = (expr); !_st.ok()) {   \
      return _st;                                 \
    }                                             \
  } while (0)

#define SANDBOXD_CONCAT_INNER(a, b) a##b
#define SANDBOXD_CONCAT(a, b) SANDBOXD_CONCAT_INNER(a, b)
// `lhs = *rexpr` (an absl::StatusOr), or returns its status if it is not OK.
#define SANDBOXD_ASSIGN_OR_RETURN(lhs, rexpr) \
  SANDBOXD_ASSIGN_OR_RETURN_IMPL(SANDBOXD_CONCAT(_statusor_, __LINE__), lhs, rexpr)
// `tmp` is a name and `lhs` may be a declaration: neither can be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define SANDBOXD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                   \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

#endif  // SANDBOXD_BASE_STATUS_MACROS_H_
