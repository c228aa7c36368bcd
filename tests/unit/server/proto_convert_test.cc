#include "server/proto_convert.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "src/domain/errors.h"

namespace sandboxd::server {
namespace {

namespace v1 = ::sandbox::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::Pair;

template <typename Message>
Message Parse(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// Asserts that `status` is INVALID_ARGUMENT naming `field` with message `message`.
void ExpectInvalidField(const absl::Status& status, const std::string& field,
                        const std::string& message) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), message);
  domain::ErrorDetail detail = domain::GetErrorDetail(status);
  EXPECT_EQ(detail.reason, "INVALID_FIELD");
  EXPECT_EQ(detail.metadata["field"], field);
}

TEST(SpecFromCreateRequestTest, CopiesEveryField) {
  auto request = Parse<v1::CreateSandboxRequest>(R"pb(
    spec {
      name: "alice"
      namespace: "team-a"
      project: "p1"
      image: "registry.local/agent:1"
      env { key: "B" value: "2" }
      env { key: "A" value: "1" }
      resources {
        requests { cpu: "500m" memory: "1Gi" }
        limits { cpu: "2" memory: "4Gi" }
      }
      storage { size: "10Gi" storage_class: "fast" mount_path: "/home/alice" }
      ports { app: 8080 terminal: 7000 }
      ingress_domain: "example.dev"
      labels { key: "team" value: "a" }
    }
  )pb");
  absl::StatusOr<domain::SandboxSpec> spec = SpecFromCreateRequest(request);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "alice");
  EXPECT_EQ(spec->ns, "team-a");
  EXPECT_EQ(spec->project, "p1");
  EXPECT_EQ(spec->image, "registry.local/agent:1");
  EXPECT_THAT(spec->env, ElementsAre(Pair("A", "1"), Pair("B", "2")));
  EXPECT_EQ(spec->resources.requests.cpu, "500m");
  EXPECT_EQ(spec->resources.requests.memory, "1Gi");
  EXPECT_EQ(spec->resources.limits.cpu, "2");
  EXPECT_EQ(spec->resources.limits.memory, "4Gi");
  EXPECT_EQ(spec->storage.size, "10Gi");
  EXPECT_EQ(spec->storage.storage_class, "fast");
  EXPECT_EQ(spec->storage.mount_path, "/home/alice");
  EXPECT_EQ(spec->ports.app, 8080);
  EXPECT_EQ(spec->ports.terminal, 7000);
  EXPECT_EQ(spec->ingress_domain, "example.dev");
  EXPECT_THAT(spec->labels, ElementsAre(Pair("team", "a")));

  // Round trip: domain -> proto gives the same spec back.
  v1::SandboxSpec back = SpecToProto(*spec);
  EXPECT_TRUE(MessageDifferencer::Equals(back, request.spec()))
      << back.DebugString() << "\nvs\n" << request.spec().DebugString();
}

TEST(SpecFromCreateRequestTest, UnsetFieldsStayEmptyForDefaults) {
  auto request = Parse<v1::CreateSandboxRequest>(R"pb(
    spec { name: "alice" namespace: "team-a" }
  )pb");
  absl::StatusOr<domain::SandboxSpec> spec = SpecFromCreateRequest(request);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->image, "");
  EXPECT_EQ(spec->storage.size, "");
  EXPECT_EQ(spec->storage.mount_path, "");
  EXPECT_EQ(spec->ports.app, 0);
  EXPECT_EQ(spec->ports.terminal, 0);
  EXPECT_TRUE(spec->env.empty());
  v1::SandboxSpec back = SpecToProto(*spec);
  EXPECT_FALSE(back.ports().has_app());
  EXPECT_FALSE(back.ports().has_terminal());
}

