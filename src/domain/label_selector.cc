#include "src/domain/label_selector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "src/domain/errors.h"

namespace sandboxd::domain {
namespace {

constexpr size_t kMaxNameLength = 63;     // label name and value
constexpr size_t kMaxPrefixLength = 253;  // DNS-1123 subdomain

absl::Status Invalid(absl::string_view why) {
  return InvalidField("label_selector", std::string_view(why.data(), why.size()));
}

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters.
bool IsLabelName(absl::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// Lowercase DNS-1123 subdomain: dot-separated labels of [a-z0-9]([-a-z0-9]*[a-z0-9])?.
bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > kMaxPrefixLength) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    absl::string_view label = s.substr(start, dot == absl::string_view::npos ? s.npos : dot - start);
    if (label.empty()) return false;
    auto lower_alnum = [](char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); };
    if (!lower_alnum(label.front()) || !lower_alnum(label.back())) return false;
    for (char c : label) {
      if (!lower_alnum(c) && c != '-') return false;
    }
    if (dot == absl::string_view::npos) return true;
    start = dot + 1;
  }
}

absl::Status ValidateKey(absl::string_view key) {
  size_t slash = key.find('/');
  absl::string_view name = key;
  if (slash != absl::string_view::npos) {
    if (!IsDnsSubdomain(key.substr(0, slash))) {
      return Invalid(absl::StrCat("invalid key prefix in \"", key, "\""));
    }
    name = key.substr(slash + 1);
  }
  if (!IsLabelName(name)) return Invalid(absl::StrCat("invalid key \"", key, "\""));
  return absl::OkStatus();
}

absl::Status ValidateValue(absl::string_view value) {
  if (value.empty() || IsLabelName(value)) return absl::OkStatus();
  return Invalid(absl::StrCat("invalid value \"", value, "\""));
}

}  // namespace

// A tokenizer and recursive-descent parser over the selector string.
class LabelSelector::Parser {
 public:
  explicit Parser(std::string_view in) : in_(in.data(), in.size()) {}

  absl::StatusOr<LabelSelector> Run() {
    LabelSelector selector;
    if (Peek().kind == Kind::kEnd) return selector;  // empty or only whitespace
    while (true) {
      absl::StatusOr<Requirement> req = ParseRequirement();
      if (!req.ok()) return req.status();
      selector.requirements_.push_back(std::move(*req));
      Token t = Take();
      if (t.kind == Kind::kEnd) return selector;
      if (t.kind != Kind::kComma) {
        return Invalid(absl::StrCat("expected ',' or end of selector at \"", t.text, "\""));
      }
    }
  }

 private:
  enum class Kind { kEnd, kIdent, kComma, kOpen, kClose, kNot, kEq, kDoubleEq, kNotEq, kBad };
  struct Token {
    Kind kind;
    absl::string_view text;
  };

  static bool IsIdentChar(char c) {
    return !absl::ascii_isspace(static_cast<unsigned char>(c)) && c != ',' && c != '=' &&
           c != '!' && c != '(' && c != ')' && c != '<' && c != '>';
  }

  Token Scan() {
    while (pos_ < in_.size() && absl::ascii_isspace(static_cast<unsigned char>(in_[pos_]))) {
      ++pos_;
    }
    if (pos_ >= in_.size()) return {Kind::kEnd, "end of selector"};
    const size_t start = pos_;
    auto two = [&](char second) { return pos_ + 1 < in_.size() && in_[pos_ + 1] == second; };
    switch (in_[pos_]) {
      case ',': ++pos_; return {Kind::kComma, in_.substr(start, 1)};
      case '(': ++pos_; return {Kind::kOpen, in_.substr(start, 1)};
      case ')': ++pos_; return {Kind::kClose, in_.substr(start, 1)};
      case '!':
        if (two('=')) {
          pos_ += 2;
          return {Kind::kNotEq, in_.substr(start, 2)};
        }
        ++pos_;
        return {Kind::kNot, in_.substr(start, 1)};
      case '=':
        if (two('=')) {
          pos_ += 2;
          return {Kind::kDoubleEq, in_.substr(start, 2)};
        }
        ++pos_;
        return {Kind::kEq, in_.substr(start, 1)};
      case '<':
      case '>':
        ++pos_;
        return {Kind::kBad, in_.substr(start, 1)};
      default:
        while (pos_ < in_.size() && IsIdentChar(in_[pos_])) ++pos_;
        return {Kind::kIdent, in_.substr(start, pos_ - start)};
    }
  }

