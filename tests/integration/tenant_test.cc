// The tenant boundary against the real control plane: callers authenticate with
// ServiceAccount tokens (TokenReview) or client certificates (mutual TLS), are authorized
// by Kubernetes RBAC (SubjectAccessReview on sandboxes.sandboxd.dev), and reach only
// namespaces labelled sandboxd.dev/enabled=true. Refused calls write nothing (the
// requests sandboxd sends are counted).
#include <curl/curl.h>

#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
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
using testing::ReasonOf;
using Counts = testing::RequestCounter::Counts;

constexpr absl::Duration kWait = absl::Seconds(90);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// grpcurl ($SANDBOXD_GRPCURL, else from PATH) with `args`, run in directory `dir`.
testing::CommandResult Grpcurl(const std::string& dir, const std::string& args) {
  return testing::RunCommand(
      absl::StrCat("cd ", dir, " && \"${SANDBOXD_GRPCURL:-grpcurl}\" ", args));
}

// The field an INVALID_FIELD error names ("" if none).
std::string FieldOf(const grpc::Status& status) {
  google::rpc::ErrorInfo info = testing::ErrorInfoOf(status);
  auto it = info.metadata().find("field");
  return it == info.metadata().end() ? std::string() : it->second;
}

class TenantTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    plane_ = new testing::Plane();
    a_ = new std::string(plane_->CreateNamespace("tenant-a"));
    b_ = new std::string(plane_->CreateNamespace("tenant-b"));
    unserved_ = new std::string(plane_->CreateNamespace("unserved", /*served=*/false));
    // tenant: every sandbox verb in a only; viewer: read in a; admin: every verb anywhere.
    plane_->CreateCaller(*a_, "tenant", "sandboxd-user", *a_);
    plane_->CreateCaller(*a_, "viewer", "sandboxd-viewer", *a_);
    plane_->CreateCaller(*a_, "admin", "sandboxd-user", "");

    server::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.metrics_listen_address = "127.0.0.1:0";  // not 9090: processes run side by side
    config.tls.plaintext = true;
    config.kube.kubeconfig = plane_->sandboxd_kubeconfig();
    config.sandbox_defaults.image = "registry.local/agent:1";
    server::SandboxdServer::Hooks hooks;
    hooks.decorate_kube = testing::RequestCounter::Install(&requests_);
    auto server = server::SandboxdServer::Start(config, hooks);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    ASSERT_TRUE(server_->WaitUntilServing(absl::Seconds(60)));
  }
  static void TearDownTestSuite() {
    server_->Shutdown(absl::Seconds(5));
    delete server_;
    for (const std::string* ns : {a_, b_, unserved_}) plane_->DeleteNamespace(*ns);
  }

  static std::string Target() { return absl::StrCat("127.0.0.1:", server_->port()); }
  // A stub calling as ServiceAccount `name` of namespace a.
  static std::unique_ptr<pb::SandboxLifecycle::Stub> As(const std::string& name) {
    std::string token = plane_->Token(*a_, name);
    EXPECT_FALSE(token.empty());
    return pb::SandboxLifecycle::NewStub(testing::TokenChannel(Target(), token));
  }
  static std::unique_ptr<pb::SandboxLifecycle::Stub> WithToken(const std::string& token) {
    return pb::SandboxLifecycle::NewStub(testing::TokenChannel(Target(), token));
  }
  static std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  static grpc::Status Create(pb::SandboxLifecycle::Stub& stub, const std::string& ns,
                             const std::string& name) {
    pb::CreateSandboxRequest req;
    req.mutable_spec()->set_namespace_(ns);
    req.mutable_spec()->set_name(name);
    pb::CreateSandboxResponse resp;
    return stub.CreateSandbox(Context().get(), req, &resp);
  }
  template <typename Request, typename Response>
  static grpc::Status ByName(pb::SandboxLifecycle::Stub& stub,
                             grpc::Status (pb::SandboxLifecycle::Stub::*method)(
                                 grpc::ClientContext*, const Request&, Response*),
                             const std::string& ns, const std::string& name) {
    Request req;
    req.set_namespace_(ns);
    req.set_name(name);
    Response resp;
    return (stub.*method)(Context().get(), req, &resp);
  }
  static grpc::Status List(pb::SandboxLifecycle::Stub& stub, const std::string& ns) {
    pb::ListSandboxesRequest req;
    req.set_namespace_(ns);
    pb::ListSandboxesResponse resp;
    return stub.ListSandboxes(Context().get(), req, &resp);
  }
  static grpc::Status UpdateEnv(pb::SandboxLifecycle::Stub& stub, const std::string& ns,
                                const std::string& name) {
    pb::UpdateSandboxEnvRequest req;
    req.set_namespace_(ns);
    req.set_name(name);
    (*req.mutable_env())["K"] = "v";
    pb::UpdateSandboxEnvResponse resp;
    return stub.UpdateSandboxEnv(Context().get(), req, &resp);
  }
  // The status a WatchSandboxes stream on `ns` ends with, or OK if it delivers a message.
  static grpc::Status Watch(pb::SandboxLifecycle::Stub& stub, const std::string& ns) {
    auto ctx = Context();
    pb::WatchSandboxesRequest req;
    req.set_namespace_(ns);
    auto reader = stub.WatchSandboxes(ctx.get(), req);
    pb::WatchSandboxesResponse first;
    if (reader->Read(&first)) {
      ctx->TryCancel();
      reader->Finish();
      return grpc::Status::OK;
    }
    return reader->Finish();
  }

  // Every RPC of `stub` on sandbox `name` in `ns`, with the status each returned.
  static std::vector<std::pair<std::string, grpc::Status>> EveryRpc(
      pb::SandboxLifecycle::Stub& stub, const std::string& ns, const std::string& name) {
    return {
        {"CreateSandbox", Create(stub, ns, name)},
        {"GetSandbox", ByName(stub, &pb::SandboxLifecycle::Stub::GetSandbox, ns, name)},
        {"ListSandboxes", List(stub, ns)},
        {"StartSandbox", ByName(stub, &pb::SandboxLifecycle::Stub::StartSandbox, ns, name)},
        {"StopSandbox", ByName(stub, &pb::SandboxLifecycle::Stub::StopSandbox, ns, name)},
        {"UpdateSandboxEnv", UpdateEnv(stub, ns, name)},
        {"DeleteSandbox", ByName(stub, &pb::SandboxLifecycle::Stub::DeleteSandbox, ns, name)},
        {"WatchSandboxes", Watch(stub, ns)},
    };
  }

  static testing::Plane* plane_;
  static testing::RequestCounter* requests_;
  static server::SandboxdServer* server_;
  static std::string* a_;
  static std::string* b_;
  static std::string* unserved_;
};

