// SandboxLifecycle over real gRPC against the real local control plane, with sandboxd
// running under its least-privilege identity (deploy/rbac.yaml). Kubernetes state is
// checked with kubectl as the admin: an oracle independent of the code under test.
#include <curl/curl.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/sandboxd_server.h"
#include "tests/integration/error_info.h"
#include "tests/integration/request_counter.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

namespace sandboxd {
namespace {

namespace pb = sandbox::v1;
using ::testing::ElementsAre;
using testing::ErrorInfoOf;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kWait = absl::Seconds(90);
constexpr char kImage[] = "registry.local/agent:1";

bool Eventually(const std::function<bool()>& condition) {
  return testing::Eventually(condition, kWait);
}

class SandboxLifecycleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    plane_ = new testing::Plane();
    ns_ = new std::string(plane_->CreateNamespace("lifecycle"));
    server::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.metrics_listen_address = "127.0.0.1:0";  // not 9090: processes run side by side
    config.tls.plaintext = true;
    config.kube.kubeconfig = plane_->sandboxd_kubeconfig();
    config.sandbox_defaults.image = kImage;
    config.sandbox_defaults.tls_secret = "wildcard-tls";
    server::SandboxdServer::Hooks hooks;
    hooks.decorate_kube = testing::RequestCounter::Install(&requests_);
    auto server = server::SandboxdServer::Start(config, hooks);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    // The caller: a ServiceAccount allowed every sandbox verb in the test namespace.
    plane_->CreateCaller(*ns_, "tester", "sandboxd-user", *ns_);
    const std::string token = plane_->Token(*ns_, "tester");
    ASSERT_FALSE(token.empty());
    channel_ = new std::shared_ptr<grpc::Channel>(
        testing::TokenChannel(absl::StrCat("127.0.0.1:", server_->port()), token));
    ASSERT_TRUE(server_->WaitUntilServing(absl::Seconds(60)));
  }
  static void TearDownTestSuite() {
    server_->Shutdown(absl::Seconds(5));
    delete server_;
    plane_->DeleteNamespace(*ns_);
  }

  void SetUp() override { stub_ = pb::SandboxLifecycle::NewStub(*channel_); }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  pb::CreateSandboxRequest CreateRequest(const std::string& name) {
    pb::CreateSandboxRequest req;
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_namespace_(*ns_);
    req.mutable_spec()->set_project("proj-a");
    return req;
  }

  grpc::Status Create(const pb::CreateSandboxRequest& req, pb::Sandbox* out = nullptr) {
    pb::CreateSandboxResponse resp;
    grpc::Status s = stub_->CreateSandbox(Context().get(), req, &resp);
    if (out != nullptr) *out = resp.sandbox();
    return s;
  }

  grpc::Status Get(const std::string& name, pb::Sandbox* out) {
    return CallByName(&pb::SandboxLifecycle::Stub::GetSandbox, name, out);
  }

  // Calls a Start/Stop-shaped RPC (namespace + name in, sandbox out) on `name`.
  template <typename Request, typename Response>
  grpc::Status CallByName(grpc::Status (pb::SandboxLifecycle::Stub::*method)(
                              grpc::ClientContext*, const Request&, Response*),
                          const std::string& name, pb::Sandbox* out) {
    Request req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    Response resp;
    grpc::Status s = ((*stub_).*method)(Context().get(), req, &resp);
    if (out != nullptr) *out = resp.sandbox();
    return s;
  }

  grpc::Status Scale(const std::string& name, bool start, pb::Sandbox* out = nullptr) {
    return start ? CallByName(&pb::SandboxLifecycle::Stub::StartSandbox, name, out)
                 : CallByName(&pb::SandboxLifecycle::Stub::StopSandbox, name, out);
  }

  grpc::Status UpdateEnv(const std::string& name, std::map<std::string, std::string> set,
                         std::vector<std::string> remove, const std::string& expected_version = "",
                         pb::Sandbox* out = nullptr) {
    pb::UpdateSandboxEnvRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    for (const auto& [k, v] : set) (*req.mutable_env())[k] = v;
    for (const auto& k : remove) req.add_remove_keys(k);
    if (!expected_version.empty()) req.set_expected_version(expected_version);
    pb::UpdateSandboxEnvResponse resp;
    grpc::Status s = stub_->UpdateSandboxEnv(Context().get(), req, &resp);
    if (out != nullptr) *out = resp.sandbox();
    return s;
  }

  grpc::Status Delete(const std::string& name, bool keep_storage = false, bool allow_missing = false) {
    pb::DeleteSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    req.set_keep_storage(keep_storage);
    req.set_allow_missing(allow_missing);
    pb::DeleteSandboxResponse resp;
    return stub_->DeleteSandbox(Context().get(), req, &resp);
  }

  bool WaitForPhase(const std::string& name, pb::SandboxPhase phase, pb::Sandbox* out = nullptr) {
    pb::Sandbox sandbox;
    bool ok = Eventually([&] { return Get(name, &sandbox).ok() && sandbox.phase() == phase; });
    if (out != nullptr) *out = sandbox;
    if (!ok) ADD_FAILURE() << name << " never reached " << pb::SandboxPhase_Name(phase)
                           << "; last: " << sandbox.DebugString();
    return ok;
  }

