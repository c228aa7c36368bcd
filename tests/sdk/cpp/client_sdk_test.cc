// The C++ client library (sandboxd::client) against a real sandboxd, run under
// tests/sdk/with_sandboxd.sh (SANDBOXD_ADDR, SANDBOXD_TOKEN, SANDBOXD_TOKEN_FILE,
// SANDBOXD_NAMESPACE, SANDBOXD_TEST_RESTART, SANDBOXD_TEST_KUBECTL; SANDBOXD_SOURCE_DIR
// for the Deployment-era fixture script).
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandboxd/client.h"

namespace sandboxd {
namespace {

namespace pb = ::sandbox::v1;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kPhaseTimeout = absl::Seconds(90);

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

ClientOptions Options() {
  ClientOptions options;
  options.address = Env("SANDBOXD_ADDR");
  options.plaintext = true;
  options.token = Env("SANDBOXD_TOKEN");
  return options;
}

std::unique_ptr<Client> Connect(ClientOptions options = Options()) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return std::move(*client);
}

class ClientSdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Env("SANDBOXD_ADDR").empty()) << "run under tests/sdk/with_sandboxd.sh";
    ns_ = Env("SANDBOXD_NAMESPACE");
    client_ = Connect();
  }

  pb::SandboxSpec Spec(const std::string& name) {
    pb::SandboxSpec spec;
    spec.set_name(name);
    spec.set_namespace_(ns_);
    spec.set_project("cpp-sdk");
    return spec;
  }

  // The next event within 60 s (a test failure otherwise).
  WatchEvent Next(SandboxWatch& watch) {
    absl::StatusOr<WatchEvent> event = watch.Next(absl::Seconds(60));
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : WatchEvent();
  }

  std::string ns_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientSdkTest, LifecycleThroughTypedCallsAndWaits) {
  pb::SandboxSpec spec = Spec("cpp-life");
  (*spec.mutable_env())["EDITOR"] = "vim";
  absl::StatusOr<pb::Sandbox> created = client_->Create(spec);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->spec().name(), "cpp-life");
  EXPECT_EQ(created->spec().namespace_(), ns_);

  std::vector<pb::SandboxPhase> seen;
  absl::StatusOr<pb::Sandbox> running = client_->WaitFor(
      ns_, "cpp-life", pb::SANDBOX_PHASE_RUNNING, kPhaseTimeout,
      [&](const pb::Sandbox& s) { seen.push_back(s.phase()); });
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->phase(), pb::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(running->ready_replicas(), 1);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), pb::SANDBOX_PHASE_RUNNING);

  pb::ListSandboxesRequest list;
  list.set_namespace_(ns_);
  list.set_project("cpp-sdk");
  list.set_page_size(1);
  absl::StatusOr<std::vector<pb::Sandbox>> listed = client_->List(list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::vector<std::string> names;
  for (const pb::Sandbox& s : *listed) names.push_back(s.spec().name());
  EXPECT_THAT(names, ::testing::Contains("cpp-life"));

  pb::UpdateSandboxEnvRequest update;
  update.set_namespace_(ns_);
  update.set_name("cpp-life");
  (*update.mutable_env())["LANG"] = "C.UTF-8";
  update.add_remove_keys("EDITOR");
  absl::StatusOr<pb::Sandbox> updated = client_->UpdateEnv(update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_THAT(updated->spec().env(), UnorderedElementsAre(Pair("LANG", "C.UTF-8")));
  EXPECT_NE(updated->version(), created->version());

  absl::StatusOr<pb::Sandbox> stopping = client_->Stop(ns_, "cpp-life");
  ASSERT_TRUE(stopping.ok()) << stopping.status();
  EXPECT_EQ(stopping->desired_replicas(), 0);
  absl::StatusOr<pb::Sandbox> stopped =
      client_->WaitFor(ns_, "cpp-life", pb::SANDBOX_PHASE_STOPPED, kPhaseTimeout);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->ready_replicas(), 0);

  absl::StatusOr<pb::Sandbox> starting = client_->Start(ns_, "cpp-life");
  ASSERT_TRUE(starting.ok()) << starting.status();
  EXPECT_EQ(starting->desired_replicas(), 1);
  absl::StatusOr<pb::Sandbox> again =
      client_->WaitFor(ns_, "cpp-life", pb::SANDBOX_PHASE_RUNNING, kPhaseTimeout);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->storage().uid(), running->storage().uid());

  ASSERT_TRUE(client_->Delete(ns_, "cpp-life").ok());
  absl::Status gone = client_->WaitForDeleted(ns_, "cpp-life", kPhaseTimeout);
  ASSERT_TRUE(gone.ok()) << gone;
  absl::StatusOr<pb::Sandbox> after = client_->Get(ns_, "cpp-life");
  EXPECT_EQ(after.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReasonOf(after.status()), "SANDBOX_NOT_FOUND");
  // Waiting for a sandbox that does not exist fails at once.
  absl::StatusOr<pb::Sandbox> absent =
      client_->WaitFor(ns_, "cpp-life", pb::SANDBOX_PHASE_RUNNING, kPhaseTimeout);
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReasonOf(absent.status()), "SANDBOX_NOT_FOUND");
}

