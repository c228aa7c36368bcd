// The migration of Deployment-era sandboxes (MigrateSandbox, MigrateSandboxes,
// RollbackMigration) over real gRPC against the real local control plane, with sandboxd
// in-process under its least-privilege identity and the caller a ServiceAccount bound
// to sandboxd-user. The Deployment-era objects (testdata/deployment-era-sandbox.yaml and
// variations, deployment_era.h) are created with the admin kubectl, which is also the
// oracle for the result. A FaultInjector between sandboxd and the API server logs
// sandboxd's writes, fails a chosen one or holds one, to interrupt migrations at every
// write and to race two of them.
#include <curl/curl.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/pointer.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/sandboxd_server.h"
#include "tests/integration/deployment_era.h"
#include "tests/integration/error_info.h"
#include "tests/integration/fault_injector.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

namespace sandboxd {
namespace {

namespace pb = sandbox::v1;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::ErrorInfoOf;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kWait = absl::Seconds(90);
constexpr int kMigrateDeadlineSeconds = 180;
constexpr char kImage[] = "registry.local/agent:1";
constexpr char kManagedBy[] = "app.kubernetes.io/managed-by";

bool Eventually(const std::function<bool()>& condition) {
  return testing::Eventually(condition, kWait);
}

// The field of the first violation of the status's google.rpc.BadRequest ("" if none).
std::string BadRequestField(const grpc::Status& status) {
  google::rpc::Status rpc;
  if (!rpc.ParseFromString(status.error_details())) return "";
  for (const auto& any : rpc.details()) {
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&bad) && bad.field_violations_size() > 0) {
      return bad.field_violations(0).field();
    }
  }
  return "";
}

std::string MetadataOf(const google::rpc::ErrorInfo& info, const std::string& key) {
  auto it = info.metadata().find(key);
  return it == info.metadata().end() ? "<unset>" : it->second;
}

// "CREATE ConfigMap x-migration": a change as the expectations below write it.
std::string Describe(const pb::PlannedChange& change) {
  const std::string name = pb::PlannedChange::Action_Name(change.action());
  absl::string_view action = name;
  absl::ConsumePrefix(&action, "ACTION_");
  return absl::StrCat(action, " ", change.kind(), " ", change.name());
}

std::vector<std::string> Describe(const pb::Migration& migration) {
  std::vector<std::string> out;
  for (const pb::PlannedChange& change : migration.changes()) out.push_back(Describe(change));
  return out;
}

// The string members of JSON object `json` (a kubectl jsonpath of a map); empty if it is
// not an object.
std::map<std::string, std::string> StringMap(const std::string& json) {
  std::map<std::string, std::string> out;
  rapidjson::Document doc;
  if (doc.Parse(json.c_str()).HasParseError() || !doc.IsObject()) return out;
  for (const auto& member : doc.GetObject()) {
    if (member.value.IsString()) out[member.name.GetString()] = member.value.GetString();
  }
  return out;
}

// The member names of JSON object `json`, sorted.
std::vector<std::string> KeysOf(const std::string& json) {
  std::vector<std::string> out;
  rapidjson::Document doc;
  if (doc.Parse(json.c_str()).HasParseError() || !doc.IsObject()) return out;
  for (const auto& member : doc.GetObject()) out.emplace_back(member.name.GetString());
  std::sort(out.begin(), out.end());
  return out;
}

// `map[key]`, or "<absent>".
std::string ValueOr(const std::map<std::string, std::string>& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "<absent>" : it->second;
}

// A sandbox's env as a sorted map.
std::map<std::string, std::string> EnvOf(const pb::Sandbox& sandbox) {
  return {sandbox.spec().env().begin(), sandbox.spec().env().end()};
}
std::map<std::string, std::string> EnvOf(
    const std::vector<std::pair<std::string, std::string>>& env) {
  return {env.begin(), env.end()};
}

std::string StringAt(const rapidjson::Value& root, const char* pointer) {
  const rapidjson::Value* v = rapidjson::Pointer(pointer).Get(root);
  return v != nullptr && v->IsString() ? v->GetString() : "<absent>";
}

// The sandboxd writes in `log` that store something (server-side dry runs left out).
std::vector<std::string> StoringWrites(const std::vector<std::string>& log) {
  std::vector<std::string> out;
  for (const std::string& write : log) {
    if (!absl::EndsWith(write, testing::FaultInjector::kDryRun)) out.push_back(write);
  }
  return out;
}

// A sandboxd in this process, its channel with the caller's token, and (optionally) its
// fault injector (owned by the server).
struct RunningServer {
  std::unique_ptr<server::SandboxdServer> server;
  std::shared_ptr<grpc::Channel> channel;
  testing::FaultInjector* faults = nullptr;
};

class MigrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    plane_ = new testing::Plane();
    ns_ = new std::string(plane_->CreateNamespace("migration"));
    absl::StatusOr<std::string> fixture = testing::ReadDeploymentEraFixture(SANDBOXD_SOURCE_DIR);
    ASSERT_TRUE(fixture.ok()) << fixture.status();
    fixture_ = new std::string(*fixture);
    // The caller: a ServiceAccount allowed every sandbox verb in the test namespace.
    plane_->CreateCaller(*ns_, "tester", "sandboxd-user", *ns_);
    token_ = new std::string(plane_->Token(*ns_, "tester"));
    ASSERT_FALSE(token_->empty());
    main_ = new RunningServer(StartServer(/*inject_faults=*/true));
    ASSERT_NE(main_->server, nullptr);
  }
  static void TearDownTestSuite() {
    if (main_ != nullptr && main_->server != nullptr) main_->server->Shutdown(absl::Seconds(5));
    delete main_;
    plane_->DeleteNamespace(*ns_);
    for (const std::string& ns : extra_namespaces_) plane_->DeleteNamespace(ns);
  }

  void SetUp() override {
    stub_ = pb::SandboxLifecycle::NewStub(main_->channel);
    faults_ = main_->faults;
    faults_->FailWrite(0);
    faults_->TakeWrites();
  }

  // Starts a sandboxd; null `server` (and a test failure) if it does not start.
  static RunningServer StartServer(bool inject_faults) {
    RunningServer out;
    server::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.metrics_listen_address = "127.0.0.1:0";  // not 9090: processes run side by side
    config.tls.plaintext = true;
    config.kube.kubeconfig = plane_->sandboxd_kubeconfig();
    config.sandbox_defaults.image = kImage;
    server::SandboxdServer::Hooks hooks;
    if (inject_faults) hooks.decorate_kube = testing::FaultInjector::Install(&out.faults);
    auto server = server::SandboxdServer::Start(config, hooks);
    if (!server.ok()) {
      ADD_FAILURE() << server.status();
      return out;
    }
    out.server = *std::move(server);
    out.channel = testing::TokenChannel(absl::StrCat("127.0.0.1:", out.server->port()), *token_);
    if (!out.server->WaitUntilServing(absl::Seconds(60))) ADD_FAILURE() << "not serving";
    return out;
  }

  static std::unique_ptr<grpc::ClientContext> Context(int seconds = 30) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    return ctx;
  }

  // ----- Deployment-era sandboxes (admin kubectl) -----

  // A new Deployment-era sandbox of `project` in namespace `ns` (default: the suite's),
  // varied by `vary`, not yet created.
  testing::DeploymentEraSandbox NewEra(
      const std::string& project,
      const std::function<void(testing::DeploymentEraSandbox*)>& vary = {},
      const std::string& ns = "") {
    testing::DeploymentEraSandbox era = testing::RandomDeploymentEra(
        project, absl::StrCat(ns.empty() ? *ns_ : ns, ".example.test"), ++seed_);
    if (vary) vary(&era);
    return era;
  }

  // Creates the sandbox's objects as the old platform did and, for replicas 1, waits for
  // its Deployment to be ready. False (and a test failure) if that fails.
  bool CreateEra(const testing::DeploymentEraSandbox& era, const std::string& ns = "",
                 bool wait_ready = true) {
    const std::string in = ns.empty() ? *ns_ : ns;
    absl::StatusOr<std::string> yaml = testing::RenderDeploymentEra(*fixture_, era);
    if (!yaml.ok()) {
      ADD_FAILURE() << yaml.status();
      return false;
    }
    const std::string path = absl::StrCat(::testing::TempDir(), "era-", era.name, ".yaml");
    std::ofstream(path) << *yaml;
    testing::CommandResult r = plane_->Kubectl(absl::StrCat("-n ", in, " create -f ", path));
    if (r.exit_code != 0) {
      ADD_FAILURE() << "kubectl create " << era.name << ": " << r.output;
      return false;
    }
    if (!wait_ready || era.replicas != 1) return true;
    const bool ready = Eventually([&] {
      return plane_->JsonPath(in, "deployment/" + era.name, "{.status.readyReplicas}") == "1";
    });
    if (!ready) ADD_FAILURE() << "Deployment " << era.name << " never became ready";
    return ready;
  }

  // ----- RPCs -----

  grpc::Status Migrate(const std::string& name, bool dry_run, pb::Migration* out = nullptr,
                       pb::SandboxLifecycle::Stub* stub = nullptr,
                       int deadline_seconds = kMigrateDeadlineSeconds) {
    pb::MigrateSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    req.set_dry_run(dry_run);
    pb::MigrateSandboxResponse resp;
    grpc::Status s = (stub != nullptr ? stub : stub_.get())
                         ->MigrateSandbox(Context(deadline_seconds).get(), req, &resp);
    if (out != nullptr) *out = resp.migration();
    return s;
  }

  // MigrateSandboxes: every message of the stream in `out`, and the stream's status.
  grpc::Status MigrateBatch(const std::string& ns, const std::string& selector, bool dry_run,
                            int concurrency, std::vector<pb::MigrateSandboxesResponse>* out) {
    pb::MigrateSandboxesRequest req;
    req.set_namespace_(ns);
    req.set_label_selector(selector);
    req.set_dry_run(dry_run);
    req.set_concurrency(concurrency);
    auto ctx = Context(600);
    auto reader = stub_->MigrateSandboxes(ctx.get(), req);
    pb::MigrateSandboxesResponse msg;
    while (reader->Read(&msg)) out->push_back(msg);
    return reader->Finish();
  }

  grpc::Status Rollback(const std::string& name, bool dry_run, bool mount_home, bool delete_storage,
                        pb::Migration* out = nullptr) {
    pb::RollbackMigrationRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    req.set_dry_run(dry_run);
    req.set_mount_home(mount_home);
    req.set_delete_storage(delete_storage);
    pb::RollbackMigrationResponse resp;
    grpc::Status s = stub_->RollbackMigration(Context(kMigrateDeadlineSeconds).get(), req, &resp);
    if (out != nullptr) *out = resp.rollback();
    return s;
  }

  grpc::Status Get(const std::string& name, pb::Sandbox* out, const std::string& ns = "") {
    pb::GetSandboxRequest req;
    req.set_namespace_(ns.empty() ? *ns_ : ns);
    req.set_name(name);
    pb::GetSandboxResponse resp;
    grpc::Status s = stub_->GetSandbox(Context().get(), req, &resp);
    *out = resp.sandbox();
    return s;
  }

  grpc::Status Scale(const std::string& name, bool start) {
    if (start) {
      pb::StartSandboxRequest req;
      req.set_namespace_(*ns_);
      req.set_name(name);
      pb::StartSandboxResponse resp;
      return stub_->StartSandbox(Context().get(), req, &resp);
    }
    pb::StopSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    pb::StopSandboxResponse resp;
    return stub_->StopSandbox(Context().get(), req, &resp);
  }

  grpc::Status Delete(const std::string& name) {
    pb::DeleteSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    pb::DeleteSandboxResponse resp;
    return stub_->DeleteSandbox(Context().get(), req, &resp);
  }

  bool WaitForPhase(const std::string& name, pb::SandboxPhase phase, pb::Sandbox* out = nullptr,
                    const std::string& ns = "") {
    pb::Sandbox sandbox;
    bool ok = Eventually([&] { return Get(name, &sandbox, ns).ok() && sandbox.phase() == phase; });
    if (out != nullptr) *out = sandbox;
    if (!ok)
      ADD_FAILURE() << name << " never reached " << pb::SandboxPhase_Name(phase)
                    << "; last: " << sandbox.DebugString();
    return ok;
  }

  // ----- The oracle (admin kubectl) -----

  std::string Json(const std::string& what, const std::string& path) {
    return plane_->JsonPath(*ns_, what, path);
  }
  bool Exists(const std::string& what) { return plane_->Exists(*ns_, what); }

  // `kubectl get <kinds> -o name` in `ns` (default: the suite's), one name per element.
  std::vector<std::string> Names(const std::string& args, const std::string& ns = "") {
    testing::CommandResult r =
        plane_->Kubectl(absl::StrCat("-n ", ns.empty() ? *ns_ : ns, " get ", args, " -o name"));
    std::vector<std::string> out;
    for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipWhitespace())) {
      out.emplace_back(line);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Every object of the kinds a migration touches in `ns` whose name contains `name`,
  // by "Kind/name", with what a write would change (uid, labels, annotations, owners,
  // spec; not status): equal snapshots mean nothing was written to them.
  std::map<std::string, std::string> ObjectsOf(const std::string& name,
                                               const std::string& ns = "") {
    testing::CommandResult r = plane_->Kubectl(absl::StrCat(
        "-n ", ns.empty() ? *ns_ : ns,
        " get deployments,statefulsets,services,ingresses,configmaps,networkpolicies,"
        "persistentvolumeclaims -o 'jsonpath={range .items[*]}{.kind}/{.metadata.name} "
        "{.metadata.uid} {.metadata.labels} {.metadata.annotations} "
        "{.metadata.ownerReferences} {.spec}{\"\\n\"}{end}'"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::map<std::string, std::string> out;
    for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipWhitespace())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
      if (absl::StrContains(kv.first, name)) out.insert(std::move(kv));
    }
    return out;
  }

  // The API server's count of writes (POST, PATCH, DELETE; not server-side dry runs)
  // of the kinds a migration touches, by "VERB resource", from any client.
  std::map<std::string, long> ApiWrites() {
    testing::CommandResult r = plane_->Kubectl("get --raw /metrics");
    std::map<std::string, long> out;
    for (const char* verb : {"POST", "PATCH", "DELETE"}) {
      for (const char* resource : {"configmaps", "statefulsets", "deployments", "services",
                                   "ingresses", "networkpolicies"}) {
        out[absl::StrCat(verb, " ", resource)] = 0;
      }
    }
    for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
      if (!absl::StartsWith(line, "apiserver_request_total{")) continue;
      if (!absl::StrContains(line, "dry_run=\"\"")) continue;
      for (auto& [key, count] : out) {
        std::pair<std::string, std::string> vr = absl::StrSplit(key, ' ');
        if (!absl::StrContains(line, absl::StrCat("verb=\"", vr.first, "\"")) ||
            !absl::StrContains(line, absl::StrCat("resource=\"", vr.second, "\""))) {
          continue;
        }
        double value = 0;
        if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
          count += static_cast<long>(value);
        }
      }
    }
    return out;
  }

  // The changes a migration of `era` makes (design: docs of MigrateSandbox), in order.
  static std::vector<std::string> MigrationChanges(const testing::DeploymentEraSandbox& era) {
    const std::string& n = era.name;
    std::vector<std::string> out = {absl::StrCat("CREATE ConfigMap ", n, "-migration")};
    if (era.replicas > 0) out.push_back(absl::StrCat("PATCH Deployment ", n));
    out.push_back(absl::StrCat("CREATE StatefulSet ", n));
    out.push_back(absl::StrCat("PATCH Service ", n, "-service"));
    if (era.ingresses) {
      out.push_back(absl::StrCat("PATCH Ingress ", n, "-app-ingress"));
      out.push_back(absl::StrCat("PATCH Ingress ", n, "-ttyd-ingress"));
    }
    out.emplace_back("CREATE NetworkPolicy sandboxd-sandboxes");  // the namespace's
    out.push_back(absl::StrCat("DELETE Deployment ", n));
    return out;
  }

  // The changes of a rollback of a running migrated `era`.
  static std::vector<std::string> RollbackChanges(const testing::DeploymentEraSandbox& era,
                                                  bool delete_storage) {
    const std::string& n = era.name;
    // Scale down; release the Service and Ingresses; recreate the Deployment; then the
    // StatefulSet goes (DeleteSandbox: the claim kept first unless delete_storage).
    std::vector<std::string> out = {absl::StrCat("PATCH StatefulSet ", n)};
    out.push_back(absl::StrCat("PATCH Service ", n, "-service"));
    if (era.ingresses) {
      out.push_back(absl::StrCat("PATCH Ingress ", n, "-app-ingress"));
      out.push_back(absl::StrCat("PATCH Ingress ", n, "-ttyd-ingress"));
    }
    out.push_back(absl::StrCat("CREATE Deployment ", n));
    if (!delete_storage) {
      out.push_back(absl::StrCat("PATCH StatefulSet ", n));
      out.push_back(absl::StrCat("PATCH PersistentVolumeClaim vn-homevn-agent-", n, "-0"));
    }
    out.push_back(absl::StrCat("DELETE StatefulSet ", n));
    out.push_back(absl::StrCat("DELETE ConfigMap ", n, "-migration"));
    return out;
  }

  // Checks what every complete migration leaves: one pod <name>-0, no Deployment or
  // ReplicaSet, one StatefulSet, the Service, Ingresses and record owned by it, one
  // record, the namespace's NetworkPolicy.
  void ExpectCompleteMigration(const testing::DeploymentEraSandbox& era,
                               const std::string& ns = "") {
    const std::string& n = era.name;
    const std::string in = ns.empty() ? *ns_ : ns;
    auto json = [&](const std::string& what, const std::string& path) {
      return plane_->JsonPath(in, what, path);
    };
    EXPECT_FALSE(plane_->Exists(in, "deployment/" + n)) << n;
    EXPECT_THAT(Names("statefulsets -l app=" + n, in), ElementsAre("statefulset.apps/" + n));
    if (era.replicas > 0) {
      EXPECT_THAT(Names("pods -l app=" + n, in), ElementsAre("pod/" + n + "-0"));
    } else {
      EXPECT_THAT(Names("pods -l app=" + n, in), IsEmpty()) << n;
    }
    EXPECT_TRUE(Eventually([&] { return Names("replicasets -l app=" + n, in).empty(); }))
        << "ReplicaSets of " << n << " left behind";
    const std::string uid = json("statefulset/" + n, "{.metadata.uid}");
    ASSERT_FALSE(uid.empty()) << n;
    std::vector<std::string> owned = {"service/" + n + "-service", "configmap/" + n + "-migration"};
    if (era.ingresses) {
      owned.push_back("ingress/" + n + "-app-ingress");
      owned.push_back("ingress/" + n + "-ttyd-ingress");
    }
    for (const std::string& what : owned) {
      EXPECT_EQ(json(what, "{.metadata.ownerReferences[*].uid}"), uid) << what;
      EXPECT_EQ(json(what, "{.metadata.ownerReferences[*].kind}"), "StatefulSet") << what;
    }
    EXPECT_EQ(json("service/" + n + "-service", "{.metadata.ownerReferences[0].controller}"),
              "true");
    EXPECT_THAT(Names("configmaps -l sandboxd.dev/migration=" + n, in),
                ElementsAre("configmap/" + n + "-migration"));
    EXPECT_THAT(Names("services -l app.kubernetes.io/managed-by=sandboxd", in),
                ::testing::Contains("service/" + n + "-service"));
    EXPECT_THAT(Names("networkpolicies", in),
                ::testing::Contains("networkpolicy.networking.k8s.io/sandboxd-sandboxes"));
    if (era.ingresses) {
      EXPECT_EQ(json("ingress/" + n + "-app-ingress", "{.spec.rules[*].host}"), era.app_host());
      EXPECT_EQ(json("ingress/" + n + "-ttyd-ingress", "{.spec.rules[*].host}"), era.ttyd_host());
    }
  }

  // Snapshots for "nothing was written": sandboxd's writes (the injector), the API
  // server's write counters and the objects of `names`.
  struct Quiet {
    std::map<std::string, long> api_writes;
    std::map<std::string, std::map<std::string, std::string>> objects;
  };
  Quiet QuietPoint(const std::vector<std::string>& names, const std::string& ns = "") {
    faults_->TakeWrites();
    Quiet q;
    q.api_writes = ApiWrites();
    for (const std::string& name : names) q.objects[name] = ObjectsOf(name, ns);
    return q;
  }
  void ExpectNothingWritten(const Quiet& before, const std::vector<std::string>& names,
                            const std::string& ns = "") {
    EXPECT_THAT(StoringWrites(faults_->TakeWrites()), IsEmpty());
    EXPECT_EQ(ApiWrites(), before.api_writes);
    for (const std::string& name : names) {
      EXPECT_EQ(ObjectsOf(name, ns), before.objects.at(name)) << name;
    }
  }

  static testing::Plane* plane_;
  static std::string* ns_;
  static std::string* token_;
  static std::string* fixture_;
  static RunningServer* main_;
  static std::vector<std::string> extra_namespaces_;
  static uint32_t seed_;
  testing::FaultInjector* faults_ = nullptr;
  std::unique_ptr<pb::SandboxLifecycle::Stub> stub_;
};