  std::string Json(const std::string& what, const std::string& path) {
    return plane_->JsonPath(*ns_, what, path);
  }
  bool Exists(const std::string& what) { return plane_->Exists(*ns_, what); }

  // Waits until the watch cache holds the StatefulSet `name` at the API server's current
  // resourceVersion: a quiet point at which a write's requests are deterministic.
  bool WaitUntilCacheIsCurrent(const std::string& name) {
    return Eventually([&] {
      auto cached = server_->cache()->GetStatefulSet(*ns_, name);
      return cached.ok() &&
             cached->metadata.resource_version ==
                 Json("statefulset/" + name, "{.metadata.resourceVersion}");
    });
  }

  // An ingress domain of this run only: one host belongs to one Ingress in the whole
  // cluster, and an earlier run's namespace may still be terminating.
  static std::string Domain() { return absl::StrCat(*ns_, ".example.test"); }

  static testing::Plane* plane_;
  static testing::RequestCounter* requests_;
  static std::string* ns_;
  static server::SandboxdServer* server_;
  static std::shared_ptr<grpc::Channel>* channel_;
  std::unique_ptr<pb::SandboxLifecycle::Stub> stub_;
};

testing::Plane* SandboxLifecycleTest::plane_ = nullptr;
testing::RequestCounter* SandboxLifecycleTest::requests_ = nullptr;
std::string* SandboxLifecycleTest::ns_ = nullptr;
server::SandboxdServer* SandboxLifecycleTest::server_ = nullptr;
std::shared_ptr<grpc::Channel>* SandboxLifecycleTest::channel_ = nullptr;

TEST_F(SandboxLifecycleTest, CreateWritesTheSandboxObjectsAndReachesRunning) {
  pb::CreateSandboxRequest req = CreateRequest("alpha");
  (*req.mutable_spec()->mutable_env())["GREETING"] = "hello";
  req.mutable_spec()->set_ingress_domain(Domain());
  (*req.mutable_spec()->mutable_labels())["team"] = "infra";
  pb::Sandbox created;
  ASSERT_TRUE(Create(req, &created).ok());

  // The spec as created, with the defaults filled in.
  EXPECT_EQ(created.spec().image(), kImage);
  EXPECT_EQ(created.spec().storage().size(), "5Gi");
  EXPECT_EQ(created.spec().storage().mount_path(), "/home/agent");
  EXPECT_EQ(created.spec().ports().app(), 3000);
  EXPECT_EQ(created.spec().ports().terminal(), 7681);
  EXPECT_THAT(created.spec().env(), UnorderedElementsAre(Pair("GREETING", "hello")));
  EXPECT_EQ(created.endpoints().pod_dns(), absl::StrCat("alpha-0.alpha-service.", *ns_, ".svc.cluster.local"));
  EXPECT_EQ(created.endpoints().app_url(), absl::StrCat("https://alpha-app.", Domain()));
  EXPECT_EQ(created.endpoints().terminal_url(), absl::StrCat("https://alpha-ttyd.", Domain()));
  EXPECT_EQ(created.storage().claim_name(), "vn-homevn-agent-alpha-0");

  // The StatefulSet with the platform's labels and annotations.
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.serviceName}"), "alpha-service");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.replicas}"), "1");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.updateStrategy.type}"), "RollingUpdate");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.selector.matchLabels.app}"), "alpha");
  EXPECT_EQ(Json("statefulset/alpha", "{.metadata.labels.cloud\\.sealos\\.io/app-deploy-manager}"), "alpha");
  EXPECT_EQ(Json("statefulset/alpha", "{.metadata.labels.app\\.kubernetes\\.io/managed-by}"), "sandboxd");
  EXPECT_EQ(Json("statefulset/alpha", "{.metadata.labels.team}"), "infra");
  EXPECT_EQ(Json("statefulset/alpha", "{.metadata.annotations.originImageName}"), kImage);
  EXPECT_EQ(Json("statefulset/alpha", "{.metadata.annotations.deploy\\.cloud\\.sealos\\.io/minReplicas}"), "1");
  EXPECT_EQ(Json("statefulset/alpha", "{.metadata.annotations.deploy\\.cloud\\.sealos\\.io/maxReplicas}"), "1");
  EXPECT_EQ(Json("statefulset/alpha", "{.metadata.annotations.deploy\\.cloud\\.sealos\\.io/resize}"), "5Gi");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.volumeClaimTemplates[0].spec.accessModes[0]}"), "ReadWriteOnce");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.volumeClaimTemplates[0].spec.resources.requests.storage}"), "5Gi");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.persistentVolumeClaimRetentionPolicy.whenScaled}"), "Retain");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.persistentVolumeClaimRetentionPolicy.whenDeleted}"), "Delete");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.template.spec.containers[0].volumeMounts[0].mountPath}"), "/home/agent");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.template.spec.automountServiceAccountToken}"), "false");

  // Service and Ingresses are owned by the StatefulSet.
  const std::string uid = Json("statefulset/alpha", "{.metadata.uid}");
  EXPECT_EQ(created.uid(), uid);
  EXPECT_EQ(Json("service/alpha-service", "{.spec.clusterIP}"), "None");
  EXPECT_EQ(Json("service/alpha-service", "{.metadata.ownerReferences[0].uid}"), uid);
  EXPECT_EQ(Json("ingress/alpha-app-ingress", "{.metadata.ownerReferences[0].uid}"), uid);
  EXPECT_EQ(Json("ingress/alpha-ttyd-ingress", "{.metadata.ownerReferences[0].uid}"), uid);
  EXPECT_EQ(Json("ingress/alpha-app-ingress", "{.spec.rules[0].host}"),
            absl::StrCat("alpha-app.", Domain()));
  EXPECT_EQ(Json("ingress/alpha-ttyd-ingress", "{.spec.tls[0].secretName}"), "wildcard-tls");
  EXPECT_EQ(Json("ingress/alpha-app-ingress", "{.metadata.labels.cloud\\.sealos\\.io/app-deploy-manager-domain}"), "alpha-app");

  // Only the ingress controller's namespace reaches the pods of the namespace's sandboxes,
  // only on the ports named app and ttyd: one NetworkPolicy per namespace, owned by none.
  EXPECT_EQ(Json("networkpolicy/sandboxd-sandboxes", "{.metadata.ownerReferences}"), "");
  EXPECT_EQ(Json("networkpolicy/sandboxd-sandboxes", "{.spec.podSelector.matchLabels}"),
            R"({"app.kubernetes.io/managed-by":"sandboxd"})");
  EXPECT_EQ(Json("networkpolicy/sandboxd-sandboxes", "{.spec.policyTypes}"), R"(["Ingress"])");
  EXPECT_EQ(
      Json("networkpolicy/sandboxd-sandboxes", "{.spec.ingress}"),
      R"([{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"ingress-nginx"}}}],"ports":[{"port":"app","protocol":"TCP"},{"port":"ttyd","protocol":"TCP"}]}])");
  EXPECT_EQ(Json("statefulset/alpha", "{.spec.template.spec.containers[0].ports[*].name}"),
            "app ttyd");

  pb::Sandbox running;
  ASSERT_TRUE(WaitForPhase("alpha", pb::SANDBOX_PHASE_RUNNING, &running));
  EXPECT_EQ(running.ready_replicas(), 1);
  EXPECT_EQ(running.storage().phase(), "Bound");
  EXPECT_EQ(running.storage().capacity(), "5Gi");
  EXPECT_EQ(running.storage().uid(), Json("pvc/vn-homevn-agent-alpha-0", "{.metadata.uid}"));
}

