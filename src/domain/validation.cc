#include "src/domain/validation.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/domain/errors.h"
#include "src/domain/label_selector.h"
#include "src/domain/naming.h"
#include "src/domain/quantity.h"

namespace sandboxd::domain {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

std::string HexByte(char c) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const auto byte = static_cast<unsigned char>(c);
  return {kDigits[byte >> 4], kDigits[byte & 0xf]};
}

// `s` for a message or a field path: at most 80 bytes of it (a 100 KiB bogus value is
// not echoed back whole), control characters written as \xNN.
std::string Printable(std::string_view s) {
  const bool truncate = s.size() > 80;
  if (truncate) s = s.substr(0, 77);
  std::string out;
  for (char c : s) {
    if (IsControl(c)) {
      out.append("\\x");
      out.append(HexByte(c));
    } else {
      out.push_back(c);
    }
  }
  if (truncate) out.append("...");
  return out;
}

std::string Quote(std::string_view s) { return "\"" + Printable(s) + "\""; }

// Why `s` is refused for a control character; empty if it has none. Tab and newline are
// allowed where `allow_tab_and_newline` (env values, see validation.h).
std::string ControlCharacterProblem(std::string_view s, bool allow_tab_and_newline = false) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (!IsControl(s[i])) continue;
    if (allow_tab_and_newline && (s[i] == '\t' || s[i] == '\n')) continue;
    return "must not contain control characters (byte 0x" + HexByte(s[i]) + " at offset " +
           std::to_string(i) + ")";
  }
  return "";
}

// Why `s` is not a DNS-1123 label of at most `max` characters; empty if it is one.
std::string Dns1123LabelProblem(std::string_view s, size_t max) {
  if (s.empty()) return "must not be empty";
  if (std::string why = ControlCharacterProblem(s); !why.empty()) return why;
  if (s.size() > max) return "must be at most " + std::to_string(max) + " characters";
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') {
      return "must consist of lowercase letters, digits and '-' (DNS-1123 label)";
    }
  }
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) {
    return "must start and end with a lowercase letter or digit (DNS-1123 label)";
  }
  return "";
}

std::string Dns1123SubdomainProblem(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (std::string why = ControlCharacterProblem(s); !why.empty()) return why;
  if (s.size() > kMaxDnsSubdomain) return "must be at most 253 characters";
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    std::string problem = Dns1123LabelProblem(part, kMaxDnsLabel);
    if (!problem.empty()) {
      return "must be a DNS-1123 subdomain (dot-separated lowercase labels of letters, "
             "digits and '-')";
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return "";
}

// Label name part / value: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63.
bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > kMaxDnsLabel) return false;
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string LabelValueProblem(std::string_view v) {
  if (v.empty()) return "";
  if (std::string why = ControlCharacterProblem(v); !why.empty()) return "value " + why;
  if (v.size() > kMaxDnsLabel) return "value must be at most 63 characters";
  if (!IsQualifiedNamePart(v)) {
    return "value must be empty or consist of letters, digits, '-', '_' and '.', starting "
           "and ending with a letter or digit";
  }
  return "";
}

std::string LabelKeyProblem(std::string_view key) {
  if (key.empty()) return "key must not be empty";
  if (std::string why = ControlCharacterProblem(key); !why.empty()) return "key " + why;
  std::string_view prefix;
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!Dns1123SubdomainProblem(prefix).empty()) {
      return "key prefix must be a DNS-1123 subdomain of at most 253 characters";
    }
  }
  if (!IsQualifiedNamePart(name)) {
    return "key name must be 1-63 characters of letters, digits, '-', '_' and '.', "
           "starting and ending with a letter or digit";
  }
  if (IsReservedLabelKey(key)) {
    return prefix.empty() ? "key " + Quote(key) + " is reserved"
                          : "key prefix " + Quote(prefix) + " is reserved";
  }
  return "";
}

std::string EnvNameProblem(std::string_view name) {
  if (name.empty()) return "name must not be empty";
  if (std::string why = ControlCharacterProblem(name); !why.empty()) return "name " + why;
  if (name.size() > kMaxEnvNameLength) {
    return "name must be at most " + std::to_string(kMaxEnvNameLength) + " characters";
  }
  char first = name.front();
  if (!(IsAlnum(first) || first == '_') || IsDigit(first)) {
    return "name must start with a letter or '_'";
  }
  for (char c : name) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') {
      return "name must consist of letters, digits, '_', '.' and '-'";
    }
  }
  return "";
}

