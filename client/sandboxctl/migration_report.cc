#include "sandboxctl/migration_report.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "sandboxd/errors.h"

namespace sandboxctl {
namespace {

namespace pb = ::sandbox::v1;

std::string WithoutPrefix(std::string name, absl::string_view prefix) {
  if (absl::StartsWith(name, prefix)) name.erase(0, prefix.size());
  return name;
}

// "REASON/FIELD" (or "REASON") of a skipped or failed sandbox; its message when the
// error has no reason; "" without an error.
std::string ReasonOf(const pb::Migration& m) {
  if (!m.has_error()) return "";
  const pb::MigrationError& e = m.error();
  if (e.reason().empty()) return e.message();
  auto field = e.metadata().find("field");
  return field == e.metadata().end() ? e.reason() : absl::StrCat(e.reason(), "/", field->second);
}

bool LeftUndone(pb::MigrationOutcome outcome) {
  return outcome == pb::MIGRATION_OUTCOME_SKIPPED || outcome == pb::MIGRATION_OUTCOME_FAILED;
}

// Reasons with which a call leaves the sandbox as it was: the sandbox is skipped.
bool IsSkipReason(const std::string& reason) {
  return reason == "NOT_DEPLOYMENT_ERA" || reason == "UNSUPPORTED_FIELD" ||
         reason == "MIGRATION_IN_PROGRESS" || reason == "SANDBOX_ALREADY_EXISTS" ||
         reason == "NOT_MIGRATED";
}

}  // namespace

std::string ShortOutcome(pb::MigrationOutcome outcome) {
  if (outcome == pb::MIGRATION_OUTCOME_UNSPECIFIED) return "-";
  return WithoutPrefix(pb::MigrationOutcome_Name(outcome), "MIGRATION_OUTCOME_");
}

std::string ShortStep(pb::MigrationStep step) {
  if (step == pb::MIGRATION_STEP_UNSPECIFIED) return "-";
  return WithoutPrefix(pb::MigrationStep_Name(step), "MIGRATION_STEP_");
}

MigrationReport::MigrationReport(MigrationCommand command, Format format, bool dry_run,
                                 std::ostream& out, std::ostream& err)
    : command_(command),
      format_(format),
      dry_run_(dry_run),
      out_(out),
      progress_(format == Format::kTable || format == Format::kWide ? out : err) {}

void MigrationReport::Add(const pb::Migration& m) {
  std::string line = absl::StrCat("sandbox/", m.name(), ": ");
  if (m.outcome() == pb::MIGRATION_OUTCOME_UNSPECIFIED) {
    absl::StrAppend(&line, ShortStep(m.step()));
  } else {
    absl::StrAppend(&line, ShortOutcome(m.outcome()));
    const std::string reason = ReasonOf(m);
    if (!reason.empty()) absl::StrAppend(&line, " (", reason, ")");
    if (final_.count(m.name()) == 0) order_.push_back(m.name());
    final_[m.name()] = m;
  }
  progress_ << line << std::endl;
}

pb::Migration MigrationReport::FromError(const std::string& ns, const std::string& name,
                                         const absl::Status& status) {
  const sandboxd::ErrorDetails details = sandboxd::ErrorDetailsOf(status);
  pb::Migration m;
  m.set_namespace_(ns);
  m.set_name(name);
  m.set_outcome(IsSkipReason(details.reason) ? pb::MIGRATION_OUTCOME_SKIPPED
                                             : pb::MIGRATION_OUTCOME_FAILED);
  pb::MigrationError* error = m.mutable_error();
  error->set_code(static_cast<int>(details.code));
  error->set_reason(details.reason);
  error->set_message(details.message);
  for (const auto& [key, value] : details.metadata) (*error->mutable_metadata())[key] = value;
  // A BadRequest without ErrorInfo metadata still names its field.
  if (details.metadata.count("field") == 0 && !details.Field().empty()) {
    (*error->mutable_metadata())["field"] = details.Field();
  }
  return m;
}

pb::MigrationSummary MigrationReport::Count() const {
  pb::MigrationSummary summary;
  summary.set_total(static_cast<int>(order_.size()));
  for (const auto& [name, m] : final_) {
    switch (m.outcome()) {
      case pb::MIGRATION_OUTCOME_MIGRATED: summary.set_migrated(summary.migrated() + 1); break;
      case pb::MIGRATION_OUTCOME_ALREADY_MIGRATED:
        summary.set_already_migrated(summary.already_migrated() + 1);
        break;
      case pb::MIGRATION_OUTCOME_WOULD_MIGRATE:
        summary.set_would_migrate(summary.would_migrate() + 1);
        break;
      case pb::MIGRATION_OUTCOME_SKIPPED: summary.set_skipped(summary.skipped() + 1); break;
      case pb::MIGRATION_OUTCOME_FAILED: summary.set_failed(summary.failed() + 1); break;
      default: break;
    }
  }
  return summary;
}

bool MigrationReport::AnyLeftUndone() const {
  for (const auto& [name, m] : final_) {
    if (LeftUndone(m.outcome())) return true;
  }
  return false;
}

void MigrationReport::PrintSummary(const std::optional<pb::MigrationSummary>& server_summary) {
  const pb::MigrationSummary summary = server_summary.value_or(Count());
  const bool rollback = command_ == MigrationCommand::kRollback;
  switch (format_) {
    case Format::kJson:
    case Format::kYaml: {
      rapidjson::Document document(rapidjson::kObjectType);
      auto& alloc = document.GetAllocator();
      rapidjson::Value items(rapidjson::kArrayType);
      for (const std::string& name : order_) {
        rapidjson::Document item(&alloc);
        item.Parse(ToJson(final_.at(name), /*one_line=*/true).c_str());
        rapidjson::Value copy(item, alloc);
        items.PushBack(copy, alloc);
      }
      document.AddMember(rapidjson::StringRef(rollback ? "rollbacks" : "migrations"), items, alloc);
      if (!rollback) {
        rapidjson::Document counts(&alloc);
        counts.Parse(ToJson(summary, /*one_line=*/true).c_str());
        rapidjson::Value copy(counts, alloc);
        document.AddMember(rapidjson::StringRef("summary"), copy, alloc);
      }
      rapidjson::StringBuffer buffer;
      rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
      writer.SetIndent(' ', 2);
      document.Accept(writer);
      if (format_ == Format::kJson) {
        out_ << buffer.GetString() << "\n";
      } else {
        out_ << JsonToYaml(buffer.GetString());
      }
      break;
    }
    case Format::kName:
      for (const std::string& name : order_) {
        if (!LeftUndone(final_.at(name).outcome())) out_ << name << "\n";
      }
      break;
    case Format::kTable:
    case Format::kWide: {
      if (dry_run_) {
        std::vector<std::vector<std::string>> changes = {{"SANDBOX", "ACTION", "KIND", "OBJECT"}};
        for (const std::string& name : order_) {
          for (const pb::PlannedChange& c : final_.at(name).changes()) {
            changes.push_back({name, WithoutPrefix(pb::PlannedChange::Action_Name(c.action()), "ACTION_"),
                               c.kind(), c.name()});
          }
        }
        PrintRows(changes, out_);
      }
      std::vector<std::vector<std::string>> rows = {{"NAME", "OUTCOME", "STEP", "REASON"}};
      for (const std::string& name : order_) {
        const pb::Migration& m = final_.at(name);
        rows.push_back({name, ShortOutcome(m.outcome()), ShortStep(m.step()), ReasonOf(m)});
      }
      PrintRows(rows, out_);
      if (rollback) {
        int rolled_back = 0, would = 0, skipped = 0, failed = 0;
        for (const auto& [name, m] : final_) {
          rolled_back += m.outcome() == pb::MIGRATION_OUTCOME_ROLLED_BACK;
          would += m.outcome() == pb::MIGRATION_OUTCOME_WOULD_ROLL_BACK;
          skipped += m.outcome() == pb::MIGRATION_OUTCOME_SKIPPED;
          failed += m.outcome() == pb::MIGRATION_OUTCOME_FAILED;
        }
        out_ << "total " << order_.size() << ": " << rolled_back << " rolled back, " << would
             << " would roll back, " << skipped << " skipped, " << failed << " failed\n";
      } else {
        out_ << "total " << summary.total() << ": " << summary.migrated() << " migrated, "
             << summary.already_migrated() << " already migrated, " << summary.would_migrate()
             << " would migrate, " << summary.skipped() << " skipped, " << summary.failed()
             << " failed\n";
      }
      break;
    }
  }
  out_.flush();
}

}  // namespace sandboxctl