TEST_F(SandboxLifecycleTest, SameCreateTwiceIsSuccessWithoutASecondWrite) {
  pb::CreateSandboxRequest req = CreateRequest("beta");
  ASSERT_TRUE(Create(req).ok());
  const long sts_posts = plane_->RequestCount("POST", "statefulsets", "201");
  const long svc_posts = plane_->RequestCount("POST", "services", "201");
  const std::string generation = Json("statefulset/beta", "{.metadata.generation}");
  pb::Sandbox again;
  grpc::Status s = Create(req, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.spec().name(), "beta");
  EXPECT_EQ(plane_->RequestCount("POST", "statefulsets", "201"), sts_posts);
  EXPECT_EQ(plane_->RequestCount("POST", "services", "201"), svc_posts);
  EXPECT_EQ(Json("statefulset/beta", "{.metadata.generation}"), generation);
}

TEST_F(SandboxLifecycleTest, DifferentSpecUnderAnExistingNameIsAlreadyExists) {
  ASSERT_TRUE(Create(CreateRequest("gamma")).ok());
  pb::CreateSandboxRequest other = CreateRequest("gamma");
  other.mutable_spec()->set_image("registry.local/other:2");
  grpc::Status s = Create(other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  google::rpc::ErrorInfo info = ErrorInfoOf(s);
  EXPECT_EQ(info.reason(), "SANDBOX_ALREADY_EXISTS");
  EXPECT_EQ(info.domain(), "sandboxd.dev");
  EXPECT_EQ(Json("statefulset/gamma", "{.metadata.annotations.originImageName}"), kImage);
}

TEST_F(SandboxLifecycleTest, ConcurrentCreatesOfOneNameCreateExactlyOnce) {
  const long posts = plane_->RequestCount("POST", "statefulsets", "201");
  constexpr int kCallers = 8;
  std::vector<grpc::Status> results(kCallers);
  std::vector<std::thread> threads;
  threads.reserve(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      auto stub = pb::SandboxLifecycle::NewStub(*channel_);
      pb::CreateSandboxResponse resp;
      results[i] = stub->CreateSandbox(Context().get(), CreateRequest("delta"), &resp);
    });
  }
  for (auto& t : threads) t.join();
  for (const grpc::Status& s : results) EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(plane_->RequestCount("POST", "statefulsets", "201"), posts + 1);
  EXPECT_EQ(plane_->Kubectl(absl::StrCat("-n ", *ns_, " get services -l app=delta -o name")).output,
            "service/delta-service\n");
}