absl::Status ValidateEnvEntry(std::string_view field, std::string_view name,
                              std::string_view value) {
  std::string problem = EnvNameProblem(name);
  if (!problem.empty()) return InvalidField(field, problem);
  if (value.size() > kMaxEnvValueLength) {
    return InvalidField(field, "value must be at most " + std::to_string(kMaxEnvValueLength) +
                                   " bytes");
  }
  if (std::string why = ControlCharacterProblem(value, /*allow_tab_and_newline=*/true);
      !why.empty()) {
    return InvalidField(field, "value " + why);
  }
  return absl::OkStatus();
}

size_t EnvBytes(const std::map<std::string, std::string>& env) {
  size_t bytes = 0;
  for (const auto& [name, value] : env) bytes += name.size() + value.size();
  return bytes;
}

// Whether `env` (the map of `field`) is within the count and size maxima.
absl::Status CheckEnvSize(std::string_view field,
                          const std::map<std::string, std::string>& env,
                          const SandboxLimits& limits) {
  if (static_cast<int64_t>(env.size()) > limits.max_env_vars) {
    return InvalidField(field, "must have at most " + std::to_string(limits.max_env_vars) +
                                   " entries, got " + std::to_string(env.size()));
  }
  const size_t bytes = EnvBytes(env);
  if (static_cast<int64_t>(bytes) > limits.max_env_bytes) {
    return InvalidField(field, "names and values must total at most " +
                                   std::to_string(limits.max_env_bytes) + " bytes, got " +
                                   std::to_string(bytes));
  }
  return absl::OkStatus();
}

std::string Bracket(std::string_view map, std::string_view key) {
  std::string out(map);
  out.append("[");
  out.append(Printable(key));
  out.append("]");
  return out;
}

// ---- Image references (docker/distribution reference grammar, simplified) -----------

// Path component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool IsPathComponent(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (IsLowerAlnum(c)) continue;
    if (c == '.') {
      if (!IsLowerAlnum(s[i + 1])) return false;  // s.back() is alnum: i + 1 is in range
    } else if (c == '_') {
      if (s[i + 1] == '_') ++i;
      if (!IsLowerAlnum(s[i + 1])) return false;
    } else if (c == '-') {
      while (s[i + 1] == '-') ++i;
      if (!IsLowerAlnum(s[i + 1])) return false;
    } else {
      return false;
    }
  }
  return true;
}

// Registry host: DNS labels (any case) separated by '.', optional ":port".
bool IsRegistryHost(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon != std::string_view::npos) {
    std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (!IsDigit(c)) return false;
    }
    s = s.substr(0, colon);
  }
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (part.empty() || part.size() > kMaxDnsLabel || !IsAlnum(part.front()) ||
        !IsAlnum(part.back())) {
      return false;
    }
    for (char c : part) {
      if (!IsAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

std::string ImageProblem(std::string_view ref) {
  if (ref.empty()) return "must not be empty (and no default image is configured)";
  if (std::string why = ControlCharacterProblem(ref); !why.empty()) return why;
  if (ref.size() > kMaxImageLength) {
    return "must be at most " + std::to_string(kMaxImageLength) + " characters";
  }
  std::string_view rest = ref;
  // Digest: @algorithm:hex
  size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    std::string_view digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    size_t colon = digest.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return "has a malformed digest (expected @algorithm:hex)";
    }
    std::string_view algo = digest.substr(0, colon);
    std::string_view hex = digest.substr(colon + 1);
    for (char c : algo) {
      if (!IsLowerAlnum(c) && c != '+' && c != '.' && c != '_' && c != '-') {
        return "has a malformed digest algorithm";
      }
    }
    if (hex.size() < 32) return "has a malformed digest (too short)";
    for (char c : hex) {
      if (!IsDigit(c) && !(c >= 'a' && c <= 'f')) {
        return "has a malformed digest (expected lowercase hex)";
      }
    }
    if (algo == "sha256" && hex.size() != 64) return "has a malformed sha256 digest";
  }
  // Tag: after the last ':' that follows the last '/'.
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    std::string_view tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (tag.empty() || tag.size() > 128) return "has a malformed tag (1-128 characters)";
    if (!(IsAlnum(tag.front()) || tag.front() == '_')) {
      return "has a malformed tag (must start with a letter, digit or '_')";
    }
    for (char c : tag) {
      if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') {
        return "has a malformed tag (letters, digits, '_', '.' and '-' only)";
      }
    }
  }
  if (rest.empty()) return "has no repository name";
  if (rest.size() > 255) return "has a repository name longer than 255 characters";
  // Components; the first is a registry host if it looks like one.
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = rest.find('/', start);
    parts.push_back(rest.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  size_t first_path = 0;
  if (parts.size() > 1 && (parts[0].find('.') != std::string_view::npos ||
                           parts[0].find(':') != std::string_view::npos ||
                           parts[0] == "localhost")) {
    if (!IsRegistryHost(parts[0])) return "has a malformed registry host";
    first_path = 1;
  }
  for (size_t i = first_path; i < parts.size(); ++i) {
    if (!IsPathComponent(parts[i])) {
      return "has a malformed repository path component " + Quote(parts[i]) +
             " (lowercase letters and digits, separated by '.', '_', '__' or '-')";
    }
  }
  return "";
}

