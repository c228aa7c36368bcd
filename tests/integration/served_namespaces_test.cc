// The watch cache follows the served namespaces on the real control plane, in both feed
// scopes (kube.namespaced off and on). Each test serves only its own namespace (a label
// selector of its own):
//   - a namespace whose label is removed is forgotten: its sandboxes
//     leave the cache, its open watch streams end with PERMISSION_DENIED
//     NAMESPACE_NOT_SERVED, and calls on it are refused;
//   - labelled again, it is listed again and shows the sandbox as it is now (changed
//     behind sandboxd's back while unserved), not as it was;
//   - namespaced mode runs with an identity that holds ClusterRole `sandboxd` only through
//     a RoleBinding in the served namespace (plus ClusterRole `sandboxd-cluster`), as
//     deploy/namespaced sets it up: a cluster-wide list of StatefulSets, pods or claims
//     would be forbidden, so SERVING and a full lifecycle prove it makes none.
#include <curl/curl.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/sandboxd_server.h"
#include "tests/integration/error_info.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

namespace sandboxd {
namespace {

namespace pb = sandbox::v1;
using testing::Eventually;
using testing::ReasonOf;

constexpr absl::Duration kWait = absl::Seconds(90);

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

class ServedNamespacesTest : public ::testing::TestWithParam<bool> {
 protected:
  bool namespaced() const { return GetParam(); }

  void SetUp() override {
    ns_ = plane_.CreateNamespace("served");
    plane_.CreateCaller(ns_, "tenant", "sandboxd-user", ns_);
    Label(true);
    server::ServerConfig config;
    // Only this test's namespace is served, whatever other tests left on the plane.
    config.auth.served_namespace_selector = ServedLabel();
    config.listen_address = "127.0.0.1:0";
    config.tls.plaintext = true;
    config.sandbox_defaults.image = "registry.local/agent:1";
    config.kube.namespaced = namespaced();
    config.kube.kubeconfig = namespaced() ? NamespacedIdentity() : plane_.sandboxd_kubeconfig();
    auto server = server::SandboxdServer::Start(config, {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->WaitUntilServing(absl::Seconds(60)));
    const std::string token = plane_.Token(ns_, "tenant");
    ASSERT_FALSE(token.empty());
    stub_ = pb::SandboxLifecycle::NewStub(
        testing::TokenChannel(absl::StrCat("127.0.0.1:", server_->port()), token));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
    plane_.DeleteNamespace(ns_);
    if (!cluster_binding_.empty()) {
      plane_.Kubectl(absl::StrCat("delete clusterrolebinding ", cluster_binding_));
    }
    if (!kubeconfig_.empty()) std::remove(kubeconfig_.c_str());
  }

  // ServiceAccount ns_/sandboxd-ns with ClusterRole sandboxd bound in ns_ only and
  // sandboxd-cluster cluster-wide; returns a kubeconfig for it (the plane's sandboxd
  // kubeconfig with this account's token).
  std::string NamespacedIdentity() {
    plane_.CreateCaller(ns_, "sandboxd-ns", "sandboxd", ns_);
    plane_.CreateCaller(ns_, "sandboxd-ns", "sandboxd-cluster", "");
    cluster_binding_ = absl::StrCat("sandboxd-ns-", ns_, "-sandboxd-cluster");
    testing::CommandResult token =
        plane_.Kubectl(absl::StrCat("-n ", ns_, " create token sandboxd-ns --duration=2h"));
    EXPECT_EQ(token.exit_code, 0) << token.output;
    std::ifstream in(plane_.sandboxd_kubeconfig());
    std::stringstream original;
    original << in.rdbuf();
    const std::string config =
        std::regex_replace(original.str(), std::regex("token: .*"),
                           absl::StrCat("token: ", absl::StripAsciiWhitespace(token.output)));
    EXPECT_NE(config, original.str());
    kubeconfig_ = absl::StrCat(::testing::TempDir(), "/sandboxd-ns-", ns_, ".kubeconfig");
    std::ofstream(kubeconfig_) << config;
    return kubeconfig_;
  }

  grpc::Status Get(const std::string& name, pb::Sandbox* out = nullptr) {
    pb::GetSandboxRequest req;
    req.set_namespace_(ns_);
    req.set_name(name);
    pb::GetSandboxResponse resp;
    grpc::Status status = stub_->GetSandbox(Context().get(), req, &resp);
    if (out != nullptr) *out = resp.sandbox();
    return status;
  }
  bool WaitForPhase(const std::string& name, pb::SandboxPhase phase) {
    pb::Sandbox sandbox;
    return Eventually([&] { return Get(name, &sandbox).ok() && sandbox.phase() == phase; }, kWait);
  }
  // What the cache holds of ns_ (read directly: the namespace may not be served).
  size_t Cached() {
    domain::ListQuery query;
    query.ns = ns_;
    absl::StatusOr<domain::ListResult> list = server_->cache()->List(query);
    return list.ok() ? list->sandboxes.size() : 999;
  }
  std::string ServedLabel() const { return absl::StrCat("sandboxd.dev/test-served=", ns_); }
  void Label(bool served) {
    testing::CommandResult r = plane_.Kubectl(
        absl::StrCat("label namespace ", ns_, " ",
                     served ? ServedLabel() : std::string("sandboxd.dev/test-served-")));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  testing::Plane plane_;
  std::string ns_;
  std::string cluster_binding_;
  std::string kubeconfig_;
  std::unique_ptr<server::SandboxdServer> server_;
  std::unique_ptr<pb::SandboxLifecycle::Stub> stub_;
};

TEST_P(ServedNamespacesTest, CacheForgetsAnUnservedNamespaceAndListsItAgainWhenServed) {
  pb::CreateSandboxRequest create;
  create.mutable_spec()->set_namespace_(ns_);
  create.mutable_spec()->set_name("alpha");
  pb::CreateSandboxResponse created;
  ASSERT_TRUE(stub_->CreateSandbox(Context().get(), create, &created).ok());
  ASSERT_TRUE(WaitForPhase("alpha", pb::SANDBOX_PHASE_RUNNING));
  EXPECT_EQ(Cached(), 1u);
  const service::CacheFeed::Stats before = server_->watch_stats();
  EXPECT_EQ(before.reflectors, 3u) << "namespaced: three for the one served namespace";

  // A stream open when the namespace stops being served.
  grpc::ClientContext watch_ctx;
  pb::WatchSandboxesRequest watch;
  watch.set_namespace_(ns_);
  auto stream = stub_->WatchSandboxes(&watch_ctx, watch);
  pb::WatchSandboxesResponse event;
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.type(), pb::WATCH_EVENT_TYPE_ADDED);
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.type(), pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE);