TEST_F(SandboxLifecycleTest, StopKeepsTheClaimAndStartBindsTheSameOne) {
  ASSERT_TRUE(Create(CreateRequest("epsilon")).ok());
  pb::Sandbox running;
  ASSERT_TRUE(WaitForPhase("epsilon", pb::SANDBOX_PHASE_RUNNING, &running));
  const std::string claim_uid = running.storage().uid();
  ASSERT_FALSE(claim_uid.empty());

  ASSERT_TRUE(Scale("epsilon", /*start=*/false).ok());
  pb::Sandbox stopped;
  ASSERT_TRUE(WaitForPhase("epsilon", pb::SANDBOX_PHASE_STOPPED, &stopped));
  EXPECT_EQ(stopped.desired_replicas(), 0);
  EXPECT_FALSE(Exists("pod/epsilon-0"));
  EXPECT_EQ(Json("pvc/vn-homevn-agent-epsilon-0", "{.metadata.uid}"), claim_uid);

  // Stopping a stopped sandbox writes nothing (no scale PATCH either).
  const long scale_patches = plane_->RequestCount("PATCH", "statefulsets", "200");
  ASSERT_TRUE(Scale("epsilon", /*start=*/false).ok());
  EXPECT_EQ(plane_->RequestCount("PATCH", "statefulsets", "200"), scale_patches);

  ASSERT_TRUE(Scale("epsilon", /*start=*/true).ok());
  pb::Sandbox restarted;
  ASSERT_TRUE(WaitForPhase("epsilon", pb::SANDBOX_PHASE_RUNNING, &restarted));
  EXPECT_EQ(restarted.storage().uid(), claim_uid);
  EXPECT_EQ(Json("pod/epsilon-0", "{.spec.volumes[?(@.name==\"vn-homevn-agent\")].persistentVolumeClaim.claimName}"),
            "vn-homevn-agent-epsilon-0");
}

TEST_F(SandboxLifecycleTest, UpdateEnvMergesAndANoOpDoesNotRollThePod) {
  pb::CreateSandboxRequest req = CreateRequest("zeta");
  (*req.mutable_spec()->mutable_env())["A"] = "1";
  (*req.mutable_spec()->mutable_env())["B"] = "2";
  ASSERT_TRUE(Create(req).ok());
  ASSERT_TRUE(WaitForPhase("zeta", pb::SANDBOX_PHASE_RUNNING));

  pb::Sandbox updated;
  ASSERT_TRUE(UpdateEnv("zeta", {{"B", "3"}, {"C", "4"}}, {"A"}, "", &updated).ok());
  EXPECT_THAT(updated.spec().env(), UnorderedElementsAre(Pair("B", "3"), Pair("C", "4")));
  EXPECT_EQ(Json("statefulset/zeta", "{.spec.template.spec.containers[0].env[*].name}"), "B C");
  ASSERT_TRUE(WaitForPhase("zeta", pb::SANDBOX_PHASE_RUNNING));

  const std::string generation = Json("statefulset/zeta", "{.metadata.generation}");
  const std::string pod_uid = Json("pod/zeta-0", "{.metadata.uid}");
  const long patches = plane_->RequestCount("PATCH", "statefulsets", "200");
  ASSERT_TRUE(UpdateEnv("zeta", {{"B", "3"}}, {"A"}).ok());  // nothing changes
  EXPECT_EQ(Json("statefulset/zeta", "{.metadata.generation}"), generation);
  EXPECT_EQ(plane_->RequestCount("PATCH", "statefulsets", "200"), patches);
  EXPECT_EQ(Json("pod/zeta-0", "{.metadata.uid}"), pod_uid);

  // The updated sandbox is what a create with the new env would make: same spec hash.
  pb::CreateSandboxRequest same = CreateRequest("zeta");
  (*same.mutable_spec()->mutable_env())["B"] = "3";
  (*same.mutable_spec()->mutable_env())["C"] = "4";
  EXPECT_TRUE(Create(same).ok());
}

TEST_F(SandboxLifecycleTest, UpdateEnvHonoursTheVersionPrecondition) {
  pb::Sandbox created, after_x;
  ASSERT_TRUE(Create(CreateRequest("eta"), &created).ok());
  ASSERT_TRUE(UpdateEnv("eta", {{"X", "1"}}, {}, "", &after_x).ok());
  EXPECT_NE(after_x.version(), created.version());
  grpc::Status stale = UpdateEnv("eta", {{"Y", "2"}}, {}, created.version());
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ErrorInfoOf(stale).reason(), "VERSION_MISMATCH");
  EXPECT_EQ(Json("statefulset/eta", "{.spec.template.spec.containers[0].env[*].name}"), "X");

  // The etag stays valid while only the status changes (the controller rolls the pod).
  ASSERT_TRUE(WaitForPhase("eta", pb::SANDBOX_PHASE_RUNNING));
  pb::Sandbox updated;
  ASSERT_TRUE(UpdateEnv("eta", {{"Y", "2"}}, {}, after_x.version(), &updated).ok());
  EXPECT_THAT(updated.spec().env(), UnorderedElementsAre(Pair("X", "1"), Pair("Y", "2")));
}

TEST_F(SandboxLifecycleTest, ConcurrentEnvUpdatesAreAllApplied) {
  ASSERT_TRUE(Create(CreateRequest("theta")).ok());
  constexpr int kCallers = 6;
  std::vector<grpc::Status> results(kCallers);
  std::vector<std::thread> threads;
  threads.reserve(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      auto stub = pb::SandboxLifecycle::NewStub(*channel_);
      pb::UpdateSandboxEnvRequest req;
      req.set_namespace_(*ns_);
      req.set_name("theta");
      (*req.mutable_env())[absl::StrCat("K", i)] = absl::StrCat(i);
      pb::UpdateSandboxEnvResponse resp;
      results[i] = stub->UpdateSandboxEnv(Context().get(), req, &resp);
    });
  }
  for (auto& t : threads) t.join();
  for (const grpc::Status& s : results) EXPECT_TRUE(s.ok()) << s.error_message();
  pb::Sandbox theta;
  ASSERT_TRUE(Get("theta", &theta).ok());
  EXPECT_THAT(theta.spec().env(),
              UnorderedElementsAre(Pair("K0", "0"), Pair("K1", "1"), Pair("K2", "2"),
                                   Pair("K3", "3"), Pair("K4", "4"), Pair("K5", "5")));
}

