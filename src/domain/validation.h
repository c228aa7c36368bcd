// Validation of caller input, and defaults. Everything a caller sends is checked here,
// before anything is written to Kubernetes, so that bad input is INVALID_ARGUMENT naming
// the field instead of a half-applied create or a 422 from the API server.
//
// Errors are InvalidField(field, why) (errors.h): code INVALID_ARGUMENT, reason
// INVALID_FIELD, metadata {field, why}. Field paths are proto-style, relative to the
// request: "name", "namespace", "project", "image", "env[FOO]", "resources.limits.cpu",
// "storage.size", "storage.storage_class", "storage.mount_path", "ports.app",
// "ports.terminal", "ingress_domain", "labels[team]"; for a whole map that is too big,
// the map's name ("env", "labels"). EnvUpdate fields are named as in
// UpdateSandboxEnvRequest: "env[FOO]", "remove_keys[FOO]",
// "env", "remove_keys". List and watch filters: "project", "label_selector". The first
// problem found is reported, in the order fields are listed. Control characters in a key
// are written as \xNN in the field path and in messages.
//
// Control characters (bytes 0x00-0x1f and 0x7f) are refused in every string, with one
// exception: env values may contain tab and newline, because multi-line values (PEM keys
// and certificates, JSON) are an ordinary use of a container's environment; they reach
// the API server as escaped JSON strings and the container runtime as one NAME=value
// string each, never through a line-oriented format.
//
// Maxima that a deployment configures are in SandboxLimits (sandbox.h); the fixed bounds
// below are not configurable.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_DOMAIN_VALIDATION_H_
#define SANDBOXD_DOMAIN_VALIDATION_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "src/domain/sandbox.h"

namespace sandboxd::domain {

// Fixed bounds on caller input. They keep error messages readable and single values
// well below the API server's object size limit (~1.5 MiB).
inline constexpr size_t kMaxEnvNameLength = 128;
inline constexpr size_t kMaxEnvValueLength = size_t{32} * 1024;
inline constexpr size_t kMaxImageLength = 512;
inline constexpr size_t kMaxMountPathLength = 1024;
inline constexpr size_t kMaxDnsSubdomain = 253;

// Sandbox name: a DNS-1123 label (lowercase alphanumerics and '-', starting and ending
// with an alphanumeric) of at most kMaxSandboxNameLength (50) characters, so that every
// derived name (naming.h) is a valid label of at most 63. Field "name".
absl::Status ValidateName(std::string_view name);

// The claim a new sandbox `name` would get from claim template `claim_template`
// (ClaimName) must be a DNS-1123 label of at most 63 characters: the template name
// itself a valid label, else INVALID_FIELD `template_field` (the setting or field it was
// derived from, e.g. "storage.mount_path"); the claim too long, INVALID_FIELD "name".
// Checked on create only: existing sandboxes keep the template they were created with.
absl::Status ValidateClaimTemplate(std::string_view claim_template, std::string_view name,
                                   std::string_view template_field);

// Namespace: a DNS-1123 label of at most 63 characters. Field "namespace".
absl::Status ValidateNamespace(std::string_view ns);

// Validates a complete spec: call it on the result of ApplyDefaults(), so that defaults
// are checked too and a required field still empty (image without a default image) is
// reported. Checks, in order: name, namespace, project (label value), image reference,
// env (names [A-Za-z_][A-Za-z0-9_.-]*, values bounded, at most limits.max_env_vars
// entries and limits.max_env_bytes bytes), resources (quantity syntax, non-negative,
// limits > 0, requests <= limits when both set, each at most limits.max_cpu /
// max_memory; "resources" if no cpu or memory request or limit is non-zero, which would
// make the pod BestEffort), storage (size > 0 and at most limits.max_storage_size,
// storage class a DNS-1123 subdomain and one of limits.allowed_storage_classes when that
// is non-empty, mount path absolute and normalized, not "/"), ports (1..65535,
// app != terminal), ingress domain (DNS-1123 subdomain; derived hosts at most 253),
// labels (Kubernetes key/value syntax, reserved keys refused, at most limits.max_labels).
// A maximum in `limits` that is not a quantity is INTERNAL (a server misconfiguration).
absl::Status ValidateSpec(const SandboxSpec& spec, const SandboxLimits& limits);

// "a.example.com, b.example.com" -> {a.example.com, b.example.com}: split on commas,
// blanks trimmed, empty entries dropped.
std::vector<std::string> ParseDomainList(std::string_view list);

// The namespace's own list of allowed ingress domains (kAnnotationAllowedIngressDomains),
// applied after ValidateSpec: with a list, spec.ingress_domain (when set) must be in it,
// else INVALID_FIELD "ingress_domain" naming the namespace and its list. nullopt: no
// namespace list, anything ValidateSpec allowed is allowed.
absl::Status ValidateNamespaceIngressDomain(const SandboxSpec& spec,
                                            const std::optional<std::vector<std::string>>& allowed);

// Validates an env update on its own: every key of `set` and `remove` is a valid env
// name, values are bounded, no key is in both, `set` and `remove` have at most
// limits.max_env_vars entries and `set` at most limits.max_env_bytes bytes. The merged
// result is checked by ValidateUpdatedEnv().
absl::Status ValidateEnvUpdate(const EnvUpdate& update, const SandboxLimits& limits);

// Validates the environment an update would leave (ApplyEnvUpdate()'s result) before it
// is written: at most limits.max_env_vars entries and limits.max_env_bytes bytes of names
// and values, so that repeated updates cannot grow it without bound. Field "env".
absl::Status ValidateUpdatedEnv(const std::map<std::string, std::string>& env,
                                const SandboxLimits& limits);

// Validates the filters of ListSandboxes and WatchSandboxes: `project` is a label value
// (field "project"); `label_selector` has at most limits.max_selector_length bytes, no
// control characters, valid syntax (LabelSelector::Parse) and at most
// limits.max_selector_terms requirements (field "label_selector").
absl::Status ValidateListFilter(std::string_view project, std::string_view label_selector,
                                const SandboxLimits& limits);

// Returns `spec` with every empty field that has a default filled from `defaults`:
// image, resources (each of requests/limits cpu/memory separately), storage size,
// class and mount path, ports (0 means unset), ingress domain. A default never
// contradicts what the caller set: a default request above the caller's limit becomes
// that limit, a default limit below the caller's request becomes that request. Name,
// namespace, project, env and labels have no defaults.
SandboxSpec ApplyDefaults(SandboxSpec spec, const SandboxDefaults& defaults);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_VALIDATION_H_
