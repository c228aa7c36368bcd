// Structured errors: an absl::Status that also carries an AIP-193 style reason
// (UPPER_SNAKE) and metadata (lowerCamel keys), so the gRPC edge can attach one
// google.rpc.ErrorInfo without knowing where the error came from.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_DOMAIN_ERRORS_H_
#define SANDBOXD_DOMAIN_ERRORS_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "src/base/status_macros.h"

namespace sandboxd::domain {

// The ErrorInfo domain of every error sandboxd reports.
inline constexpr std::string_view kErrorDomain = "sandboxd.dev";

struct ErrorDetail {
  std::string reason;                          // e.g. "SANDBOX_NOT_FOUND"; empty if none
  std::map<std::string, std::string> metadata;  // e.g. {"field": "spec.image"}
};

// Returns a status with `code` and `message` that carries `reason` and `metadata`.
absl::Status MakeError(absl::StatusCode code, std::string_view reason, std::string_view message,
                       std::map<std::string, std::string> metadata = {});

// INVALID_ARGUMENT, reason INVALID_FIELD, metadata {field, why}; message "<field>: <why>".
absl::Status InvalidField(std::string_view field, std::string_view why);

// The reason and metadata attached by MakeError; an empty reason if there is none.
ErrorDetail GetErrorDetail(const absl::Status& status);

// Returns `status` with "<context>: " prepended to its message; payloads are kept.
absl::Status WithContext(const absl::Status& status, std::string_view context);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_ERRORS_H_