// Each mutating RPC sends the fewest requests it needs: what it already knows comes from
// the watch cache, and its answer is composed from the write's answer and the cache.
TEST_F(SandboxLifecycleTest, EachCallSendsTheFewestRequests) {
  using Counts = testing::RequestCounter::Counts;
  // The namespace's first create on this process also creates its NetworkPolicy (or
  // finds it); later ones do not.
  ASSERT_TRUE(Create(CreateRequest("economy-first")).ok());
  pb::CreateSandboxRequest req = CreateRequest("economy");
  req.mutable_spec()->set_ingress_domain(Domain());
  requests_->Take();
  ASSERT_TRUE(Create(req).ok());
  // Whether a foreign claim has the new one's name comes from the watch cache.
  EXPECT_EQ(requests_->Take(),
            (Counts{{"POST statefulsets", 1}, {"POST services", 1}, {"POST ingresses", 2}}));
  ASSERT_TRUE(WaitForPhase("economy", pb::SANDBOX_PHASE_RUNNING));

  ASSERT_TRUE(WaitUntilCacheIsCurrent("economy"));
  requests_->Take();
  pb::Sandbox sandbox;
  ASSERT_TRUE(Scale("economy", /*start=*/true, &sandbox).ok());  // already running
  EXPECT_EQ(requests_->Take(), Counts{});
  EXPECT_EQ(sandbox.phase(), pb::SANDBOX_PHASE_RUNNING);

  ASSERT_TRUE(Get("economy", &sandbox).ok());
  EXPECT_EQ(requests_->Take(), Counts{});

  ASSERT_TRUE(Scale("economy", /*start=*/false, &sandbox).ok());
  EXPECT_EQ(requests_->Take(), (Counts{{"PATCH statefulsets", 1}}));
  EXPECT_EQ(sandbox.desired_replicas(), 0);
  ASSERT_TRUE(WaitForPhase("economy", pb::SANDBOX_PHASE_STOPPED));

  ASSERT_TRUE(WaitUntilCacheIsCurrent("economy"));
  requests_->Take();
  ASSERT_TRUE(UpdateEnv("economy", {{"K", "v"}}, {}, "", &sandbox).ok());
  EXPECT_EQ(requests_->Take(), (Counts{{"PATCH statefulsets", 1}}));
  EXPECT_THAT(sandbox.spec().env(), UnorderedElementsAre(Pair("K", "v")));
  ASSERT_TRUE(UpdateEnv("economy", {{"K", "v"}}, {}).ok());  // no change
  EXPECT_EQ(requests_->Take(), Counts{});

  ASSERT_TRUE(Delete("economy").ok());
  // The claim is read: one without an owner reference would not follow the StatefulSet.
  EXPECT_EQ(requests_->Take(),
            (Counts{{"DELETE statefulsets", 1}, {"GET persistentvolumeclaims", 1}}));
  EXPECT_TRUE(Eventually([&] {
    return !Exists("statefulset/economy") && !Exists("service/economy-service") &&
           !Exists("ingress/economy-app-ingress") && !Exists("ingress/economy-ttyd-ingress") &&
           !Exists("pvc/vn-homevn-agent-economy-0");
  }));
  ASSERT_TRUE(Delete("economy-first").ok());
}

// Once a mutating call has returned, reads on the same sandboxd reflect its write.
TEST_F(SandboxLifecycleTest, ReadsAfterAWriteReflectIt) {
  pb::Sandbox sandbox;
  ASSERT_TRUE(Create(CreateRequest("ryw")).ok());
  ASSERT_TRUE(Get("ryw", &sandbox).ok()) << "a created sandbox is visible at once";
  for (int i = 0; i < 20; ++i) {
    const std::string value = absl::StrCat(i);
    ASSERT_TRUE(UpdateEnv("ryw", {{"N", value}}, {}).ok());
    ASSERT_TRUE(Get("ryw", &sandbox).ok());
    ASSERT_THAT(sandbox.spec().env(), UnorderedElementsAre(Pair("N", value))) << "round " << i;
  }
  ASSERT_TRUE(Scale("ryw", /*start=*/false).ok());
  ASSERT_TRUE(Get("ryw", &sandbox).ok());
  EXPECT_EQ(sandbox.desired_replicas(), 0);
  ASSERT_TRUE(Scale("ryw", /*start=*/true).ok());
  ASSERT_TRUE(Get("ryw", &sandbox).ok());
  EXPECT_EQ(sandbox.desired_replicas(), 1);
  ASSERT_TRUE(Delete("ryw").ok());
  grpc::Status after_delete = Get("ryw", &sandbox);
  EXPECT_TRUE(after_delete.error_code() == grpc::StatusCode::NOT_FOUND ||
              sandbox.phase() == pb::SANDBOX_PHASE_DELETING)
      << after_delete.error_message() << " " << pb::SandboxPhase_Name(sandbox.phase());
}

