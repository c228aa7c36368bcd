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
// "env", "remove_keys". The first problem found is reported, in the order fields are listed.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_DOMAIN_VALIDATION_H_
#define SANDBOXD_DOMAIN_VALIDATION_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "src/domain/sandbox.h"

namespace sandboxd::domain {

// Bounds on caller input. They keep one StatefulSet well below the API server's object
// size limit (~1.5 MiB) and error messages readable.
inline constexpr size_t kMaxEnvVars = 256;
inline constexpr size_t kMaxEnvNameLength = 128;
inline constexpr size_t kMaxEnvValueLength = 32 * 1024;
inline constexpr size_t kMaxEnvTotalBytes = 256 * 1024;  // sum of names and values
inline constexpr size_t kMaxLabels = 32;                 // caller labels
inline constexpr size_t kMaxImageLength = 512;
inline constexpr size_t kMaxMountPathLength = 1024;
inline constexpr size_t kMaxDnsSubdomain = 253;

// Sandbox name: a DNS-1123 label (lowercase alphanumerics and '-', starting and ending
// with an alphanumeric) of at most kMaxSandboxNameLength (50) characters, so that every
// derived name (naming.h) is a valid label of at most 63. Field "name".
absl::Status ValidateName(std::string_view name);

// Namespace: a DNS-1123 label of at most 63 characters. Field "namespace".
absl::Status ValidateNamespace(std::string_view ns);

// Validates a complete spec: call it on the result of ApplyDefaults(), so that defaults
// are checked too and a required field still empty (image without a default image) is
// reported. Checks, in order: name, namespace, project (label value), image reference,
// env (names [A-Za-z_][A-Za-z0-9_.-]*, bounded sizes), resources (quantity syntax,
// non-negative, limits > 0, requests <= limits when both set), storage (size > 0,
// storage class a DNS-1123 subdomain, mount path absolute and normalized, not "/"),
// ports (1..65535, app != terminal), ingress domain (DNS-1123 subdomain; derived hosts
// at most 253), labels (Kubernetes key/value syntax, reserved keys refused).
absl::Status ValidateSpec(const SandboxSpec& spec);

// Validates an env update: every key of `set` and `remove` is a valid env name, values
// are bounded, no key is in both, and the sizes are bounded.
absl::Status ValidateEnvUpdate(const EnvUpdate& update);

// Returns `spec` with every empty field that has a default filled from `defaults`:
// image, resources (each of requests/limits cpu/memory separately), storage size,
// class and mount path, ports (0 means unset), ingress domain. Name, namespace, project,
// env and labels have no defaults.
SandboxSpec ApplyDefaults(SandboxSpec spec, const SandboxDefaults& defaults);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_VALIDATION_H_