TEST(SpecFromCreateRequestTest, RejectsWireLevelErrors) {
  struct Case {
    std::string request;
    std::string field;
    std::string message;
  };
  const Case cases[] = {
      {"", "spec", "spec: is required"},
      {R"pb(spec { namespace: "team-a" })pb", "spec.name", "spec.name: is required"},
      {R"pb(spec { name: "alice" })pb", "spec.namespace", "spec.namespace: is required"},
      {R"pb(spec { name: "alice" namespace: "n" ports { app: 0 } })pb", "spec.ports.app",
       "spec.ports.app: must be between 1 and 65535, got 0"},
      {R"pb(spec { name: "alice" namespace: "n" ports { app: 65536 } })pb", "spec.ports.app",
       "spec.ports.app: must be between 1 and 65535, got 65536"},
      {R"pb(spec { name: "alice" namespace: "n" ports { terminal: -1 } })pb",
       "spec.ports.terminal", "spec.ports.terminal: must be between 1 and 65535, got -1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.request);
    absl::StatusOr<domain::SandboxSpec> spec =
        SpecFromCreateRequest(Parse<v1::CreateSandboxRequest>(c.request));
    ExpectInvalidField(spec.status(), c.field, c.message);
  }
}

TEST(RefFromRequestTest, RequiresNamespaceAndName) {
  absl::StatusOr<SandboxRef> ref =
      RefFromRequest(Parse<v1::GetSandboxRequest>(R"pb(namespace: "team-a" name: "alice")pb"));
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->ns, "team-a");
  EXPECT_EQ(ref->name, "alice");

  ExpectInvalidField(RefFromRequest(Parse<v1::StartSandboxRequest>(R"pb(name: "alice")pb"))
                         .status(),
                     "namespace", "namespace: is required");
  ExpectInvalidField(
      RefFromRequest(Parse<v1::StopSandboxRequest>(R"pb(namespace: "team-a")pb")).status(),
      "name", "name: is required");
  ExpectInvalidField(
      RefFromRequest(Parse<v1::WatchSandboxRequest>(R"pb(namespace: "team-a")pb")).status(),
      "name", "name: is required");
}

TEST(EnvUpdateFromRequestTest, ConvertsSetRemoveAndVersion) {
  absl::StatusOr<EnvUpdateCall> call =
      EnvUpdateFromRequest(Parse<v1::UpdateSandboxEnvRequest>(R"pb(
        namespace: "team-a"
        name: "alice"
        env { key: "A" value: "1" }
        remove_keys: "B"
        remove_keys: "C"
        expected_version: "42"
      )pb"));
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->ref.ns, "team-a");
  EXPECT_EQ(call->ref.name, "alice");
  EXPECT_THAT(call->update.set, ElementsAre(Pair("A", "1")));
  EXPECT_THAT(call->update.remove, ElementsAre("B", "C"));
  EXPECT_EQ(call->update.expected_version, "42");

  absl::StatusOr<EnvUpdateCall> no_version = EnvUpdateFromRequest(
      Parse<v1::UpdateSandboxEnvRequest>(R"pb(namespace: "n" name: "a")pb"));
  ASSERT_TRUE(no_version.ok()) << no_version.status();
  EXPECT_EQ(no_version->update.expected_version, "");
}

TEST(EnvUpdateFromRequestTest, RejectsWireLevelErrors) {
  ExpectInvalidField(EnvUpdateFromRequest(Parse<v1::UpdateSandboxEnvRequest>(
                                              R"pb(namespace: "n" name: "a" expected_version: "")pb"))
                         .status(),
                     "expected_version", "expected_version: must not be empty when set");
  ExpectInvalidField(
      EnvUpdateFromRequest(Parse<v1::UpdateSandboxEnvRequest>(R"pb(
                             namespace: "n"
                             name: "a"
                             env { key: "A" value: "1" }
                             remove_keys: "A"
                           )pb"))
          .status(),
      "remove_keys", "remove_keys: \"A\" is also in env");
  v1::UpdateSandboxEnvRequest hostile;
  hostile.set_namespace_("n");
  hostile.set_name("a");
  (*hostile.mutable_env())["A\n\x1b[2J"] = "1";
  hostile.add_remove_keys("A\n\x1b[2J");
  ExpectInvalidField(EnvUpdateFromRequest(hostile).status(), "remove_keys",
                     "remove_keys: \"A\\n\\x1b[2J\" is also in env");
  ExpectInvalidField(
      EnvUpdateFromRequest(Parse<v1::UpdateSandboxEnvRequest>(R"pb(name: "a")pb")).status(),
      "namespace", "namespace: is required");
}

TEST(ListQueryFromRequestTest, ConvertsAndRejectsNegativePageSize) {
  absl::StatusOr<domain::ListQuery> query =
      ListQueryFromRequest(Parse<v1::ListSandboxesRequest>(R"pb(
        namespace: "team-a"
        project: "p1"
        label_selector: "tier=gpu"
        page_size: 20
        page_token: "tok"
      )pb"),
                           domain::SandboxLimits());
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->ns, "team-a");
  EXPECT_EQ(query->project, "p1");
  EXPECT_EQ(query->label_selector, "tier=gpu");
  EXPECT_EQ(query->page_size, 20);
  EXPECT_EQ(query->page_token, "tok");

  ExpectInvalidField(
      ListQueryFromRequest(Parse<v1::ListSandboxesRequest>(R"pb(namespace: "n" page_size: -1)pb"),
                           domain::SandboxLimits())
          .status(),
      "page_size", "page_size: must not be negative, got -1");
  ExpectInvalidField(
      ListQueryFromRequest(v1::ListSandboxesRequest(), domain::SandboxLimits()).status(),
      "namespace", "namespace: is required");
}