TEST_F(SandboxLifecycleTest, DeleteRemovesEveryObject) {
  pb::CreateSandboxRequest req = CreateRequest("iota");
  req.mutable_spec()->set_ingress_domain(Domain());
  ASSERT_TRUE(Create(req).ok());
  ASSERT_TRUE(WaitForPhase("iota", pb::SANDBOX_PHASE_RUNNING));
  ASSERT_TRUE(Exists("pvc/vn-homevn-agent-iota-0"));

  ASSERT_TRUE(Delete("iota").ok());
  EXPECT_TRUE(Eventually([&] {
    return !Exists("statefulset/iota") && !Exists("service/iota-service") &&
           !Exists("ingress/iota-app-ingress") && !Exists("ingress/iota-ttyd-ingress") &&
           !Exists("pvc/vn-homevn-agent-iota-0") && !Exists("pod/iota-0");
  }));
  pb::Sandbox gone;
  grpc::Status get = Get("iota", &gone);
  EXPECT_EQ(get.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ErrorInfoOf(get).reason(), "SANDBOX_NOT_FOUND");

  grpc::Status again = Delete("iota");
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Delete("iota", /*keep_storage=*/false, /*allow_missing=*/true).ok());
}

TEST_F(SandboxLifecycleTest, DeleteWithKeepStorageKeepsTheClaim) {
  ASSERT_TRUE(Create(CreateRequest("kappa")).ok());
  pb::Sandbox running;
  ASSERT_TRUE(WaitForPhase("kappa", pb::SANDBOX_PHASE_RUNNING, &running));
  requests_->Take();
  ASSERT_TRUE(Delete("kappa", /*keep_storage=*/true).ok());
  EXPECT_EQ(requests_->Take(), (testing::RequestCounter::Counts{
                                   {"PATCH statefulsets", 1},
                                   {"PATCH persistentvolumeclaims", 1},
                                   {"DELETE statefulsets", 1}}));
  EXPECT_TRUE(Eventually([&] { return !Exists("statefulset/kappa") && !Exists("pod/kappa-0"); }));
  // Give the garbage collector time to act if it were going to.
  absl::SleepFor(absl::Seconds(3));
  EXPECT_EQ(Json("pvc/vn-homevn-agent-kappa-0", "{.metadata.uid}"), running.storage().uid());
  EXPECT_EQ(Json("pvc/vn-homevn-agent-kappa-0", "{.metadata.ownerReferences}"), "");
  EXPECT_EQ(Json("pvc/vn-homevn-agent-kappa-0", "{.metadata.deletionTimestamp}"), "");
  EXPECT_EQ(Json("pvc/vn-homevn-agent-kappa-0", "{.metadata.annotations.sandboxd\\.dev/kept}"), "true");

  // A later delete of the absent sandbox leaves the kept claim alone.
  EXPECT_TRUE(Delete("kappa", /*keep_storage=*/false, /*allow_missing=*/true).ok());
  EXPECT_EQ(Json("pvc/vn-homevn-agent-kappa-0", "{.metadata.uid}"), running.storage().uid());
  EXPECT_EQ(Json("pvc/vn-homevn-agent-kappa-0", "{.metadata.deletionTimestamp}"), "");
}

// The StatefulSet controller may give a claim its owner reference back until it has
// seen the Retain policy; the delete waits for that, so the claim survives every time.
TEST_F(SandboxLifecycleTest, KeepStorageKeepsEveryClaimOfConcurrentDeletes) {
  constexpr int kSandboxes = 8;
  std::vector<std::string> names;
  std::map<std::string, std::string> claim_uids;
  for (int i = 0; i < kSandboxes; ++i) {
    names.push_back(absl::StrCat("keep-", i));
    ASSERT_TRUE(Create(CreateRequest(names.back())).ok());
  }
  for (const std::string& name : names) {
    pb::Sandbox running;
    ASSERT_TRUE(WaitForPhase(name, pb::SANDBOX_PHASE_RUNNING, &running));
    claim_uids[name] = running.storage().uid();
  }
  std::vector<grpc::Status> results(kSandboxes);
  std::vector<std::thread> threads;
  threads.reserve(kSandboxes);
  for (int i = 0; i < kSandboxes; ++i) {
    threads.emplace_back([&, i] {
      auto stub = pb::SandboxLifecycle::NewStub(*channel_);
      pb::DeleteSandboxRequest req;
      req.set_namespace_(*ns_);
      req.set_name(names[i]);
      req.set_keep_storage(true);
      pb::DeleteSandboxResponse resp;
      results[i] = stub->DeleteSandbox(Context().get(), req, &resp);
    });
  }
  for (auto& t : threads) t.join();
  for (const grpc::Status& s : results) EXPECT_TRUE(s.ok()) << s.error_message();
  for (const std::string& name : names) {
    EXPECT_TRUE(Eventually([&] { return !Exists("statefulset/" + name); })) << name;
  }
  // Give the garbage collector time to act if it were going to.
  absl::SleepFor(absl::Seconds(3));
  for (const std::string& name : names) {
    const std::string claim = absl::StrCat("pvc/vn-homevn-agent-", name, "-0");
    EXPECT_EQ(Json(claim, "{.metadata.uid}"), claim_uids[name]) << claim;
    EXPECT_EQ(Json(claim, "{.metadata.deletionTimestamp}"), "") << claim;
    EXPECT_EQ(Json(claim, "{.metadata.ownerReferences}"), "") << claim;
  }
}