  Token Peek() {
    if (!peeked_) {
      peeked_token_ = Scan();
      peeked_ = true;
    }
    return peeked_token_;
  }

  Token Take() {
    Token t = Peek();
    peeked_ = false;
    return t;
  }

  absl::StatusOr<Requirement> ParseRequirement() {
    Requirement req;
    Token t = Take();
    bool negated = false;
    if (t.kind == Kind::kNot) {
      negated = true;
      t = Take();
    }
    if (t.kind != Kind::kIdent) {
      return Invalid(absl::StrCat("expected a label key at \"", t.text, "\""));
    }
    SANDBOXD_RETURN_IF_ERROR(ValidateKey(t.text));
    req.key = std::string(t.text);
    if (negated) {
      req.op = Op::kDoesNotExist;
      return req;
    }
    Token op = Peek();
    switch (op.kind) {
      case Kind::kEnd:
      case Kind::kComma:
        req.op = Op::kExists;
        return req;
      case Kind::kEq:
      case Kind::kDoubleEq:
      case Kind::kNotEq: {
        Take();
        req.op = op.kind == Kind::kNotEq ? Op::kNotEquals : Op::kEquals;
        Token value = Peek();
        if (value.kind == Kind::kEnd || value.kind == Kind::kComma) {
          req.values.emplace_back();  // "key=" selects the empty value
          return req;
        }
        Take();
        if (value.kind != Kind::kIdent) {
          return Invalid(absl::StrCat("expected a value after \"", req.key, op.text, "\""));
        }
        SANDBOXD_RETURN_IF_ERROR(ValidateValue(value.text));
        req.values.emplace_back(value.text);
        return req;
      }
      case Kind::kIdent:
        if (op.text == "in" || op.text == "notin") {
          Take();
          req.op = op.text == "in" ? Op::kIn : Op::kNotIn;
          SANDBOXD_RETURN_IF_ERROR(ParseSet(&req));
          return req;
        }
        break;
      case Kind::kBad:
        return Invalid(absl::StrCat("operator \"", op.text, "\" is not supported"));
      default:
        break;
    }
    return Invalid(absl::StrCat("unexpected \"", op.text, "\" after key \"", req.key, "\""));
  }

  absl::Status ParseSet(Requirement* req) {
    if (Take().kind != Kind::kOpen) {
      return Invalid(absl::StrCat("expected '(' after \"", req->key, " in\""));
    }
    while (true) {
      Token value = Take();
      if (value.kind != Kind::kIdent) {
        return Invalid(absl::StrCat("expected a value in the set of \"", req->key, "\" at \"",
                                    value.text, "\""));
      }
      SANDBOXD_RETURN_IF_ERROR(ValidateValue(value.text));
      req->values.emplace_back(value.text);
      Token sep = Take();
      if (sep.kind == Kind::kClose) return absl::OkStatus();
      if (sep.kind != Kind::kComma) {
        return Invalid(absl::StrCat("expected ',' or ')' in the set of \"", req->key, "\""));
      }
    }
  }

  absl::string_view in_;
  size_t pos_ = 0;
  bool peeked_ = false;
  Token peeked_token_{Kind::kEnd, ""};
};

absl::StatusOr<LabelSelector> LabelSelector::Parse(std::string_view selector) {
  return Parser(selector).Run();
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  for (const Requirement& req : requirements_) {
    auto it = labels.find(req.key);
    const bool present = it != labels.end();
    auto in_values = [&]() {
      return present &&
             std::find(req.values.begin(), req.values.end(), it->second) != req.values.end();
    };
    bool ok = false;
    switch (req.op) {
      case Op::kEquals:
      case Op::kIn:
        ok = in_values();
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        ok = !in_values();
        break;
      case Op::kExists:
        ok = present;
        break;
      case Op::kDoesNotExist:
        ok = !present;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace sandboxd::domain
