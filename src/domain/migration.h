// Migration of a Deployment-era sandbox: the platform's shape before sandboxd (Deployment
// <name>, Service <name>-service, Ingresses <name>-app-ingress / <name>-ttyd-ingress,
// labelled cloud.sealos.io/app-deploy-manager=<name>) becoming a sandbox. This file says
// what makes one, what sandboxd cannot carry over, the typed parts of the objects it
// becomes, how Service and Ingresses are adopted and released, and the migration record.
// The pod template itself is carried as JSON (kube/raw_objects.h). The steps and their
// order are src/service/migration_service.h's.
//
// The record: ConfigMap <name>-migration (managed-by sandboxd, label
// sandboxd.dev/migration=<name>, plus the Deployment's labels so that selectors find it),
// with the original objects as JSON (RecordKey*), the last step completed and the lease
// of the call working on it (holder and expiry). Owned by the StatefulSet once that
// exists, so it goes when the sandbox is deleted.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_DOMAIN_MIGRATION_H_
#define SANDBOXD_DOMAIN_MIGRATION_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/domain/sandbox.h"
#include "src/kube/objects.h"
#include "src/kube/patches.h"

namespace sandboxd::domain {

// The platform's project label on Deployment-era objects, kept as is; its value becomes
// the sandbox's project (kLabelProject).
inline constexpr char kLabelPlatformProject[] = "project.fullstackagent.io/name";
// On the migration record: <name>.
inline constexpr char kLabelMigration[] = "sandboxd.dev/migration";
inline constexpr char kAnnotationMigrationStep[] = "sandboxd.dev/migration-step";
inline constexpr char kAnnotationMigrationHolder[] = "sandboxd.dev/migration-holder";
inline constexpr char kAnnotationMigrationLeaseExpires[] = "sandboxd.dev/migration-lease-expires";
// On the record while a rollback runs: the replicas the Deployment gets back (the
// StatefulSet's before the rollback scaled it to 0), so that a resumed rollback
// restores them too. A migration that takes the record over removes it.
inline constexpr char kAnnotationRollbackReplicas[] = "sandboxd.dev/rollback-replicas";
// On a migrated StatefulSet: "Deployment/<uid>" of the Deployment it replaced.
inline constexpr char kAnnotationMigratedFrom[] = "sandboxd.dev/migrated-from";
// Data keys of the record.
inline constexpr char kRecordKeyDeployment[] = "deployment.json";
inline constexpr char kRecordKeyService[] = "service.json";
inline constexpr char kRecordKeyAppIngress[] = "app-ingress.json";
inline constexpr char kRecordKeyTtydIngress[] = "ttyd-ingress.json";

std::string MigrationRecordName(std::string_view name);  // <name>-migration

// The steps of a migration, in order (proto MigrationStep).
enum class MigrationStep {
  kNone,
  kPlanned,
  kRecorded,
  kDeploymentScaledDown,
  kStatefulSetCreated,
  kAdopted,
  kSandboxReady,
  kDeploymentDeleted,
};
// "RECORDED", ... as stored in kAnnotationMigrationStep; ParseMigrationStep inverts it
// (kNone for anything else).
std::string MigrationStepName(MigrationStep step);
MigrationStep ParseMigrationStep(std::string_view name);

enum class MigrationOutcome {
  kInProgress,  // a progress report
  kMigrated,
  kAlreadyMigrated,
  kWouldMigrate,
  kSkipped,
  kFailed,
  kRolledBack,
  kWouldRollBack,
};

// A write a migration or rollback makes (or would make).
struct PlannedChange {
  enum class Action { kCreate, kPatch, kDelete };
  Action action = Action::kCreate;
  std::string kind;  // "StatefulSet", "Service", ...
  std::string name;
  std::string body;  // the object (create) or the patch; empty for delete
};

// What a migration (or rollback) of one sandbox did.
struct MigrationReport {
  std::string ns;
  std::string name;
  MigrationStep step = MigrationStep::kNone;
  MigrationOutcome outcome = MigrationOutcome::kInProgress;
  std::vector<PlannedChange> changes;
  absl::Status error;              // kSkipped / kFailed: why
  std::optional<Sandbox> sandbox;  // kMigrated / kAlreadyMigrated
};

// MigrateSandboxes: the Deployments of `ns` matching `label_selector` ("" = all).
struct MigrationBatch {
  std::string ns;
  std::string label_selector;
  bool dry_run = false;
  int32_t concurrency = 0;  // 0: the server's default
};

// RollbackMigration.
struct RollbackRequest {
  std::string ns;
  std::string name;
  bool dry_run = false;
  bool mount_home = false;      // the home claim mounted in the recreated Deployment
  bool delete_storage = false;  // the home claim deleted with the StatefulSet
};

// The totals of a batch, by outcome.
struct MigrationSummary {
  int32_t total = 0;
  int32_t migrated = 0;
  int32_t already_migrated = 0;
  int32_t would_migrate = 0;
  int32_t skipped = 0;
  int32_t failed = 0;
  // Counts `outcome` (a final one) in total and its own counter.
  void Add(MigrationOutcome outcome);
};

// The outcome a per-sandbox error of a batch gets: kSkipped for the reasons that leave a
// sandbox untouched and are not worth retrying as is (NOT_DEPLOYMENT_ERA,
// UNSUPPORTED_FIELD, MIGRATION_IN_PROGRESS, SANDBOX_ALREADY_EXISTS), kFailed otherwise.
MigrationOutcome OutcomeOfError(const absl::Status& error);

// The objects of a Deployment-era sandbox, as found (or as saved in the record).
struct DeploymentEraObjects {
  kube::Deployment deployment;
  std::optional<kube::Service> service;
  std::optional<kube::Ingress> app_ingress;
  std::optional<kube::Ingress> ttyd_ingress;
};

// OK if `objects` can become a sandbox. Otherwise FAILED_PRECONDITION with metadata
// "object" (e.g. "Deployment/foo") and "field" (path in that object):
//  NOT_DEPLOYMENT_ERA  no label cloud.sealos.io/app-deploy-manager=<name>, or no container
//                      named <name>;
//  UNSUPPORTED_FIELD   (also "why") a name too long for the home claim, a Deployment being
//                      deleted or owned by another object, more than one replica, a pod
//                      template without label app=<name>, a volume or mount in the way of
//                      the home volume, env beyond the limits, a Service or Ingress of the
//                      sandbox's names that is not the sandbox's.
absl::Status CheckMigratable(const DeploymentEraObjects& objects, const std::string& claim_template,
                             const SandboxDefaults& defaults);

// The spec of the sandbox `objects` become (after ApplyDefaults): name, namespace,
// project, image, env (valueFrom entries are carried in the pod template but not here),
// resources, storage, ports (the Ingresses' backend ports, else the defaults) and
// ingress domain (the app host without its first label).
SandboxSpec MigratedSpec(const DeploymentEraObjects& objects, const SandboxDefaults& defaults);

// The StatefulSet, as the JSON to create: BuildStatefulSet(MigratedSpec) with the
// Deployment's replicas, its labels and annotations added (controller-owned annotations
// left out) and kAnnotationMigratedFrom / kAnnotationAppUrl / kAnnotationTerminalUrl;
// its pod template is the Deployment's (`deployment_json`, every field kept) with the
// labels kLabelSandbox and managed-by, and the home volume mounted in the main
// container (kube::MigratedPodTemplate). INTERNAL if `deployment_json` is not one.
absl::StatusOr<std::string> MigratedStatefulSetJson(const DeploymentEraObjects& objects,
                                                    const std::string& deployment_json,
                                                    const std::string& claim_template,
                                                    const SandboxDefaults& defaults);

// The Deployment a rollback creates, as JSON: the saved copy (`saved_json`) with
// `replicas` and, when `home_claim_template` is set, the claim of that template mounted
// at the home mount path in the main container (kube::RestoredDeployment).
absl::StatusOr<std::string> RestoredDeploymentJson(
    const std::string& saved_json, const std::string& name, int32_t replicas,
    const std::optional<std::string>& home_claim_template, const SandboxDefaults& defaults);

// The patch that adopts `current` (the Service or an Ingress of the sandbox): the
// managed-by label, `owner` as its controller (other owner references kept) and, for
// the Service (`narrow_selector`), kLabelSandbox added to its selector. Carries its
// resourceVersion.
kube::MetadataPatch AdoptPatch(const kube::ObjectMeta& current, const kube::OwnerReference& owner,
                               bool narrow_selector);
// The patch that undoes AdoptPatch on `current` given the object as it was (`saved`):
// labels `saved` lacked removed, its owner references and (Service) selector restored.
kube::MetadataPatch ReleasePatch(const kube::ObjectMeta& saved, const kube::StringMap& saved_selector,
                                 const kube::ObjectMeta& current,
                                 const kube::StringMap& current_selector);
// True if `meta` is owned by the StatefulSet with `uid`.
bool OwnedBy(const kube::ObjectMeta& meta, std::string_view uid);

// Who works on a migration until when. The holder names the sandboxd process and call
// ("<process>/<call>"); the expiry is the call's deadline, so a crashed holder blocks no
// one past it.
struct MigrationLease {
  std::string holder;
  absl::Time expires = absl::InfinitePast();
};
// The record of a migration starting now. `originals`: RecordKey* -> saved JSON.
kube::ConfigMap BuildMigrationRecord(const kube::Deployment& deployment,
                                     const kube::StringMap& originals, const MigrationLease& lease);
MigrationStep RecordedStep(const kube::ConfigMap& record);
MigrationLease LeaseOf(const kube::ConfigMap& record);
// The patch that records `step` (unless kNone) and `lease` (none if its holder is
// empty) on the record whose resourceVersion is `resource_version`, and replaces its
// owner references with `owners` when set.
kube::MetadataPatch RecordPatch(const std::string& resource_version, MigrationStep step,
                                const MigrationLease& lease,
                                std::optional<std::vector<kube::OwnerReference>> owners);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_MIGRATION_H_