testing::Plane* TenantTest::plane_ = nullptr;
testing::RequestCounter* TenantTest::requests_ = nullptr;
server::SandboxdServer* TenantTest::server_ = nullptr;
std::string* TenantTest::a_ = nullptr;
std::string* TenantTest::b_ = nullptr;
std::string* TenantTest::unserved_ = nullptr;

TEST_F(TenantTest, ATenantUsesItsNamespaceAndNothingElse) {
  auto tenant = As("tenant");
  ASSERT_TRUE(Create(*tenant, *a_, "mine").ok());
  EXPECT_TRUE(ByName(*tenant, &pb::SandboxLifecycle::Stub::GetSandbox, *a_, "mine").ok());
  EXPECT_TRUE(List(*tenant, *a_).ok());
  EXPECT_TRUE(UpdateEnv(*tenant, *a_, "mine").ok());
  EXPECT_TRUE(ByName(*tenant, &pb::SandboxLifecycle::Stub::StopSandbox, *a_, "mine").ok());
  EXPECT_TRUE(ByName(*tenant, &pb::SandboxLifecycle::Stub::StartSandbox, *a_, "mine").ok());
  EXPECT_TRUE(Watch(*tenant, *a_).ok());

  // A sandbox in b made by somebody allowed there.
  auto admin = As("admin");
  ASSERT_TRUE(Create(*admin, *b_, "theirs").ok());

  requests_->Take();
  for (const auto& [rpc, status] : EveryRpc(*tenant, *b_, "theirs")) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << rpc;
    EXPECT_EQ(ReasonOf(status), "ACCESS_DENIED") << rpc;
  }
  EXPECT_EQ(requests_->Take(), Counts{}) << "a refused call sends nothing";
  EXPECT_TRUE(plane_->Exists(*b_, "statefulset/theirs"));

  // The answer does not tell whether the sandbox exists.
  grpc::Status existing = ByName(*tenant, &pb::SandboxLifecycle::Stub::GetSandbox, *b_, "theirs");
  grpc::Status missing = ByName(*tenant, &pb::SandboxLifecycle::Stub::GetSandbox, *b_, "nobody");
  EXPECT_EQ(existing.error_code(), missing.error_code());
  EXPECT_EQ(existing.error_message(), missing.error_message());

  EXPECT_TRUE(ByName(*tenant, &pb::SandboxLifecycle::Stub::DeleteSandbox, *a_, "mine").ok());
  EXPECT_TRUE(ByName(*admin, &pb::SandboxLifecycle::Stub::DeleteSandbox, *b_, "theirs").ok());
}

TEST_F(TenantTest, AViewerReadsAndChangesNothing) {
  auto admin = As("admin");
  ASSERT_TRUE(Create(*admin, *a_, "shown").ok());
  auto viewer = As("viewer");
  EXPECT_TRUE(ByName(*viewer, &pb::SandboxLifecycle::Stub::GetSandbox, *a_, "shown").ok());
  EXPECT_TRUE(List(*viewer, *a_).ok());
  EXPECT_TRUE(Watch(*viewer, *a_).ok());
  requests_->Take();
  for (const auto& [rpc, status] :
       {std::pair<std::string, grpc::Status>{"CreateSandbox", Create(*viewer, *a_, "other")},
        {"UpdateSandboxEnv", UpdateEnv(*viewer, *a_, "shown")},
        {"StopSandbox", ByName(*viewer, &pb::SandboxLifecycle::Stub::StopSandbox, *a_, "shown")},
        {"DeleteSandbox",
         ByName(*viewer, &pb::SandboxLifecycle::Stub::DeleteSandbox, *a_, "shown")}}) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << rpc;
  }
  EXPECT_EQ(requests_->Take(), Counts{});
  EXPECT_TRUE(ByName(*admin, &pb::SandboxLifecycle::Stub::DeleteSandbox, *a_, "shown").ok());
}

