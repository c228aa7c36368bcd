// MigrationService: migrates Deployment-era sandboxes to sandboxes and rolls migrations
// back (domain/migration.h says what is carried over and how objects are adopted).
//
// A migration, step by step; each step is skipped when the cluster shows it done, and
// recorded on the record (ConfigMap <name>-migration) once done, so that a migration
// interrupted anywhere (error, deadline, sandboxd killed) is finished by the next call:
//   RECORDED                the originals (Deployment, Service, Ingresses) saved: POST
//                           of the record (the first call), or taking over its lease
//   DEPLOYMENT_SCALED_DOWN  PATCH Deployment replicas 0; wait until its pods are gone
//   STATEFULSET_CREATED     POST StatefulSet (the Deployment's pod template, the home
//                           volume, the Deployment's replicas); the record is owned by it
//   ADOPTED                 PATCH Service and Ingresses (owned by the StatefulSet, the
//                           Service selects only the sandbox's pod; a missing Service is
//                           created), POST the namespace's NetworkPolicy (409: there)
//   SANDBOX_READY           wait until the sandbox is RUNNING (STOPPED for 0 replicas)
//   DEPLOYMENT_DELETED      DELETE Deployment (UID precondition); lease released
// So the Deployment's pod is gone before the StatefulSet's may start, and the Deployment
// goes only once the sandbox runs. The originals are always read from the record once it
// exists (the live objects may already be adopted).
//
// One call at a time per sandbox: a process-local set of sandboxes in work, and on the
// cluster the record's lease (holder "<process>/<call>", expiring at the call's
// deadline; a lease of this process whose call has ended is taken over at once).
// Otherwise ABORTED MIGRATION_IN_PROGRESS.
//
// Asynchronous: every method returns at once; callbacks run on the KubeClient's I/O
// thread (or inline for invalid input). They must not block.
//
// Thread-safe.
#ifndef SANDBOXD_SERVICE_MIGRATION_SERVICE_H_
#define SANDBOXD_SERVICE_MIGRATION_SERVICE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/domain/migration.h"
#include "src/domain/sandbox.h"
#include "src/kube/kube_client.h"
#include "src/service/sandbox_service.h"

namespace sandboxd::service {

class MigrationService {
 public:
  static constexpr int32_t kDefaultConcurrency = 4;
  static constexpr int32_t kMaxConcurrency = 20;
  static constexpr absl::Duration kPollInterval = absl::Milliseconds(200);
  // The longest one sandbox of a batch may take (its lease is at most this long).
  static constexpr absl::Duration kBatchItemTimeout = absl::Minutes(2);

  // A report of a step completed (outcome kInProgress) or of a sandbox finished.
  using Progress = std::function<void(const domain::MigrationReport&)>;

  // `kube` and `sandboxes` must outlive the service.
  MigrationService(kube::KubeClient* kube, SandboxService* sandboxes,
                   domain::SandboxDefaults defaults, std::function<absl::Time()> clock = absl::Now);

  // Migrates `ns`/`name` (with `dry_run`: reads and plans only). `progress` (may be
  // null) sees each step completed. Outcomes: kMigrated, kAlreadyMigrated, kWouldMigrate.
  // Errors: INVALID_ARGUMENT (namespace, name), NOT_FOUND SANDBOX_NOT_FOUND,
  // FAILED_PRECONDITION NOT_DEPLOYMENT_ERA / UNSUPPORTED_FIELD, ALREADY_EXISTS
  // SANDBOX_ALREADY_EXISTS (a StatefulSet of that name that sandboxd does not manage),
  // ABORTED MIGRATION_IN_PROGRESS, and Kubernetes errors (the next call continues).
  void Migrate(const std::string& ns, const std::string& name, bool dry_run,
               const kube::CallOptions& opts, Progress progress,
               Done<domain::MigrationReport> done);

  // Migrates every Deployment of `request.ns` matching the selector, and every unfinished
  // migration there whose record matches it, `concurrency` at a time, each within
  // min(kBatchItemTimeout, the call's deadline). `report` sees every step of every
  // sandbox and then its final report (errors as kSkipped / kFailed with `error`).
  // `done` gets the totals, or INVALID_ARGUMENT (namespace, label_selector, concurrency)
  // or the error of the listing.
  void MigrateAll(domain::MigrationBatch request, const kube::CallOptions& opts, Progress report,
                  std::function<void(absl::StatusOr<domain::MigrationSummary>)> done);

  // Rolls a migration back: StatefulSet scaled to 0 (its pod gone), Service and Ingresses
  // released and restored as saved, the Deployment recreated from the saved copy (with
  // the StatefulSet's replicas), the StatefulSet deleted (SandboxService::Delete, keeping
  // the claim unless delete_storage), the record deleted. Outcomes: kRolledBack,
  // kWouldRollBack. Errors: INVALID_ARGUMENT (mount_home with delete_storage),
  // FAILED_PRECONDITION NOT_MIGRATED (no record), ABORTED MIGRATION_IN_PROGRESS.
  void Rollback(domain::RollbackRequest request, const kube::CallOptions& opts,
                Done<domain::MigrationReport> done);

 private:
  friend class SandboxJob;  // the calls of Migrate and Rollback (the .cc)

  // Marks `ns/name` as in work in this process; false if it already is.
  bool Enter(const std::string& key);
  void Leave(const std::string& key);
  // A new lease holder id of this process: "<process>/<n>".
  std::string NewHolder();
  // True if `holder` is a call of this process.
  bool IsOurs(const std::string& holder) const;

  kube::KubeClient* const kube_;      // not owned
  SandboxService* const sandboxes_;  // not owned
  const domain::SandboxDefaults defaults_;
  const std::function<absl::Time()> clock_;
  const std::string process_id_;
  std::atomic<uint64_t> calls_{0};
  mutable absl::Mutex mu_;
  std::set<std::string> in_work_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_MIGRATION_SERVICE_H_
