// A sandbox that cannot be placed, on the real scheduler and volume controller:
// - ERROR / UNSCHEDULABLE: a CPU request above every node's allocatable (the plane's fake
//   nodes advertise 1000 CPUs; the server's max_cpu is raised for this test) stays Pending
//   with the scheduler's own message, recovers when stopped, and runs once a node has the
//   capacity;
// - ERROR / CLAIM_NOT_BOUND: a claim of the plane's StorageClass "unprovisioned" (no
//   provisioner serves it) stays Pending past claim_bind_timeout, and the message says since
//   when.
// sandboxd runs in-process under its least-privilege identity; Kubernetes is checked with
// kubectl as the admin.
//
// Integration tests run one at a time (RESOURCE_LOCK kube_plane), so raising a node's
// allocatable for a while affects no other test; it is restored once the sandbox is gone.
#include <curl/curl.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/sandboxd_server.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

namespace sandboxd {
namespace {

namespace pb = sandbox::v1;

constexpr absl::Duration kWait = absl::Seconds(90);
constexpr char kNodeCpu[] = "1k";     // 1000 (tools/kube-local/stages/kwok.yaml), as stored
constexpr char kBigCpu[] = "1500";    // above every node's allocatable
constexpr char kRoomyCpu[] = "2500";  // a node that fits kBigCpu with room to spare
// Long enough for the host-path provisioner to bind every other test's claim in time.
constexpr absl::Duration kClaimBindTimeout = absl::Seconds(10);
// SandboxdServer's housekeeping re-derives time-driven phases this often (SandboxCache::Tick).
constexpr absl::Duration kHousekeepingTick = absl::Seconds(5);

class SchedulingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    plane_ = new testing::Plane();
    ns_ = new std::string(plane_->CreateNamespace("scheduling"));
    server::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.metrics_listen_address = "127.0.0.1:0";
    config.tls.plaintext = true;
    config.kube.kubeconfig = plane_->sandboxd_kubeconfig();
    config.sandbox_defaults.image = "registry.local/agent:1";
    config.sandbox_defaults.limits.max_cpu = "4000";
    // Short, so the test does not wait 30 s; the housekeeping tick (kHousekeepingTick) still has to
    // turn STARTING into ERROR once the grace has passed.
    config.sandbox_defaults.unschedulable_grace = absl::Seconds(2);
    config.sandbox_defaults.claim_bind_timeout = kClaimBindTimeout;
    auto server = server::SandboxdServer::Start(config, {});
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
    pb::StartSandboxRequest start_req;
    pb::StopSandboxRequest stop_req;
    start_req.set_namespace_(*ns_);
    start_req.set_name(name);
    stop_req.set_namespace_(*ns_);
    stop_req.set_name(name);
    pb::StartSandboxResponse start_resp;
    pb::StopSandboxResponse stop_resp;
    return start ? stub_->StartSandbox(Context().get(), start_req, &start_resp)
                 : stub_->StopSandbox(Context().get(), stop_req, &stop_resp);
  }

  // Waits until `holds` is true of the sandbox as GetSandbox returns it; on a timeout
  // records a failure naming `what` and the last state seen.
  bool WaitFor(const std::string& name, const std::string& what,
               const std::function<bool(const pb::Sandbox&)>& holds, pb::Sandbox* out) {
    pb::Sandbox sandbox;
    bool ok =
        testing::Eventually([&] { return Get(name, &sandbox).ok() && holds(sandbox); }, kWait);
    if (!ok)
      ADD_FAILURE() << name << " never became " << what << "; last: " << sandbox.DebugString();
    *out = sandbox;
    return ok;
  }

  std::string Json(const std::string& what, const std::string& path) {
    return plane_->JsonPath(*ns_, what, path);
  }