// RBAC rules may name the sandboxes they grant (resourceNames): sandboxd asks about the
// whole namespace first and then about the sandbox, so such a grant reaches exactly the
// sandboxes it names.
TEST_F(TenantTest, AGrantNamingOneSandboxReachesThatSandboxOnly) {
  const std::string role_file = absl::StrCat(::testing::TempDir(), "/one-sandbox-role.json");
  {
    std::ofstream out(role_file);
    out << R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",)"
        << R"("metadata":{"name":"sandboxd-test-one-sandbox"},"rules":[{"apiGroups":["sandboxd.dev"],)"
        << R"("resources":["sandboxes"],"resourceNames":["one"],"verbs":["get","update"]}]})";
  }
  ASSERT_EQ(plane_->Kubectl(absl::StrCat("apply -f ", role_file)).exit_code, 0);
  plane_->CreateCaller(*a_, "named", "sandboxd-test-one-sandbox", *a_);
  auto admin = As("admin");
  ASSERT_TRUE(Create(*admin, *a_, "one").ok());
  ASSERT_TRUE(Create(*admin, *a_, "two").ok());

  auto named = As("named");
  EXPECT_TRUE(ByName(*named, &pb::SandboxLifecycle::Stub::GetSandbox, *a_, "one").ok());
  EXPECT_TRUE(UpdateEnv(*named, *a_, "one").ok());
  EXPECT_TRUE(ByName(*named, &pb::SandboxLifecycle::Stub::StopSandbox, *a_, "one").ok());
  requests_->Take();
  for (const auto& [rpc, status] :
       {std::pair<std::string, grpc::Status>{
            "GetSandbox two", ByName(*named, &pb::SandboxLifecycle::Stub::GetSandbox, *a_, "two")},
        {"UpdateSandboxEnv two", UpdateEnv(*named, *a_, "two")},
        {"DeleteSandbox one",
         ByName(*named, &pb::SandboxLifecycle::Stub::DeleteSandbox, *a_, "one")},
        {"ListSandboxes", List(*named, *a_)}}) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << rpc;
  }
  EXPECT_EQ(requests_->Take(), Counts{});

  EXPECT_TRUE(ByName(*admin, &pb::SandboxLifecycle::Stub::DeleteSandbox, *a_, "one").ok());
  EXPECT_TRUE(ByName(*admin, &pb::SandboxLifecycle::Stub::DeleteSandbox, *a_, "two").ok());
}

TEST_F(TenantTest, CallersWithoutValidCredentialsAreUnauthenticated) {
  const std::string other_audience = plane_->Token(*a_, "tenant", "https://kubernetes.default.svc");
  plane_->CreateCaller(*a_, "gone", "sandboxd-user", *a_);
  const std::string revoked = plane_->Token(*a_, "gone");
  // A token made like the API server's: accepted while valid, refused once expired.
  const std::string fresh = plane_->SignedToken(*a_, "tenant", absl::Now() + absl::Minutes(10));
  EXPECT_TRUE(List(*WithToken(fresh), *a_).ok());
  const std::string expired = plane_->SignedToken(*a_, "tenant", absl::Now() - absl::Minutes(1));
  ASSERT_FALSE(expired.empty());
  ASSERT_EQ(plane_->Kubectl(absl::StrCat("-n ", *a_, " delete serviceaccount gone")).exit_code, 0);

  auto anonymous = pb::SandboxLifecycle::NewStub(
      grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials()));
  grpc::Status none = List(*anonymous, *a_);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ReasonOf(none), "MISSING_CREDENTIALS");

  for (const auto& [what, token] : {std::pair<std::string, std::string>{"garbage", "not-a-jwt"},
                                    {"another audience", other_audience},
                                    {"expired", expired},
                                    {"revoked (account deleted)", revoked}}) {
    grpc::Status s = List(*WithToken(token), *a_);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << what;
    EXPECT_EQ(ReasonOf(s), "INVALID_CREDENTIALS") << what;
  }
  auto basic = std::make_unique<grpc::ClientContext>();
  basic->AddMetadata("authorization", "Basic dXNlcjpwYXNz");
  pb::ListSandboxesRequest req;
  req.set_namespace_(*a_);
  pb::ListSandboxesResponse resp;
  grpc::Status s = anonymous->ListSandboxes(basic.get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ReasonOf(s), "INVALID_CREDENTIALS");
}

TEST_F(TenantTest, NamespacesNotServedAreRefusedToEveryone) {
  auto admin = As("admin");  // allowed every sandbox verb in every namespace
  for (const std::string& ns : {*unserved_, std::string("kube-system"),
                                std::string("sandboxd-system")}) {
    requests_->Take();
    for (const auto& [rpc, status] : EveryRpc(*admin, ns, "x")) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << ns << " " << rpc;
      EXPECT_EQ(ReasonOf(status), "NAMESPACE_NOT_SERVED") << ns << " " << rpc;
    }
    EXPECT_EQ(requests_->Take(), Counts{}) << ns;
  }
  // Labelling a namespace serves it (the set follows a watch).
  plane_->Kubectl(absl::StrCat("label namespace ", *unserved_, " sandboxd.dev/enabled=true"));
  EXPECT_TRUE(testing::Eventually([&] { return List(*admin, *unserved_).ok(); }, kWait));
  plane_->Kubectl(absl::StrCat("label namespace ", *unserved_, " sandboxd.dev/enabled-"));
  EXPECT_TRUE(testing::Eventually(
      [&] { return ReasonOf(List(*admin, *unserved_)) == "NAMESPACE_NOT_SERVED"; }, kWait));
}

