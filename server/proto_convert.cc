#include "server/proto_convert.h"

#include <cstdint>
#include <string_view>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "server/status_mapping.h"
#include "src/domain/errors.h"
#include "src/domain/validation.h"

namespace sandboxd::server {
namespace {

namespace v1 = ::sandbox::v1;

constexpr int32_t kMinPort = 1;
constexpr int32_t kMaxPort = 65535;

absl::Status RequireNonEmpty(std::string_view field, const std::string& value) {
  if (value.empty()) return domain::InvalidField(field, "is required");
  return absl::OkStatus();
}

template <typename Request>
absl::StatusOr<SandboxRef> RefFrom(const Request& request) {
  SANDBOXD_RETURN_IF_ERROR(RequireNonEmpty("namespace", request.namespace_()));
  SANDBOXD_RETURN_IF_ERROR(RequireNonEmpty("name", request.name()));
  return SandboxRef{request.namespace_(), request.name()};
}

// A port that is set must be in range; unset is 0 (the domain's "use the default").
absl::StatusOr<int32_t> PortFrom(std::string_view field, bool has, int32_t value) {
  if (!has) return 0;
  if (value < kMinPort || value > kMaxPort) {
    return domain::InvalidField(
        field, absl::StrCat("must be between ", kMinPort, " and ", kMaxPort, ", got ", value));
  }
  return value;
}

domain::ResourceQuantities QuantitiesFrom(const v1::ResourceQuantities& q) {
  return domain::ResourceQuantities{q.cpu(), q.memory()};
}

void QuantitiesTo(const domain::ResourceQuantities& q, v1::ResourceQuantities* out) {
  out->set_cpu(q.cpu);
  out->set_memory(q.memory);
}

v1::MigrationStep StepToProto(domain::MigrationStep step) {
  switch (step) {
    case domain::MigrationStep::kNone: return v1::MIGRATION_STEP_UNSPECIFIED;
    case domain::MigrationStep::kPlanned: return v1::MIGRATION_STEP_PLANNED;
    case domain::MigrationStep::kRecorded: return v1::MIGRATION_STEP_RECORDED;
    case domain::MigrationStep::kDeploymentScaledDown:
      return v1::MIGRATION_STEP_DEPLOYMENT_SCALED_DOWN;
    case domain::MigrationStep::kStatefulSetCreated: return v1::MIGRATION_STEP_STATEFULSET_CREATED;
    case domain::MigrationStep::kAdopted: return v1::MIGRATION_STEP_ADOPTED;
    case domain::MigrationStep::kSandboxReady: return v1::MIGRATION_STEP_SANDBOX_READY;
    case domain::MigrationStep::kDeploymentDeleted: return v1::MIGRATION_STEP_DEPLOYMENT_DELETED;
  }
  return v1::MIGRATION_STEP_UNSPECIFIED;
}

v1::MigrationOutcome OutcomeToProto(domain::MigrationOutcome outcome) {
  switch (outcome) {
    case domain::MigrationOutcome::kInProgress: return v1::MIGRATION_OUTCOME_UNSPECIFIED;
    case domain::MigrationOutcome::kMigrated: return v1::MIGRATION_OUTCOME_MIGRATED;
    case domain::MigrationOutcome::kAlreadyMigrated: return v1::MIGRATION_OUTCOME_ALREADY_MIGRATED;
    case domain::MigrationOutcome::kWouldMigrate: return v1::MIGRATION_OUTCOME_WOULD_MIGRATE;
    case domain::MigrationOutcome::kSkipped: return v1::MIGRATION_OUTCOME_SKIPPED;
    case domain::MigrationOutcome::kFailed: return v1::MIGRATION_OUTCOME_FAILED;
    case domain::MigrationOutcome::kRolledBack: return v1::MIGRATION_OUTCOME_ROLLED_BACK;
    case domain::MigrationOutcome::kWouldRollBack: return v1::MIGRATION_OUTCOME_WOULD_ROLL_BACK;
  }
  return v1::MIGRATION_OUTCOME_UNSPECIFIED;
}

v1::PlannedChange::Action ActionToProto(domain::PlannedChange::Action action) {
  switch (action) {
    case domain::PlannedChange::Action::kCreate: return v1::PlannedChange::ACTION_CREATE;
    case domain::PlannedChange::Action::kPatch: return v1::PlannedChange::ACTION_PATCH;
    case domain::PlannedChange::Action::kDelete: return v1::PlannedChange::ACTION_DELETE;
  }
  return v1::PlannedChange::ACTION_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<domain::SandboxSpec> SpecFromCreateRequest(
    const v1::CreateSandboxRequest& request) {
  if (!request.has_spec()) return domain::InvalidField("spec", "is required");
  const v1::SandboxSpec& in = request.spec();
  SANDBOXD_RETURN_IF_ERROR(RequireNonEmpty("spec.name", in.name()));
  SANDBOXD_RETURN_IF_ERROR(RequireNonEmpty("spec.namespace", in.namespace_()));

  domain::SandboxSpec spec;
  SANDBOXD_ASSIGN_OR_RETURN(
      spec.ports.app, PortFrom("spec.ports.app", in.ports().has_app(), in.ports().app()));
  SANDBOXD_ASSIGN_OR_RETURN(
      spec.ports.terminal,
      PortFrom("spec.ports.terminal", in.ports().has_terminal(), in.ports().terminal()));
  spec.name = in.name();
  spec.ns = in.namespace_();
  spec.project = in.project();
  spec.image = in.image();
  spec.env.insert(in.env().begin(), in.env().end());
  spec.resources.requests = QuantitiesFrom(in.resources().requests());
  spec.resources.limits = QuantitiesFrom(in.resources().limits());
  spec.storage.size = in.storage().size();
  spec.storage.storage_class = in.storage().storage_class();
  spec.storage.mount_path = in.storage().mount_path();
  spec.ingress_domain = in.ingress_domain();
  spec.labels.insert(in.labels().begin(), in.labels().end());
  return spec;
}

absl::StatusOr<SandboxRef> RefFromRequest(const v1::GetSandboxRequest& request) {
  return RefFrom(request);
}
absl::StatusOr<SandboxRef> RefFromRequest(const v1::StartSandboxRequest& request) {
  return RefFrom(request);
}
absl::StatusOr<SandboxRef> RefFromRequest(const v1::StopSandboxRequest& request) {
  return RefFrom(request);
}
absl::StatusOr<SandboxRef> RefFromRequest(const v1::WatchSandboxRequest& request) {
  return RefFrom(request);
}

absl::StatusOr<SandboxRef> RefFromRequest(const v1::MigrateSandboxRequest& request) {
  return RefFrom(request);
}

absl::StatusOr<domain::MigrationBatch> MigrationBatchFromRequest(
    const v1::MigrateSandboxesRequest& request) {
  SANDBOXD_RETURN_IF_ERROR(RequireNonEmpty("namespace", request.namespace_()));
  if (request.concurrency() < 0) {
    return domain::InvalidField("concurrency", "must not be negative");
  }
  domain::MigrationBatch batch;
  batch.ns = request.namespace_();
  batch.label_selector = request.label_selector();
  batch.dry_run = request.dry_run();
  batch.concurrency = request.concurrency();
  return batch;
}

absl::StatusOr<domain::RollbackRequest> RollbackFromRequest(
    const v1::RollbackMigrationRequest& request) {
  SANDBOXD_ASSIGN_OR_RETURN(SandboxRef ref, RefFrom(request));
  domain::RollbackRequest rollback;
  rollback.ns = ref.ns;
  rollback.name = ref.name;
  rollback.dry_run = request.dry_run();
  rollback.mount_home = request.mount_home();
  rollback.delete_storage = request.delete_storage();
  return rollback;
}

absl::StatusOr<EnvUpdateCall> EnvUpdateFromRequest(const v1::UpdateSandboxEnvRequest& request) {
  EnvUpdateCall call;
  SANDBOXD_ASSIGN_OR_RETURN(call.ref, RefFrom(request));
  if (request.has_expected_version() && request.expected_version().empty()) {
    return domain::InvalidField("expected_version", "must not be empty when set");
  }
  for (const std::string& key : request.remove_keys()) {
    if (request.env().contains(key)) {
      // Escaped: the key is caller input and the message is logged.
      return domain::InvalidField(
          "remove_keys", absl::StrCat("\"", absl::Utf8SafeCHexEscape(key), "\" is also in env"));
    }
  }
  call.update.set.insert(request.env().begin(), request.env().end());
  call.update.remove.assign(request.remove_keys().begin(), request.remove_keys().end());
  call.update.expected_version = request.expected_version();
  return call;
}

absl::StatusOr<domain::ListQuery> ListQueryFromRequest(const v1::ListSandboxesRequest& request,
                                                       const domain::SandboxLimits& limits) {
  SANDBOXD_RETURN_IF_ERROR(RequireNonEmpty("namespace", request.namespace_()));
  if (request.page_size() < 0) {
    return domain::InvalidField(
        "page_size", absl::StrCat("must not be negative, got ", request.page_size()));
  }
  SANDBOXD_RETURN_IF_ERROR(
      domain::ValidateListFilter(request.project(), request.label_selector(), limits));
  domain::ListQuery query;
  query.ns = request.namespace_();
  query.project = request.project();
  query.label_selector = request.label_selector();
  query.page_size = request.page_size();
  query.page_token = request.page_token();
  return query;
}

absl::Status ValidateWatchSandboxesRequest(const v1::WatchSandboxesRequest& request,
                                           const domain::SandboxLimits& limits) {
  return domain::ValidateListFilter(request.project(), request.label_selector(), limits);
}

absl::StatusOr<domain::DeleteRequest> DeleteRequestFromRequest(
    const v1::DeleteSandboxRequest& request) {
  SANDBOXD_ASSIGN_OR_RETURN(SandboxRef ref, RefFrom(request));
  domain::DeleteRequest out;
  out.ns = std::move(ref.ns);
  out.name = std::move(ref.name);
  out.keep_storage = request.keep_storage();
  out.allow_missing = request.allow_missing();
  return out;
}

v1::SandboxPhase PhaseToProto(domain::Phase phase) {
  switch (phase) {
    case domain::Phase::kUnspecified:
      return v1::SANDBOX_PHASE_UNSPECIFIED;
    case domain::Phase::kStarting:
      return v1::SANDBOX_PHASE_STARTING;
    case domain::Phase::kRunning:
      return v1::SANDBOX_PHASE_RUNNING;
    case domain::Phase::kStopping:
      return v1::SANDBOX_PHASE_STOPPING;
    case domain::Phase::kStopped:
      return v1::SANDBOX_PHASE_STOPPED;
    case domain::Phase::kDeleting:
      return v1::SANDBOX_PHASE_DELETING;
    case domain::Phase::kError:
      return v1::SANDBOX_PHASE_ERROR;
  }
  return v1::SANDBOX_PHASE_UNSPECIFIED;
}

v1::SandboxErrorReason ErrorReasonToProto(domain::ErrorReason reason) {
  switch (reason) {
    case domain::ErrorReason::kNone:
      return v1::SANDBOX_ERROR_REASON_UNSPECIFIED;
    case domain::ErrorReason::kImagePullFailure:
      return v1::SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE;
    case domain::ErrorReason::kCrashLoop:
      return v1::SANDBOX_ERROR_REASON_CRASH_LOOP;
    case domain::ErrorReason::kUnschedulable:
      return v1::SANDBOX_ERROR_REASON_UNSCHEDULABLE;
    case domain::ErrorReason::kClaimNotBound:
      return v1::SANDBOX_ERROR_REASON_CLAIM_NOT_BOUND;
    case domain::ErrorReason::kContainerConfig:
      return v1::SANDBOX_ERROR_REASON_CONTAINER_CONFIG;
  }
  return v1::SANDBOX_ERROR_REASON_UNSPECIFIED;
}

v1::SandboxSpec SpecToProto(const domain::SandboxSpec& spec) {
  v1::SandboxSpec out;
  out.set_name(spec.name);
  out.set_namespace_(spec.ns);
  out.set_project(spec.project);
  out.set_image(spec.image);
  out.mutable_env()->insert(spec.env.begin(), spec.env.end());
  QuantitiesTo(spec.resources.requests, out.mutable_resources()->mutable_requests());
  QuantitiesTo(spec.resources.limits, out.mutable_resources()->mutable_limits());
  out.mutable_storage()->set_size(spec.storage.size);
  out.mutable_storage()->set_storage_class(spec.storage.storage_class);
  out.mutable_storage()->set_mount_path(spec.storage.mount_path);
  v1::Ports* ports = out.mutable_ports();
  if (spec.ports.app != 0) ports->set_app(spec.ports.app);
  if (spec.ports.terminal != 0) ports->set_terminal(spec.ports.terminal);
  out.set_ingress_domain(spec.ingress_domain);
  out.mutable_labels()->insert(spec.labels.begin(), spec.labels.end());
  return out;
}

v1::Sandbox SandboxToProto(const domain::Sandbox& sandbox) {
  v1::Sandbox out;
  *out.mutable_spec() = SpecToProto(sandbox.spec);
  out.set_phase(PhaseToProto(sandbox.phase));
  out.set_error_reason(ErrorReasonToProto(sandbox.error_reason));
  out.set_message(sandbox.message);
  out.set_desired_replicas(sandbox.desired_replicas);
  out.set_ready_replicas(sandbox.ready_replicas);
  v1::Endpoints* endpoints = out.mutable_endpoints();
  endpoints->set_pod_dns(sandbox.endpoints.pod_dns);
  endpoints->set_app_url(sandbox.endpoints.app_url);
  endpoints->set_terminal_url(sandbox.endpoints.terminal_url);
  v1::StorageStatus* storage = out.mutable_storage();
  storage->set_claim_name(sandbox.storage.claim_name);
  storage->set_phase(sandbox.storage.phase);
  storage->set_capacity(sandbox.storage.capacity);
  storage->set_uid(sandbox.storage.uid);
  if (sandbox.created != absl::InfinitePast() && sandbox.created != absl::InfiniteFuture()) {
    const int64_t seconds = absl::ToUnixSeconds(sandbox.created);  // rounds down
    const int64_t nanos =
        absl::ToInt64Nanoseconds(sandbox.created - absl::FromUnixSeconds(seconds));
    out.mutable_create_time()->set_seconds(seconds);
    out.mutable_create_time()->set_nanos(static_cast<int32_t>(nanos));
  }
  out.set_version(sandbox.version);
  out.set_uid(sandbox.uid);
  out.set_resource_version(sandbox.resource_version);
  return out;
}

v1::ListSandboxesResponse ListResultToProto(const domain::ListResult& result) {
  v1::ListSandboxesResponse out;
  out.mutable_sandboxes()->Reserve(static_cast<int>(result.sandboxes.size()));
  for (const domain::Sandbox& sandbox : result.sandboxes) {
    *out.add_sandboxes() = SandboxToProto(sandbox);
  }
  out.set_next_page_token(result.next_page_token);
  return out;
}

v1::Migration MigrationToProto(const domain::MigrationReport& report) {
  v1::Migration out;
  out.set_namespace_(report.ns);
  out.set_name(report.name);
  out.set_step(StepToProto(report.step));
  out.set_outcome(OutcomeToProto(report.outcome));
  for (const domain::PlannedChange& change : report.changes) {
    v1::PlannedChange* c = out.add_changes();
    c->set_action(ActionToProto(change.action));
    c->set_kind(change.kind);
    c->set_name(change.name);
    c->set_body(change.body);
  }
  if (!report.error.ok()) {
    const google::rpc::Status mapped = MapStatus(report.error).rpc_status;
    v1::MigrationError* error = out.mutable_error();
    error->set_code(mapped.code());
    error->set_message(mapped.message());
    for (const google::protobuf::Any& detail : mapped.details()) {
      google::rpc::ErrorInfo info;
      if (!detail.UnpackTo(&info)) continue;
      error->set_reason(info.reason());
      error->mutable_metadata()->insert(info.metadata().begin(), info.metadata().end());
    }
  }
  if (report.sandbox.has_value()) *out.mutable_sandbox() = SandboxToProto(*report.sandbox);
  return out;
}

v1::MigrationSummary SummaryToProto(const domain::MigrationSummary& summary) {
  v1::MigrationSummary out;
  out.set_total(summary.total);
  out.set_migrated(summary.migrated);
  out.set_already_migrated(summary.already_migrated);
  out.set_would_migrate(summary.would_migrate);
  out.set_skipped(summary.skipped);
  out.set_failed(summary.failed);
  return out;
}

}  // namespace sandboxd::server