TEST_F(SandboxLifecycleTest, DeleteCleansUpAfterAStatefulSetRemovedByHand) {
  pb::CreateSandboxRequest req = CreateRequest("lambda");
  req.mutable_spec()->set_ingress_domain(Domain());
  ASSERT_TRUE(Create(req).ok());
  ASSERT_TRUE(WaitForPhase("lambda", pb::SANDBOX_PHASE_RUNNING));
  // Orphan the children: what a create that failed half-way or a manual delete leaves.
  ASSERT_EQ(plane_->Kubectl(absl::StrCat("-n ", *ns_, " delete statefulset lambda --cascade=orphan")).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return !Exists("statefulset/lambda"); }));
  ASSERT_TRUE(Exists("service/lambda-service"));

  ASSERT_TRUE(Delete("lambda").ok());
  EXPECT_TRUE(Eventually([&] {
    return !Exists("service/lambda-service") && !Exists("ingress/lambda-app-ingress") &&
           !Exists("ingress/lambda-ttyd-ingress") && !Exists("pvc/home-lambda-0");
  }));
}

TEST_F(SandboxLifecycleTest, FailingImagesAreErrorsWithTheirReason) {
  pb::CreateSandboxRequest pull = CreateRequest("mu");
  pull.mutable_spec()->set_image("registry.local/sandboxd-fail-pull:1");
  ASSERT_TRUE(Create(pull).ok());
  pb::CreateSandboxRequest crash = CreateRequest("nu");
  crash.mutable_spec()->set_image("registry.local/sandboxd-fail-crash:1");
  ASSERT_TRUE(Create(crash).ok());
  pb::CreateSandboxRequest config = CreateRequest("xi");
  config.mutable_spec()->set_image("registry.local/sandboxd-fail-config:1");
  ASSERT_TRUE(Create(config).ok());

  // The messages carry the container's waiting reason and message as the kubelet's
  // stand-in (kwok's stages in tools/kube-local) wrote them; the container is named
  // after the sandbox.
  pb::Sandbox sandbox;
  ASSERT_TRUE(WaitForPhase("mu", pb::SANDBOX_PHASE_ERROR, &sandbox));
  EXPECT_EQ(sandbox.error_reason(), pb::SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE);
  EXPECT_THAT(sandbox.message(), ::testing::HasSubstr("sandboxd-fail-pull"));
  ASSERT_TRUE(WaitForPhase("nu", pb::SANDBOX_PHASE_ERROR, &sandbox));
  EXPECT_EQ(sandbox.error_reason(), pb::SANDBOX_ERROR_REASON_CRASH_LOOP);
  ASSERT_TRUE(WaitForPhase("xi", pb::SANDBOX_PHASE_ERROR, &sandbox));
  EXPECT_EQ(sandbox.error_reason(), pb::SANDBOX_ERROR_REASON_CONTAINER_CONFIG);
  EXPECT_EQ(sandbox.message(),
            R"(container xi: CreateContainerConfigError: secret "agent-credentials" not found)");
}

struct InvalidCase {
  const char* label;
  std::function<void(pb::SandboxSpec*)> mutate;
  const char* field;
};