// Bytes that do not parse as the method's request are INVALID_ARGUMENT reason
// MALFORMED_REQUEST from sandboxd itself, for every method, and send no request about
// sandboxes. Parsing comes before admission: a caller without a token gets the same
// answer (and no TokenReview is made for bytes that are not a request).
TEST_F(TenantTest, BytesThatAreNotARequestAreMalformedForEveryMethodAndReachNothing) {
  const std::string token = plane_->Token(*a_, "tenant");
  ASSERT_FALSE(token.empty());
  const char garbage[] = {0x0a, 0x05, 'a'};  // field 1 announces 5 bytes, 1 follows
  for (const auto& [who, channel] :
       {std::pair<std::string, std::shared_ptr<grpc::Channel>>{
            "tenant", testing::TokenChannel(Target(), token)},
        {"anonymous", grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials())}}) {
    grpc::GenericStub generic(channel);
    requests_->Take();
    for (const char* method :
         {"CreateSandbox", "GetSandbox", "ListSandboxes", "StartSandbox", "StopSandbox",
          "UpdateSandboxEnv", "DeleteSandbox", "WatchSandbox", "WatchSandboxes"}) {
      grpc::Slice slice(garbage, sizeof(garbage));
      grpc::ByteBuffer request(&slice, 1), response;
      std::unique_ptr<grpc::ClientContext> ctx = Context();
      std::promise<grpc::Status> done;
      generic.UnaryCall(ctx.get(), absl::StrCat("/sandbox.v1.SandboxLifecycle/", method), {},
                        &request, &response, [&done](grpc::Status s) { done.set_value(s); });
      grpc::Status status = done.get_future().get();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << who << " " << method << ": " << status.error_message();
      EXPECT_EQ(ReasonOf(status), "MALFORMED_REQUEST") << who << " " << method;
    }
    EXPECT_EQ(requests_->Take(), Counts{}) << who;
  }
}

// A sandbox named like a foreign app's `app` label does not select the app's pods.
TEST_F(TenantTest, TheServiceSelectsOnlyTheSandboxPod) {
  ASSERT_EQ(plane_->Kubectl(absl::StrCat("-n ", *a_, " run grafana-foreign --image=grafana ",
                                         "--labels=app=grafana"))
                .exit_code,
            0);
  auto tenant = As("tenant");
  ASSERT_TRUE(Create(*tenant, *a_, "grafana").ok());
  auto endpoints = [&]() {
    return plane_->JsonPath(*a_, "endpointslices -l kubernetes.io/service-name=grafana-service",
                            "{.items[*].endpoints[*].targetRef.name}");
  };
  EXPECT_TRUE(testing::Eventually([&] { return endpoints() == "grafana-0"; }, kWait))
      << endpoints();
  EXPECT_TRUE(ByName(*tenant, &pb::SandboxLifecycle::Stub::DeleteSandbox, *a_, "grafana").ok());
}

// A claim named like a new sandbox's but not made by sandboxd is never mounted: the
// create is refused (the watch cache knows the claim; nothing is read or written), and
// the claim is left as it was.
TEST_F(TenantTest, AClaimSandboxdDidNotMakeIsNeverAdopted) {
  const std::string claim = "vn-homevn-agent-squatted-0";
  const std::string path = absl::StrCat(::testing::TempDir(), "foreign-claim.json");
  std::ofstream(path) << absl::StrCat(
      R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":")", claim,
      R"(","namespace":")", *a_, R"(","labels":{"app":"squatted"}},"spec":{"accessModes":)",
      R"(["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}})");
  testing::CommandResult created = plane_->Kubectl("create -f " + path);
  ASSERT_EQ(created.exit_code, 0) << created.output;
  const std::string uid = plane_->JsonPath(*a_, "pvc/" + claim, "{.metadata.uid}");
  ASSERT_TRUE(testing::Eventually(
      [&] { return server_->cache()->IsForeignClaim(*a_, claim).value_or(false); }, kWait));

  auto tenant = As("tenant");
  requests_->Take();
  grpc::Status refused = Create(*tenant, *a_, "squatted");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(refused), "FOREIGN_CLAIM");
  EXPECT_EQ(requests_->Take(), testing::RequestCounter::Counts{});
  EXPECT_FALSE(plane_->Exists(*a_, "statefulset/squatted"));
  EXPECT_EQ(plane_->JsonPath(*a_, "pvc/" + claim, "{.metadata.uid}"), uid);
  EXPECT_EQ(plane_->JsonPath(*a_, "pvc/" + claim, "{.metadata.ownerReferences}"), "");
  ASSERT_EQ(plane_->Kubectl(absl::StrCat("-n ", *a_, " delete pvc ", claim)).exit_code, 0);
}

// One host belongs to one Ingress: a sandbox whose host another Ingress (of any
// namespace, sandboxd's or not) already claims is refused before anything is written.
TEST_F(TenantTest, AHostAnotherIngressClaimsIsRefused) {
  auto admin = As("admin");
  // A domain of this run only (an earlier run's namespaces may still be terminating).
  const std::string domain = absl::StrCat(*a_, ".example.test");
  auto with_domain = [&domain](const std::string& ns, const std::string& name) {
    pb::CreateSandboxRequest req;
    req.mutable_spec()->set_namespace_(ns);
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_ingress_domain(domain);
    return req;
  };
  auto create = [&](const pb::CreateSandboxRequest& req) {
    pb::CreateSandboxResponse resp;
    return admin->CreateSandbox(Context().get(), req, &resp);
  };
  ASSERT_TRUE(create(with_domain(*a_, "twin")).ok());
  // The same name in another namespace would claim the same hosts.
  EXPECT_TRUE(testing::Eventually(
      [&] {
        requests_->Take();
        grpc::Status second = create(with_domain(*b_, "twin"));
        return second.error_code() == grpc::StatusCode::ALREADY_EXISTS &&
               ReasonOf(second) == "INGRESS_HOST_TAKEN" && requests_->Take() == Counts{};
      },
      kWait));
  EXPECT_FALSE(plane_->Exists(*b_, "statefulset/twin"));
  EXPECT_EQ(plane_->JsonPath(*a_, "ingress/twin-app-ingress", "{.spec.rules[0].host}"),
            absl::StrCat("twin-app.", domain));

  // An Ingress sandboxd did not make holds its host just the same, once sandboxd's
  // Ingress watch has seen it.
  ASSERT_EQ(plane_->Kubectl(absl::StrCat("-n ", *b_, " create ingress foreign --rule=",
                                         "solo-ttyd.", domain, "/*=svc:80"))
                .exit_code,
            0);
  ASSERT_TRUE(testing::Eventually(
      [&] {
        return !server_->ingress_hosts()
                    ->CheckFree(*a_, "solo-ttyd-ingress", absl::StrCat("solo-ttyd.", domain))
                    .ok();
      },
      kWait));
  requests_->Take();
  grpc::Status taken = create(with_domain(*a_, "solo"));
  EXPECT_EQ(taken.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ReasonOf(taken), "INGRESS_HOST_TAKEN");
  EXPECT_EQ(requests_->Take(), Counts{});
  EXPECT_FALSE(plane_->Exists(*a_, "statefulset/solo"));
  EXPECT_TRUE(ByName(*admin, &pb::SandboxLifecycle::Stub::DeleteSandbox, *a_, "twin").ok());
}

