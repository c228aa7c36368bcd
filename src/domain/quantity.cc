#include "src/domain/quantity.h"

#include <cstdint>

#include "absl/status/status.h"

namespace sandboxd::domain {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

absl::Status Bad(const char* why) {
  return absl::InvalidArgumentError(why);
}

// 10^36: comfortably below the int128 maximum (~1.7 * 10^38), checked before each
// multiplication so nothing overflows. The accepted magnitude is 10^27 (10^36 nano).
const absl::int128 kCap = [] {
  absl::int128 v = 1;
  for (int i = 0; i < 36; ++i) v *= 10;
  return v;
}();

}  // namespace

absl::StatusOr<absl::int128> ParseQuantityNano(std::string_view text) {
  if (text.empty()) return Bad("must not be empty");
  if (text.size() > 64) return Bad("must be at most 64 characters");
  size_t i = 0;
  bool negative = false;
  if (text[i] == '+' || text[i] == '-') {
    negative = text[i] == '-';
    ++i;
  }
  // Mantissa: digits with an optional decimal point.
  absl::int128 mantissa = 0;
  int significant = 0;
  int frac_digits = 0;
  int digits = 0;
  bool seen_point = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      if (seen_point) return Bad("is not a quantity (two decimal points)");
      seen_point = true;
      continue;
    }
    if (!IsDigit(c)) break;
    ++digits;
    if (seen_point) ++frac_digits;
    if (significant == 0 && c == '0') continue;  // leading zeros
    if (++significant > 18) return Bad("is not a quantity (more than 18 significant digits)");
    mantissa = mantissa * 10 + (c - '0');
  }
  if (digits == 0) return Bad("is not a quantity (expected a number, e.g. \"500m\" or \"5Gi\")");

  // Suffix.
  std::string_view suffix = text.substr(i);
  int exp10 = 0;
  int binary_shift = 0;
  if (suffix.empty()) {
  } else if (suffix.size() == 2 && suffix[1] == 'i') {
    switch (suffix[0]) {
      case 'K': binary_shift = 10; break;
      case 'M': binary_shift = 20; break;
      case 'G': binary_shift = 30; break;
      case 'T': binary_shift = 40; break;
      case 'P': binary_shift = 50; break;
      case 'E': binary_shift = 60; break;
      default: return Bad("is not a quantity (unknown suffix)");
    }
  } else if (suffix.size() == 1) {
    switch (suffix[0]) {
      case 'n': exp10 = -9; break;
      case 'u': exp10 = -6; break;
      case 'm': exp10 = -3; break;
      case 'k': exp10 = 3; break;
      case 'M': exp10 = 6; break;
      case 'G': exp10 = 9; break;
      case 'T': exp10 = 12; break;
      case 'P': exp10 = 15; break;
      case 'E': exp10 = 18; break;
      default: return Bad("is not a quantity (unknown suffix)");
    }
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    size_t j = 1;
    bool neg_exp = false;
    if (j < suffix.size() && (suffix[j] == '+' || suffix[j] == '-')) {
      neg_exp = suffix[j] == '-';
      ++j;
    }
    if (j == suffix.size()) return Bad("is not a quantity (empty exponent)");
    int e = 0;
    for (; j < suffix.size(); ++j) {
      if (!IsDigit(suffix[j])) return Bad("is not a quantity (bad exponent)");
      e = e * 10 + (suffix[j] - '0');
      if (e > 64) return Bad("is out of range");
    }
    exp10 = neg_exp ? -e : e;
  } else {
    return Bad("is not a quantity (unknown suffix)");
  }

  // value_nano = mantissa * 2^binary_shift * 10^(9 + exp10 - frac_digits)
  absl::int128 value = mantissa << binary_shift;  // < 10^18 * 2^60 < 10^36
  int scale = 9 + exp10 - frac_digits;
  if (value != 0) {
    for (; scale > 0; --scale) {
      if (value > kCap / 10) return Bad("is out of range (at most 10^27)");
      value *= 10;
    }
    for (; scale < 0; ++scale) {
      absl::int128 rest = value % 10;
      value /= 10;
      if (rest != 0) value += 1;  // round up
    }
  }
  return negative ? -value : value;
}

}  // namespace sandboxd::domain
