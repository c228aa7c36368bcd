// How the client retries the migration calls: against an in-process SandboxLifecycle
// server that fails chosen attempts, so that which attempt fails how is deterministic
// (the sdk suites run the same calls against the real sandboxd).
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "sandboxd/client.h"

namespace sandboxd {
namespace {

namespace pb = ::sandbox::v1;
using ::testing::ElementsAre;

pb::Migration Message(const std::string& name, pb::MigrationStep step,
                      pb::MigrationOutcome outcome = pb::MIGRATION_OUTCOME_UNSPECIFIED) {
  pb::Migration m;
  m.set_namespace_("ns");
  m.set_name(name);
  m.set_step(step);
  m.set_outcome(outcome);
  return m;
}

// Answers attempt n (1 for the first) of each RPC with the script's entry n: messages to
// stream, then the status.
struct Attempt {
  std::vector<pb::MigrateSandboxesResponse> messages;
  grpc::Status status;
};

// Thread-safe: gRPC calls the handlers from its threads.
class ScriptedServer final : public pb::SandboxLifecycle::Service {
 public:
  grpc::Status MigrateSandboxes(grpc::ServerContext*, const pb::MigrateSandboxesRequest* request,
                                grpc::ServerWriter<pb::MigrateSandboxesResponse>* writer) override {
    Attempt attempt;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(*request);
      if (stream_script_.empty()) return grpc::Status(grpc::StatusCode::INTERNAL, "no script");
      attempt = stream_script_.front();
      stream_script_.erase(stream_script_.begin());
    }
    for (const pb::MigrateSandboxesResponse& message : attempt.messages) writer->Write(message);
    return attempt.status;
  }

  grpc::Status MigrateSandbox(grpc::ServerContext*, const pb::MigrateSandboxRequest* request,
                              pb::MigrateSandboxResponse* response) override {
    absl::MutexLock lock(&mu_);
    if (++migrate_calls_ == 1) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting");
    *response->mutable_migration() = Message(request->name(), pb::MIGRATION_STEP_DEPLOYMENT_DELETED,
                                             pb::MIGRATION_OUTCOME_MIGRATED);
    return grpc::Status::OK;
  }

  grpc::Status RollbackMigration(grpc::ServerContext*, const pb::RollbackMigrationRequest* request,
                                 pb::RollbackMigrationResponse* response) override {
    absl::MutexLock lock(&mu_);
    if (++rollback_calls_ == 1) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting");
    *response->mutable_rollback() =
        Message(request->name(), pb::MIGRATION_STEP_UNSPECIFIED, pb::MIGRATION_OUTCOME_ROLLED_BACK);
    return grpc::Status::OK;
  }

  void Script(std::vector<Attempt> attempts) {
    absl::MutexLock lock(&mu_);
    stream_script_ = std::move(attempts);
  }
  std::vector<pb::MigrateSandboxesRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  int unary_calls() {
    absl::MutexLock lock(&mu_);
    return migrate_calls_ + rollback_calls_;
  }

 private:
  absl::Mutex mu_;
  std::vector<Attempt> stream_script_ ABSL_GUARDED_BY(mu_);
  std::vector<pb::MigrateSandboxesRequest> requests_ ABSL_GUARDED_BY(mu_);
  int migrate_calls_ ABSL_GUARDED_BY(mu_) = 0;   // the first fails with UNAVAILABLE
  int rollback_calls_ ABSL_GUARDED_BY(mu_) = 0;  // likewise
};

pb::MigrateSandboxesResponse Progress(const pb::Migration& m) {
  pb::MigrateSandboxesResponse response;
  *response.mutable_progress() = m;
  return response;
}

pb::MigrateSandboxesResponse Summary(int total, int migrated, int already, int skipped) {
  pb::MigrateSandboxesResponse response;
  response.mutable_summary()->set_total(total);
  response.mutable_summary()->set_migrated(migrated);
  response.mutable_summary()->set_already_migrated(already);
  response.mutable_summary()->set_skipped(skipped);
  return response;
}

class MigrationRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    ClientOptions options;
    options.retry.initial_backoff = absl::Milliseconds(1);
    options.retry.max_backoff = absl::Milliseconds(5);
    options.on_retry = [this](const absl::Status& error, int next) {
      retries_.push_back(std::string(absl::StatusCodeToString(error.code())) + " " +
                         std::to_string(next));
    };
    client_ = std::make_unique<Client>(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()),
        options);
  }
  void TearDown() override { server_->Shutdown(); }

  pb::MigrateSandboxesRequest Request() {
    pb::MigrateSandboxesRequest request;
    request.set_namespace_("ns");
    request.set_label_selector("team=a");
    request.set_dry_run(false);
    request.set_concurrency(2);
    return request;
  }

  ScriptedServer service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Client> client_;
  std::vector<std::string> retries_;
  std::vector<std::string> seen_;
  MigrationObserver observe_ = [this](const pb::Migration& m) {
    seen_.push_back(m.name() + " " + (m.outcome() == pb::MIGRATION_OUTCOME_UNSPECIFIED
                                          ? pb::MigrationStep_Name(m.step())
                                          : pb::MigrationOutcome_Name(m.outcome())));
  };
};