// A namespace's annotation sandboxd.dev/allowed-ingress-domains narrows the ingress
// domains its sandboxes may use; the set follows the namespace watch.
TEST_F(TenantTest, ANamespaceNarrowsTheIngressDomainsItsSandboxesUse) {
  auto admin = As("admin");
  const std::string allowed = absl::StrCat("ok.", *b_, ".example.test");
  const std::string other = absl::StrCat("other.", *b_, ".example.test");
  auto create = [&](const std::string& name, const std::string& domain) {
    pb::CreateSandboxRequest req;
    req.mutable_spec()->set_namespace_(*b_);
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_ingress_domain(domain);
    pb::CreateSandboxResponse resp;
    return admin->CreateSandbox(Context().get(), req, &resp);
  };
  ASSERT_EQ(plane_->Kubectl(absl::StrCat("annotate namespace ", *b_,
                                         " sandboxd.dev/allowed-ingress-domains=", allowed))
                .exit_code,
            0);
  grpc::Status refused;
  EXPECT_TRUE(testing::Eventually(
      [&] {
        requests_->Take();
        refused = create("narrow", other);
        return refused.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
               requests_->Take() == Counts{};
      },
      kWait));
  EXPECT_EQ(ReasonOf(refused), "INVALID_FIELD");
  EXPECT_EQ(refused.error_message(),
            absl::StrCat("spec.ingress_domain: \"", other, "\" is not allowed in namespace \"",
                         *b_, "\"; allowed: ", allowed));
  EXPECT_FALSE(plane_->Exists(*b_, "statefulset/narrow"));
  ASSERT_TRUE(create("narrow", allowed).ok());
  EXPECT_EQ(plane_->JsonPath(*b_, "ingress/narrow-app-ingress", "{.spec.rules[0].host}"),
            absl::StrCat("narrow-app.", allowed));
  EXPECT_TRUE(ByName(*admin, &pb::SandboxLifecycle::Stub::DeleteSandbox, *b_, "narrow").ok());

  // Without the annotation the configured domains apply again.
  plane_->Kubectl(absl::StrCat("annotate namespace ", *b_, " sandboxd.dev/allowed-ingress-domains-"));
  EXPECT_TRUE(testing::Eventually([&] { return create("wide", other).ok(); }, kWait));
  EXPECT_TRUE(ByName(*admin, &pb::SandboxLifecycle::Stub::DeleteSandbox, *b_, "wide").ok());
}