TEST_F(ClientSdkTest, BadNameIsInvalidFieldNamingSpecName) {
  absl::StatusOr<pb::Sandbox> created = client_->Create(Spec("Bad_Name"));
  ASSERT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument) << created.status();
  ErrorDetails details = ErrorDetailsOf(created.status());
  EXPECT_EQ(details.domain, "sandboxd.dev");
  EXPECT_EQ(details.reason, "INVALID_FIELD");
  EXPECT_THAT(details.metadata, ::testing::Contains(Pair("field", "spec.name")));
  ASSERT_EQ(details.field_violations.size(), 1u);
  EXPECT_EQ(details.field_violations[0].field, "spec.name");
  EXPECT_FALSE(details.field_violations[0].description.empty());
  EXPECT_EQ(details.Field(), "spec.name");
}

TEST_F(ClientSdkTest, MissingSandboxIsNotFoundForEveryCall) {
  for (const absl::Status& status :
       {client_->Get(ns_, "cpp-nobody").status(), client_->Start(ns_, "cpp-nobody").status(),
        client_->Stop(ns_, "cpp-nobody").status(), client_->Delete(ns_, "cpp-nobody")}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
    EXPECT_EQ(ErrorReasonOf(status), "SANDBOX_NOT_FOUND") << status;
    EXPECT_EQ(ErrorDetailsOf(status).domain, "sandboxd.dev");
  }
  pb::DeleteSandboxRequest allow;
  allow.set_namespace_(ns_);
  allow.set_name("cpp-nobody");
  allow.set_allow_missing(true);
  EXPECT_TRUE(client_->Delete(allow).ok());
  EXPECT_TRUE(client_->WaitForDeleted(ns_, "cpp-nobody", absl::Seconds(10)).ok());
}

TEST_F(ClientSdkTest, WaitForFailsFastWhenTheSandboxFails) {
  pb::SandboxSpec spec = Spec("cpp-fail");
  spec.set_image("registry.local/sandboxd-fail-pull:1");  // the plane fails this pull
  ASSERT_TRUE(client_->Create(spec).ok());
  absl::StatusOr<pb::Sandbox> running =
      client_->WaitFor(ns_, "cpp-fail", pb::SANDBOX_PHASE_RUNNING, kPhaseTimeout);
  ASSERT_EQ(running.status().code(), absl::StatusCode::kFailedPrecondition) << running.status();
  EXPECT_EQ(ErrorReasonOf(running.status()), "SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE");
  EXPECT_THAT(std::string(running.status().message()), ::testing::HasSubstr("sandboxd-fail-pull"));
  absl::StatusOr<pb::Sandbox> failed =
      client_->WaitFor(ns_, "cpp-fail", pb::SANDBOX_PHASE_ERROR, absl::Seconds(10));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->error_reason(), pb::SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE);
  ASSERT_TRUE(client_->Delete(ns_, "cpp-fail").ok());
  EXPECT_TRUE(client_->WaitForDeleted(ns_, "cpp-fail", kPhaseTimeout).ok());
}