  // The plane's nodes, by name.
  static std::vector<std::string> Nodes() {
    testing::CommandResult r = plane_->Kubectl("get nodes -o jsonpath='{.items[*].metadata.name}'");
    return absl::StrSplit(r.output, ' ', absl::SkipWhitespace());
  }
  static std::string NodeCpu(const std::string& node) {
    // Nodes are cluster-scoped: kubectl ignores the namespace.
    return plane_->JsonPath("default", "node/" + node, "{.status.allocatable.cpu}");
  }
  // Sets a fake node's CPU capacity and allocatable (kwok writes them only when it
  // initialises the node, so they stay as set). Returns kubectl's exit code.
  static int SetNodeCpu(const std::string& node, const std::string& cpu) {
    return plane_
        ->Kubectl(absl::StrCat("patch node ", node, " --subresource=status --type=merge -p '",
                               R"({"status":{"capacity":{"cpu":")", cpu,
                               R"("},"allocatable":{"cpu":")", cpu, R"("}}}')"))
        .exit_code;
  }

  static testing::Plane* plane_;
  static std::string* ns_;
  static server::SandboxdServer* server_;
  static std::shared_ptr<grpc::Channel>* channel_;
  std::unique_ptr<pb::SandboxLifecycle::Stub> stub_;
};

testing::Plane* SchedulingTest::plane_ = nullptr;
std::string* SchedulingTest::ns_ = nullptr;
server::SandboxdServer* SchedulingTest::server_ = nullptr;
std::shared_ptr<grpc::Channel>* SchedulingTest::channel_ = nullptr;

TEST_F(SchedulingTest, ARequestAboveEveryNodeIsUnschedulableUntilANodeHasRoom) {
  const std::vector<std::string> nodes = Nodes();
  ASSERT_FALSE(nodes.empty());
  for (const std::string& node : nodes) ASSERT_EQ(NodeCpu(node), kNodeCpu) << node;
  const std::string n = std::to_string(nodes.size());
  // The scheduler's message (kube-scheduler v1.37: filter, then preemption), behind the
  // derivation's "pod <name>: Unschedulable: ".
  const std::string scheduler_message =
      absl::StrCat("0/", n, " nodes are available: ", n, " Insufficient cpu. preemption: 0/", n,
                   " nodes are available: ", n, " Preemption is not helpful for scheduling.");
  const std::string expected = "pod big-0: Unschedulable: " + scheduler_message;

  pb::CreateSandboxRequest req;
  req.mutable_spec()->set_name("big");
  req.mutable_spec()->set_namespace_(*ns_);
  req.mutable_spec()->set_project("proj-a");
  req.mutable_spec()->mutable_resources()->mutable_requests()->set_cpu(kBigCpu);
  req.mutable_spec()->mutable_resources()->mutable_limits()->set_cpu(kBigCpu);
  pb::CreateSandboxResponse created;
  ASSERT_TRUE(stub_->CreateSandbox(Context().get(), req, &created).ok());

  auto unschedulable = [&](const pb::Sandbox& s) {
    return s.phase() == pb::SANDBOX_PHASE_ERROR &&
           s.error_reason() == pb::SANDBOX_ERROR_REASON_UNSCHEDULABLE && s.message() == expected;
  };
  pb::Sandbox sandbox;
  ASSERT_TRUE(WaitFor("big", "ERROR/UNSCHEDULABLE", unschedulable, &sandbox));
  EXPECT_EQ(sandbox.storage().phase(), "Bound");  // not a claim waiting to bind
  // The oracle: what the scheduler wrote on the pod.
  EXPECT_EQ(Json("pod/big-0", "{.spec.nodeName}"), "");
  EXPECT_EQ(Json("pod/big-0", R"({.status.conditions[?(@.type=="PodScheduled")].status})"),
            "False");
  EXPECT_EQ(Json("pod/big-0", R"({.status.conditions[?(@.type=="PodScheduled")].reason})"),
            "Unschedulable");
  EXPECT_EQ(Json("pod/big-0", R"({.status.conditions[?(@.type=="PodScheduled")].message})"),
            scheduler_message);

  // Stopping it is not an error: the pending pod goes, the sandbox is STOPPED.
  ASSERT_TRUE(Scale("big", false).ok());
  ASSERT_TRUE(WaitFor(
      "big", "STOPPED", [](const pb::Sandbox& s) { return s.phase() == pb::SANDBOX_PHASE_STOPPED; },
      &sandbox));
  EXPECT_EQ(sandbox.error_reason(), pb::SANDBOX_ERROR_REASON_UNSPECIFIED);
  EXPECT_EQ(sandbox.message(), "");
  // Started again, its new pod fits nowhere either.
  ASSERT_TRUE(Scale("big", true).ok());
  ASSERT_TRUE(WaitFor("big", "ERROR/UNSCHEDULABLE again", unschedulable, &sandbox));

  // Capacity appears: the scheduler retries by itself and places the pod there.
  ASSERT_EQ(SetNodeCpu(nodes[0], kRoomyCpu), 0);
  ASSERT_TRUE(WaitFor(
      "big", "RUNNING", [](const pb::Sandbox& s) { return s.phase() == pb::SANDBOX_PHASE_RUNNING; },
      &sandbox));
  EXPECT_EQ(sandbox.error_reason(), pb::SANDBOX_ERROR_REASON_UNSPECIFIED);
  EXPECT_EQ(sandbox.message(), "");
  EXPECT_EQ(Json("pod/big-0", "{.spec.nodeName}"), nodes[0]);

  // Give the node back its size only once nothing of this test is placed on it (a
  // node smaller than what is placed there would refuse other tests' pods).
  pb::DeleteSandboxRequest del;
  del.set_namespace_(*ns_);
  del.set_name("big");
  pb::DeleteSandboxResponse deleted;
  ASSERT_TRUE(stub_->DeleteSandbox(Context().get(), del, &deleted).ok());
  ASSERT_TRUE(testing::Eventually([&] { return !plane_->Exists(*ns_, "pod/big-0"); }, kWait));
  EXPECT_EQ(SetNodeCpu(nodes[0], kNodeCpu), 0);
  EXPECT_EQ(NodeCpu(nodes[0]), kNodeCpu);
}