// What a caller may ask for is bounded (the server's default limits here): hostile values
// and every maximum are INVALID_ARGUMENT naming the field before any request, and
// repeated env updates cannot grow the env past the maxima: the update that would is
// refused and nothing is written.
TEST_F(TenantTest, HostileValuesAndMaximaAreRefusedNamingTheFieldAndWriteNothing) {
  auto tenant = As("tenant");
  struct Case {
    std::string what;
    std::function<void(pb::SandboxSpec*)> mutate;
    std::string field;
  };
  const std::string big_value(size_t{32} * 1024, 'x');  // the largest env value allowed
  const std::vector<Case> cases = {
      {"a NUL byte in an env value",
       [](pb::SandboxSpec* s) { (*s->mutable_env())["K"] = std::string("a\0b", 3); },
       "spec.env[K]"},
      {"an escape sequence in an env value",
       [](pb::SandboxSpec* s) { (*s->mutable_env())["K"] = "\x1b[2J"; }, "spec.env[K]"},
      {"a forged log line in a label value",
       [](pb::SandboxSpec* s) { (*s->mutable_labels())["team"] = "a\nlevel=error"; },
       "spec.labels[team]"},
      {"a 100Ti home volume", [](pb::SandboxSpec* s) { s->mutable_storage()->set_size("100Ti"); },
       "spec.storage.size"},
      {"a 5000-core CPU limit",
       [](pb::SandboxSpec* s) { s->mutable_resources()->mutable_limits()->set_cpu("5000"); },
       "spec.resources.limits.cpu"},
      {"a 1Ti memory request",
       [](pb::SandboxSpec* s) { s->mutable_resources()->mutable_requests()->set_memory("1Ti"); },
       "spec.resources.requests.memory"},
      {"257 env variables",
       [](pb::SandboxSpec* s) {
         for (int i = 0; i < 257; ++i) (*s->mutable_env())[absl::StrCat("V", i)] = "v";
       },
       "spec.env"},
      {"more than 256 KiB of env",
       [&big_value](pb::SandboxSpec* s) {
         for (int i = 0; i < 8; ++i) (*s->mutable_env())[absl::StrCat("V", i)] = big_value;
       },
       "spec.env"},
      {"33 labels",
       [](pb::SandboxSpec* s) {
         for (int i = 0; i < 33; ++i) (*s->mutable_labels())[absl::StrCat("l", i)] = "v";
       },
       "spec.labels"},
  };
  requests_->Take();
  for (const Case& c : cases) {
    pb::CreateSandboxRequest req;
    req.mutable_spec()->set_namespace_(*a_);
    req.mutable_spec()->set_name("hostile");
    c.mutate(req.mutable_spec());
    pb::CreateSandboxResponse resp;
    grpc::Status s = tenant->CreateSandbox(Context().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_EQ(ReasonOf(s), "INVALID_FIELD") << c.what;
    EXPECT_EQ(FieldOf(s), c.field) << c.what << ": " << s.error_message();
  }
  EXPECT_EQ(requests_->Take(), Counts{});
  EXPECT_FALSE(plane_->Exists(*a_, "statefulset/hostile"));

  ASSERT_TRUE(Create(*tenant, *a_, "growing").ok());
  auto update = [&](const std::map<std::string, std::string>& set) {
    pb::UpdateSandboxEnvRequest req;
    req.set_namespace_(*a_);
    req.set_name("growing");
    req.mutable_env()->insert(set.begin(), set.end());
    pb::UpdateSandboxEnvResponse resp;
    return tenant->UpdateSandboxEnv(Context().get(), req, &resp);
  };
  auto keys = [](const std::string& prefix, int n, const std::string& value) {
    std::map<std::string, std::string> set;
    for (int i = 0; i < n; ++i) set[absl::StrCat(prefix, i)] = value;
    return set;
  };
  // 200 variables E0..E199 of 890 bytes in all, then 7 of 32 KiB: 207 variables, 230,280
  // bytes of names and values.
  ASSERT_TRUE(update(keys("E", 200, "v")).ok());
  ASSERT_TRUE(update(keys("B", 7, big_value)).ok());
  const std::string generation =
      plane_->JsonPath(*a_, "statefulset/growing", "{.metadata.generation}");
  requests_->Take();
  // Each update is within the limits on its own; the env it would leave is not.
  grpc::Status too_many = update(keys("N", 50, "v"));
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(FieldOf(too_many), "env");
  EXPECT_EQ(too_many.error_message(),
            "env: the updated environment would have 257 entries; at most 256 are allowed");
  grpc::Status too_big = update({{"B7", big_value}});
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(FieldOf(too_big), "env");
  EXPECT_EQ(too_big.error_message(),
            "env: the updated environment's names and values would total 263050 bytes; at "
            "most 262144 are allowed");
  EXPECT_EQ(requests_->Take(), Counts{});
  EXPECT_EQ(plane_->JsonPath(*a_, "statefulset/growing", "{.metadata.generation}"), generation);
  EXPECT_TRUE(ByName(*tenant, &pb::SandboxLifecycle::Stub::DeleteSandbox, *a_, "growing").ok());
}

// Kubernetes' own refusals that are the caller's to act on reach the caller with the
// message Kubernetes gave: a ResourceQuota (RESOURCE_EXHAUSTED, QUOTA_EXCEEDED) and an
// admission policy (FAILED_PRECONDITION, ADMISSION_DENIED). Nothing of the sandbox stays.
TEST_F(TenantTest, QuotaAndAdmissionRefusalsReachTheCallerWithKubernetesMessage) {
  auto admin = As("admin");  // every sandbox verb everywhere
  const std::string ns = plane_->CreateNamespace("quota");
  ASSERT_TRUE(testing::Eventually([&] { return List(*admin, ns).ok(); }, kWait));
  ASSERT_EQ(plane_
                ->Kubectl(absl::StrCat("-n ", ns, " create quota no-statefulsets ",
                                       "--hard=count/statefulsets.apps=0"))
                .exit_code,
            0);
  // The quota admits nothing until the controller has computed its usage.
  ASSERT_TRUE(testing::Eventually(
      [&] {
        return plane_->JsonPath(ns, "resourcequota/no-statefulsets", "{.status.used}") ==
               R"({"count/statefulsets.apps":"0"})";
      },
      kWait));
  grpc::Status quota = Create(*admin, ns, "over-quota");
  EXPECT_EQ(quota.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << quota.error_message();
  EXPECT_EQ(ReasonOf(quota), "QUOTA_EXCEEDED");
  EXPECT_THAT(quota.error_message(),
              ::testing::HasSubstr("exceeded quota: no-statefulsets, requested: "
                                   "count/statefulsets.apps=1, used: count/statefulsets.apps=0, "
                                   "limited: count/statefulsets.apps=0"));
  EXPECT_FALSE(plane_->Exists(ns, "statefulset/over-quota"));
  EXPECT_FALSE(plane_->Exists(ns, "service/over-quota-service"));
  ASSERT_EQ(plane_->Kubectl(absl::StrCat("-n ", ns, " delete quota no-statefulsets")).exit_code, 0);

  // A cluster's own policy: no sandbox image from registry.local/frozen in this namespace.
  const std::string policy = absl::StrCat("sandboxd-test-frozen-", ns);
  const std::string path = absl::StrCat(::testing::TempDir(), "/frozen-policy.json");
  std::ofstream(path) << absl::StrCat(
      R"({"apiVersion":"v1","kind":"List","items":[)",
      R"({"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingAdmissionPolicy",)",
      R"("metadata":{"name":")", policy, R"("},"spec":{"failurePolicy":"Fail",)",
      R"("matchConstraints":{"resourceRules":[{"apiGroups":["apps"],"apiVersions":["v1"],)",
      R"("operations":["CREATE"],"resources":["statefulsets"]}]},)",
      R"("validations":[{"expression":"!object.spec.template.spec.containers.exists(c, )",
      R"cel(c.image.startsWith('registry.local/frozen'))","message":"frozen images are not )cel",
      R"(allowed here"}]}},)",
      R"({"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingAdmissionPolicyBinding",)",
      R"("metadata":{"name":")", policy, R"("},"spec":{"policyName":")", policy,
      R"(","validationActions":["Deny"],"matchResources":{"namespaceSelector":)",
      R"({"matchLabels":{"kubernetes.io/metadata.name":")", ns, R"("}}}}}]})");
  ASSERT_EQ(plane_->Kubectl("apply -f " + path).exit_code, 0);
  // Policies take effect once the API server has loaded them (about a second): a
  // server-side dry run of such a StatefulSet tells, without writing anything.
  const std::string probe = absl::StrCat(::testing::TempDir(), "/frozen-probe.json");
  std::ofstream(probe) << absl::StrCat(
      R"({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"probe","namespace":")",
      ns, R"("},"spec":{"serviceName":"probe","selector":{"matchLabels":{"a":"b"}},)",
      R"("template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c",)",
      R"("image":"registry.local/frozen:1"}]}}}})");
  ASSERT_TRUE(testing::Eventually(
      [&] {
        testing::CommandResult dry = plane_->Kubectl("create --dry-run=server -f " + probe);
        return dry.exit_code != 0 &&
               dry.output.find("frozen images are not allowed here") != std::string::npos;
      },
      kWait));
  pb::CreateSandboxRequest frozen;
  frozen.mutable_spec()->set_namespace_(ns);
  frozen.mutable_spec()->set_name("frozen");
  frozen.mutable_spec()->set_image("registry.local/frozen:1");
  pb::CreateSandboxResponse resp;
  grpc::Status denied = admin->CreateSandbox(Context().get(), frozen, &resp);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << denied.error_message();
  EXPECT_EQ(ReasonOf(denied), "ADMISSION_DENIED");
  EXPECT_THAT(denied.error_message(),
              ::testing::HasSubstr(
                  absl::StrCat("ValidatingAdmissionPolicy '", policy, "' with binding '", policy,
                               "' denied request: ", "frozen images are not allowed here")));
  EXPECT_FALSE(plane_->Exists(ns, "statefulset/frozen"));
  plane_->Kubectl(
      absl::StrCat("delete validatingadmissionpolicybinding,validatingadmissionpolicy ", policy));
  plane_->DeleteNamespace(ns);
}

