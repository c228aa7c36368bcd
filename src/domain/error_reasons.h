// Every reason sandboxd puts in a google.rpc.ErrorInfo (domain "sandboxd.dev"), in one
// list. Callers branch on these strings: they never change meaning once released. The
// contract is the ErrorReason enum of proto/sandbox/v1/error_reason.proto, whose value
// names are these strings; kAllCallerReasons must list exactly those values (a unit test
// compares the two).
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
// This replica's watch cache has not caught up with a version the caller asked for
// (min_resource_version, a resume token) in time: retry, here or on another replica.
inline constexpr char kCacheBehind[] = "CACHE_BEHIND";
inline constexpr char kServerShuttingDown[] = "SERVER_SHUTTING_DOWN";
inline constexpr char kKubeForbidden[] = "KUBERNETES_FORBIDDEN";  // our RBAC lacks a right
inline constexpr char kKubeUnauthenticated[] = "KUBERNETES_UNAUTHENTICATED";  // our creds

// Migration of Deployment-era sandboxes (metadata: object, field; UNSUPPORTED_FIELD also
// why; MIGRATION_IN_PROGRESS: holder, leaseExpires).
inline constexpr char kNotDeploymentEra[] = "NOT_DEPLOYMENT_ERA";        // FAILED_PRECONDITION
inline constexpr char kUnsupportedField[] = "UNSUPPORTED_FIELD";          // FAILED_PRECONDITION
inline constexpr char kMigrationInProgress[] = "MIGRATION_IN_PROGRESS";  // ABORTED
inline constexpr char kNotMigrated[] = "NOT_MIGRATED";                    // FAILED_PRECONDITION

// The reason of an error that carries no more specific one, one per status code.
inline constexpr char kRequestCancelled[] = "REQUEST_CANCELLED";
inline constexpr char kUnknownError[] = "UNKNOWN_ERROR";
inline constexpr char kInvalidArgument[] = "INVALID_ARGUMENT";
inline constexpr char kDeadlineExceeded[] = "DEADLINE_EXCEEDED";
inline constexpr char kResourceNotFound[] = "RESOURCE_NOT_FOUND";
inline constexpr char kResourceAlreadyExists[] = "RESOURCE_ALREADY_EXISTS";
inline constexpr char kPermissionDenied[] = "PERMISSION_DENIED";
inline constexpr char kResourceExhausted[] = "RESOURCE_EXHAUSTED";
inline constexpr char kFailedPrecondition[] = "FAILED_PRECONDITION";
inline constexpr char kOutOfRange[] = "OUT_OF_RANGE";
inline constexpr char kNotImplemented[] = "NOT_IMPLEMENTED";
inline constexpr char kInternalError[] = "INTERNAL_ERROR";
inline constexpr char kServiceUnavailable[] = "SERVICE_UNAVAILABLE";
inline constexpr char kDataLoss[] = "DATA_LOSS";
inline constexpr char kUnauthenticated[] = "UNAUTHENTICATED";

// Every reason above that reaches callers (the ErrorReason enum, in its order).
inline constexpr const char* kAllCallerReasons[] = {
    kInvalidField,
    kMalformedRequest,
    kSandboxNotFound,
    kSandboxAlreadyExists,
    kSandboxDeleting,
    kVersionMismatch,
    kConcurrentModification,
    kForeignClaim,
    kIngressHostTaken,
    kQuotaExceeded,
    kAdmissionDenied,
    kMissingCredentials,
    kInvalidCredentials,
    kAccessDenied,
    kNamespaceNotServed,
    kCallerRateLimited,
    kTooManyWatchStreams,
    kCacheNotSynced,
    kServerShuttingDown,
    kKubeForbidden,
    kKubeUnauthenticated,
    kRequestCancelled,
    kUnknownError,
    kInvalidArgument,
    kDeadlineExceeded,
    kResourceNotFound,
    kResourceAlreadyExists,
    kPermissionDenied,
    kResourceExhausted,
    kFailedPrecondition,
    kOutOfRange,
    kNotImplemented,
    kInternalError,
    kServiceUnavailable,
    kDataLoss,
    kUnauthenticated,
    kNotDeploymentEra,
    kUnsupportedField,
    kMigrationInProgress,
    kNotMigrated,
    kCacheBehind,
};

// Start-up failures of the sandboxd binary (logged, never sent to callers).
inline constexpr char kListenFailed[] = "LISTEN_FAILED";
inline constexpr char kInvalidConfig[] = "INVALID_CONFIG";  // names the setting
inline constexpr char kConfigFileUnreadable[] = "CONFIG_FILE_UNREADABLE";

}  // namespace sandboxd::domain::reason

#endif  // SANDBOXD_DOMAIN_ERROR_REASONS_H_
