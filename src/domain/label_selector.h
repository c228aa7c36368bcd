// LabelSelector: a parsed Kubernetes label selector (the string form of
// `metav1.LabelSelector`, as `kubectl get -l` takes it), matched against a label map
// without asking the API server. The watch cache filters List and WatchSandboxes with it.
//
// Syntax: requirements separated by ',' (AND); whitespace around tokens is ignored.
//   key=value  key==value   the label is present with exactly that value
//   key!=value              the label is absent or has another value
//   key in (v1,v2)          the label is present with one of the values
//   key notin (v1,v2)       the label is absent or has none of the values
//   key                     the label is present (any value)
//   !key                    the label is absent
// Keys are qualified names ([prefix/]name, as Kubernetes validates them); values are
// label values (may be empty after '=', '==' and '!='; a set has at least one value).
// The set-based operators gt/lt are not supported. The empty selector matches every
// label map.
//
// Pure. Thread-compatible (a const LabelSelector may be shared between threads).
#ifndef SANDBOXD_DOMAIN_LABEL_SELECTOR_H_
#define SANDBOXD_DOMAIN_LABEL_SELECTOR_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sandboxd::domain {

class LabelSelector {
 public:
  // The empty selector: matches everything.
  LabelSelector() = default;

  // Parses `selector`. INVALID_ARGUMENT (InvalidField("label_selector", why)) on a syntax
  // error, an invalid key or value, or an unsupported operator.
  static absl::StatusOr<LabelSelector> Parse(std::string_view selector);

  // True if every requirement holds for `labels`.
  bool Matches(const std::map<std::string, std::string>& labels) const;

  bool empty() const { return requirements_.empty(); }
  // The number of requirements (comma-separated terms).
  size_t size() const { return requirements_.size(); }

 private:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;  // one for kEquals/kNotEquals; >= 1 for kIn/kNotIn
  };
  class Parser;

  std::vector<Requirement> requirements_;
};

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_LABEL_SELECTOR_H_