// Fair use: each caller has its own budget of calls and of open watch streams; running
// out is RESOURCE_EXHAUSTED with a RetryInfo, and never touches another caller.
TEST_F(TenantTest, CallersGetTheirFairShareOfCallsAndStreams) {
  server::ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.metrics_listen_address = "127.0.0.1:0";  // not 9090: processes run side by side
  config.tls.plaintext = true;
  config.kube.kubeconfig = plane_->sandboxd_kubeconfig();
  config.fair_use.calls_per_second = 0.5;
  config.fair_use.burst = 3;
  config.fair_use.max_watch_streams = 1;
  auto small = server::SandboxdServer::Start(config);
  ASSERT_TRUE(small.ok()) << small.status();
  ASSERT_TRUE((*small)->WaitUntilServing(absl::Seconds(60)));
  const std::string target = absl::StrCat("127.0.0.1:", (*small)->port());
  auto tenant = pb::SandboxLifecycle::NewStub(
      testing::TokenChannel(target, plane_->Token(*a_, "tenant")));
  auto viewer = pb::SandboxLifecycle::NewStub(
      testing::TokenChannel(target, plane_->Token(*a_, "viewer")));

  for (int i = 0; i < 3; ++i) EXPECT_TRUE(List(*tenant, *a_).ok()) << i;
  grpc::Status limited = List(*tenant, *a_);
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ReasonOf(limited), "CALLER_RATE_LIMITED");
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(limited.error_details()));
  google::rpc::RetryInfo retry;
  bool has_retry = false;
  for (const auto& any : details.details()) has_retry = has_retry || any.UnpackTo(&retry);
  EXPECT_TRUE(has_retry);
  EXPECT_GT(retry.retry_delay().seconds() * 1000 + retry.retry_delay().nanos() / 1000000, 0);
  EXPECT_TRUE(List(*viewer, *a_).ok()) << "another caller is not affected";

  // One stream per caller: a second is refused while the first is open.
  auto open_ctx = Context();
  pb::WatchSandboxesRequest req;
  req.set_namespace_(*a_);
  auto open_stream = viewer->WatchSandboxes(open_ctx.get(), req);
  pb::WatchSandboxesResponse first;
  ASSERT_TRUE(open_stream->Read(&first));
  grpc::Status second = Watch(*viewer, *a_);
  EXPECT_EQ(second.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ReasonOf(second), "TOO_MANY_WATCH_STREAMS");
  open_ctx->TryCancel();
  open_stream->Finish();
  // Its slot comes back when the stream ends (and the call budget refills at 0.5/s).
  EXPECT_TRUE(testing::Eventually([&] { return Watch(*viewer, *a_).ok(); }, kWait));
  (*small)->Shutdown(absl::Seconds(5));
}