TEST_F(ClientSdkTest, TokenFileIsReadOnEveryCall) {
  const std::string path = ::testing::TempDir() + "/cpp-sdk-token";
  auto write = [&](const std::string& content) { std::ofstream(path) << content; };
  write(Env("SANDBOXD_TOKEN") + "\n");
  ClientOptions options = Options();
  options.token.clear();
  options.token_file = path;
  std::unique_ptr<Client> client = Connect(options);
  pb::ListSandboxesRequest list;
  list.set_namespace_(ns_);
  EXPECT_TRUE(client->ListPage(list).ok());
  write("not-a-token");
  absl::StatusOr<pb::ListSandboxesResponse> rejected = client->ListPage(list);
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kUnauthenticated) << rejected.status();
  EXPECT_EQ(ErrorReasonOf(rejected.status()), "INVALID_CREDENTIALS");
  write(Env("SANDBOXD_TOKEN"));
  EXPECT_TRUE(client->ListPage(list).ok());
}

TEST_F(ClientSdkTest, WatchReportsCreationAndResumesWithoutSkipping) {
  pb::WatchSandboxRequest request;
  request.set_namespace_(ns_);
  request.set_name("cpp-later");
  std::unique_ptr<SandboxWatch> watch = client_->Watch(request);
  WatchEvent marker = Next(*watch);
  ASSERT_EQ(marker.type, pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE);
  EXPECT_FALSE(marker.sandbox.has_value());
  ASSERT_TRUE(client_->Create(Spec("cpp-later")).ok());
  WatchEvent added = Next(*watch);
  ASSERT_EQ(added.type, pb::WATCH_EVENT_TYPE_ADDED);
  EXPECT_EQ(added.sandbox->spec().name(), "cpp-later");
  watch.reset();

  // A new watch resuming after ADDED replays what came since, and no RESET.
  ASSERT_TRUE(client_->Stop(ns_, "cpp-later").ok());
  request.set_resume_token(added.resume_token);
  watch = client_->Watch(request);
  bool stopped_seen = false;
  std::vector<pb::WatchEventType> types;
  while (!stopped_seen) {
    WatchEvent event = Next(*watch);
    if (event.type == pb::WATCH_EVENT_TYPE_UNSPECIFIED) break;  // Next failed
    types.push_back(event.type);
    ASSERT_NE(event.type, pb::WATCH_EVENT_TYPE_RESET);
    stopped_seen = event.sandbox.has_value() && event.sandbox->desired_replicas() == 0;
  }
  EXPECT_TRUE(stopped_seen);
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.back(), pb::WATCH_EVENT_TYPE_MODIFIED);

  ASSERT_TRUE(client_->Delete(ns_, "cpp-later").ok());
  while (true) {
    WatchEvent event = Next(*watch);
    ASSERT_NE(event.type, pb::WATCH_EVENT_TYPE_UNSPECIFIED);
    if (event.type == pb::WATCH_EVENT_TYPE_DELETED) {
      EXPECT_EQ(event.sandbox->spec().name(), "cpp-later");
      break;
    }
  }
}