// ---- Resources ------------------------------------------------------------------------

absl::StatusOr<absl::int128> CheckQuantity(std::string_view field, std::string_view text,
                                           bool must_be_positive) {
  absl::StatusOr<absl::int128> q = ParseQuantityNano(text);
  if (!q.ok()) {
    return InvalidField(field, Quote(text) + " " + std::string(q.status().message()));
  }
  if (*q < 0) return InvalidField(field, Quote(text) + " must not be negative");
  if (must_be_positive && *q == 0) {
    return InvalidField(field, Quote(text) + " must be greater than zero");
  }
  return *q;
}

// `value` (the quantity `text` of `field`) is at most `max`, the SandboxLimits member
// `setting`; an empty `max` is no maximum.
absl::Status CheckAtMost(std::string_view field, std::string_view text, absl::int128 value,
                         std::string_view setting, const std::string& max) {
  if (max.empty()) return absl::OkStatus();
  absl::StatusOr<absl::int128> max_value = ParseQuantityNano(max);
  if (!max_value.ok()) {
    return absl::InternalError("limit " + std::string(setting) + " " + Quote(max) +
                               " is not a quantity");
  }
  if (value > *max_value) return InvalidField(field, Quote(text) + " must be at most " + max);
  return absl::OkStatus();
}

absl::Status ValidateResourcePair(std::string_view resource, const std::string& request,
                                  const std::string& limit, std::string_view max_setting,
                                  const std::string& max) {
  const std::string request_field = "resources.requests." + std::string(resource);
  const std::string limit_field = "resources.limits." + std::string(resource);
  absl::int128 request_value = 0;
  absl::int128 limit_value = 0;
  if (!request.empty()) {
    SANDBOXD_ASSIGN_OR_RETURN(request_value, CheckQuantity(request_field, request, false));
  }
  if (!limit.empty()) {
    SANDBOXD_ASSIGN_OR_RETURN(limit_value, CheckQuantity(limit_field, limit, true));
  }
  if (!request.empty() && !limit.empty() && request_value > limit_value) {
    return InvalidField(request_field, Quote(request) + " must be less than or equal to " +
                                           limit_field + " (" + limit + ")");
  }
  if (!request.empty()) {
    SANDBOXD_RETURN_IF_ERROR(
        CheckAtMost(request_field, request, request_value, max_setting, max));
  }
  if (!limit.empty()) {
    SANDBOXD_RETURN_IF_ERROR(CheckAtMost(limit_field, limit, limit_value, max_setting, max));
  }
  return absl::OkStatus();
}

bool IsPositiveQuantity(const std::string& text) {
  absl::StatusOr<absl::int128> value = ParseQuantityNano(text);
  return value.ok() && *value > 0;
}

