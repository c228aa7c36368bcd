#include "src/domain/validation.h"

#include <set>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/quantity.h"

namespace sandboxd::domain {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Quote(std::string_view s) {
  std::string out = "\"";
  // Keep messages bounded: a 100 KiB bogus value is not echoed back whole.
  if (s.size() > 80) {
    out.append(s.substr(0, 77));
    out.append("...");
  } else {
    out.append(s);
  }
  out.append("\"");
  return out;
}

// Why `s` is not a DNS-1123 label of at most `max` characters; empty if it is one.
std::string Dns1123LabelProblem(std::string_view s, size_t max) {
  if (s.empty()) return "must not be empty";
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
  if (v.size() > kMaxDnsLabel) return "value must be at most 63 characters";
  if (!IsQualifiedNamePart(v)) {
    return "value must be empty or consist of letters, digits, '-', '_' and '.', starting "
           "and ending with a letter or digit";
  }
  return "";
}

std::string LabelKeyProblem(std::string_view key) {
  if (key.empty()) return "key must not be empty";
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
  return absl::OkStatus();
}

std::string Bracket(std::string_view map, std::string_view key) {
  std::string out(map);
  out.append("[");
  out.append(key.size() > 80 ? std::string(key.substr(0, 77)) + "..." : std::string(key));
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

absl::Status ValidateResourcePair(std::string_view resource, const std::string& request,
                                  const std::string& limit) {
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
  return absl::OkStatus();
}

std::string MountPathProblem(std::string_view path) {
  if (path.empty()) return "must not be empty";
  if (path.size() > kMaxMountPathLength) {
    return "must be at most " + std::to_string(kMaxMountPathLength) + " characters";
  }
  if (path.front() != '/') return "must be an absolute path";
  if (path == "/") return "must not be the root directory";
  if (path.back() == '/') return "must not end with '/' (normalized form)";
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return "must not contain control characters";
    }
  }
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

absl::Status ValidateNamespace(std::string_view ns) {
  std::string problem = Dns1123LabelProblem(ns, kMaxDnsLabel);
  if (!problem.empty()) return InvalidField("namespace", Quote(ns) + " " + problem);
  return absl::OkStatus();
}

absl::Status ValidateSpec(const SandboxSpec& spec) {
  SANDBOXD_RETURN_IF_ERROR(ValidateName(spec.name));
  SANDBOXD_RETURN_IF_ERROR(ValidateNamespace(spec.ns));

  if (std::string why = LabelValueProblem(spec.project); !why.empty()) {
    return InvalidField("project", Quote(spec.project) + " " + why);
  }

  if (std::string why = ImageProblem(spec.image); !why.empty()) {
    return InvalidField("image", spec.image.empty() ? why : Quote(spec.image) + " " + why);
  }

  if (spec.env.size() > kMaxEnvVars) {
    return InvalidField("env", "must have at most " + std::to_string(kMaxEnvVars) + " entries");
  }
  size_t env_bytes = 0;
  for (const auto& [name, value] : spec.env) {
    SANDBOXD_RETURN_IF_ERROR(ValidateEnvEntry(Bracket("env", name), name, value));
    env_bytes += name.size() + value.size();
  }
  if (env_bytes > kMaxEnvTotalBytes) {
    return InvalidField("env", "names and values must total at most " +
                                   std::to_string(kMaxEnvTotalBytes) + " bytes");
  }

  SANDBOXD_RETURN_IF_ERROR(
      ValidateResourcePair("cpu", spec.resources.requests.cpu, spec.resources.limits.cpu));
  SANDBOXD_RETURN_IF_ERROR(ValidateResourcePair("memory", spec.resources.requests.memory,
                                                spec.resources.limits.memory));

  if (spec.storage.size.empty()) {
    return InvalidField("storage.size", "must not be empty (and no default size is configured)");
  }
  SANDBOXD_RETURN_IF_ERROR(CheckQuantity("storage.size", spec.storage.size, true).status());
  if (!spec.storage.storage_class.empty()) {
    if (std::string why = Dns1123SubdomainProblem(spec.storage.storage_class); !why.empty()) {
      return InvalidField("storage.storage_class", Quote(spec.storage.storage_class) + " " + why);
    }
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
    std::string host = TerminalHost(spec.name, spec.ingress_domain);
    if (host.size() > kMaxDnsSubdomain) {
      return InvalidField("ingress_domain", "host " + Quote(host) +
                                                " would be longer than 253 characters");
    }
  }

  if (spec.labels.size() > kMaxLabels) {
    return InvalidField("labels", "must have at most " + std::to_string(kMaxLabels) + " entries");
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

absl::Status ValidateEnvUpdate(const EnvUpdate& update) {
  if (update.set.size() > kMaxEnvVars) {
    return InvalidField("env", "must have at most " + std::to_string(kMaxEnvVars) + " entries");
  }
  if (update.remove.size() > kMaxEnvVars) {
    return InvalidField("remove_keys",
                        "must have at most " + std::to_string(kMaxEnvVars) + " entries");
  }
  size_t bytes = 0;
  for (const auto& [name, value] : update.set) {
    SANDBOXD_RETURN_IF_ERROR(ValidateEnvEntry(Bracket("env", name), name, value));
    bytes += name.size() + value.size();
  }
  if (bytes > kMaxEnvTotalBytes) {
    return InvalidField("env", "names and values must total at most " +
                                   std::to_string(kMaxEnvTotalBytes) + " bytes");
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

SandboxSpec ApplyDefaults(SandboxSpec spec, const SandboxDefaults& defaults) {
  auto fill = [](std::string& field, const std::string& value) {
    if (field.empty()) field = value;
  };
  fill(spec.image, defaults.image);
  fill(spec.resources.requests.cpu, defaults.resources.requests.cpu);
  fill(spec.resources.requests.memory, defaults.resources.requests.memory);
  fill(spec.resources.limits.cpu, defaults.resources.limits.cpu);
  fill(spec.resources.limits.memory, defaults.resources.limits.memory);
  fill(spec.storage.size, defaults.storage_size);
  fill(spec.storage.storage_class, defaults.storage_class);
  fill(spec.storage.mount_path, defaults.mount_path);
  if (spec.ports.app == 0) spec.ports.app = defaults.app_port;
  if (spec.ports.terminal == 0) spec.ports.terminal = defaults.terminal_port;
  fill(spec.ingress_domain, defaults.ingress_domain);
  return spec;
}

}  // namespace sandboxd::domain