// A stream cut with UNAVAILABLE runs again from the start with the same request; the
// observer sees both runs. The second run lists only what is left (b's Deployment is
// gone), so the summary is the second run's plus b, counted once.
TEST_F(MigrationRetryTest, MigrateAllRunsTheStreamAgainAfterUnavailable) {
  service_.Script({
      {{Progress(Message("a", pb::MIGRATION_STEP_RECORDED)),
        Progress(Message("b", pb::MIGRATION_STEP_DEPLOYMENT_DELETED, pb::MIGRATION_OUTCOME_MIGRATED))},
       grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection lost")},
      {{Progress(Message("a", pb::MIGRATION_STEP_DEPLOYMENT_SCALED_DOWN)),
        Progress(Message("a", pb::MIGRATION_STEP_DEPLOYMENT_DELETED, pb::MIGRATION_OUTCOME_MIGRATED)),
        Progress(Message("c", pb::MIGRATION_STEP_PLANNED, pb::MIGRATION_OUTCOME_SKIPPED)),
        Summary(2, 1, 0, 1)},
       grpc::Status::OK},
  });
  absl::StatusOr<pb::MigrationSummary> summary = client_->MigrateAll(Request(), observe_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->total(), 3);
  EXPECT_EQ(summary->migrated(), 2);
  EXPECT_EQ(summary->skipped(), 1);
  EXPECT_EQ(summary->already_migrated() + summary->would_migrate() + summary->failed(), 0);
  EXPECT_THAT(seen_, ElementsAre("a MIGRATION_STEP_RECORDED", "b MIGRATION_OUTCOME_MIGRATED",
                                 "a MIGRATION_STEP_DEPLOYMENT_SCALED_DOWN",
                                 "a MIGRATION_OUTCOME_MIGRATED", "c MIGRATION_OUTCOME_SKIPPED"));
  EXPECT_THAT(retries_, ElementsAre("UNAVAILABLE 2"));
  std::vector<pb::MigrateSandboxesRequest> requests = service_.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const pb::MigrateSandboxesRequest& r : requests) {
    EXPECT_EQ(r.SerializeAsString(), Request().SerializeAsString());
  }
}

// A sandbox that failed in the first run and is continued by the second counts once,
// with the second run's outcome.
TEST_F(MigrationRetryTest, MigrateAllCountsARetriedSandboxOnce) {
  service_.Script({
      {{Progress(Message("a", pb::MIGRATION_STEP_ADOPTED, pb::MIGRATION_OUTCOME_FAILED))},
       grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection lost")},
      {{Progress(Message("a", pb::MIGRATION_STEP_DEPLOYMENT_DELETED, pb::MIGRATION_OUTCOME_MIGRATED)),
        Summary(1, 1, 0, 0)},
       grpc::Status::OK},
  });
  absl::StatusOr<pb::MigrationSummary> summary = client_->MigrateAll(Request(), observe_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->total(), 1);
  EXPECT_EQ(summary->migrated(), 1);
  EXPECT_EQ(summary->failed(), 0);
}

TEST_F(MigrationRetryTest, MigrateAllDoesNotRetryOtherErrors) {
  service_.Script({{{Progress(Message("a", pb::MIGRATION_STEP_RECORDED))},
                    grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad concurrency")}});
  absl::StatusOr<pb::MigrationSummary> summary = client_->MigrateAll(Request(), observe_);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument) << summary.status();
  EXPECT_THAT(seen_, ElementsAre("a MIGRATION_STEP_RECORDED"));
  EXPECT_TRUE(retries_.empty());
  EXPECT_EQ(service_.requests().size(), 1u);
}

TEST_F(MigrationRetryTest, MigrateAllWithoutSummaryIsInternal) {
  service_.Script({{{Progress(Message("a", pb::MIGRATION_STEP_RECORDED))}, grpc::Status::OK}});
  absl::StatusOr<pb::MigrationSummary> summary = client_->MigrateAll(Request(), observe_);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInternal) << summary.status();
  EXPECT_TRUE(retries_.empty());
}

TEST_F(MigrationRetryTest, MigrateAllGivesUpAfterMaxAttempts) {
  service_.Script(std::vector<Attempt>(20, {{}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")}));
  absl::StatusOr<pb::MigrationSummary> summary = client_->MigrateAll(Request(), observe_);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kUnavailable) << summary.status();
  EXPECT_EQ(service_.requests().size(), 8u);  // RetryPolicy::max_attempts
  EXPECT_EQ(retries_.size(), 7u);
}

TEST_F(MigrationRetryTest, MigrateAndRollbackRetryUnavailable) {
  pb::MigrateSandboxRequest migrate;
  migrate.set_namespace_("ns");
  migrate.set_name("a");
  absl::StatusOr<pb::Migration> migrated = client_->Migrate(migrate);
  ASSERT_TRUE(migrated.ok()) << migrated.status();
  EXPECT_EQ(migrated->outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_EQ(service_.unary_calls(), 2);
  pb::RollbackMigrationRequest rollback;
  rollback.set_namespace_("ns");
  rollback.set_name("a");
  absl::StatusOr<pb::Migration> rolled_back = client_->Rollback(rollback);
  ASSERT_TRUE(rolled_back.ok()) << rolled_back.status();
  EXPECT_EQ(rolled_back->outcome(), pb::MIGRATION_OUTCOME_ROLLED_BACK);
  EXPECT_EQ(service_.unary_calls(), 4);
  EXPECT_THAT(retries_, ElementsAre("UNAVAILABLE 2", "UNAVAILABLE 2"));
}

}  // namespace
}  // namespace sandboxd