// sandboxd restarts (SIGTERM, start again) while a namespace watch is open and the
// sandbox is stopped: the Stop call is retried over UNAVAILABLE until the new process
// serves; the watch reconnects with its last token. Tokens are cluster positions, so the
// new process answers in one of the two documented ways: RESET, the whole state as ADDED,
// INITIAL_STATE_COMPLETE (the token is below its first list), or the changes since the
// token as MODIFIED, INITIAL_STATE_COMPLETE (no write reached the cluster in between).
// Either way the state then shows the stop.
TEST_F(ClientSdkTest, WatchAndCallsSurviveARestart) {
  pb::SandboxSpec spec = Spec("cpp-restart");
  spec.set_project("cpp-restart");  // the watch below sees this sandbox only
  ASSERT_TRUE(client_->Create(spec).ok());
  ASSERT_TRUE(client_->WaitFor(ns_, "cpp-restart", pb::SANDBOX_PHASE_RUNNING, kPhaseTimeout).ok());

  pb::WatchSandboxesRequest request;
  request.set_namespace_(ns_);
  request.set_project("cpp-restart");
  std::unique_ptr<SandboxWatch> watch = client_->Watch(request);
  std::map<std::string, pb::Sandbox> state;
  while (true) {
    WatchEvent event = Next(*watch);
    ASSERT_NE(event.type, pb::WATCH_EVENT_TYPE_UNSPECIFIED);
    if (event.type == pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE) break;
    ASSERT_EQ(event.type, pb::WATCH_EVENT_TYPE_ADDED);
    state[event.sandbox->spec().name()] = *event.sandbox;
  }
  ASSERT_EQ(state.count("cpp-restart"), 1u);
  EXPECT_EQ(state["cpp-restart"].desired_replicas(), 1);

  std::vector<std::pair<absl::Status, int>> retries;
  ClientOptions options = Options();
  options.on_retry = [&](const absl::Status& error, int next) {
    retries.emplace_back(error, next);
  };
  options.default_timeout = absl::Seconds(60);
  std::unique_ptr<Client> retrying = Connect(options);
  ClientOptions once = Options();
  once.retry.max_attempts = 1;
  std::unique_ptr<Client> probe = Connect(once);

  const std::string restart = Env("SANDBOXD_TEST_RESTART");
  ASSERT_FALSE(restart.empty());
  int restart_status = -1;
  std::thread restarter([&] { restart_status = std::system(restart.c_str()); });
  // Once the server stops answering, stop the sandbox through the retrying client.
  bool down = false;
  for (int i = 0; i < 1000 && !down; ++i) {
    pb::ListSandboxesRequest list;
    list.set_namespace_(ns_);
    down = probe->ListPage(list, {absl::Seconds(1)}).status().code() == absl::StatusCode::kUnavailable;
    if (!down) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(down) << "sandboxd never became unavailable";
  absl::StatusOr<pb::Sandbox> stopped = retrying->Stop(ns_, "cpp-restart");
  restarter.join();
  ASSERT_EQ(restart_status, 0);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->desired_replicas(), 0);
  ASSERT_FALSE(retries.empty()) << "the Stop call was never retried";
  EXPECT_EQ(retries.front().first.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(retries.front().second, 2);

  // The old process sent nothing more; the new one resets or resumes the stream.
  WatchEvent first = Next(*watch);
  const bool reset = first.type == pb::WATCH_EVENT_TYPE_RESET;
  if (reset) {
    EXPECT_FALSE(first.sandbox.has_value());
    EXPECT_FALSE(first.resume_token.empty());
    state.clear();
    first = Next(*watch);
  }
  const pb::WatchEventType replayed =
      reset ? pb::WATCH_EVENT_TYPE_ADDED : pb::WATCH_EVENT_TYPE_MODIFIED;
  for (WatchEvent event = std::move(first);
       event.type != pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE; event = Next(*watch)) {
    ASSERT_EQ(event.type, replayed);
    state[event.sandbox->spec().name()] = *event.sandbox;
  }
  EXPECT_GE(watch->reconnects(), 1);
  ASSERT_EQ(state.count("cpp-restart"), 1u);
  // The stop is in the replayed state, or (if the watch reconnected before the retried
  // Stop landed) arrives as MODIFIED.
  while (state["cpp-restart"].desired_replicas() != 0) {
    WatchEvent event = Next(*watch);
    ASSERT_EQ(event.type, pb::WATCH_EVENT_TYPE_MODIFIED);
    state[event.sandbox->spec().name()] = *event.sandbox;
  }
  EXPECT_EQ(state["cpp-restart"].desired_replicas(), 0);
  ASSERT_TRUE(client_->Delete(ns_, "cpp-restart").ok());
}

// Creates the Deployment-era sandbox `name` of `project` (tests/sdk/cpp/deployment_era.sh:
// the team fixture applied with the admin kubectl).
void MakeDeploymentEra(const std::string& name, const std::string& project) {
  const std::string script = Env("SANDBOXD_SOURCE_DIR") + "/tests/sdk/cpp/deployment_era.sh";
  ASSERT_EQ(std::system((script + " " + name + " " + project).c_str()), 0) << script;
}

// "NAME MIGRATION_STEP_X" for a progress message, "NAME MIGRATION_OUTCOME_Y" for a final one.
std::string Describe(const pb::Migration& m) {
  return m.name() + " " +
         (m.outcome() == pb::MIGRATION_OUTCOME_UNSPECIFIED ? pb::MigrationStep_Name(m.step())
                                                           : pb::MigrationOutcome_Name(m.outcome()));
}

// "ACTION_CREATE ConfigMap x-migration" for each change.
std::vector<std::string> Changes(const pb::Migration& m) {
  std::vector<std::string> out;
  for (const pb::PlannedChange& c : m.changes()) {
    out.push_back(pb::PlannedChange::Action_Name(c.action()) + " " + c.kind() + " " + c.name());
  }
  return out;
}

TEST_F(ClientSdkTest, MigrateMigrateAllAndRollback) {
  ASSERT_NO_FATAL_FAILURE(MakeDeploymentEra("cpp-era", "cpp-era"));
  const CallOptions minutes{absl::Minutes(5)};

  pb::MigrateSandboxRequest dry;
  dry.set_namespace_(ns_);
  dry.set_name("cpp-era");
  dry.set_dry_run(true);
  absl::StatusOr<pb::Migration> planned = client_->Migrate(dry, minutes);
  ASSERT_TRUE(planned.ok()) << planned.status();
  EXPECT_EQ(planned->outcome(), pb::MIGRATION_OUTCOME_WOULD_MIGRATE);
  EXPECT_EQ(planned->step(), pb::MIGRATION_STEP_PLANNED);
  EXPECT_THAT(
      Changes(*planned),
      ElementsAre(
          "ACTION_CREATE ConfigMap cpp-era-migration", "ACTION_PATCH Deployment cpp-era",
          "ACTION_CREATE StatefulSet cpp-era", "ACTION_PATCH Service cpp-era-service",
          "ACTION_PATCH Ingress cpp-era-app-ingress", "ACTION_PATCH Ingress cpp-era-ttyd-ingress",
          "ACTION_CREATE NetworkPolicy sandboxd-sandboxes", "ACTION_DELETE Deployment cpp-era"));
  EXPECT_FALSE(planned->has_sandbox());

  // Out of range: the whole stream is refused before any message.
  pb::MigrateSandboxesRequest all;
  all.set_namespace_(ns_);
  all.set_label_selector("project.fullstackagent.io/name=cpp-era");
  all.set_concurrency(21);
  std::vector<std::string> seen;
  auto observe = [&](const pb::Migration& m) { seen.push_back(Describe(m)); };
  absl::StatusOr<pb::MigrationSummary> refused = client_->MigrateAll(all, observe);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_EQ(ErrorDetailsOf(refused.status()).Field(), "concurrency");
  EXPECT_TRUE(seen.empty());

  // The stream: one message per step completed, then the outcome, then the summary.
  all.set_concurrency(1);
  absl::StatusOr<pb::MigrationSummary> summary = client_->MigrateAll(all, observe);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_THAT(seen, ElementsAre("cpp-era MIGRATION_STEP_RECORDED",
                                "cpp-era MIGRATION_STEP_DEPLOYMENT_SCALED_DOWN",
                                "cpp-era MIGRATION_STEP_STATEFULSET_CREATED",
                                "cpp-era MIGRATION_STEP_ADOPTED", "cpp-era MIGRATION_STEP_SANDBOX_READY",
                                "cpp-era MIGRATION_STEP_DEPLOYMENT_DELETED",
                                "cpp-era MIGRATION_OUTCOME_MIGRATED"));
  EXPECT_EQ(summary->total(), 1);
  EXPECT_EQ(summary->migrated(), 1);
  EXPECT_EQ(summary->skipped() + summary->failed() + summary->already_migrated(), 0);

  // Again: nothing to do, nothing written; the sandbox is there.
  dry.set_dry_run(false);
  absl::StatusOr<pb::Migration> again = client_->Migrate(dry, minutes);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome(), pb::MIGRATION_OUTCOME_ALREADY_MIGRATED);
  EXPECT_TRUE(again->changes().empty());
  EXPECT_EQ(again->sandbox().phase(), pb::SANDBOX_PHASE_RUNNING);
  absl::StatusOr<pb::Sandbox> sandbox = client_->Get(ns_, "cpp-era");
  ASSERT_TRUE(sandbox.ok()) << sandbox.status();
  EXPECT_EQ(sandbox->spec().image(), "registry.local/agent:1");

  pb::MigrateSandboxRequest nobody;
  nobody.set_namespace_(ns_);
  nobody.set_name("cpp-nobody");
  absl::StatusOr<pb::Migration> missing = client_->Migrate(nobody, minutes);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_EQ(ErrorReasonOf(missing.status()), "SANDBOX_NOT_FOUND");

  pb::RollbackMigrationRequest rollback;
  rollback.set_namespace_(ns_);
  rollback.set_name("cpp-era");
  rollback.set_mount_home(true);
  rollback.set_delete_storage(true);
  absl::StatusOr<pb::Migration> both = client_->Rollback(rollback, minutes);
  ASSERT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument) << both.status();
  EXPECT_EQ(ErrorDetailsOf(both.status()).Field(), "delete_storage");

  rollback.set_delete_storage(false);
  rollback.set_dry_run(true);
  absl::StatusOr<pb::Migration> would = client_->Rollback(rollback, minutes);
  ASSERT_TRUE(would.ok()) << would.status();
  EXPECT_EQ(would->outcome(), pb::MIGRATION_OUTCOME_WOULD_ROLL_BACK);
  ASSERT_FALSE(would->changes().empty());
  EXPECT_EQ(Changes(*would).back(), "ACTION_DELETE ConfigMap cpp-era-migration");

  rollback.set_dry_run(false);
  absl::StatusOr<pb::Migration> rolled_back = client_->Rollback(rollback, minutes);
  ASSERT_TRUE(rolled_back.ok()) << rolled_back.status();
  EXPECT_EQ(rolled_back->outcome(), pb::MIGRATION_OUTCOME_ROLLED_BACK);
  EXPECT_EQ(Changes(*rolled_back), Changes(*would));
  absl::StatusOr<pb::Migration> not_migrated = client_->Rollback(rollback, minutes);
  ASSERT_EQ(not_migrated.status().code(), absl::StatusCode::kFailedPrecondition)
      << not_migrated.status();
  EXPECT_EQ(ErrorReasonOf(not_migrated.status()), "NOT_MIGRATED");
  // The StatefulSet's delete was sent; the sandbox is gone once it completes.
  EXPECT_TRUE(client_->WaitForDeleted(ns_, "cpp-era", kPhaseTimeout).ok());
}

}  // namespace
}  // namespace sandboxd
