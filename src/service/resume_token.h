// Resume tokens and positions of the watch cache (see sandbox_cache.h, "Positions and
// resume tokens"). A position holds one Kubernetes resourceVersion per kind
// (StatefulSets, Pods, claims); a token is its portable text form.
//
// Pure values and functions. Thread-compatible.
#ifndef SANDBOXD_SERVICE_RESUME_TOKEN_H_
#define SANDBOXD_SERVICE_RESUME_TOKEN_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace sandboxd::service {

// A position in the inputs of one scope (see the header comment): per kind, indexed by
// SandboxCache::Source, a resourceVersion. Zero: nothing of that kind yet.
struct Progress {
  std::array<uint64_t, 3> rv{};

  // >= in every kind.
  bool Covers(const Progress& other) const;
  bool operator==(const Progress& other) const { return rv == other.rv; }
};
// The larger of each kind.
Progress Max(const Progress& a, const Progress& b);

// Resume tokens. EncodeResumeToken: "v1.<sts>.<pod>.<pvc>". ParseResumeToken: kNone for
// "", kRestart for an incomplete position ("v1.i") or a token of the per-process format
// "<epoch:16 hex>.<seq or i>", kAt with the position otherwise; INVALID_ARGUMENT
// (INVALID_FIELD resume_token) if malformed.
struct ResumePosition {
  enum class Kind { kNone, kRestart, kAt };
  Kind kind = Kind::kNone;
  Progress at;
};
std::string EncodeResumeToken(const Progress& p);
absl::StatusOr<ResumePosition> ParseResumeToken(const std::string& token);

// The token of an event before INITIAL_STATE_COMPLETE (an initial-state ADDED, RESET):
// the client's state is incomplete there, so resuming from it starts over with RESET.
inline constexpr char kIncompleteResumeToken[] = "v1.i";

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_RESUME_TOKEN_H_