TEST_F(SchedulingTest, AClaimNoProvisionerServesIsClaimNotBoundSinceItsCreation) {
  pb::CreateSandboxRequest req;
  req.mutable_spec()->set_name("unbound");
  req.mutable_spec()->set_namespace_(*ns_);
  req.mutable_spec()->set_project("proj-a");
  req.mutable_spec()->mutable_storage()->set_storage_class("unprovisioned");
  pb::CreateSandboxResponse created;
  ASSERT_TRUE(stub_->CreateSandbox(Context().get(), req, &created).ok());

  auto not_bound = [](const pb::Sandbox& s) {
    return s.phase() == pb::SANDBOX_PHASE_ERROR &&
           s.error_reason() == pb::SANDBOX_ERROR_REASON_CLAIM_NOT_BOUND;
  };
  pb::Sandbox sandbox;
  ASSERT_TRUE(WaitFor("unbound", "ERROR/CLAIM_NOT_BOUND", not_bound, &sandbox));
  const std::string claim = "vn-homevn-agent-unbound-0";  // <template>-<sandbox>-0
  ASSERT_EQ(sandbox.storage().claim_name(), claim);
  // The oracle: the volume controller left the claim Pending, and its creation time.
  EXPECT_EQ(Json("pvc/" + claim, "{.status.phase}"), "Pending");
  const std::string since = Json("pvc/" + claim, "{.metadata.creationTimestamp}");
  ASSERT_FALSE(since.empty());
  const std::string expected = "claim " + claim + " Pending since " + since + " (limit " +
                               absl::FormatDuration(kClaimBindTimeout) + ")";
  EXPECT_EQ(sandbox.message(), expected);
  EXPECT_EQ(sandbox.storage().phase(), "Pending");
  EXPECT_EQ(sandbox.spec().storage().storage_class(), "unprovisioned");

  // Later re-derivations (the housekeeping tick) keep the message: it names a time, not
  // an age that would freeze at its first value.
  absl::SleepFor(kHousekeepingTick + absl::Seconds(1));
  ASSERT_TRUE(Get("unbound", &sandbox).ok());
  EXPECT_TRUE(not_bound(sandbox)) << sandbox.DebugString();
  EXPECT_EQ(sandbox.message(), expected);

  // Deleting it takes the claim along (retention policy whenDeleted: Delete).
  pb::DeleteSandboxRequest del;
  del.set_namespace_(*ns_);
  del.set_name("unbound");
  pb::DeleteSandboxResponse deleted;
  ASSERT_TRUE(stub_->DeleteSandbox(Context().get(), del, &deleted).ok());
  EXPECT_TRUE(testing::Eventually([&] { return !plane_->Exists(*ns_, "pvc/" + claim); }, kWait));
}

}  // namespace
}  // namespace sandboxd