std::string MountPathProblem(std::string_view path) {
  if (path.empty()) return "must not be empty";
  if (path.size() > kMaxMountPathLength) {
    return "must be at most " + std::to_string(kMaxMountPathLength) + " characters";
  }
  if (path.front() != '/') return "must be an absolute path";
  if (path == "/") return "must not be the root directory";
  if (path.back() == '/') return "must not end with '/' (normalized form)";
  if (std::string why = ControlCharacterProblem(path); !why.empty()) return why;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view part =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return "must not contain empty components ('//') (normalized form)";
    if (part == "." || part == "..") {
      return "must not contain '.' or '..' components (normalized form)";
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return "";
}

absl::Status ValidatePort(std::string_view field, int32_t port) {
  if (port < 1 || port > 65535) {
    return InvalidField(field, std::to_string(port) + " must be between 1 and 65535");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateName(std::string_view name) {
  std::string problem = Dns1123LabelProblem(name, kMaxDnsLabel);
  if (!problem.empty()) return InvalidField("name", Quote(name) + " " + problem);
  if (name.size() > kMaxSandboxNameLength) {
    return InvalidField("name", Quote(name) + " must be at most " +
                                    std::to_string(kMaxSandboxNameLength) +
                                    " characters, so that derived names (e.g. "
                                    "<name>-ttyd-ingress) fit in 63");
  }
  for (const DerivedName& derived : DerivedLabelNames(name)) {
    std::string why = Dns1123LabelProblem(derived.value, kMaxDnsLabel);
    if (!why.empty()) {
      return InvalidField("name", Quote(name) + ": derived " + derived.what + " name " +
                                      Quote(derived.value) + " " + why);
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateClaimTemplate(std::string_view claim_template, std::string_view name,
                                   std::string_view template_field) {
  std::string problem = Dns1123LabelProblem(claim_template, kMaxDnsLabel);
  if (!problem.empty()) {
    return InvalidField(std::string(template_field),
                        "claim template name " + Quote(claim_template) + " " + problem);
  }
  const std::string claim = ClaimName(claim_template, name);
  problem = Dns1123LabelProblem(claim, kMaxDnsLabel);
  if (!problem.empty()) {
    return InvalidField("name", Quote(name) + ": derived PVC name " + Quote(claim) + " " + problem);
  }
  return absl::OkStatus();
}

absl::Status ValidateNamespace(std::string_view ns) {
  std::string problem = Dns1123LabelProblem(ns, kMaxDnsLabel);
  if (!problem.empty()) return InvalidField("namespace", Quote(ns) + " " + problem);
  return absl::OkStatus();
}

std::vector<std::string> ParseDomainList(std::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(absl::string_view(list.data(), list.size()), ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

absl::Status ValidateNamespaceIngressDomain(const SandboxSpec& spec,
                                            const std::optional<std::vector<std::string>>& allowed) {
  if (spec.ingress_domain.empty() || !allowed.has_value() ||
      std::find(allowed->begin(), allowed->end(), spec.ingress_domain) != allowed->end()) {
    return absl::OkStatus();
  }
  return InvalidField("ingress_domain",
                      Quote(spec.ingress_domain) + " is not allowed in namespace " +
                          Quote(spec.ns) +
                          (allowed->empty() ? std::string("; it allows no ingress domain")
                                            : "; allowed: " + absl::StrJoin(*allowed, ", ")));
}

absl::Status ValidateSpec(const SandboxSpec& spec, const SandboxLimits& limits) {
  SANDBOXD_RETURN_IF_ERROR(ValidateName(spec.name));
  SANDBOXD_RETURN_IF_ERROR(ValidateNamespace(spec.ns));

  if (std::string why = LabelValueProblem(spec.project); !why.empty()) {
    return InvalidField("project", Quote(spec.project) + " " + why);
  }

  if (std::string why = ImageProblem(spec.image); !why.empty()) {
    return InvalidField("image", spec.image.empty() ? why : Quote(spec.image) + " " + why);
  }

  for (const auto& [name, value] : spec.env) {
    SANDBOXD_RETURN_IF_ERROR(ValidateEnvEntry(Bracket("env", name), name, value));
  }
  SANDBOXD_RETURN_IF_ERROR(CheckEnvSize("env", spec.env, limits));

  const Resources& resources = spec.resources;
  SANDBOXD_RETURN_IF_ERROR(ValidateResourcePair("cpu", resources.requests.cpu,
                                                resources.limits.cpu, "max_cpu", limits.max_cpu));
  SANDBOXD_RETURN_IF_ERROR(ValidateResourcePair("memory", resources.requests.memory,
                                                resources.limits.memory, "max_memory",
                                                limits.max_memory));
  if (!IsPositiveQuantity(resources.requests.cpu) &&
      !IsPositiveQuantity(resources.requests.memory) &&
      !IsPositiveQuantity(resources.limits.cpu) && !IsPositiveQuantity(resources.limits.memory)) {
    return InvalidField("resources",
                        "must have a non-zero cpu or memory request or limit (and none is "
                        "configured by default): the pod would be BestEffort");
  }

  if (spec.storage.size.empty()) {
    return InvalidField("storage.size", "must not be empty (and no default size is configured)");
  }
  SANDBOXD_ASSIGN_OR_RETURN(absl::int128 storage_size,
                            CheckQuantity("storage.size", spec.storage.size, true));
  SANDBOXD_RETURN_IF_ERROR(CheckAtMost("storage.size", spec.storage.size, storage_size,
                                       "max_storage_size", limits.max_storage_size));
  if (!spec.storage.storage_class.empty()) {
    if (std::string why = Dns1123SubdomainProblem(spec.storage.storage_class); !why.empty()) {
      return InvalidField("storage.storage_class", Quote(spec.storage.storage_class) + " " + why);
    }
  }
  const std::vector<std::string>& allowed_classes = limits.allowed_storage_classes;
  if (!allowed_classes.empty() &&
      std::find(allowed_classes.begin(), allowed_classes.end(), spec.storage.storage_class) ==
          allowed_classes.end()) {
    return InvalidField("storage.storage_class",
                        (spec.storage.storage_class.empty()
                             ? std::string("must be set")
                             : Quote(spec.storage.storage_class) + " is not allowed") +
                            "; allowed: " + absl::StrJoin(allowed_classes, ", "));
  }
  if (std::string why = MountPathProblem(spec.storage.mount_path); !why.empty()) {
    return InvalidField("storage.mount_path", Quote(spec.storage.mount_path) + " " + why);
  }

  SANDBOXD_RETURN_IF_ERROR(ValidatePort("ports.app", spec.ports.app));
  SANDBOXD_RETURN_IF_ERROR(ValidatePort("ports.terminal", spec.ports.terminal));
  if (spec.ports.app == spec.ports.terminal) {
    return InvalidField("ports.terminal",
                        std::to_string(spec.ports.terminal) + " must differ from ports.app");
  }

  if (!spec.ingress_domain.empty()) {
    if (std::string why = Dns1123SubdomainProblem(spec.ingress_domain); !why.empty()) {
      return InvalidField("ingress_domain", Quote(spec.ingress_domain) + " " + why);
    }
    const std::vector<std::string>& domains = limits.allowed_ingress_domains;
    if (!domains.empty() &&
        std::find(domains.begin(), domains.end(), spec.ingress_domain) == domains.end()) {
      return InvalidField("ingress_domain", Quote(spec.ingress_domain) +
                                                " is not allowed; allowed: " +
                                                absl::StrJoin(domains, ", "));
    }
    std::string host = TerminalHost(spec.name, spec.ingress_domain);
    if (host.size() > kMaxDnsSubdomain) {
      return InvalidField("ingress_domain", "host " + Quote(host) +
                                                " would be longer than 253 characters");
    }
  }

  if (static_cast<int64_t>(spec.labels.size()) > limits.max_labels) {
    return InvalidField("labels", "must have at most " + std::to_string(limits.max_labels) +
                                      " entries, got " + std::to_string(spec.labels.size()));
  }
  for (const auto& [key, value] : spec.labels) {
    if (std::string why = LabelKeyProblem(key); !why.empty()) {
      return InvalidField(Bracket("labels", key), why);
    }
    if (std::string why = LabelValueProblem(value); !why.empty()) {
      return InvalidField(Bracket("labels", key), why);
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateEnvUpdate(const EnvUpdate& update, const SandboxLimits& limits) {
  for (const auto& [name, value] : update.set) {
    SANDBOXD_RETURN_IF_ERROR(ValidateEnvEntry(Bracket("env", name), name, value));
  }
  SANDBOXD_RETURN_IF_ERROR(CheckEnvSize("env", update.set, limits));
  if (static_cast<int64_t>(update.remove.size()) > limits.max_env_vars) {
    return InvalidField("remove_keys", "must have at most " +
                                           std::to_string(limits.max_env_vars) +
                                           " entries, got " +
                                           std::to_string(update.remove.size()));
  }
  for (const std::string& name : update.remove) {
    if (std::string why = EnvNameProblem(name); !why.empty()) {
      return InvalidField(Bracket("remove_keys", name), why);
    }
    if (update.set.count(name) > 0) {
      return InvalidField(Bracket("remove_keys", name), "key is also in env");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateUpdatedEnv(const std::map<std::string, std::string>& env,
                                const SandboxLimits& limits) {
  if (static_cast<int64_t>(env.size()) > limits.max_env_vars) {
    return InvalidField("env", "the updated environment would have " +
                                   std::to_string(env.size()) + " entries; at most " +
                                   std::to_string(limits.max_env_vars) + " are allowed");
  }
  const size_t bytes = EnvBytes(env);
  if (static_cast<int64_t>(bytes) > limits.max_env_bytes) {
    return InvalidField("env", "the updated environment's names and values would total " +
                                   std::to_string(bytes) + " bytes; at most " +
                                   std::to_string(limits.max_env_bytes) + " are allowed");
  }
  return absl::OkStatus();
}

absl::Status ValidateListFilter(std::string_view project, std::string_view label_selector,
                                const SandboxLimits& limits) {
  if (std::string why = LabelValueProblem(project); !why.empty()) {
    return InvalidField("project", Quote(project) + " " + why);
  }
  if (static_cast<int64_t>(label_selector.size()) > limits.max_selector_length) {
    return InvalidField("label_selector", "must be at most " +
                                              std::to_string(limits.max_selector_length) +
                                              " bytes, got " +
                                              std::to_string(label_selector.size()));
  }
  if (std::string why = ControlCharacterProblem(label_selector); !why.empty()) {
    return InvalidField("label_selector", why);
  }
  SANDBOXD_ASSIGN_OR_RETURN(LabelSelector selector, LabelSelector::Parse(label_selector));
  if (static_cast<int64_t>(selector.size()) > limits.max_selector_terms) {
    return InvalidField("label_selector", "must have at most " +
                                              std::to_string(limits.max_selector_terms) +
                                              " requirements, got " +
                                              std::to_string(selector.size()));
  }
  return absl::OkStatus();
}

namespace {

// Fills an unset request or limit of one resource from its default, without letting a
// default contradict the caller: a default request above the caller's limit becomes the
// limit, a default limit below the caller's request becomes the request. A value that is
// not a quantity is left for ValidateSpec to report.
void FillResource(std::string& request, std::string& limit, const std::string& default_request,
                  const std::string& default_limit) {
  const bool caller_request = !request.empty();
  const bool caller_limit = !limit.empty();
  if (!caller_request) request = default_request;
  if (!caller_limit) limit = default_limit;
  if (caller_request == caller_limit || request.empty() || limit.empty()) return;
  absl::StatusOr<absl::int128> request_value = ParseQuantityNano(request);
  absl::StatusOr<absl::int128> limit_value = ParseQuantityNano(limit);
  if (!request_value.ok() || !limit_value.ok() || *request_value <= *limit_value) return;
  if (caller_limit) {
    request = limit;
  } else {
    limit = request;
  }
}

}  // namespace

SandboxSpec ApplyDefaults(SandboxSpec spec, const SandboxDefaults& defaults) {
  auto fill = [](std::string& field, const std::string& value) {
    if (field.empty()) field = value;
  };
  fill(spec.image, defaults.image);
  FillResource(spec.resources.requests.cpu, spec.resources.limits.cpu,
               defaults.resources.requests.cpu, defaults.resources.limits.cpu);
  FillResource(spec.resources.requests.memory, spec.resources.limits.memory,
               defaults.resources.requests.memory, defaults.resources.limits.memory);
  fill(spec.storage.size, defaults.storage_size);
  fill(spec.storage.storage_class, defaults.storage_class);
  fill(spec.storage.mount_path, defaults.mount_path);
  if (spec.ports.app == 0) spec.ports.app = defaults.app_port;
  if (spec.ports.terminal == 0) spec.ports.terminal = defaults.terminal_port;
  fill(spec.ingress_domain, defaults.ingress_domain);
  return spec;
}

}  // namespace sandboxd::domain