// Server reflection describes the API to anyone (grpcurl reads it without credentials;
// it holds no data), and a server configured without it does not serve it.
TEST_F(TenantTest, ReflectionNeedsNoCredentialsAndCanBeTurnedOff) {
  auto list_services = [](const std::string& target) {
    return Grpcurl(".", absl::StrCat("-plaintext ", target, " list"));
  };
  testing::CommandResult on = list_services(Target());
  EXPECT_EQ(on.exit_code, 0) << on.output;
  EXPECT_THAT(on.output, ::testing::HasSubstr("sandbox.v1.SandboxLifecycle"));

  server::ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.metrics_listen_address = "127.0.0.1:0";  // not 9090: processes run side by side
  config.tls.plaintext = true;
  config.kube.kubeconfig = plane_->sandboxd_kubeconfig();
  config.reflection = false;
  auto without = server::SandboxdServer::Start(config);
  ASSERT_TRUE(without.ok()) << without.status();
  ASSERT_TRUE((*without)->WaitUntilServing(absl::Seconds(60)));
  testing::CommandResult off = list_services(absl::StrCat("127.0.0.1:", (*without)->port()));
  EXPECT_NE(off.exit_code, 0) << off.output;
  EXPECT_THAT(off.output, ::testing::HasSubstr("server does not support the reflection API"));
  (*without)->Shutdown(absl::Seconds(5));
}

// Mutual TLS: a verified client certificate is an identity (CN user, O groups); a
// plaintext client cannot talk to a TLS listener. Through the C++ client and grpcurl
// (-cacert -cert -key).
TEST_F(TenantTest, ClientCertificatesAuthenticateOverMutualTls) {
  const std::string d = std::string(absl::StripTrailingAsciiWhitespace(
      testing::RunCommand("mktemp -d").output));
  const std::string script = absl::StrCat(
      "set -e; cd ", d, "; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 "
      "-subj /CN=sandboxd-test-ca; ",
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext; ",
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost; ",
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile san.ext -out server.crt; ",
      "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr "
      "-subj /CN=mtls-user/O=team-m; ",
      "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
      "-out client.crt");
  testing::CommandResult certs = testing::RunCommand(absl::StrCat("bash -c \"", script, "\""));
  ASSERT_EQ(certs.exit_code, 0) << certs.output;
  // Group team-m may read sandboxes in a.
  plane_->Kubectl(absl::StrCat("-n ", *a_, " create rolebinding team-m-viewer ",
                               "--clusterrole=sandboxd-viewer --group=team-m"));

  server::ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.metrics_listen_address = "127.0.0.1:0";  // not 9090: processes run side by side
  config.tls.cert_file = d + "/server.crt";
  config.tls.key_file = d + "/server.key";
  config.tls.client_ca_file = d + "/ca.crt";
  config.kube.kubeconfig = plane_->sandboxd_kubeconfig();
  auto tls_server = server::SandboxdServer::Start(config);
  ASSERT_TRUE(tls_server.ok()) << tls_server.status();
  ASSERT_TRUE((*tls_server)->WaitUntilServing(absl::Seconds(60)));
  const std::string target = absl::StrCat("127.0.0.1:", (*tls_server)->port());
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");

  grpc::SslCredentialsOptions with_cert;
  with_cert.pem_root_certs = ReadFile(d + "/ca.crt");
  with_cert.pem_private_key = ReadFile(d + "/client.key");
  with_cert.pem_cert_chain = ReadFile(d + "/client.crt");
  auto mtls = pb::SandboxLifecycle::NewStub(
      grpc::CreateCustomChannel(target, grpc::SslCredentials(with_cert), args));
  EXPECT_TRUE(List(*mtls, *a_).ok()) << List(*mtls, *a_).error_message();
  grpc::Status write = Create(*mtls, *a_, "by-cert");
  EXPECT_EQ(write.error_code(), grpc::StatusCode::PERMISSION_DENIED) << "a viewer's group";

  grpc::SslCredentialsOptions server_only;
  server_only.pem_root_certs = with_cert.pem_root_certs;
  auto tls_no_cert = pb::SandboxLifecycle::NewStub(
      grpc::CreateCustomChannel(target, grpc::SslCredentials(server_only), args));
  EXPECT_EQ(ReasonOf(List(*tls_no_cert, *a_)), "MISSING_CREDENTIALS");
  auto tls_token = pb::SandboxLifecycle::NewStub(grpc::CreateCustomChannel(
      target,
      grpc::CompositeChannelCredentials(grpc::SslCredentials(server_only),
                                        grpc::AccessTokenCredentials(plane_->Token(*a_, "tenant"))),
      args));
  EXPECT_TRUE(List(*tls_token, *a_).ok()) << "a bearer token over TLS";

  auto plaintext = pb::SandboxLifecycle::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(List(*plaintext, *a_).error_code(), grpc::StatusCode::UNAVAILABLE);

  // The same with grpcurl, as an operator calls it (the API from server reflection).
  auto grpcurl = [&](const std::string& flags, const std::string& method,
                     const std::string& name = "") {
    const std::string body = absl::StrCat(R"({"namespace":")", *a_, "\"",
                                          name.empty() ? "" : R"(,"name":")" + name + "\"", "}");
    return Grpcurl(d, absl::StrCat(flags, " -d '", body, "' ", target,
                                   " sandbox.v1.SandboxLifecycle/", method));
  };
  const std::string with_cert_flags = "-cacert ca.crt -cert client.crt -key client.key";
  testing::CommandResult listed = grpcurl(with_cert_flags, "ListSandboxes");
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(grpcurl(with_cert_flags, "StopSandbox", "by-cert").output,
              ::testing::HasSubstr("Code: PermissionDenied"))
      << "a viewer's group";
  EXPECT_THAT(grpcurl("-cacert ca.crt", "ListSandboxes").output,
              ::testing::HasSubstr("Code: Unauthenticated"));
  testing::CommandResult plain = grpcurl("-plaintext", "ListSandboxes");
  EXPECT_NE(plain.exit_code, 0) << plain.output;
  (*tls_server)->Shutdown(absl::Seconds(5));
  testing::RunCommand(absl::StrCat("rm -rf ", d));
}

}  // namespace
}  // namespace sandboxd