testing::Plane* MigrationTest::plane_ = nullptr;
std::string* MigrationTest::ns_ = nullptr;
std::string* MigrationTest::token_ = nullptr;
std::string* MigrationTest::fixture_ = nullptr;
RunningServer* MigrationTest::main_ = nullptr;
std::vector<std::string> MigrationTest::extra_namespaces_;
uint32_t MigrationTest::seed_ = 20261202;

// ---------------------------------------------------------------------------------------
// 1. Dry run.

TEST_F(MigrationTest, DryRunPlansEveryWriteAndWritesNothing) {
  const testing::DeploymentEraSandbox era = NewEra("dry");
  ASSERT_TRUE(CreateEra(era));
  const std::string& n = era.name;
  const Quiet before = QuietPoint({n});

  pb::Migration plan;
  grpc::Status s = Migrate(n, /*dry_run=*/true, &plan);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(plan.namespace_(), *ns_);
  EXPECT_EQ(plan.name(), n);
  EXPECT_EQ(plan.outcome(), pb::MIGRATION_OUTCOME_WOULD_MIGRATE);
  EXPECT_EQ(plan.step(), pb::MIGRATION_STEP_PLANNED);
  EXPECT_FALSE(plan.has_error());
  EXPECT_FALSE(plan.has_sandbox());
  EXPECT_THAT(Describe(plan), ElementsAre(absl::StrCat("CREATE ConfigMap ", n, "-migration"),
                                          absl::StrCat("PATCH Deployment ", n),
                                          absl::StrCat("CREATE StatefulSet ", n),
                                          absl::StrCat("PATCH Service ", n, "-service"),
                                          absl::StrCat("PATCH Ingress ", n, "-app-ingress"),
                                          absl::StrCat("PATCH Ingress ", n, "-ttyd-ingress"),
                                          "CREATE NetworkPolicy sandboxd-sandboxes",
                                          absl::StrCat("DELETE Deployment ", n)));
  EXPECT_THAT(Describe(plan), ElementsAreArray(MigrationChanges(era)));

  // Every body is the JSON that would be sent; a DELETE has none.
  for (const pb::PlannedChange& change : plan.changes()) {
    SCOPED_TRACE(Describe(change));
    if (change.action() == pb::PlannedChange::ACTION_DELETE) {
      EXPECT_EQ(change.body(), "");
      continue;
    }
    rapidjson::Document doc;
    EXPECT_FALSE(doc.Parse(change.body().c_str()).HasParseError()) << change.body();
    EXPECT_TRUE(doc.IsObject()) << change.body();
  }
  ASSERT_EQ(plan.changes_size(), 8);

  // The record: the originals under their keys.
  rapidjson::Document record;
  record.Parse(plan.changes(0).body().c_str());
  ASSERT_TRUE(record.IsObject());
  EXPECT_EQ(StringAt(record, "/metadata/name"), n + "-migration");
  EXPECT_EQ(StringAt(record, "/metadata/labels/app.kubernetes.io~1managed-by"), "sandboxd");
  EXPECT_EQ(StringAt(record, "/metadata/labels/sandboxd.dev~1migration"), n);
  EXPECT_EQ(StringAt(record, "/metadata/labels/cloud.sealos.io~1app-deploy-manager"), n);
  const rapidjson::Value* data = rapidjson::Pointer("/data").Get(record);
  ASSERT_TRUE(data != nullptr && data->IsObject());
  std::vector<std::string> keys;
  for (const auto& m : data->GetObject()) keys.emplace_back(m.name.GetString());
  EXPECT_THAT(keys, UnorderedElementsAre("deployment.json", "service.json", "app-ingress.json",
                                         "ttyd-ingress.json"));

  // The scale-down patch.
  rapidjson::Document scale;
  scale.Parse(plan.changes(1).body().c_str());
  const rapidjson::Value* replicas = rapidjson::Pointer("/spec/replicas").Get(scale);
  ASSERT_TRUE(replicas != nullptr && replicas->IsInt()) << plan.changes(1).body();
  EXPECT_EQ(replicas->GetInt(), 0);

  // The StatefulSet: the Deployment's pod template plus the home volume at /home/agent.
  rapidjson::Document sts;
  sts.Parse(plan.changes(2).body().c_str());
  ASSERT_TRUE(sts.IsObject());
  EXPECT_EQ(StringAt(sts, "/metadata/name"), n);
  EXPECT_EQ(StringAt(sts, "/spec/serviceName"), n + "-service");
  const rapidjson::Value* sts_replicas = rapidjson::Pointer("/spec/replicas").Get(sts);
  ASSERT_TRUE(sts_replicas != nullptr && sts_replicas->IsInt());
  EXPECT_EQ(sts_replicas->GetInt(), 1);
  EXPECT_EQ(StringAt(sts, "/spec/selector/matchLabels/app"), n);
  EXPECT_EQ(StringAt(sts, "/spec/selector/matchLabels/sandboxd.dev~1sandbox"), n);
  EXPECT_EQ(StringAt(sts, "/spec/volumeClaimTemplates/0/metadata/name"), "vn-homevn-agent");
  EXPECT_EQ(StringAt(sts, "/spec/volumeClaimTemplates/0/metadata/annotations/path"), "/home/agent");
  EXPECT_EQ(StringAt(sts, "/spec/volumeClaimTemplates/0/metadata/annotations/value"), "5");
  const rapidjson::Value* containers =
      rapidjson::Pointer("/spec/template/spec/containers").Get(sts);
  ASSERT_TRUE(containers != nullptr && containers->IsArray());
  std::vector<std::pair<std::string, std::string>> mounts;
  for (const auto& c : containers->GetArray()) {
    if (StringAt(c, "/name") != n) continue;
    const rapidjson::Value* vm = rapidjson::Pointer("/volumeMounts").Get(c);
    ASSERT_TRUE(vm != nullptr && vm->IsArray());
    for (const auto& m : vm->GetArray()) {
      mounts.emplace_back(StringAt(m, "/name"), StringAt(m, "/mountPath"));
    }
  }
  EXPECT_THAT(mounts, UnorderedElementsAre(Pair("kubeconfig-volume", "/tmp/kubeconfig"),
                                           Pair("vn-homevn-agent", "/home/agent")));

  ExpectNothingWritten(before, {n});
  EXPECT_FALSE(Exists("statefulset/" + n));
  EXPECT_FALSE(Exists("configmap/" + n + "-migration"));
  EXPECT_EQ(Json("deployment/" + n, "{.spec.replicas}"), "1");
}

// ---------------------------------------------------------------------------------------
// 2. One migration, then the sandbox's whole life.