// The filters of ListSandboxes and WatchSandboxes go to the watch cache (or the API
// server as a selector) without passing through SandboxService: they are checked here.
TEST(ListQueryFromRequestTest, RejectsHostileAndOversizedFilters) {
  domain::SandboxLimits limits;
  limits.max_selector_length = 40;
  limits.max_selector_terms = 2;
  struct Case {
    const char* what;
    std::string project;
    std::string selector;
    const char* field;    // nullptr: valid
    const char* message;  // checked when set
  };
  const Case cases[] = {
      {"valid", "p1", "tier=gpu,!spot", nullptr, nullptr},
      {"project of NULs", std::string(3, '\0'), "", "project",
       "project: \"\\x00\\x00\\x00\" value must not contain control characters (byte 0x00 "
       "at offset 0)"},
      {"project with escape", "p\x1b[0m", "", "project", nullptr},
      {"project not a label value", "a,b", "", "project", nullptr},
      {"selector with NUL", "", std::string("tier=g\0pu", 9), "label_selector",
       "label_selector: must not contain control characters (byte 0x00 at offset 6)"},
      {"selector too long", "", "tier in (" + std::string(40, 'a') + ")", "label_selector",
       "label_selector: must be at most 40 bytes, got 50"},
      {"selector with too many terms", "", "a,b,c", "label_selector",
       "label_selector: must have at most 2 requirements, got 3"},
      {"selector syntax", "", "tier=(", "label_selector", nullptr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    v1::ListSandboxesRequest list;
    list.set_namespace_("team-a");
    list.set_project(c.project);
    list.set_label_selector(c.selector);
    v1::WatchSandboxesRequest watch;
    watch.set_namespace_("team-a");
    watch.set_project(c.project);
    watch.set_label_selector(c.selector);
    absl::Status list_status = ListQueryFromRequest(list, limits).status();
    absl::Status watch_status = ValidateWatchSandboxesRequest(watch, limits);
    if (c.field == nullptr) {
      EXPECT_EQ(list_status, absl::OkStatus());
      EXPECT_EQ(watch_status, absl::OkStatus());
      continue;
    }
    EXPECT_EQ(list_status, watch_status);
    EXPECT_EQ(list_status.code(), absl::StatusCode::kInvalidArgument) << list_status;
    EXPECT_EQ(domain::GetErrorDetail(list_status).metadata["field"], c.field) << list_status;
    if (c.message != nullptr) ExpectInvalidField(list_status, c.field, c.message);
  }
}

TEST(DeleteRequestFromRequestTest, ConvertsFlags) {
  absl::StatusOr<domain::DeleteRequest> request =
      DeleteRequestFromRequest(Parse<v1::DeleteSandboxRequest>(R"pb(
        namespace: "team-a" name: "alice" keep_storage: true allow_missing: true
      )pb"));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->ns, "team-a");
  EXPECT_EQ(request->name, "alice");
  EXPECT_TRUE(request->keep_storage);
  EXPECT_TRUE(request->allow_missing);

  ExpectInvalidField(
      DeleteRequestFromRequest(Parse<v1::DeleteSandboxRequest>(R"pb(namespace: "n")pb"))
          .status(),
      "name", "name: is required");
}

TEST(EnumConversionTest, EveryPhaseAndReason) {
  EXPECT_EQ(PhaseToProto(domain::Phase::kUnspecified), v1::SANDBOX_PHASE_UNSPECIFIED);
  EXPECT_EQ(PhaseToProto(domain::Phase::kStarting), v1::SANDBOX_PHASE_STARTING);
  EXPECT_EQ(PhaseToProto(domain::Phase::kRunning), v1::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(PhaseToProto(domain::Phase::kStopping), v1::SANDBOX_PHASE_STOPPING);
  EXPECT_EQ(PhaseToProto(domain::Phase::kStopped), v1::SANDBOX_PHASE_STOPPED);
  EXPECT_EQ(PhaseToProto(domain::Phase::kDeleting), v1::SANDBOX_PHASE_DELETING);
  EXPECT_EQ(PhaseToProto(domain::Phase::kError), v1::SANDBOX_PHASE_ERROR);

  EXPECT_EQ(ErrorReasonToProto(domain::ErrorReason::kNone),
            v1::SANDBOX_ERROR_REASON_UNSPECIFIED);
  EXPECT_EQ(ErrorReasonToProto(domain::ErrorReason::kImagePullFailure),
            v1::SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE);
  EXPECT_EQ(ErrorReasonToProto(domain::ErrorReason::kCrashLoop),
            v1::SANDBOX_ERROR_REASON_CRASH_LOOP);
  EXPECT_EQ(ErrorReasonToProto(domain::ErrorReason::kUnschedulable),
            v1::SANDBOX_ERROR_REASON_UNSCHEDULABLE);
  EXPECT_EQ(ErrorReasonToProto(domain::ErrorReason::kClaimNotBound),
            v1::SANDBOX_ERROR_REASON_CLAIM_NOT_BOUND);
  EXPECT_EQ(ErrorReasonToProto(domain::ErrorReason::kContainerConfig),
            v1::SANDBOX_ERROR_REASON_CONTAINER_CONFIG);
}

domain::Sandbox SampleSandbox() {
  domain::Sandbox s;
  s.spec.name = "alice";
  s.spec.ns = "team-a";
  s.spec.project = "p1";
  s.spec.image = "img:1";
  s.spec.storage = {"5Gi", "", "/home/agent"};
  s.spec.ports = {3000, 7681};
  s.phase = domain::Phase::kError;
  s.error_reason = domain::ErrorReason::kCrashLoop;
  s.message = "back-off restarting failed container";
  s.desired_replicas = 1;
  s.ready_replicas = 0;
  s.endpoints = {"alice-0.alice-service.team-a.svc.cluster.local",
                 "https://alice-app.example.dev", "https://alice-ttyd.example.dev"};
  s.storage = {"home-alice-0", "Bound", "5Gi", "pvc-uid-1"};
  s.created = absl::FromUnixNanos(1700000000123456789);
  s.version = "4711";
  s.uid = "sts-uid-1";
  s.resource_version = "98765";
  return s;
}

TEST(SandboxToProtoTest, ConvertsEveryField) {
  v1::Sandbox got = SandboxToProto(SampleSandbox());
  auto want = Parse<v1::Sandbox>(R"pb(
    spec {
      name: "alice"
      namespace: "team-a"
      project: "p1"
      image: "img:1"
      resources {
        requests {}
        limits {}
      }
      storage { size: "5Gi" mount_path: "/home/agent" }
      ports { app: 3000 terminal: 7681 }
    }
    phase: SANDBOX_PHASE_ERROR
    error_reason: SANDBOX_ERROR_REASON_CRASH_LOOP
    message: "back-off restarting failed container"
    desired_replicas: 1
    ready_replicas: 0
    endpoints {
      pod_dns: "alice-0.alice-service.team-a.svc.cluster.local"
      app_url: "https://alice-app.example.dev"
      terminal_url: "https://alice-ttyd.example.dev"
    }
    storage { claim_name: "home-alice-0" phase: "Bound" capacity: "5Gi" uid: "pvc-uid-1" }
    create_time { seconds: 1700000000 nanos: 123456789 }
    version: "4711"
    uid: "sts-uid-1"
    resource_version: "98765"
  )pb");
  EXPECT_TRUE(MessageDifferencer::Equals(got, want))
      << got.DebugString() << "\nvs\n" << want.DebugString();
}

TEST(SandboxToProtoTest, TimeBeforeEpochAndUnsetTime) {
  domain::Sandbox s = SampleSandbox();
  s.created = absl::FromUnixMillis(-1500);
  v1::Sandbox got = SandboxToProto(s);
  EXPECT_EQ(got.create_time().seconds(), -2);
  EXPECT_EQ(got.create_time().nanos(), 500000000);

  s.created = absl::InfinitePast();
  EXPECT_FALSE(SandboxToProto(s).has_create_time());
}

TEST(ListResultToProtoTest, KeepsOrderAndToken) {
  domain::ListResult result;
  result.sandboxes.push_back(SampleSandbox());
  result.sandboxes.push_back(SampleSandbox());
  result.sandboxes[1].spec.name = "bob";
  result.next_page_token = "next";
  v1::ListSandboxesResponse response = ListResultToProto(result);
  ASSERT_EQ(response.sandboxes_size(), 2);
  EXPECT_EQ(response.sandboxes(0).spec().name(), "alice");
  EXPECT_EQ(response.sandboxes(1).spec().name(), "bob");
  EXPECT_EQ(response.next_page_token(), "next");

  EXPECT_EQ(ListResultToProto(domain::ListResult()).ByteSizeLong(), 0u);
}

TEST(MigrationProtoTest, RequestsAreChecked) {
  v1::MigrateSandboxesRequest batch;
  batch.set_namespace_("team-a");
  batch.set_concurrency(-1);
  EXPECT_EQ(domain::GetErrorDetail(MigrationBatchFromRequest(batch).status()).metadata["field"],
            "concurrency");
  batch.set_concurrency(3);
  batch.set_label_selector("tier=a");
  batch.set_dry_run(true);
  absl::StatusOr<domain::MigrationBatch> converted = MigrationBatchFromRequest(batch);
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_EQ(converted->concurrency, 3);
  EXPECT_EQ(converted->label_selector, "tier=a");
  EXPECT_TRUE(converted->dry_run);

  v1::RollbackMigrationRequest rollback;
  rollback.set_namespace_("team-a");
  EXPECT_EQ(domain::GetErrorDetail(RollbackFromRequest(rollback).status()).metadata["field"],
            "name");
  rollback.set_name("s1");
  rollback.set_mount_home(true);
  absl::StatusOr<domain::RollbackRequest> r = RollbackFromRequest(rollback);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->mount_home);
  EXPECT_FALSE(r->delete_storage);
}

// A skipped sandbox carries the same code, reason and metadata a unary call would get.
TEST(MigrationProtoTest, AReportCarriesItsChangesAndItsError) {
  domain::MigrationReport report;
  report.ns = "team-a";
  report.name = "s1";
  report.step = domain::MigrationStep::kRecorded;
  report.outcome = domain::MigrationOutcome::kSkipped;
  report.changes.push_back({domain::PlannedChange::Action::kPatch, "Deployment", "s1",
                            R"({"spec":{"replicas":0}})"});
  report.error = domain::MakeError(absl::StatusCode::kFailedPrecondition, "UNSUPPORTED_FIELD",
                                   "Deployment/s1: spec.replicas: at most one",
                                   {{"field", "spec.replicas"}, {"object", "Deployment/s1"}});
  v1::Migration out = MigrationToProto(report);
  EXPECT_EQ(out.step(), v1::MIGRATION_STEP_RECORDED);
  EXPECT_EQ(out.outcome(), v1::MIGRATION_OUTCOME_SKIPPED);
  ASSERT_EQ(out.changes_size(), 1);
  EXPECT_EQ(out.changes(0).action(), v1::PlannedChange::ACTION_PATCH);
  EXPECT_EQ(out.changes(0).body(), R"({"spec":{"replicas":0}})");
  EXPECT_EQ(out.error().code(), 9);  // FAILED_PRECONDITION
  EXPECT_EQ(out.error().reason(), "UNSUPPORTED_FIELD");
  EXPECT_EQ(out.error().message(), "Deployment/s1: spec.replicas: at most one");
  EXPECT_THAT(out.error().metadata(),
              ::testing::UnorderedElementsAre(Pair("field", "spec.replicas"),
                                              Pair("object", "Deployment/s1")));
  EXPECT_FALSE(out.has_sandbox());
  domain::MigrationSummary summary;
  summary.Add(domain::MigrationOutcome::kMigrated);
  EXPECT_EQ(SummaryToProto(summary).migrated(), 1);
  EXPECT_EQ(SummaryToProto(summary).total(), 1);
}

}  // namespace
}  // namespace sandboxd::server