TEST_F(SandboxLifecycleTest, InvalidCreatesAreRejectedNamingTheFieldAndWriteNothing) {
  const std::vector<InvalidCase> cases = {
      {"uppercase name", [](pb::SandboxSpec* s) { s->set_name("Bad"); }, "spec.name"},
      {"name too long", [](pb::SandboxSpec* s) { s->set_name(std::string(51, 'a')); }, "spec.name"},
      {"bad env name", [](pb::SandboxSpec* s) { (*s->mutable_env())["1X"] = "v"; }, "spec.env[1X]"},
      {"bad cpu", [](pb::SandboxSpec* s) { s->mutable_resources()->mutable_limits()->set_cpu("lots"); },
       "spec.resources.limits.cpu"},
      {"requests above limits",
       [](pb::SandboxSpec* s) {
         s->mutable_resources()->mutable_requests()->set_memory("2Gi");
         s->mutable_resources()->mutable_limits()->set_memory("1Gi");
       },
       "spec.resources.requests.memory"},
      {"zero storage", [](pb::SandboxSpec* s) { s->mutable_storage()->set_size("0"); }, "spec.storage.size"},
      {"relative mount path", [](pb::SandboxSpec* s) { s->mutable_storage()->set_mount_path("home"); },
       "spec.storage.mount_path"},
      {"port out of range", [](pb::SandboxSpec* s) { s->mutable_ports()->set_app(70000); }, "spec.ports.app"},
      {"bad image", [](pb::SandboxSpec* s) { s->set_image("UPPER CASE image"); }, "spec.image"},
      {"bad ingress domain", [](pb::SandboxSpec* s) { s->set_ingress_domain("-bad-.example"); },
       "spec.ingress_domain"},
      {"reserved label", [](pb::SandboxSpec* s) { (*s->mutable_labels())["app.kubernetes.io/managed-by"] = "x"; },
       "spec.labels[app.kubernetes.io/managed-by]"},
  };
  const long sts_posts = plane_->RequestCount("POST", "statefulsets", "201");
  const long svc_posts = plane_->RequestCount("POST", "services", "201");
  for (const InvalidCase& c : cases) {
    pb::CreateSandboxRequest req = CreateRequest("omicron");
    c.mutate(req.mutable_spec());
    grpc::Status s = Create(req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.label;
    google::rpc::ErrorInfo info = ErrorInfoOf(s);
    EXPECT_EQ(info.reason(), "INVALID_FIELD") << c.label;
    EXPECT_EQ(info.metadata().at("field"), c.field) << c.label << ": " << s.error_message();
  }
  EXPECT_EQ(plane_->RequestCount("POST", "statefulsets", "201"), sts_posts);
  EXPECT_EQ(plane_->RequestCount("POST", "services", "201"), svc_posts);
  EXPECT_FALSE(Exists("statefulset/omicron"));
  EXPECT_FALSE(Exists("statefulset/Bad"));
}

TEST_F(SandboxLifecycleTest, InvalidRequestsOfOtherRpcsNameTheFieldAndWriteNothing) {
  ASSERT_TRUE(Create(CreateRequest("pi")).ok());
  const std::string generation = Json("statefulset/pi", "{.metadata.generation}");
  const long patches = plane_->RequestCount("PATCH", "statefulsets", "200");
  auto field_of = [](const grpc::Status& s) {
    google::rpc::ErrorInfo info = ErrorInfoOf(s);
    auto it = info.metadata().find("field");
    return it == info.metadata().end() ? std::string() : it->second;
  };

  grpc::Status bad_key = UpdateEnv("pi", {{"1X", "v"}}, {});
  EXPECT_EQ(bad_key.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(field_of(bad_key), "env[1X]");
  grpc::Status both = UpdateEnv("pi", {{"A", "v"}}, {"A"});
  EXPECT_EQ(both.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(field_of(both), "remove_keys");
  EXPECT_EQ(plane_->RequestCount("PATCH", "statefulsets", "200"), patches);
  EXPECT_EQ(Json("statefulset/pi", "{.metadata.generation}"), generation);

  pb::Sandbox out;
  grpc::Status bad_name = Get("Not_A_Name", &out);
  EXPECT_EQ(bad_name.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(field_of(bad_name), "name");
  grpc::Status bad_stop = Scale("Not_A_Name", /*start=*/false);
  EXPECT_EQ(bad_stop.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status bad_delete = Delete("Not_A_Name");
  EXPECT_EQ(bad_delete.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  pb::ListSandboxesRequest list;
  list.set_namespace_(*ns_);
  list.set_label_selector("tier in (gold");
  pb::ListSandboxesResponse listed;
  grpc::Status bad_selector = stub_->ListSandboxes(Context().get(), list, &listed);
  EXPECT_EQ(bad_selector.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(field_of(bad_selector), "label_selector");
  EXPECT_EQ(plane_->RequestCount("PATCH", "statefulsets", "200"), patches);
  EXPECT_EQ(Json("statefulset/pi", "{.metadata.generation}"), generation);
}

TEST_F(SandboxLifecycleTest, UnknownSandboxIsNotFoundForEveryOperation) {
  pb::Sandbox out;
  EXPECT_EQ(Get("nobody", &out).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Scale("nobody", true).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Scale("nobody", false).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(UpdateEnv("nobody", {{"A", "1"}}, {}).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete("nobody").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SandboxLifecycleTest, ListFiltersByProjectAndLabelsAndPages) {
  for (const char* name : {"list-a", "list-b", "list-c"}) {
    pb::CreateSandboxRequest req = CreateRequest(name);
    req.mutable_spec()->set_project("proj-list");
    ASSERT_TRUE(Create(req).ok());
  }
  pb::CreateSandboxRequest other = CreateRequest("list-d");
  other.mutable_spec()->set_project("proj-other");
  (*other.mutable_spec()->mutable_labels())["tier"] = "gold";
  ASSERT_TRUE(Create(other).ok());

  pb::ListSandboxesRequest req;
  req.set_namespace_(*ns_);
  req.set_project("proj-list");
  req.set_page_size(2);
  pb::ListSandboxesResponse first, second;
  ASSERT_TRUE(stub_->ListSandboxes(Context().get(), req, &first).ok());
  ASSERT_EQ(first.sandboxes_size(), 2);
  ASSERT_FALSE(first.next_page_token().empty());
  req.set_page_token(first.next_page_token());
  ASSERT_TRUE(stub_->ListSandboxes(Context().get(), req, &second).ok());
  ASSERT_EQ(second.sandboxes_size(), 1);
  EXPECT_EQ(second.next_page_token(), "");
  std::vector<std::string> names;
  for (const auto& page : {first, second}) {
    for (const pb::Sandbox& s : page.sandboxes()) names.push_back(s.spec().name());
  }
  EXPECT_THAT(names, ElementsAre("list-a", "list-b", "list-c"));

  pb::ListSandboxesRequest by_label;
  by_label.set_namespace_(*ns_);
  by_label.set_label_selector("tier=gold");
  pb::ListSandboxesResponse gold;
  ASSERT_TRUE(stub_->ListSandboxes(Context().get(), by_label, &gold).ok());
  ASSERT_EQ(gold.sandboxes_size(), 1);
  EXPECT_EQ(gold.sandboxes(0).spec().name(), "list-d");
  EXPECT_EQ(gold.sandboxes(0).spec().project(), "proj-other");
}

}  // namespace
}  // namespace sandboxd
