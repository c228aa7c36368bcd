// Kubernetes resource quantities ("500m", "1.5Gi", "2e3"), parsed exactly so that they
// can be compared (requests <= limits, storage > 0).
//
// Syntax (k8s.io/apimachinery resource.Quantity):
//   [+-] digits [. digits] [suffix], suffix one of
//   Ki Mi Gi Ti Pi Ei | n u m "" k M G T P E | (e|E)[+-]digits
// At least one digit; at most 18 significant digits; magnitude at most 10^27.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_DOMAIN_QUANTITY_H_
#define SANDBOXD_DOMAIN_QUANTITY_H_

#include <string>
#include <string_view>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"

namespace sandboxd::domain {

// The value of `text` in units of 10^-9 (so "1" is 1'000'000'000 and "1m" 1'000'000).
// Sub-nano fractions round up, away from zero, as Kubernetes does.
// INVALID_ARGUMENT (plain, no field) with a message saying what is wrong otherwise.
absl::StatusOr<absl::int128> ParseQuantityNano(std::string_view text);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_QUANTITY_H_
