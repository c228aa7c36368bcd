// The home volume's claim template over real gRPC against the real local control plane:
// new sandboxes name it by the Sealos launchpad convention (vn-homevn-agent, annotations
// path and value), and a sandbox whose StatefulSet was created before that (template
// "home", created here with the admin kubectl from the old builder's JSON) keeps
// working: status, stop, start, delete with and without keep_storage, and a new sandbox
// of the same name adopting the kept legacy claim.
#include <curl/curl.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/sandboxd_server.h"
#include "src/domain/builders.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"
#include "src/kube/objects_json.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

namespace sandboxd {
namespace {

namespace pb = sandbox::v1;

constexpr absl::Duration kWait = absl::Seconds(90);
constexpr char kImage[] = "registry.local/agent:1";

class HomeVolumeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    plane_ = new testing::Plane();
    ns_ = new std::string(plane_->CreateNamespace("homevol"));
    config_ = new server::ServerConfig();
    config_->metrics_listen_address = "127.0.0.1:0";  // not 9090: other processes may run
    config_->listen_address = "127.0.0.1:0";
    config_->tls.plaintext = true;
    config_->kube.kubeconfig = plane_->sandboxd_kubeconfig();
    config_->sandbox_defaults.image = kImage;
    auto server = server::SandboxdServer::Start(*config_, {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
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

  grpc::Status Create(const std::string& name, pb::Sandbox* out = nullptr) {
    pb::CreateSandboxRequest req;
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_namespace_(*ns_);
    pb::CreateSandboxResponse resp;
    grpc::Status s = stub_->CreateSandbox(Context().get(), req, &resp);
    if (out != nullptr) *out = resp.sandbox();
    return s;
  }

  grpc::Status Get(const std::string& name, pb::Sandbox* out) {
    pb::GetSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    pb::GetSandboxResponse resp;
    grpc::Status s = stub_->GetSandbox(Context().get(), req, &resp);
    *out = resp.sandbox();
    return s;
  }

  grpc::Status Scale(const std::string& name, bool start) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (start) {
      pb::StartSandboxRequest req;
      req.set_namespace_(*ns_);
      req.set_name(name);
      pb::StartSandboxResponse resp;
      return stub_->StartSandbox(&ctx, req, &resp);
    }
    pb::StopSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    pb::StopSandboxResponse resp;
    return stub_->StopSandbox(&ctx, req, &resp);
  }

  grpc::Status Delete(const std::string& name, bool keep_storage) {
    pb::DeleteSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    req.set_keep_storage(keep_storage);
    pb::DeleteSandboxResponse resp;
    return stub_->DeleteSandbox(Context().get(), req, &resp);
  }

  bool WaitForPhase(const std::string& name, pb::SandboxPhase phase, pb::Sandbox* out = nullptr) {
    pb::Sandbox sandbox;
    bool ok = testing::Eventually(
        [&] { return Get(name, &sandbox).ok() && sandbox.phase() == phase; }, kWait);
    if (out != nullptr) *out = sandbox;
    if (!ok) ADD_FAILURE() << name << " never reached " << pb::SandboxPhase_Name(phase)
                           << "; last: " << sandbox.DebugString();
    return ok;
  }

  std::string Json(const std::string& what, const std::string& path) {
    return plane_->JsonPath(*ns_, what, path);
  }
  bool Exists(const std::string& what) { return plane_->Exists(*ns_, what); }

  // Creates StatefulSet `name` as sandboxd did before the Sealos naming (the builder
  // with template "home", no Sealos annotations on it), with the admin identity.
  void CreateLegacyStatefulSet(const std::string& name) {
    domain::SandboxSpec spec;
    spec.name = name;
    spec.ns = *ns_;
    spec = domain::ApplyDefaults(spec, config_->sandbox_defaults);
    kube::StatefulSet sts =
        domain::BuildStatefulSet(spec, config_->sandbox_defaults, domain::kLegacyClaimTemplateName);
    sts.spec.volume_claim_templates.at(0).metadata.annotations.clear();
    const std::string path = absl::StrCat(::testing::TempDir(), "legacy-", name, ".json");
    std::ofstream(path) << kube::ToJson(sts);
    testing::CommandResult r = plane_->Kubectl(absl::StrCat("create -f ", path));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  static testing::Plane* plane_;
  static std::string* ns_;
  static server::ServerConfig* config_;
  static server::SandboxdServer* server_;
  static std::shared_ptr<grpc::Channel>* channel_;
  std::unique_ptr<pb::SandboxLifecycle::Stub> stub_;
};

testing::Plane* HomeVolumeTest::plane_ = nullptr;
std::string* HomeVolumeTest::ns_ = nullptr;
server::ServerConfig* HomeVolumeTest::config_ = nullptr;
server::SandboxdServer* HomeVolumeTest::server_ = nullptr;
std::shared_ptr<grpc::Channel>* HomeVolumeTest::channel_ = nullptr;

TEST_F(HomeVolumeTest, NewSandboxClaimFollowsTheSealosConvention) {
  pb::Sandbox created;
  ASSERT_TRUE(Create("sealos", &created).ok());
  EXPECT_EQ(created.storage().claim_name(), "vn-homevn-agent-sealos-0");
  EXPECT_EQ(Json("statefulset/sealos", "{.spec.volumeClaimTemplates[0].metadata.name}"),
            "vn-homevn-agent");
  EXPECT_EQ(Json("statefulset/sealos",
                 "{.spec.volumeClaimTemplates[0].metadata.annotations.path}"),
            "/home/agent");
  EXPECT_EQ(Json("statefulset/sealos",
                 "{.spec.volumeClaimTemplates[0].metadata.annotations.value}"),
            "5");
  pb::Sandbox running;
  ASSERT_TRUE(WaitForPhase("sealos", pb::SANDBOX_PHASE_RUNNING, &running));
  EXPECT_EQ(running.storage().uid(), Json("pvc/vn-homevn-agent-sealos-0", "{.metadata.uid}"));
  EXPECT_EQ(Json("pvc/vn-homevn-agent-sealos-0", "{.metadata.annotations.path}"), "/home/agent");
  EXPECT_EQ(Json("pvc/vn-homevn-agent-sealos-0", "{.metadata.annotations.value}"), "5");
  EXPECT_EQ(Json("pod/sealos-0", "{.spec.volumes[?(@.name==\"vn-homevn-agent\")]"
                                 ".persistentVolumeClaim.claimName}"),
            "vn-homevn-agent-sealos-0");
  EXPECT_EQ(Json("pod/sealos-0", "{.spec.containers[0].volumeMounts[?(@.name==\"vn-homevn-agent\")]"
                                 ".mountPath}"),
            "/home/agent");
  ASSERT_TRUE(Delete("sealos", /*keep_storage=*/false).ok());
  EXPECT_TRUE(testing::Eventually(
      [&] { return !Exists("statefulset/sealos") && !Exists("pvc/vn-homevn-agent-sealos-0"); },
      kWait));
}

TEST_F(HomeVolumeTest, SandboxWithTheLegacyHomeTemplateKeepsWorking) {
  CreateLegacyStatefulSet("legacy");
  pb::Sandbox running;
  ASSERT_TRUE(WaitForPhase("legacy", pb::SANDBOX_PHASE_RUNNING, &running));
  EXPECT_EQ(running.storage().claim_name(), "home-legacy-0");
  const std::string claim_uid = Json("pvc/home-legacy-0", "{.metadata.uid}");
  ASSERT_FALSE(claim_uid.empty());
  EXPECT_EQ(running.storage().uid(), claim_uid);
  EXPECT_EQ(running.spec().storage().mount_path(), "/home/agent");
  EXPECT_FALSE(Exists("pvc/vn-homevn-agent-legacy-0"));

  ASSERT_TRUE(Scale("legacy", /*start=*/false).ok());
  pb::Sandbox stopped;
  ASSERT_TRUE(WaitForPhase("legacy", pb::SANDBOX_PHASE_STOPPED, &stopped));
  EXPECT_EQ(stopped.storage().uid(), claim_uid);
  ASSERT_TRUE(Scale("legacy", /*start=*/true).ok());
  pb::Sandbox restarted;
  ASSERT_TRUE(WaitForPhase("legacy", pb::SANDBOX_PHASE_RUNNING, &restarted));
  EXPECT_EQ(restarted.storage().uid(), claim_uid);
  EXPECT_EQ(Json("pod/legacy-0",
                 "{.spec.volumes[?(@.name==\"home\")].persistentVolumeClaim.claimName}"),
            "home-legacy-0");

  // Delete keeping the storage: the legacy claim stays, released and marked kept.
  ASSERT_TRUE(Delete("legacy", /*keep_storage=*/true).ok());
  ASSERT_TRUE(testing::Eventually([&] { return !Exists("statefulset/legacy"); }, kWait));
  EXPECT_EQ(Json("pvc/home-legacy-0", "{.metadata.uid}"), claim_uid);
  EXPECT_EQ(Json("pvc/home-legacy-0", "{.metadata.annotations.sandboxd\\.dev/kept}"), "true");
  EXPECT_EQ(Json("pvc/home-legacy-0", "{.metadata.ownerReferences}"), "");

  // A new sandbox of the same name adopts the kept legacy claim (template "home").
  pb::Sandbox again;
  ASSERT_TRUE(Create("legacy", &again).ok());
  EXPECT_EQ(again.storage().claim_name(), "home-legacy-0");
  EXPECT_EQ(Json("statefulset/legacy", "{.spec.volumeClaimTemplates[0].metadata.name}"), "home");
  pb::Sandbox adopted;
  ASSERT_TRUE(WaitForPhase("legacy", pb::SANDBOX_PHASE_RUNNING, &adopted));
  EXPECT_EQ(adopted.storage().uid(), claim_uid);
  EXPECT_FALSE(Exists("pvc/vn-homevn-agent-legacy-0"));

  // A plain delete removes the legacy claim with the sandbox.
  ASSERT_TRUE(Delete("legacy", /*keep_storage=*/false).ok());
  EXPECT_TRUE(testing::Eventually(
      [&] { return !Exists("statefulset/legacy") && !Exists("pvc/home-legacy-0"); }, kWait));
  pb::Sandbox gone;
  EXPECT_EQ(Get("legacy", &gone).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace sandboxd
