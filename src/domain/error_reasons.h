// Every reason sandboxd puts in a google.rpc.ErrorInfo (domain "sandboxd.dev"), in one
// list. Callers branch on these strings: they never change meaning once released.
//
// Constants only. Thread-safe.
#ifndef SANDBOXD_DOMAIN_ERROR_REASONS_H_
#define SANDBOXD_DOMAIN_ERROR_REASONS_H_

namespace sandboxd::domain::reason {

// Caller input.
inline constexpr char kInvalidField[] = "INVALID_FIELD";          // metadata: field, why
inline constexpr char kMalformedRequest[] = "MALFORMED_REQUEST";  // bytes that do not parse

// Sandboxes.
inline constexpr char kSandboxNotFound[] = "SANDBOX_NOT_FOUND";
inline constexpr char kSandboxAlreadyExists[] = "SANDBOX_ALREADY_EXISTS";
inline constexpr char kSandboxDeleting[] = "SANDBOX_DELETING";
inline constexpr char kVersionMismatch[] = "VERSION_MISMATCH";
inline constexpr char kConcurrentModification[] = "CONCURRENT_MODIFICATION";
// A claim of the sandbox's claim name exists that sandboxd did not create or keep for it.
inline constexpr char kForeignClaim[] = "FOREIGN_CLAIM";
// A host of the sandbox's Ingresses is claimed by another Ingress (metadata: host).
inline constexpr char kIngressHostTaken[] = "INGRESS_HOST_TAKEN";

// Kubernetes refused the caller's request at admission; the message is Kubernetes' own
// and names the quota or the policy.
inline constexpr char kQuotaExceeded[] = "QUOTA_EXCEEDED";    // RESOURCE_EXHAUSTED
inline constexpr char kAdmissionDenied[] = "ADMISSION_DENIED";  // FAILED_PRECONDITION

// Callers (the tenant boundary).
inline constexpr char kMissingCredentials[] = "MISSING_CREDENTIALS";
inline constexpr char kInvalidCredentials[] = "INVALID_CREDENTIALS";
inline constexpr char kAccessDenied[] = "ACCESS_DENIED";
inline constexpr char kNamespaceNotServed[] = "NAMESPACE_NOT_SERVED";
inline constexpr char kCallerRateLimited[] = "CALLER_RATE_LIMITED";        // retryDelayMs
inline constexpr char kTooManyWatchStreams[] = "TOO_MANY_WATCH_STREAMS";  // retryDelayMs

// sandboxd itself.
inline constexpr char kCacheNotSynced[] = "CACHE_NOT_SYNCED";  // starting: retry shortly
inline constexpr char kServerShuttingDown[] = "SERVER_SHUTTING_DOWN";
inline constexpr char kListenFailed[] = "LISTEN_FAILED";
inline constexpr char kInvalidConfig[] = "INVALID_CONFIG";  // at start-up: names the setting
inline constexpr char kConfigFileUnreadable[] = "CONFIG_FILE_UNREADABLE";

}  // namespace sandboxd::domain::reason

#endif  // SANDBOXD_DOMAIN_ERROR_REASONS_H_
