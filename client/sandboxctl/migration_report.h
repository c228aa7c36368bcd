// How sandboxctl reports `migrate` and `rollback`: a progress line per sandbox and step
// as messages arrive, then, once every sandbox has finished, the summary.
//
//   table/wide  progress lines on stdout; with --dry-run the planned changes (SANDBOX,
//               ACTION, KIND, OBJECT); the summary table (NAME, OUTCOME, STEP, REASON:
//               "REASON/FIELD" of a skipped or failed sandbox, else its message); a
//               counts line ("total 4: 3 migrated, 0 already migrated, ...").
//   json/yaml   progress lines on stderr; one document {"migrations": [Migration...],
//               "summary": MigrationSummary} (rollback: {"rollbacks": [Migration...]}),
//               the final message of each sandbox, changes with their bodies included.
//   name        progress lines on stderr; the names of the sandboxes that were (or
//               would be) migrated or rolled back.
//
// Not thread-safe (writes to streams).
#ifndef SANDBOXD_CLIENT_SANDBOXCTL_MIGRATION_REPORT_H_
#define SANDBOXD_CLIENT_SANDBOXCTL_MIGRATION_REPORT_H_

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sandbox/v1/sandbox.pb.h"
#include "sandboxctl/output.h"

namespace sandboxctl {

enum class MigrationCommand { kMigrate, kRollback };

class MigrationReport {
 public:
  // Progress lines go to `err` for json, yaml and name, else to `out`.
  MigrationReport(MigrationCommand command, Format format, bool dry_run, std::ostream& out,
                  std::ostream& err);

  // A message about one sandbox: prints its progress line ("sandbox/NAME: STEP", or
  // "sandbox/NAME: OUTCOME [(REASON/FIELD)]" once it has an outcome) and keeps the
  // last message with an outcome of each sandbox for the summary.
  void Add(const sandbox::v1::Migration& migration);

  // The final message that stands for a failed MigrateSandbox / RollbackMigration call
  // of ns/name: outcome SKIPPED when the sandbox was left as it was (NOT_DEPLOYMENT_ERA,
  // UNSUPPORTED_FIELD, MIGRATION_IN_PROGRESS, SANDBOX_ALREADY_EXISTS, NOT_MIGRATED: as
  // MigrateSandboxes reports them), else FAILED; `error`
  // carries the status's code, reason, message and metadata.
  static sandbox::v1::Migration FromError(const std::string& ns, const std::string& name,
                                          const absl::Status& status);

  // Prints the summary (see the file comment). `summary`: the server's (MigrateSandboxes);
  // unset, the counts are made from the messages added.
  void PrintSummary(const std::optional<sandbox::v1::MigrationSummary>& summary = std::nullopt);

  // Whether any sandbox ended SKIPPED or FAILED.
  bool AnyLeftUndone() const;

  // Whether no sandbox has finished yet.
  bool empty() const { return order_.empty(); }

 private:
  sandbox::v1::MigrationSummary Count() const;

  const MigrationCommand command_;
  const Format format_;
  const bool dry_run_;
  std::ostream& out_;
  std::ostream& progress_;
  std::vector<std::string> order_;                         // names, first seen first
  std::map<std::string, sandbox::v1::Migration> final_;  // by name
};

// "MIGRATED" for MIGRATION_OUTCOME_MIGRATED, "-" for UNSPECIFIED.
std::string ShortOutcome(sandbox::v1::MigrationOutcome outcome);
// "RECORDED" for MIGRATION_STEP_RECORDED, "-" for UNSPECIFIED.
std::string ShortStep(sandbox::v1::MigrationStep step);

}  // namespace sandboxctl

#endif  // SANDBOXD_CLIENT_SANDBOXCTL_MIGRATION_REPORT_H_
