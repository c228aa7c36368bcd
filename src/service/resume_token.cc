#include "src/service/resume_token.h"

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "src/domain/errors.h"

namespace sandboxd::service {
namespace {

constexpr char kTokenVersion[] = "v1";

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "<epoch:16 hex>.<seq>" or "<epoch>.i": the tokens of sandboxd before positions were
// portable.
bool IsProcessToken(absl::string_view token) {
  if (token.size() < 18 || token[16] != '.') return false;
  for (size_t i = 0; i < 16; ++i) {
    const char c = token[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  absl::string_view seq = token.substr(17);
  uint64_t ignored;
  return seq == "i" || (AllDigits(seq) && absl::SimpleAtoi(seq, &ignored));
}

}  // namespace

bool Progress::Covers(const Progress& other) const {
  for (size_t k = 0; k < rv.size(); ++k) {
    if (rv[k] < other.rv[k]) return false;
  }
  return true;
}

Progress Max(const Progress& a, const Progress& b) {
  Progress out;
  for (size_t k = 0; k < out.rv.size(); ++k) out.rv[k] = std::max(a.rv[k], b.rv[k]);
  return out;
}

std::string EncodeResumeToken(const Progress& p) {
  return absl::StrCat(kTokenVersion, ".", p.rv[0], ".", p.rv[1], ".", p.rv[2]);
}

absl::StatusOr<ResumePosition> ParseResumeToken(const std::string& token) {
  ResumePosition out;
  if (token.empty()) return out;
  if (token == kIncompleteResumeToken || IsProcessToken(token)) {
    out.kind = ResumePosition::Kind::kRestart;
    return out;
  }
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 4 || parts[0] != kTokenVersion) {
    return domain::InvalidField("resume_token", "malformed");
  }
  for (size_t k = 0; k < 3; ++k) {
    if (!AllDigits(parts[k + 1]) || !absl::SimpleAtoi(parts[k + 1], &out.at.rv[k])) {
      return domain::InvalidField("resume_token", "malformed");
    }
  }
  out.kind = ResumePosition::Kind::kAt;
  return out;
}

}  // namespace sandboxd::service
