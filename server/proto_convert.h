// Conversions between the sandbox.v1 protos and the domain values, for the gRPC edge.
//
// Requests -> domain: these functions check only what the wire format adds and the
// domain cannot see (required identity fields, explicit zero ports, negative page
// sizes, presence of optional fields, a key both set and removed). Everything else
// (name syntax, quantities, env names, defaults) is the domain's validation, except for
// the list and watch filters, which are answered from the watch cache without passing
// through SandboxService: those are checked here (domain::ValidateListFilter). Errors are
// INVALID_ARGUMENT made with domain::InvalidField(); the field path is the proto field
// path relative to the request message, e.g. "spec.ports.app" or "page_size".
//
// Domain -> proto: total functions; empty domain values become unset proto fields
// where the proto distinguishes presence (Ports, create_time).
//
// Pure functions: thread-safe. SandboxRef and EnvUpdateCall are plain values:
// thread-compatible.
#ifndef SANDBOXD_SERVER_PROTO_CONVERT_H_
#define SANDBOXD_SERVER_PROTO_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "sandbox/v1/sandbox.pb.h"
#include "src/domain/migration.h"
#include "src/domain/sandbox.h"

namespace sandboxd::server {

// Identifies one sandbox.
struct SandboxRef {
  std::string ns;
  std::string name;
};

// The arguments of UpdateSandboxEnv.
struct EnvUpdateCall {
  SandboxRef ref;
  domain::EnvUpdate update;
};

// CreateSandboxRequest -> SandboxSpec (defaults not applied).
// INVALID_ARGUMENT: "spec" unset; "spec.name" or "spec.namespace" empty;
// "spec.ports.app" / "spec.ports.terminal" set to a value outside 1..65535.
absl::StatusOr<domain::SandboxSpec> SpecFromCreateRequest(
    const sandbox::v1::CreateSandboxRequest& request);

// The sandbox a request names. INVALID_ARGUMENT: "namespace" or "name" empty.
absl::StatusOr<SandboxRef> RefFromRequest(const sandbox::v1::GetSandboxRequest& request);
absl::StatusOr<SandboxRef> RefFromRequest(const sandbox::v1::StartSandboxRequest& request);
absl::StatusOr<SandboxRef> RefFromRequest(const sandbox::v1::StopSandboxRequest& request);
absl::StatusOr<SandboxRef> RefFromRequest(const sandbox::v1::WatchSandboxRequest& request);

// UpdateSandboxEnvRequest -> (ref, EnvUpdate). INVALID_ARGUMENT: "namespace" or "name"
// empty; "expected_version" present but empty; "remove_keys" naming a key also in "env".
absl::StatusOr<EnvUpdateCall> EnvUpdateFromRequest(
    const sandbox::v1::UpdateSandboxEnvRequest& request);

// ListSandboxesRequest -> ListQuery. INVALID_ARGUMENT: "namespace" empty; "page_size"
// negative; "project" or "label_selector" refused by domain::ValidateListFilter(limits).
absl::StatusOr<domain::ListQuery> ListQueryFromRequest(
    const sandbox::v1::ListSandboxesRequest& request, const domain::SandboxLimits& limits);

// The filters of a WatchSandboxesRequest. INVALID_ARGUMENT: "project" or
// "label_selector" refused by domain::ValidateListFilter(limits).
absl::Status ValidateWatchSandboxesRequest(const sandbox::v1::WatchSandboxesRequest& request,
                                           const domain::SandboxLimits& limits);

// DeleteSandboxRequest -> DeleteRequest. INVALID_ARGUMENT: "namespace" or "name" empty.
absl::StatusOr<domain::DeleteRequest> DeleteRequestFromRequest(
    const sandbox::v1::DeleteSandboxRequest& request);

// MigrateSandboxRequest -> (ref, dry_run). INVALID_ARGUMENT: "namespace" or "name" empty.
absl::StatusOr<SandboxRef> RefFromRequest(const sandbox::v1::MigrateSandboxRequest& request);
// MigrateSandboxesRequest -> MigrationBatch. INVALID_ARGUMENT: "namespace" empty,
// "concurrency" negative (the range is the service's).
absl::StatusOr<domain::MigrationBatch> MigrationBatchFromRequest(
    const sandbox::v1::MigrateSandboxesRequest& request);
// RollbackMigrationRequest -> RollbackRequest. INVALID_ARGUMENT: "namespace" or "name"
// empty.
absl::StatusOr<domain::RollbackRequest> RollbackFromRequest(
    const sandbox::v1::RollbackMigrationRequest& request);

// Domain -> proto.
sandbox::v1::SandboxPhase PhaseToProto(domain::Phase phase);
sandbox::v1::SandboxErrorReason ErrorReasonToProto(domain::ErrorReason reason);
sandbox::v1::SandboxSpec SpecToProto(const domain::SandboxSpec& spec);
// Ports of 0 (unset) stay unset; `created` of absl::InfinitePast() leaves create_time
// unset.
sandbox::v1::Sandbox SandboxToProto(const domain::Sandbox& sandbox);
sandbox::v1::ListSandboxesResponse ListResultToProto(const domain::ListResult& result);
// `report.error` becomes the MigrationError of the status MapStatus() makes of it (the
// same code, reason, message and metadata a unary call would return).
sandbox::v1::Migration MigrationToProto(const domain::MigrationReport& report);
sandbox::v1::MigrationSummary SummaryToProto(const domain::MigrationSummary& summary);

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_PROTO_CONVERT_H_