TEST_F(MigrationTest, MigratesOneSandboxAndItLivesOnAsASandbox) {
  const testing::DeploymentEraSandbox era = NewEra("one");
  ASSERT_TRUE(CreateEra(era));
  const std::string& n = era.name;
  const std::string dep = "deployment/" + n;
  const std::string sts = "statefulset/" + n;
  const std::string svc = "service/" + n + "-service";
  const std::string app_ing = "ingress/" + n + "-app-ingress";
  const std::string ttyd_ing = "ingress/" + n + "-ttyd-ingress";
  const std::string tmpl = "{.spec.template.spec.containers[?(@.name==\"" + n + "\")]";

  // The originals, as the oracle sees them.
  const std::string dep_uid = Json(dep, "{.metadata.uid}");
  const std::map<std::string, std::string> dep_labels = StringMap(Json(dep, "{.metadata.labels}"));
  const std::map<std::string, std::string> tmpl_labels =
      StringMap(Json(dep, "{.spec.template.metadata.labels}"));
  const std::string env = Json(dep, tmpl + ".env}");
  const std::string ports = Json(dep, tmpl + ".ports}");
  const std::string resources = Json(dep, tmpl + ".resources}");
  const std::string security = Json(dep, "{.spec.template.spec.securityContext}");
  const std::string svc_uid = Json(svc, "{.metadata.uid}");
  const std::string cluster_ip = Json(svc, "{.spec.clusterIP}");
  const std::string svc_ports = Json(svc, "{.spec.ports}");
  const std::string app_annotations = Json(app_ing, "{.metadata.annotations}");
  const std::string ttyd_annotations = Json(ttyd_ing, "{.metadata.annotations}");
  const std::string app_tls = Json(app_ing, "{.spec.tls}");
  ASSERT_EQ(dep_labels.size(), 3u);
  ASSERT_FALSE(env.empty());
  ASSERT_NE(cluster_ip, "None");

  pb::Migration done;
  grpc::Status s = Migrate(n, /*dry_run=*/false, &done);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(done.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_EQ(done.step(), pb::MIGRATION_STEP_DEPLOYMENT_DELETED);
  EXPECT_THAT(Describe(done), ElementsAreArray(MigrationChanges(era)));
  EXPECT_FALSE(done.has_error());
  const pb::Sandbox& sandbox = done.sandbox();
  EXPECT_EQ(sandbox.phase(), pb::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(sandbox.spec().name(), n);
  EXPECT_EQ(sandbox.spec().namespace_(), *ns_);
  EXPECT_EQ(sandbox.spec().image(), era.image);
  EXPECT_EQ(sandbox.spec().project(), era.project);
  std::vector<std::pair<std::string, std::string>> expected_env = testing::DeploymentEraEnv(era);
  EXPECT_EQ(EnvOf(sandbox), EnvOf(expected_env));
  EXPECT_EQ(sandbox.endpoints().app_url(), "https://" + era.app_host());
  EXPECT_EQ(sandbox.endpoints().terminal_url(), "https://" + era.ttyd_host());
  EXPECT_EQ(sandbox.storage().claim_name(), "vn-homevn-agent-" + n + "-0");
  const std::string sts_uid = Json(sts, "{.metadata.uid}");
  EXPECT_EQ(sandbox.uid(), sts_uid);

  // The Deployment is gone; the StatefulSet carries everything it had.
  EXPECT_FALSE(Exists(dep));
  const std::map<std::string, std::string> sts_labels = StringMap(Json(sts, "{.metadata.labels}"));
  for (const auto& [key, value] : dep_labels) {
    EXPECT_EQ(ValueOr(sts_labels, key), value) << key;
  }
  EXPECT_EQ(ValueOr(sts_labels, kManagedBy), "sandboxd");
  EXPECT_EQ(Json(sts, "{.metadata.labels.sandboxd\\.dev/project}"), era.project);
  EXPECT_EQ(Json(sts, "{.metadata.annotations.originImageName}"), era.image);
  EXPECT_EQ(Json(sts, "{.metadata.annotations.deploy\\.cloud\\.sealos\\.io/minReplicas}"), "1");
  EXPECT_EQ(Json(sts, "{.metadata.annotations.deploy\\.cloud\\.sealos\\.io/maxReplicas}"), "1");
  EXPECT_EQ(Json(sts, "{.spec.replicas}"), "1");
  EXPECT_EQ(Json(sts, "{.spec.serviceName}"), n + "-service");
  EXPECT_EQ(Json(sts, "{.spec.selector.matchLabels}"),
            absl::StrCat(R"({"app":")", n, R"(","sandboxd.dev/sandbox":")", n, R"("})"));
  const std::map<std::string, std::string> sts_tmpl_labels =
      StringMap(Json(sts, "{.spec.template.metadata.labels}"));
  for (const auto& [key, value] : tmpl_labels) {
    EXPECT_EQ(ValueOr(sts_tmpl_labels, key), value) << key;
  }
  EXPECT_EQ(ValueOr(sts_tmpl_labels, "sandboxd.dev/sandbox"), n);
  EXPECT_EQ(ValueOr(sts_tmpl_labels, kManagedBy), "sandboxd");
  EXPECT_EQ(Json(sts, tmpl + ".image}"), era.image);
  EXPECT_EQ(Json(sts, tmpl + ".env}"), env);
  EXPECT_EQ(Json(sts, tmpl + ".env[*].name}"),
            "DATABASE_URL NODE_ENV TTYD_PORT TTYD_INTERFACE PROJECT_NAME");
  EXPECT_EQ(Json(sts, tmpl + ".ports}"), ports);
  EXPECT_EQ(Json(sts, tmpl + ".ports[*].name}"), absl::StrJoin(era.port_names, " "));
  EXPECT_EQ(Json(sts, tmpl + ".resources}"), resources);
  EXPECT_EQ(Json(sts, "{.spec.template.spec.securityContext}"), security);
  EXPECT_EQ(Json(sts,
                 "{.spec.template.spec.volumes[?(@.name==\"kubeconfig-volume\")]"
                 ".configMap.name}"),
            n + "-kubeconfig");
  EXPECT_EQ(Json(sts, tmpl + ".volumeMounts[?(@.name==\"kubeconfig-volume\")].mountPath}"),
            "/tmp/kubeconfig");
  EXPECT_EQ(Json(sts, tmpl + ".volumeMounts[?(@.name==\"vn-homevn-agent\")].mountPath}"),
            "/home/agent");
  EXPECT_EQ(Json(sts, "{.spec.volumeClaimTemplates[*].metadata.name}"), "vn-homevn-agent");
  EXPECT_EQ(Json(sts, "{.spec.volumeClaimTemplates[0].metadata.annotations.path}"), "/home/agent");
  EXPECT_EQ(Json(sts, "{.spec.volumeClaimTemplates[0].metadata.annotations.value}"), "5");
  EXPECT_EQ(Json(sts, "{.spec.volumeClaimTemplates[0].spec.resources.requests.storage}"), "5Gi");

  // The Service is the same object, adopted, selecting only the sandbox's pod.
  EXPECT_EQ(Json(svc, "{.metadata.uid}"), svc_uid);
  EXPECT_EQ(Json(svc, "{.spec.clusterIP}"), cluster_ip);
  EXPECT_EQ(Json(svc, "{.spec.ports}"), svc_ports);
  EXPECT_EQ(Json(svc, "{.metadata.ownerReferences[*].uid}"), sts_uid);
  EXPECT_EQ(Json(svc, "{.metadata.ownerReferences[0].kind}"), "StatefulSet");
  EXPECT_EQ(Json(svc, "{.metadata.ownerReferences[0].name}"), n);
  EXPECT_EQ(Json(svc, "{.metadata.ownerReferences[0].controller}"), "true");
  EXPECT_EQ(Json(svc, "{.metadata.labels.app\\.kubernetes\\.io/managed-by}"), "sandboxd");
  EXPECT_EQ(Json(svc, "{.spec.selector}"),
            absl::StrCat(R"({"app":")", n, R"(","sandboxd.dev/sandbox":")", n, R"("})"));

  // The Ingresses keep hosts, TLS and annotations, owned by the StatefulSet.
  EXPECT_EQ(Json(app_ing, "{.spec.rules[*].host}"), era.app_host());
  EXPECT_EQ(Json(ttyd_ing, "{.spec.rules[*].host}"), era.ttyd_host());
  EXPECT_EQ(Json(app_ing, "{.spec.tls}"), app_tls);
  EXPECT_EQ(Json(app_ing, "{.spec.tls[0].secretName}"), "wildcard-cert");
  EXPECT_EQ(Json(ttyd_ing, "{.spec.tls[0].secretName}"), "wildcard-cert");
  EXPECT_EQ(Json(app_ing, "{.metadata.annotations}"), app_annotations);
  EXPECT_EQ(Json(ttyd_ing, "{.metadata.annotations}"), ttyd_annotations);
  EXPECT_EQ(Json(app_ing, "{.metadata.ownerReferences[*].uid}"), sts_uid);
  EXPECT_EQ(Json(ttyd_ing, "{.metadata.ownerReferences[*].uid}"), sts_uid);

  // The record keeps the originals, owned by the StatefulSet.
  const std::string record = "configmap/" + n + "-migration";
  EXPECT_THAT(KeysOf(Json(record, "{.data}")), ElementsAre("app-ingress.json", "deployment.json",
                                                           "service.json", "ttyd-ingress.json"));
  rapidjson::Document saved;
  saved.Parse(Json(record, "{.data.deployment\\.json}").c_str());
  ASSERT_TRUE(saved.IsObject());
  EXPECT_EQ(StringAt(saved, "/metadata/uid"), dep_uid);
  EXPECT_EQ(Json(record, "{.metadata.labels.sandboxd\\.dev/migration}"), n);
  EXPECT_EQ(Json(record, "{.metadata.labels.app\\.kubernetes\\.io/managed-by}"), "sandboxd");
  EXPECT_FALSE(Json(record, "{.metadata.annotations.sandboxd\\.dev/migration-step}").empty());
  EXPECT_EQ(Json(record, "{.metadata.ownerReferences[*].uid}"), sts_uid);

  // One pod, the StatefulSet's, with the home claim.
  EXPECT_THAT(Names("pods -l app=" + n), ElementsAre("pod/" + n + "-0"));
  EXPECT_EQ(Json("pod/" + n + "-0",
                 "{.spec.volumes[?(@.name==\"vn-homevn-agent\")]"
                 ".persistentVolumeClaim.claimName}"),
            "vn-homevn-agent-" + n + "-0");
  EXPECT_TRUE(Exists("pvc/vn-homevn-agent-" + n + "-0"));
  ExpectCompleteMigration(era);

  // Again: nothing to do, nothing written.
  faults_->TakeWrites();
  pb::Migration again;
  s = Migrate(n, /*dry_run=*/false, &again);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(again.outcome(), pb::MIGRATION_OUTCOME_ALREADY_MIGRATED);
  EXPECT_THAT(again.changes(), IsEmpty());
  EXPECT_EQ(again.sandbox().spec().name(), n);
  EXPECT_THAT(StoringWrites(faults_->TakeWrites()), IsEmpty());

  // Stop and start keep the claim.
  const std::string claim_uid = Json("pvc/vn-homevn-agent-" + n + "-0", "{.metadata.uid}");
  ASSERT_TRUE(Scale(n, /*start=*/false).ok());
  ASSERT_TRUE(WaitForPhase(n, pb::SANDBOX_PHASE_STOPPED));
  EXPECT_THAT(Names("pods -l app=" + n), IsEmpty());
  ASSERT_TRUE(Scale(n, /*start=*/true).ok());
  pb::Sandbox restarted;
  ASSERT_TRUE(WaitForPhase(n, pb::SANDBOX_PHASE_RUNNING, &restarted));
  EXPECT_EQ(restarted.storage().uid(), claim_uid);

  // An env update keeps the order and appends; a watcher sees it.
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  pb::WatchSandboxRequest watch_req;
  watch_req.set_namespace_(*ns_);
  watch_req.set_name(n);
  auto watch = stub_->WatchSandbox(&watch_ctx, watch_req);
  pb::WatchSandboxResponse event;
  ASSERT_TRUE(watch->Read(&event));
  EXPECT_EQ(event.type(), pb::WATCH_EVENT_TYPE_ADDED);
  ASSERT_TRUE(watch->Read(&event));
  EXPECT_EQ(event.type(), pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE);

  pb::UpdateSandboxEnvRequest update;
  update.set_namespace_(*ns_);
  update.set_name(n);
  (*update.mutable_env())["FEATURE_FLAG"] = "on";
  pb::UpdateSandboxEnvResponse updated;
  s = stub_->UpdateSandboxEnv(Context().get(), update, &updated);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  expected_env.emplace_back("FEATURE_FLAG", "on");
  EXPECT_EQ(EnvOf(updated.sandbox()), EnvOf(expected_env));
  EXPECT_EQ(Json(sts, tmpl + ".env[*].name}"),
            "DATABASE_URL NODE_ENV TTYD_PORT TTYD_INTERFACE PROJECT_NAME FEATURE_FLAG");
  bool seen = false;
  while (!seen && watch->Read(&event)) {
    seen = event.type() == pb::WATCH_EVENT_TYPE_MODIFIED &&
           event.sandbox().spec().env().count("FEATURE_FLAG") == 1 &&
           event.sandbox().spec().env().at("FEATURE_FLAG") == "on";
  }
  EXPECT_TRUE(seen) << "the watch never showed FEATURE_FLAG";
  watch_ctx.TryCancel();
  while (watch->Read(&event)) {
  }
  watch->Finish();
  ASSERT_TRUE(WaitForPhase(n, pb::SANDBOX_PHASE_RUNNING));

  // Delete removes the sandbox and everything it adopted or made.
  ASSERT_TRUE(Delete(n).ok());
  EXPECT_TRUE(Eventually([&] {
    return !Exists(sts) && !Exists(svc) && !Exists(app_ing) && !Exists(ttyd_ing) &&
           !Exists(record) && !Exists("pvc/vn-homevn-agent-" + n + "-0") &&
           Names("pods -l app=" + n).empty();
  })) << "left: "
      << absl::StrJoin(Names("all,configmaps,networkpolicies,pvc -l app=" + n), " ");
}

// ---------------------------------------------------------------------------------------
// 3. Variations that migrate.

TEST_F(MigrationTest, StoppedDeploymentBecomesAStoppedSandbox) {
  const testing::DeploymentEraSandbox era =
      NewEra("stopped", [](testing::DeploymentEraSandbox* e) { e->replicas = 0; });
  ASSERT_TRUE(CreateEra(era));
  const std::string& n = era.name;
  pb::Migration done;
  grpc::Status s = Migrate(n, /*dry_run=*/false, &done);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(done.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_EQ(done.step(), pb::MIGRATION_STEP_DEPLOYMENT_DELETED);
  EXPECT_THAT(Describe(done), ElementsAreArray(MigrationChanges(era)));  // no scale-down
  EXPECT_EQ(done.sandbox().phase(), pb::SANDBOX_PHASE_STOPPED);
  EXPECT_EQ(done.sandbox().desired_replicas(), 0);
  EXPECT_EQ(Json("statefulset/" + n, "{.spec.replicas}"), "0");
  EXPECT_THAT(Names("pods -l app=" + n), IsEmpty());
  ExpectCompleteMigration(era);

  // It starts like any sandbox.
  ASSERT_TRUE(Scale(n, /*start=*/true).ok());
  ASSERT_TRUE(WaitForPhase(n, pb::SANDBOX_PHASE_RUNNING));
  EXPECT_THAT(Names("pods -l app=" + n), ElementsAre("pod/" + n + "-0"));
}

TEST_F(MigrationTest, SandboxWithoutIngressesMigrates) {
  const testing::DeploymentEraSandbox era =
      NewEra("noingress", [](testing::DeploymentEraSandbox* e) { e->ingresses = false; });
  ASSERT_TRUE(CreateEra(era));
  const std::string& n = era.name;
  pb::Migration done;
  grpc::Status s = Migrate(n, /*dry_run=*/false, &done);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(done.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_EQ(done.step(), pb::MIGRATION_STEP_DEPLOYMENT_DELETED);
  EXPECT_THAT(Describe(done), ElementsAreArray(MigrationChanges(era)));
  EXPECT_EQ(done.sandbox().phase(), pb::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(done.sandbox().endpoints().app_url(), "");
  EXPECT_EQ(done.sandbox().endpoints().terminal_url(), "");
  EXPECT_THAT(Names("ingresses -l cloud.sealos.io/app-deploy-manager=" + n), IsEmpty());
  EXPECT_THAT(KeysOf(Json("configmap/" + n + "-migration", "{.data}")),
              ElementsAre("deployment.json", "service.json"));
  ExpectCompleteMigration(era);
}

TEST_F(MigrationTest, ExtraVariablesKeepTheirOrder) {
  const testing::DeploymentEraSandbox era =
      NewEra("extraenv", [](testing::DeploymentEraSandbox* e) {
        e->extra_env = {{"ZETA", "last-first"}, {"ALPHA", "1"}, {"OPENAI_API_KEY", "sk-test"}};
      });
  ASSERT_TRUE(CreateEra(era));
  const std::string& n = era.name;
  const std::string tmpl = "{.spec.template.spec.containers[?(@.name==\"" + n + "\")]";
  const std::string env = Json("deployment/" + n, tmpl + ".env}");
  pb::Migration done;
  grpc::Status s = Migrate(n, /*dry_run=*/false, &done);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(done.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_EQ(done.sandbox().phase(), pb::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(EnvOf(done.sandbox()), EnvOf(testing::DeploymentEraEnv(era)));
  EXPECT_EQ(Json("statefulset/" + n, tmpl + ".env}"), env);
  EXPECT_EQ(Json("statefulset/" + n, tmpl + ".env[*].name}"),
            "DATABASE_URL NODE_ENV TTYD_PORT TTYD_INTERFACE PROJECT_NAME ZETA ALPHA "
            "OPENAI_API_KEY");
  ExpectCompleteMigration(era);
}

// ---------------------------------------------------------------------------------------
// 4. What is refused, and writes nothing.

TEST_F(MigrationTest, RefusalsNameTheReasonAndWriteNothing) {
  const testing::DeploymentEraSandbox plain =
      NewEra("plain", [](testing::DeploymentEraSandbox* e) { e->sealos_label = false; });
  const testing::DeploymentEraSandbox two =
      NewEra("two", [](testing::DeploymentEraSandbox* e) { e->replicas = 2; });
  const testing::DeploymentEraSandbox home =
      NewEra("home", [](testing::DeploymentEraSandbox* e) { e->mounts_home = true; });
  ASSERT_TRUE(CreateEra(plain));
  ASSERT_TRUE(CreateEra(two));
  ASSERT_TRUE(CreateEra(home));
  pb::CreateSandboxRequest create;
  create.mutable_spec()->set_name("made-by-create");
  create.mutable_spec()->set_namespace_(*ns_);
  pb::CreateSandboxResponse created;
  ASSERT_TRUE(stub_->CreateSandbox(Context().get(), create, &created).ok());
  ASSERT_TRUE(WaitForPhase("made-by-create", pb::SANDBOX_PHASE_RUNNING));
  ASSERT_TRUE(
      Eventually([&] { return Json("deployment/" + two.name, "{.status.readyReplicas}") == "2"; }));
  const std::vector<std::string> names = {plain.name, two.name, home.name, "made-by-create"};
  const Quiet before = QuietPoint(names);

  struct Refusal {
    std::string name;
    grpc::StatusCode code;
    std::string reason;
    std::string field;  // metadata "field"; "-": no metadata checked (NOT_FOUND)
  };
  const std::vector<Refusal> refusals = {
      {"nobody-agentruntime-zzzzzz", grpc::StatusCode::NOT_FOUND, "SANDBOX_NOT_FOUND", "-"},
      {plain.name, grpc::StatusCode::FAILED_PRECONDITION, "NOT_DEPLOYMENT_ERA",
       "metadata.labels[cloud.sealos.io/app-deploy-manager]"},
      {two.name, grpc::StatusCode::FAILED_PRECONDITION, "UNSUPPORTED_FIELD", "spec.replicas"},
      {home.name, grpc::StatusCode::FAILED_PRECONDITION, "UNSUPPORTED_FIELD",
       "spec.template.spec.containers[0].volumeMounts[1].mountPath"},
      {"made-by-create", grpc::StatusCode::FAILED_PRECONDITION, "NOT_DEPLOYMENT_ERA",
       "metadata.name"},
  };
  for (const Refusal& r : refusals) {
    for (bool dry_run : {true, false}) {
      SCOPED_TRACE(absl::StrCat(r.name, dry_run ? " (dry run)" : ""));
      grpc::Status s = Migrate(r.name, dry_run);
      EXPECT_EQ(s.error_code(), r.code) << s.error_message();
      google::rpc::ErrorInfo info = ErrorInfoOf(s);
      EXPECT_EQ(info.domain(), "sandboxd.dev");
      EXPECT_EQ(info.reason(), r.reason);
      if (r.field == "-") continue;
      // The object that decided it: the Deployment, or the StatefulSet CreateSandbox made.
      EXPECT_EQ(MetadataOf(info, "object"),
                (r.name == "made-by-create" ? "StatefulSet/" : "Deployment/") + r.name);
      EXPECT_EQ(MetadataOf(info, "field"), r.field);
      if (r.reason == "UNSUPPORTED_FIELD") {
        EXPECT_NE(MetadataOf(info, "why"), "<unset>");
      }
    }
  }
  ExpectNothingWritten(before, names);
  EXPECT_EQ(Json("deployment/" + two.name, "{.spec.replicas}"), "2");
}

// ---------------------------------------------------------------------------------------
// 5. MigrateSandboxes.

TEST_F(MigrationTest, MigrateSandboxesMigratesABatchAndSkipsWhatIsNotDeploymentEra) {
  const std::string ns = plane_->CreateNamespace("migbatch");
  extra_namespaces_.push_back(ns);
  plane_->CreateCaller(*ns_, "tester", "sandboxd-user", ns);
  const std::pair<std::string, std::string> batch_label = {"fleet", "batch-a"};
  std::vector<testing::DeploymentEraSandbox> eras;
  eras.reserve(20);
  for (int i = 0; i < 20; ++i) {
    eras.push_back(NewEra(
        "batch", [&](testing::DeploymentEraSandbox* e) { e->extra_labels = {batch_label}; }, ns));
  }
  const testing::DeploymentEraSandbox stranger = NewEra(
      "stranger",
      [&](testing::DeploymentEraSandbox* e) {
        e->sealos_label = false;
        e->extra_labels = {batch_label};
      },
      ns);
  for (const auto& era : eras) ASSERT_TRUE(CreateEra(era, ns, /*wait_ready=*/false));
  ASSERT_TRUE(CreateEra(stranger, ns));
  for (const auto& era : eras) {
    ASSERT_TRUE(Eventually([&] {
      return plane_->JsonPath(ns, "deployment/" + era.name, "{.status.readyReplicas}") == "1";
    })) << era.name;
  }
  std::set<std::string> era_names;
  std::map<std::string, const testing::DeploymentEraSandbox*> eras_by_name;
  for (const auto& era : eras) {
    era_names.insert(era.name);
    eras_by_name[era.name] = &era;
  }
  const std::string selector = absl::StrCat(batch_label.first, "=", batch_label.second);

  // Out of range concurrency: refused before anything happens.
  {
    std::vector<pb::MigrateSandboxesResponse> messages;
    grpc::Status s = MigrateBatch(ns, selector, /*dry_run=*/false, 21, &messages);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_EQ(ErrorInfoOf(s).reason(), "INVALID_FIELD");
    EXPECT_EQ(MetadataOf(ErrorInfoOf(s), "field"), "concurrency");
    EXPECT_EQ(BadRequestField(s), "concurrency");
    EXPECT_THAT(messages, IsEmpty());
  }

  // Dry run: every sandbox would migrate, the stranger is skipped, nothing is written.
  {
    Quiet before;
    faults_->TakeWrites();
    before.api_writes = ApiWrites();
    before.objects[""] = ObjectsOf("", ns);
    std::vector<pb::MigrateSandboxesResponse> messages;
    grpc::Status s = MigrateBatch(ns, selector, /*dry_run=*/true, 5, &messages);
    ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    ASSERT_FALSE(messages.empty());
    ASSERT_TRUE(messages.back().has_summary());
    const pb::MigrationSummary& summary = messages.back().summary();
    EXPECT_EQ(summary.total(), 21);
    EXPECT_EQ(summary.would_migrate(), 20);
    EXPECT_EQ(summary.skipped(), 1);
    EXPECT_EQ(summary.migrated(), 0);
    EXPECT_EQ(summary.already_migrated(), 0);
    EXPECT_EQ(summary.failed(), 0);
    std::map<std::string, pb::Migration> last;
    for (size_t i = 0; i + 1 < messages.size(); ++i) {
      ASSERT_TRUE(messages[i].has_progress()) << i;
      last[messages[i].progress().name()] = messages[i].progress();
    }
    ASSERT_EQ(last.size(), 21u);
    for (const auto& era : eras) {
      const pb::Migration& m = last[era.name];
      EXPECT_EQ(m.outcome(), pb::MIGRATION_OUTCOME_WOULD_MIGRATE) << era.name;
      EXPECT_EQ(m.step(), pb::MIGRATION_STEP_PLANNED) << era.name;
      EXPECT_EQ(m.namespace_(), ns);
      EXPECT_THAT(Describe(m), ElementsAreArray(MigrationChanges(era))) << era.name;
    }
    const pb::Migration& skipped = last[stranger.name];
    EXPECT_EQ(skipped.outcome(), pb::MIGRATION_OUTCOME_SKIPPED);
    EXPECT_EQ(skipped.error().reason(), "NOT_DEPLOYMENT_ERA");
    EXPECT_EQ(skipped.error().code(), static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
    EXPECT_THAT(StoringWrites(faults_->TakeWrites()), IsEmpty());
    EXPECT_EQ(ApiWrites(), before.api_writes);
    EXPECT_EQ(ObjectsOf("", ns), before.objects[""]);
  }

  // The real thing, five at a time.
  std::vector<pb::MigrateSandboxesResponse> messages;
  grpc::Status s = MigrateBatch(ns, selector, /*dry_run=*/false, 5, &messages);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  ASSERT_FALSE(messages.empty());
  ASSERT_TRUE(messages.back().has_summary());
  const pb::MigrationSummary& summary = messages.back().summary();
  EXPECT_EQ(summary.total(), 21);
  EXPECT_EQ(summary.migrated(), 20);
  EXPECT_EQ(summary.skipped(), 1);
  EXPECT_EQ(summary.already_migrated(), 0);
  EXPECT_EQ(summary.would_migrate(), 0);
  EXPECT_EQ(summary.failed(), 0);

  std::map<std::string, std::vector<pb::Migration>> by_name;
  std::set<std::string> in_flight, finished;
  size_t most_in_flight = 0;
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    ASSERT_TRUE(messages[i].has_progress()) << i;
    const pb::Migration& m = messages[i].progress();
    EXPECT_EQ(finished.count(m.name()), 0u) << m.name() << ": a message after its last";
    by_name[m.name()].push_back(m);
    if (m.outcome() == pb::MIGRATION_OUTCOME_UNSPECIFIED) {
      in_flight.insert(m.name());
    } else {
      in_flight.erase(m.name());
      finished.insert(m.name());
    }
    most_in_flight = std::max(most_in_flight, in_flight.size());
  }
  EXPECT_LE(most_in_flight, 5u);
  ASSERT_EQ(by_name.size(), 21u);
  for (const std::string& name : era_names) {
    SCOPED_TRACE(name);
    const std::vector<pb::Migration>& ms = by_name[name];
    ASSERT_FALSE(ms.empty());
    std::vector<pb::MigrationStep> steps;
    for (size_t i = 0; i + 1 < ms.size(); ++i) {
      EXPECT_EQ(ms[i].outcome(), pb::MIGRATION_OUTCOME_UNSPECIFIED);
      if (!steps.empty()) {
        EXPECT_GT(ms[i].step(), steps.back());
      }
      steps.push_back(ms[i].step());
    }
    // One progress message per step completed, then the final message.
    EXPECT_THAT(
        steps,
        ElementsAre(pb::MIGRATION_STEP_RECORDED, pb::MIGRATION_STEP_DEPLOYMENT_SCALED_DOWN,
                    pb::MIGRATION_STEP_STATEFULSET_CREATED, pb::MIGRATION_STEP_ADOPTED,
                    pb::MIGRATION_STEP_SANDBOX_READY, pb::MIGRATION_STEP_DEPLOYMENT_DELETED));
    EXPECT_EQ(ms.back().outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
    EXPECT_EQ(ms.back().step(), pb::MIGRATION_STEP_DEPLOYMENT_DELETED);
    EXPECT_THAT(Describe(ms.back()), ElementsAreArray(MigrationChanges(*eras_by_name[name])));
    EXPECT_EQ(ms.back().sandbox().phase(), pb::SANDBOX_PHASE_RUNNING);
  }
  ASSERT_EQ(by_name[stranger.name].size(), 1u);
  const pb::Migration& skipped = by_name[stranger.name].back();
  EXPECT_EQ(skipped.outcome(), pb::MIGRATION_OUTCOME_SKIPPED);
  EXPECT_EQ(skipped.error().reason(), "NOT_DEPLOYMENT_ERA");
  EXPECT_EQ(skipped.error().code(), static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  EXPECT_THAT(skipped.changes(), IsEmpty());

  // Afterwards: 20 running sandboxes with 20 pods; only the stranger's Deployment is left.
  pb::ListSandboxesRequest list;
  list.set_namespace_(ns);
  list.set_label_selector(selector);
  list.set_page_size(100);
  pb::ListSandboxesResponse listed;
  ASSERT_TRUE(stub_->ListSandboxes(Context().get(), list, &listed).ok());
  std::set<std::string> listed_names;
  for (const pb::Sandbox& sandbox : listed.sandboxes()) {
    listed_names.insert(sandbox.spec().name());
    EXPECT_EQ(sandbox.phase(), pb::SANDBOX_PHASE_RUNNING) << sandbox.spec().name();
  }
  EXPECT_EQ(listed_names, era_names);
  std::vector<std::string> expected_pods;
  expected_pods.reserve(era_names.size());
  for (const std::string& name : era_names) expected_pods.push_back("pod/" + name + "-0");
  EXPECT_THAT(Names("pods -l sandboxd.dev/sandbox", ns), ElementsAreArray(expected_pods));
  EXPECT_THAT(Names("deployments", ns), ElementsAre("deployment.apps/" + stranger.name));
  for (const auto& era : eras) ExpectCompleteMigration(era, ns);
}

// ---------------------------------------------------------------------------------------
// 6. Interrupted migrations finish when called again.

TEST_F(MigrationTest, MigrationInterruptedAtAnyWriteFinishesWhenCalledAgain) {
  // A full migration, to count its writes.
  const testing::DeploymentEraSandbox probe = NewEra("count");
  ASSERT_TRUE(CreateEra(probe));
  faults_->TakeWrites();
  pb::Migration done;
  grpc::Status s = Migrate(probe.name, /*dry_run=*/false, &done);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  ASSERT_EQ(done.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  const std::vector<std::string> writes = StoringWrites(faults_->TakeWrites());
  const std::vector<std::string> full_changes = Describe(done);
  ASSERT_GE(writes.size(), MigrationChanges(probe).size()) << absl::StrJoin(writes, ", ");
  std::cout << "A full migration writes " << writes.size()
            << " times: " << absl::StrJoin(writes, ", ") << "\n";
  ASSERT_TRUE(Delete(probe.name).ok());

  for (size_t n = 1; n <= writes.size(); ++n) {
    const testing::DeploymentEraSandbox era = NewEra(absl::StrCat("cut", n));
    SCOPED_TRACE(absl::StrCat("write ", n, " of ", writes.size(), " (", writes[n - 1], ") fails; ",
                              era.name));
    ASSERT_TRUE(CreateEra(era));
    faults_->FailWrite(static_cast<int>(n));
    pb::Migration failed;
    s = Migrate(era.name, /*dry_run=*/false, &failed);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    EXPECT_TRUE(faults_->fault_fired());
    EXPECT_EQ(faults_->failed_write(), writes[n - 1]);
    faults_->FailWrite(0);

    pb::Migration finished;
    s = Migrate(era.name, /*dry_run=*/false, &finished);
    ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    EXPECT_EQ(finished.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
    EXPECT_EQ(finished.step(), pb::MIGRATION_STEP_DEPLOYMENT_DELETED);
    EXPECT_EQ(finished.sandbox().phase(), pb::SANDBOX_PHASE_RUNNING);
    // The second call makes (some of) the remaining changes, in the same order.
    std::vector<std::string> expected_rest;
    for (const std::string& change : MigrationChanges(era)) expected_rest.push_back(change);
    std::vector<std::string> rest = Describe(finished);
    auto it = expected_rest.begin();
    for (const std::string& change : rest) {
      it = std::find(it, expected_rest.end(), change);
      EXPECT_NE(it, expected_rest.end())
          << change << " out of order in " << absl::StrJoin(rest, ", ");
      if (it == expected_rest.end()) break;
      ++it;
    }
    ExpectCompleteMigration(era);
    ASSERT_TRUE(Delete(era.name).ok());
  }
}

TEST_F(MigrationTest, MigrationOfADeadServerIsFinishedByANewOneAfterItsLease) {
  const testing::DeploymentEraSandbox era = NewEra("crash");
  ASSERT_TRUE(CreateEra(era));
  const std::string& n = era.name;

  // A sandboxd that dies while its StatefulSet POST is in flight, in a call with a
  // deadline of 30 s (the lease lasts until the call's deadline).
  RunningServer doomed = StartServer(/*inject_faults=*/true);
  ASSERT_NE(doomed.server, nullptr);
  doomed.faults->Hold("POST statefulsets");
  auto doomed_stub = pb::SandboxLifecycle::NewStub(doomed.channel);
  grpc::Status doomed_status;
  const absl::Time called = absl::Now();
  std::thread call([&] {
    doomed_status =
        Migrate(n, /*dry_run=*/false, nullptr, doomed_stub.get(), /*deadline_seconds=*/30);
  });
  ASSERT_TRUE(doomed.faults->WaitUntilHeld(absl::Seconds(120)));
  EXPECT_TRUE(Exists("configmap/" + n + "-migration"));
  EXPECT_EQ(Json("deployment/" + n, "{.spec.replicas}"), "0");
  const absl::Time died = absl::Now();
  doomed.faults->Sever();  // from here on nothing it sends reaches the API server
  call.join();
  EXPECT_EQ(doomed_status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << doomed_status.error_message();
  doomed.server->Shutdown(absl::Seconds(1));
  doomed.server.reset();
  EXPECT_FALSE(Exists("statefulset/" + n));

  // A new sandboxd finds the dead call's lease, then takes over once it has expired.
  RunningServer fresh = StartServer(/*inject_faults=*/false);
  ASSERT_NE(fresh.server, nullptr);
  auto fresh_stub = pb::SandboxLifecycle::NewStub(fresh.channel);
  pb::Migration done;
  grpc::Status s = Migrate(n, /*dry_run=*/false, &done, fresh_stub.get());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "MIGRATION_IN_PROGRESS");
  EXPECT_NE(MetadataOf(ErrorInfoOf(s), "holder"), "<unset>");
  // The lease lasts at most 30 s: retry once a second until then (and a little more).
  absl::Time attempt = absl::Now();
  while (s.error_code() == grpc::StatusCode::ABORTED && absl::Now() - called < absl::Seconds(33)) {
    absl::SleepFor(absl::Seconds(1));
    attempt = absl::Now();
    s = Migrate(n, /*dry_run=*/false, &done, fresh_stub.get());
  }
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message() << " "
                      << MetadataOf(ErrorInfoOf(s), "leaseExpires") << " after "
                      << absl::FormatDuration(absl::Now() - died);
  EXPECT_LE(attempt - called, absl::Seconds(33)) << "the dead server's lease lasted too long";
  EXPECT_EQ(done.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_EQ(done.sandbox().phase(), pb::SANDBOX_PHASE_RUNNING);
  fresh.server->Shutdown(absl::Seconds(5));
  ExpectCompleteMigration(era);
}

// A migration interrupted after its Deployment was deleted is found by its record.
TEST_F(MigrationTest, MigrateSandboxesFinishesAMigrationInterruptedAfterTheDeploymentWent) {
  // A full migration (another label), to count its writes: the last one records the end.
  const testing::DeploymentEraSandbox probe = NewEra("lastprobe");
  ASSERT_TRUE(CreateEra(probe));
  faults_->TakeWrites();
  ASSERT_TRUE(Migrate(probe.name, /*dry_run=*/false).ok());
  const std::vector<std::string> writes = StoringWrites(faults_->TakeWrites());
  ASSERT_FALSE(writes.empty());

  const std::pair<std::string, std::string> label = {"fleet", "resume-b"};
  const testing::DeploymentEraSandbox era =
      NewEra("resume", [&](testing::DeploymentEraSandbox* e) { e->extra_labels = {label}; });
  ASSERT_TRUE(CreateEra(era));
  faults_->FailWrite(static_cast<int>(writes.size()));
  grpc::Status s = Migrate(era.name, /*dry_run=*/false);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(faults_->fault_fired());
  faults_->FailWrite(0);
  ASSERT_FALSE(Exists("deployment/" + era.name));
  ASSERT_TRUE(Exists("configmap/" + era.name + "-migration"));

  std::vector<pb::MigrateSandboxesResponse> messages;
  s = MigrateBatch(*ns_, absl::StrCat(label.first, "=", label.second), /*dry_run=*/false, 0,
                   &messages);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  ASSERT_FALSE(messages.empty());
  ASSERT_TRUE(messages.back().has_summary());
  EXPECT_EQ(messages.back().summary().total(), 1);
  EXPECT_EQ(messages.back().summary().migrated(), 1);
  ASSERT_GE(messages.size(), 2u);
  const pb::Migration& last = messages[messages.size() - 2].progress();
  EXPECT_EQ(last.name(), era.name);
  EXPECT_EQ(last.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_EQ(last.step(), pb::MIGRATION_STEP_DEPLOYMENT_DELETED);
  EXPECT_EQ(last.sandbox().phase(), pb::SANDBOX_PHASE_RUNNING);
  ExpectCompleteMigration(era);
  pb::Migration again;
  ASSERT_TRUE(Migrate(era.name, /*dry_run=*/false, &again).ok());
  EXPECT_EQ(again.outcome(), pb::MIGRATION_OUTCOME_ALREADY_MIGRATED);
}

// ---------------------------------------------------------------------------------------
// 7. Two migrations of one sandbox at once.

TEST_F(MigrationTest, SecondConcurrentMigrationIsAbortedAndTheFirstCompletes) {
  const testing::DeploymentEraSandbox era = NewEra("race");
  ASSERT_TRUE(CreateEra(era));
  const std::string& n = era.name;
  faults_->Hold("POST statefulsets");
  pb::Migration first;
  grpc::Status first_status;
  std::thread call([&] {
    auto stub = pb::SandboxLifecycle::NewStub(main_->channel);
    first_status = Migrate(n, /*dry_run=*/false, &first, stub.get());
  });
  const bool held = faults_->WaitUntilHeld(absl::Seconds(120));
  EXPECT_TRUE(held);

  pb::Migration second;
  grpc::Status s = Migrate(n, /*dry_run=*/false, &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "MIGRATION_IN_PROGRESS");
  EXPECT_NE(MetadataOf(ErrorInfoOf(s), "holder"), "<unset>");

  faults_->Release();
  call.join();
  ASSERT_TRUE(first_status.ok()) << first_status.error_code() << " "
                                 << first_status.error_message();
  EXPECT_EQ(first.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_EQ(first.step(), pb::MIGRATION_STEP_DEPLOYMENT_DELETED);
  EXPECT_THAT(Describe(first), ElementsAreArray(MigrationChanges(era)));
  ExpectCompleteMigration(era);
}

// ---------------------------------------------------------------------------------------
// 8. Rollback.

TEST_F(MigrationTest, RollbackOfANeverMigratedSandboxIsNotMigrated) {
  const testing::DeploymentEraSandbox era = NewEra("never");
  ASSERT_TRUE(CreateEra(era));
  const Quiet before = QuietPoint({era.name});
  for (bool dry_run : {true, false}) {
    grpc::Status s = Rollback(era.name, dry_run, /*mount_home=*/false, /*delete_storage=*/false);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_EQ(ErrorInfoOf(s).reason(), "NOT_MIGRATED");
  }
  grpc::Status both = Rollback(era.name, /*dry_run=*/false, /*mount_home=*/true,
                               /*delete_storage=*/true);
  EXPECT_EQ(both.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << both.error_message();
  EXPECT_EQ(ErrorInfoOf(both).reason(), "INVALID_FIELD");
  EXPECT_EQ(MetadataOf(ErrorInfoOf(both), "field"), "delete_storage");
  EXPECT_EQ(BadRequestField(both), "delete_storage");
  ExpectNothingWritten(before, {era.name});
}

TEST_F(MigrationTest, RollbackWithMountHomeKeepsTheHomeVolumeAcrossTheRoundTrip) {
  const testing::DeploymentEraSandbox era = NewEra("back");
  ASSERT_TRUE(CreateEra(era));
  const std::string& n = era.name;
  const std::string dep = "deployment/" + n;
  const std::string svc = "service/" + n + "-service";
  const std::string app_ing = "ingress/" + n + "-app-ingress";
  const std::string ttyd_ing = "ingress/" + n + "-ttyd-ingress";
  const std::string claim = "pvc/vn-homevn-agent-" + n + "-0";
  const std::string tmpl = "{.spec.template.spec.containers[?(@.name==\"" + n + "\")]";
  const std::string labels = Json(dep, "{.metadata.labels}");
  const std::string env = Json(dep, tmpl + ".env}");
  const std::string ports = Json(dep, tmpl + ".ports}");
  const std::string svc_uid = Json(svc, "{.metadata.uid}");
  const std::string svc_labels = Json(svc, "{.metadata.labels}");
  const std::string app_annotations = Json(app_ing, "{.metadata.annotations}");
  pb::Migration migrated;
  grpc::Status s = Migrate(n, /*dry_run=*/false, &migrated);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  ASSERT_EQ(migrated.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  const std::string claim_uid = Json(claim, "{.metadata.uid}");
  ASSERT_FALSE(claim_uid.empty());

  // The both-flags request is refused first.
  grpc::Status both = Rollback(n, /*dry_run=*/false, /*mount_home=*/true, /*delete_storage=*/true);
  EXPECT_EQ(both.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(MetadataOf(ErrorInfoOf(both), "field"), "delete_storage");

  // Dry run: the plan, nothing written.
  const Quiet before = QuietPoint({n});
  pb::Migration plan;
  s = Rollback(n, /*dry_run=*/true, /*mount_home=*/true, /*delete_storage=*/false, &plan);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(plan.outcome(), pb::MIGRATION_OUTCOME_WOULD_ROLL_BACK);
  EXPECT_EQ(plan.step(), pb::MIGRATION_STEP_UNSPECIFIED);
  EXPECT_THAT(Describe(plan), ElementsAreArray(RollbackChanges(era, /*delete_storage=*/false)));
  for (const pb::PlannedChange& change : plan.changes()) {
    if (change.action() == pb::PlannedChange::ACTION_DELETE) continue;
    rapidjson::Document doc;
    EXPECT_FALSE(doc.Parse(change.body().c_str()).HasParseError()) << Describe(change);
  }
  ExpectNothingWritten(before, {n});

  // The rollback.
  pb::Migration rolled;
  s = Rollback(n, /*dry_run=*/false, /*mount_home=*/true, /*delete_storage=*/false, &rolled);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(rolled.outcome(), pb::MIGRATION_OUTCOME_ROLLED_BACK);
  EXPECT_THAT(Describe(rolled), ElementsAreArray(RollbackChanges(era, /*delete_storage=*/false)));

  // The Deployment as it was, plus the home volume.
  EXPECT_EQ(Json(dep, "{.metadata.labels}"), labels);
  EXPECT_EQ(Json(dep, "{.metadata.annotations.originImageName}"), era.image);
  EXPECT_EQ(Json(dep, "{.metadata.annotations.deploy\\.cloud\\.sealos\\.io/minReplicas}"), "1");
  EXPECT_EQ(Json(dep, "{.metadata.annotations.deploy\\.cloud\\.sealos\\.io/maxReplicas}"), "1");
  EXPECT_EQ(Json(dep, "{.spec.replicas}"), "1");
  EXPECT_EQ(Json(dep, tmpl + ".env}"), env);
  EXPECT_EQ(Json(dep, tmpl + ".ports}"), ports);
  EXPECT_EQ(Json(dep,
                 "{.spec.template.spec.volumes[?(@.name==\"vn-homevn-agent\")]"
                 ".persistentVolumeClaim.claimName}"),
            "vn-homevn-agent-" + n + "-0");
  EXPECT_EQ(Json(dep, tmpl + ".volumeMounts[?(@.name==\"vn-homevn-agent\")].mountPath}"),
            "/home/agent");
  EXPECT_EQ(Json(dep, tmpl + ".volumeMounts[?(@.name==\"kubeconfig-volume\")].mountPath}"),
            "/tmp/kubeconfig");
  std::string pod;
  EXPECT_TRUE(Eventually([&] {
    std::vector<std::string> pods = Names("pods -l app=" + n);
    if (pods.size() != 1) return false;
    pod = pods[0];
    return Json(pod, "{.status.phase}") == "Running";
  })) << absl::StrJoin(Names("pods -l app=" + n), " ");
  EXPECT_NE(pod, "pod/" + n + "-0");
  EXPECT_EQ(Json(pod,
                 "{.spec.volumes[?(@.name==\"vn-homevn-agent\")]"
                 ".persistentVolumeClaim.claimName}"),
            "vn-homevn-agent-" + n + "-0");

  // The sandbox's own objects are gone; the Service and Ingresses are as they were.
  EXPECT_TRUE(Eventually(
      [&] { return !Exists("statefulset/" + n) && !Exists("configmap/" + n + "-migration"); }));
  EXPECT_EQ(Json(svc, "{.metadata.uid}"), svc_uid);
  EXPECT_EQ(Json(svc, "{.spec.selector}"), absl::StrCat(R"({"app":")", n, R"("})"));
  EXPECT_EQ(Json(svc, "{.metadata.ownerReferences}"), "");
  EXPECT_EQ(Json(svc, "{.metadata.labels}"), svc_labels);
  EXPECT_EQ(Json(svc, "{.metadata.labels.app\\.kubernetes\\.io/managed-by}"), "");
  for (const std::string& ing : {app_ing, ttyd_ing}) {
    EXPECT_EQ(Json(ing, "{.metadata.ownerReferences}"), "") << ing;
    EXPECT_EQ(Json(ing, "{.metadata.labels.app\\.kubernetes\\.io/managed-by}"), "") << ing;
  }
  EXPECT_EQ(Json(app_ing, "{.spec.rules[*].host}"), era.app_host());
  EXPECT_EQ(Json(ttyd_ing, "{.spec.rules[*].host}"), era.ttyd_host());
  EXPECT_EQ(Json(app_ing, "{.metadata.annotations}"), app_annotations);

  // The claim is kept, released and marked.
  absl::SleepFor(absl::Seconds(3));  // time for the garbage collector, if it were to act
  EXPECT_EQ(Json(claim, "{.metadata.uid}"), claim_uid);
  EXPECT_EQ(Json(claim, "{.metadata.ownerReferences}"), "");
  EXPECT_EQ(Json(claim, "{.metadata.deletionTimestamp}"), "");
  EXPECT_EQ(Json(claim, "{.metadata.annotations.sandboxd\\.dev/kept}"), "true");

  // No longer migrated.
  pb::Sandbox gone;
  EXPECT_EQ(Get(n, &gone).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status again = Rollback(n, /*dry_run=*/false, /*mount_home=*/true, false);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ErrorInfoOf(again).reason(), "NOT_MIGRATED");

  // Migrating it again adopts the kept claim: the work done since the first migration
  // and after the rollback is still there.
  pb::Migration remigrated;
  s = Migrate(n, /*dry_run=*/false, &remigrated);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(remigrated.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_THAT(Describe(remigrated), ElementsAreArray(MigrationChanges(era)));
  EXPECT_EQ(remigrated.sandbox().phase(), pb::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(remigrated.sandbox().storage().uid(), claim_uid);
  EXPECT_EQ(Json(claim, "{.metadata.uid}"), claim_uid);
  EXPECT_EQ(Json("statefulset/" + n, "{.spec.template.spec.volumes[*].name}"), "kubeconfig-volume");
  EXPECT_EQ(Json("pod/" + n + "-0",
                 "{.spec.volumes[?(@.name==\"vn-homevn-agent\")]"
                 ".persistentVolumeClaim.claimName}"),
            "vn-homevn-agent-" + n + "-0");
  ExpectCompleteMigration(era);
}

// A rollback interrupted at any of its writes finishes when called again.
TEST_F(MigrationTest, RollbackInterruptedAtAnyWriteFinishesWhenCalledAgain) {
  // A full rollback, to count its writes.
  const testing::DeploymentEraSandbox probe = NewEra("rbcount");
  ASSERT_TRUE(CreateEra(probe));
  ASSERT_TRUE(Migrate(probe.name, /*dry_run=*/false).ok());
  faults_->TakeWrites();
  pb::Migration done;
  grpc::Status s = Rollback(probe.name, /*dry_run=*/false, /*mount_home=*/false,
                            /*delete_storage=*/false, &done);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  ASSERT_EQ(done.outcome(), pb::MIGRATION_OUTCOME_ROLLED_BACK);
  const std::vector<std::string> writes = StoringWrites(faults_->TakeWrites());
  ASSERT_GE(writes.size(), RollbackChanges(probe, /*delete_storage=*/false).size())
      << absl::StrJoin(writes, ", ");
  std::cout << "A full rollback writes " << writes.size()
            << " times: " << absl::StrJoin(writes, ", ") << "\n";

  for (size_t n = 1; n <= writes.size(); ++n) {
    const testing::DeploymentEraSandbox era = NewEra(absl::StrCat("rbcut", n));
    SCOPED_TRACE(absl::StrCat("write ", n, " of ", writes.size(), " (", writes[n - 1], ") fails; ",
                              era.name));
    ASSERT_TRUE(CreateEra(era));
    const std::string& name = era.name;
    const std::string svc_uid = Json("service/" + name + "-service", "{.metadata.uid}");
    ASSERT_TRUE(Migrate(name, /*dry_run=*/false).ok());
    const std::string claim = "pvc/vn-homevn-agent-" + name + "-0";
    const std::string claim_uid = Json(claim, "{.metadata.uid}");
    faults_->FailWrite(static_cast<int>(n));
    s = Rollback(name, /*dry_run=*/false, /*mount_home=*/false, /*delete_storage=*/false);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    EXPECT_TRUE(faults_->fault_fired());
    EXPECT_EQ(faults_->failed_write(), writes[n - 1]);
    faults_->FailWrite(0);

    pb::Migration finished;
    s = Rollback(name, /*dry_run=*/false, /*mount_home=*/false, /*delete_storage=*/false,
                 &finished);
    ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    EXPECT_EQ(finished.outcome(), pb::MIGRATION_OUTCOME_ROLLED_BACK);

    // The Deployment-era sandbox as it was (running: one replica), the claim kept.
    EXPECT_TRUE(Eventually([&] {
      return !Exists("statefulset/" + name) && !Exists("configmap/" + name + "-migration");
    })) << absl::StrJoin(Names("all,configmaps,networkpolicies -l app=" + name), " ");
    EXPECT_EQ(Json("deployment/" + name, "{.spec.replicas}"), "1");
    if (Json("deployment/" + name, "{.spec.replicas}") == "1") {
      EXPECT_TRUE(Eventually([&] {
        return Json("deployment/" + name, "{.status.readyReplicas}") == "1" &&
               Names("pods -l app=" + name).size() == 1;
      })) << absl::StrJoin(Names("pods -l app=" + name), " ");
    }
    EXPECT_THAT(Names("deployments -l app=" + name), ElementsAre("deployment.apps/" + name));
    EXPECT_EQ(Json("deployment/" + name, "{.spec.template.spec.volumes[*].name}"),
              "kubeconfig-volume");
    const std::string svc = "service/" + name + "-service";
    EXPECT_EQ(Json(svc, "{.metadata.uid}"), svc_uid);
    EXPECT_EQ(Json(svc, "{.spec.selector}"), absl::StrCat(R"({"app":")", name, R"("})"));
    EXPECT_EQ(Json(svc, "{.metadata.ownerReferences}"), "");
    for (const char* suffix : {"-app-ingress", "-ttyd-ingress"}) {
      EXPECT_EQ(Json("ingress/" + name + suffix, "{.metadata.ownerReferences}"), "") << suffix;
      EXPECT_EQ(
          Json("ingress/" + name + suffix, "{.metadata.labels.app\\.kubernetes\\.io/managed-by}"),
          "")
          << suffix;
    }
    EXPECT_EQ(Json(claim, "{.metadata.uid}"), claim_uid);
    EXPECT_EQ(Json(claim, "{.metadata.ownerReferences}"), "");
    EXPECT_EQ(Json(claim, "{.metadata.annotations.sandboxd\\.dev/kept}"), "true");
  }
}

TEST_F(MigrationTest, RollbackWithDeleteStorageDropsTheClaimAndTheSandboxMigratesAgain) {
  const testing::DeploymentEraSandbox era = NewEra("drop");
  ASSERT_TRUE(CreateEra(era));
  const std::string& n = era.name;
  const std::string claim = "pvc/vn-homevn-agent-" + n + "-0";
  const std::string labels = Json("deployment/" + n, "{.metadata.labels}");
  pb::Migration migrated;
  grpc::Status s = Migrate(n, /*dry_run=*/false, &migrated);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  ASSERT_TRUE(Exists(claim));

  pb::Migration rolled;
  s = Rollback(n, /*dry_run=*/false, /*mount_home=*/false, /*delete_storage=*/true, &rolled);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(rolled.outcome(), pb::MIGRATION_OUTCOME_ROLLED_BACK);
  EXPECT_THAT(Describe(rolled), ElementsAreArray(RollbackChanges(era, /*delete_storage=*/true)));
  EXPECT_TRUE(Eventually([&] {
    return !Exists(claim) && !Exists("statefulset/" + n) &&
           !Exists("configmap/" + n + "-migration");
  }));
  EXPECT_EQ(Json("deployment/" + n, "{.metadata.labels}"), labels);
  EXPECT_EQ(Json("deployment/" + n, "{.spec.template.spec.volumes[*].name}"), "kubeconfig-volume");
  ASSERT_TRUE(
      Eventually([&] { return Json("deployment/" + n, "{.status.readyReplicas}") == "1"; }));

  // The rolled-back sandbox is a Deployment-era sandbox again: it migrates.
  pb::Migration again;
  s = Migrate(n, /*dry_run=*/false, &again);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(again.outcome(), pb::MIGRATION_OUTCOME_MIGRATED);
  EXPECT_THAT(Describe(again), ElementsAreArray(MigrationChanges(era)));
  EXPECT_EQ(again.sandbox().phase(), pb::SANDBOX_PHASE_RUNNING);
  ExpectCompleteMigration(era);
}

}  // namespace
}  // namespace sandboxd