  Label(false);
  EXPECT_FALSE(stream->Read(&event));
  grpc::Status ended = stream->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::PERMISSION_DENIED) << ended.error_message();
  EXPECT_EQ(ReasonOf(ended), "NAMESPACE_NOT_SERVED");
  ASSERT_TRUE(Eventually([&] { return Cached() == 0; }, kWait));
  grpc::Status refused = Get("alpha");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ReasonOf(refused), "NAMESPACE_NOT_SERVED");
  EXPECT_EQ(server_->watch_stats().reflectors, namespaced() ? 0u : 3u);

  // Changed while unserved: sandboxd must show it as it is now.
  testing::CommandResult scaled =
      plane_.Kubectl(absl::StrCat("-n ", ns_, " scale statefulset alpha --replicas=0"));
  ASSERT_EQ(scaled.exit_code, 0) << scaled.output;
  ASSERT_TRUE(Eventually(
      [&] { return plane_.JsonPath(ns_, "pod/alpha-0", "{.metadata.name}").empty(); }, kWait));

  Label(true);
  ASSERT_TRUE(WaitForPhase("alpha", pb::SANDBOX_PHASE_STOPPED));
  EXPECT_TRUE(Eventually([&] { return Cached() == 1; }, kWait));
  const service::CacheFeed::Stats after = server_->watch_stats();
  EXPECT_EQ(after.reflectors, 3u);
  // Listed again: the cluster scope relists its three reflectors once; the namespaced
  // scope starts three new ones (their first lists).
  EXPECT_EQ(after.lists, namespaced() ? 3 : before.lists + 3);

  // The sandbox works as before.
  pb::StartSandboxRequest start;
  start.set_namespace_(ns_);
  start.set_name("alpha");
  pb::StartSandboxResponse started;
  ASSERT_TRUE(stub_->StartSandbox(Context().get(), start, &started).ok());
  ASSERT_TRUE(WaitForPhase("alpha", pb::SANDBOX_PHASE_RUNNING));
  pb::DeleteSandboxRequest del;
  del.set_namespace_(ns_);
  del.set_name("alpha");
  pb::DeleteSandboxResponse deleted;
  ASSERT_TRUE(stub_->DeleteSandbox(Context().get(), del, &deleted).ok());
  EXPECT_TRUE(
      Eventually([&] { return Get("alpha").error_code() == grpc::StatusCode::NOT_FOUND; }, kWait));
}

INSTANTIATE_TEST_SUITE_P(Scopes, ServedNamespacesTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Namespaced" : "Cluster";
                         });

}  // namespace
}  // namespace sandboxd

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
