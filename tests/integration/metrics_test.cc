// sandboxd's Prometheus metrics against the real local control plane: /metrics is
// scraped over HTTP before and after a scripted lifecycle (create, get, stop, start,
// update env, delete, a NOT_FOUND, one WatchSandbox stream over all of it, one
// WatchSandboxes stream answered with RESET) and every counter delta is asserted exactly.
#include <curl/curl.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/sandboxd_server.h"
#include "src/kube/forwarding_kube_client.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

namespace sandboxd {
namespace {

namespace pb = sandbox::v1;

constexpr absl::Duration kWait = absl::Seconds(90);
constexpr char kImage[] = "registry.local/agent:1";

// Counts the review requests (TokenReview, SubjectAccessReview) sandboxd sends: the POSTs
// its admission adds to those of the sandbox operations. Thread-safe.
class ReviewCounter final : public kube::ForwardingKubeClient {
 public:
  explicit ReviewCounter(kube::KubeClient* inner) : ForwardingKubeClient(inner) {}
  void Create(kube::Kind kind, const std::string& ns, std::string body,
              const kube::CallOptions& opts, kube::ResponseCallback done) override {
    if (kind == kube::Kind::kTokenReview || kind == kube::Kind::kSubjectAccessReview) {
      absl::MutexLock lock(&mu_);
      ++reviews_;
    }
    ForwardingKubeClient::Create(kind, ns, std::move(body), opts, std::move(done));
  }
  int reviews() {
    absl::MutexLock lock(&mu_);
    return reviews_;
  }

 private:
  absl::Mutex mu_;
  int reviews_ ABSL_GUARDED_BY(mu_) = 0;
};

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One scrape of /metrics: every sample by its series ("name{labels}").
class Scrape {
 public:
  static Scrape Of(int port) {
    Scrape scrape;
    CURL* curl = curl_easy_init();
    const std::string url = absl::StrCat("http://127.0.0.1:", port, "/metrics");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &scrape.text_);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    const CURLcode result = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    EXPECT_EQ(result, CURLE_OK);
    EXPECT_EQ(code, 200);
    for (absl::string_view line : absl::StrSplit(scrape.text_, '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(line, "#")) continue;
      const size_t space = line.rfind(' ');
      double value = 0;
      EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &value)) << line;
      scrape.samples_[std::string(line.substr(0, space))] = value;
    }
    return scrape;
  }

  // The sum of the samples of `name` whose labels include every one of `labels`
  // (e.g. {"grpc_code=\"OK\""}); 0 if there is none.
  double Sum(const std::string& name, const std::vector<std::string>& labels = {}) const {
    double sum = 0;
    for (const auto& [series, value] : samples_) {
      const absl::string_view view = series;
      if (view != name && !absl::StartsWith(view, absl::StrCat(name, "{"))) continue;
      bool all = true;
      for (const std::string& label : labels) all = all && absl::StrContains(view, label);
      if (all) sum += value;
    }
    return sum;
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::map<std::string, double> samples_;
};

// The labels of one method of sandbox.v1.SandboxLifecycle.
std::vector<std::string> Rpc(const std::string& method, const std::string& code = "") {
  std::vector<std::string> labels = {absl::StrCat("grpc_method=\"", method, "\""),
                                     "grpc_service=\"sandbox.v1.SandboxLifecycle\""};
  if (!code.empty()) labels.push_back(absl::StrCat("grpc_code=\"", code, "\""));
  return labels;
}

std::vector<std::string> Rest(const std::string& method, const std::string& code = "") {
  std::vector<std::string> labels = {absl::StrCat("method=\"", method, "\"")};
  if (!code.empty()) labels.push_back(absl::StrCat("code=\"", code, "\""));
  return labels;
}

class MetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }

  void SetUp() override {
    plane_ = std::make_unique<testing::Plane>();
    ns_ = plane_->CreateNamespace("metrics");
    server::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.metrics_listen_address = "127.0.0.1:0";
    config.tls.plaintext = true;
    config.kube.kubeconfig = plane_->sandboxd_kubeconfig();
    config.sandbox_defaults.image = kImage;
    // This test's namespace only: the cache's gauges then count nothing of other tests,
    // whose namespaces may still be going away while this one runs.
    config.auth.served_namespace_selector =
        absl::StrCat("sandboxd.dev/enabled=true,kubernetes.io/metadata.name=", ns_);
    server::SandboxdServer::Hooks hooks;
    hooks.decorate_kube = [this](kube::KubeClient* inner) -> std::unique_ptr<kube::KubeClient> {
      auto counter = std::make_unique<ReviewCounter>(inner);
      reviews_ = counter.get();
      return counter;
    };
    auto server = server::SandboxdServer::Start(config, hooks);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->metrics_port(), 0);
    plane_->CreateCaller(ns_, "tester", "sandboxd-user", ns_);
    const std::string token = plane_->Token(ns_, "tester");
    ASSERT_FALSE(token.empty());
    stub_ = pb::SandboxLifecycle::NewStub(
        testing::TokenChannel(absl::StrCat("127.0.0.1:", server_->port()), token));
    ASSERT_TRUE(server_->WaitUntilServing(absl::Seconds(60)));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
    server_.reset();
    plane_->DeleteNamespace(ns_);
  }

  Scrape Metrics() { return Scrape::Of(server_->metrics_port()); }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  template <typename Request>
  Request Named(const std::string& name) {
    Request req;
    req.set_namespace_(ns_);
    req.set_name(name);
    return req;
  }

  // Waits until the watch cache holds the StatefulSet `name` at the API server's current
  // resourceVersion, so that a write's requests are deterministic.
  bool WaitUntilCacheIsCurrent(const std::string& name) {
    return testing::Eventually(
        [&] {
          auto cached = server_->cache()->GetStatefulSet(ns_, name);
          return cached.ok() && cached->metadata.resource_version ==
                                    plane_->JsonPath(ns_, "statefulset/" + name,
                                                     "{.metadata.resourceVersion}");
        },
        kWait);
  }

  std::unique_ptr<testing::Plane> plane_;
  std::string ns_;
  std::unique_ptr<server::SandboxdServer> server_;
  ReviewCounter* reviews_ = nullptr;  // owned by server_
  std::unique_ptr<pb::SandboxLifecycle::Stub> stub_;
};

TEST_F(MetricsTest, ALifecycleMovesEveryCounterByExactlyItsCalls) {
  const Scrape before = Metrics();
  const int reviews_before = reviews_->reviews();
  EXPECT_EQ(before.Sum("sandboxd_cache_synced"), 1);
  EXPECT_THAT(before.text(), ::testing::HasSubstr("sandboxd_build_info{kube_version=\"v"));
  EXPECT_GE(before.Sum("sandboxd_reflector_lists_total"), 3);  // StatefulSets, pods, claims
  EXPECT_GE(before.Sum("sandboxd_reflector_watches_total"), 3);

  // One stream over the whole lifecycle of "mu": read until its DELETED.
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(180));
  auto watch_req = Named<pb::WatchSandboxRequest>("mu");
  std::unique_ptr<grpc::ClientReader<pb::WatchSandboxResponse>> reader =
      stub_->WatchSandbox(&watch_ctx, watch_req);
  int received = 0;
  bool initial_state_complete = false;
  bool deleted = false;
  absl::Notification started;
  std::thread watcher([&] {
    pb::WatchSandboxResponse message;
    while (reader->Read(&message)) {
      ++received;
      if (message.type() == pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE) {
        initial_state_complete = true;
        started.Notify();
      }
      if (message.type() == pb::WATCH_EVENT_TYPE_DELETED) {
        deleted = true;
        return;
      }
    }
  });
  auto stop_watcher = absl::MakeCleanup([&] {  // also when an assertion ends the test early
    watch_ctx.TryCancel();
    if (watcher.joinable()) watcher.join();
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(testing::Eventually(
      [&] { return Metrics().Sum("sandboxd_watch_streams") == before.Sum("sandboxd_watch_streams") + 1; },
      kWait));

  pb::CreateSandboxRequest create;
  create.mutable_spec()->set_name("mu");
  create.mutable_spec()->set_namespace_(ns_);
  create.mutable_spec()->set_project("proj-a");
  pb::CreateSandboxResponse created;
  ASSERT_TRUE(stub_->CreateSandbox(Context().get(), create, &created).ok());
  EXPECT_TRUE(testing::Eventually(
      [&] { return Metrics().Sum("sandboxd_sandboxes") == before.Sum("sandboxd_sandboxes") + 1; },
      kWait));

  pb::GetSandboxResponse got;
  ASSERT_TRUE(stub_->GetSandbox(Context().get(), Named<pb::GetSandboxRequest>("mu"), &got).ok());
  grpc::Status missing =
      stub_->GetSandbox(Context().get(), Named<pb::GetSandboxRequest>("nobody"), &got);
  ASSERT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);

  ASSERT_TRUE(WaitUntilCacheIsCurrent("mu"));
  pb::StopSandboxResponse stopped;
  ASSERT_TRUE(
      stub_->StopSandbox(Context().get(), Named<pb::StopSandboxRequest>("mu"), &stopped).ok());
  ASSERT_TRUE(WaitUntilCacheIsCurrent("mu"));
  pb::StartSandboxResponse started_again;
  ASSERT_TRUE(stub_->StartSandbox(Context().get(), Named<pb::StartSandboxRequest>("mu"),
                                  &started_again)
                  .ok());
  ASSERT_TRUE(WaitUntilCacheIsCurrent("mu"));
  auto update = Named<pb::UpdateSandboxEnvRequest>("mu");
  (*update.mutable_env())["K"] = "v";
  pb::UpdateSandboxEnvResponse updated;
  ASSERT_TRUE(stub_->UpdateSandboxEnv(Context().get(), update, &updated).ok());
  pb::DeleteSandboxResponse deleted_response;
  ASSERT_TRUE(stub_->DeleteSandbox(Context().get(), Named<pb::DeleteSandboxRequest>("mu"),
                                   &deleted_response)
                  .ok());

  watcher.join();
  ASSERT_TRUE(initial_state_complete);
  ASSERT_TRUE(deleted) << "the stream ended before DELETED: " << reader->Finish().error_message();
  watch_ctx.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // A stream resumed from a token of an earlier sandboxd (the per-process format): RESET,
  // then the (empty) initial state of the namespace.
  grpc::ClientContext reset_ctx;
  reset_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  pb::WatchSandboxesRequest reset_req;
  reset_req.set_namespace_(ns_);
  reset_req.set_resume_token("00000000000000ab.1");
  auto reset_reader = stub_->WatchSandboxes(&reset_ctx, reset_req);
  std::vector<pb::WatchEventType> reset_types;
  pb::WatchSandboxesResponse reset_message;
  while (reset_reader->Read(&reset_message)) {
    reset_types.push_back(reset_message.type());
    if (reset_message.type() == pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE) break;
  }
  EXPECT_THAT(reset_types, ::testing::ElementsAre(pb::WATCH_EVENT_TYPE_RESET,
                                                  pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE));
  reset_ctx.TryCancel();
  EXPECT_EQ(reset_reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // Both streams are counted as handled once they are done on the server.
  const auto handled = [&before](const Scrape& now, const std::string& method,
                                 const std::string& code) {
    return now.Sum("grpc_server_handled_total", Rpc(method, code)) -
           before.Sum("grpc_server_handled_total", Rpc(method, code));
  };
  Scrape after = Metrics();
  EXPECT_TRUE(testing::Eventually(
      [&] {
        after = Metrics();
        return handled(after, "WatchSandbox", "Canceled") == 1 &&
               handled(after, "WatchSandboxes", "Canceled") == 1;
      },
      kWait));
  const auto delta = [&](const std::string& name, const std::vector<std::string>& labels) {
    return after.Sum(name, labels) - before.Sum(name, labels);
  };

  // gRPC server: one call each, one NOT_FOUND, nothing else.
  for (const char* method : {"CreateSandbox", "StopSandbox", "StartSandbox",
                             "UpdateSandboxEnv", "DeleteSandbox"}) {
    SCOPED_TRACE(method);
    EXPECT_EQ(delta("grpc_server_started_total", Rpc(method)), 1);
    EXPECT_EQ(delta("grpc_server_msg_received_total", Rpc(method)), 1);
    EXPECT_EQ(delta("grpc_server_msg_sent_total", Rpc(method)), 1);
    EXPECT_EQ(delta("grpc_server_handled_total", Rpc(method, "OK")), 1);
    EXPECT_EQ(delta("grpc_server_handled_total", Rpc(method)), 1);
    EXPECT_EQ(delta("grpc_server_handling_seconds_count", Rpc(method)), 1);
  }
  EXPECT_EQ(delta("grpc_server_started_total", Rpc("GetSandbox")), 2);
  EXPECT_EQ(delta("grpc_server_msg_received_total", Rpc("GetSandbox")), 2);
  EXPECT_EQ(delta("grpc_server_msg_sent_total", Rpc("GetSandbox")), 1);
  EXPECT_EQ(delta("grpc_server_handled_total", Rpc("GetSandbox", "OK")), 1);
  EXPECT_EQ(delta("grpc_server_handled_total", Rpc("GetSandbox", "NotFound")), 1);
  EXPECT_EQ(delta("grpc_server_handling_seconds_count", Rpc("GetSandbox")), 2);
  EXPECT_EQ(delta("grpc_server_started_total", Rpc("ListSandboxes")), 0);

  // The streams: one request each; every message the client read, and no other.
  EXPECT_EQ(delta("grpc_server_started_total", Rpc("WatchSandbox")), 1);
  EXPECT_EQ(delta("grpc_server_started_total", {"grpc_type=\"server_stream\""}), 2);
  EXPECT_EQ(delta("grpc_server_msg_received_total", Rpc("WatchSandbox")), 1);
  EXPECT_GE(received, 3);  // INITIAL_STATE_COMPLETE, ADDED, ..., DELETED
  EXPECT_EQ(delta("grpc_server_msg_sent_total", Rpc("WatchSandbox")), received);
  EXPECT_EQ(delta("grpc_server_msg_sent_total", Rpc("WatchSandboxes")), 2);
  EXPECT_EQ(delta("grpc_server_handled_total", Rpc("WatchSandbox")), 1);
  EXPECT_EQ(delta("grpc_server_handling_seconds_count", Rpc("WatchSandboxes")), 1);
  EXPECT_EQ(delta("sandboxd_watch_resets_total", {"cause=\"resume_token\""}), 1);
  EXPECT_EQ(delta("sandboxd_watch_resets_total", {"cause=\"overflow\""}), 0);
  EXPECT_EQ(after.Sum("sandboxd_watch_streams"), before.Sum("sandboxd_watch_streams"));
  EXPECT_EQ(delta("sandboxd_watch_stream_dropped_updates_total", {}), 0);

  // Kubernetes client: the requests of each call (EachCallSendsTheFewestRequests), plus
  // the reviews of admission. Create: POST StatefulSet, Service and (the namespace's
  // first create) NetworkPolicy; Stop, Start, UpdateEnv: one PATCH each (a 409 is
  // retried: one more PATCH, not one more success); Delete: one DELETE and a GET of the
  // claim (200); Get: none.
  const int reviews = reviews_->reviews() - reviews_before;
  EXPECT_EQ(delta("rest_client_requests_total", Rest("GET", "404")), 0);
  EXPECT_EQ(delta("rest_client_requests_total", Rest("GET", "200")), 1);
  EXPECT_EQ(delta("rest_client_requests_total", Rest("POST", "201")), 3 + reviews);
  EXPECT_EQ(delta("rest_client_requests_total", Rest("POST")), 3 + reviews);
  EXPECT_EQ(delta("rest_client_requests_total", Rest("PATCH", "200")), 3);
  EXPECT_EQ(delta("rest_client_requests_total", Rest("PATCH")),
            3 + delta("rest_client_requests_total", Rest("PATCH", "409")));
  EXPECT_EQ(delta("rest_client_requests_total", Rest("DELETE")), 1);
  EXPECT_EQ(delta("rest_client_requests_total", Rest("DELETE", "200")), 1);
  EXPECT_EQ(delta("rest_client_requests_total", {"code=\"<error>\""}), 0);
  EXPECT_EQ(delta("rest_client_request_duration_seconds_count", {"verb=\"POST\""}),
            3 + reviews);
  EXPECT_EQ(delta("rest_client_request_duration_seconds_count", {"verb=\"DELETE\""}), 1);
  // Every attempt passes the client-side rate limiter once.
  EXPECT_EQ(delta("rest_client_rate_limiter_duration_seconds_count", {"verb=\"POST\""}),
            3 + reviews);
  EXPECT_EQ(delta("rest_client_rate_limiter_duration_seconds_count", {"verb=\"PATCH\""}),
            delta("rest_client_requests_total", Rest("PATCH")));

  // The cache saw the lifecycle, and has forgotten the sandbox.
  EXPECT_GT(delta("sandboxd_watch_events_applied_total", {}), 0);
  EXPECT_EQ(after.Sum("sandboxd_sandboxes"), before.Sum("sandboxd_sandboxes"));
  EXPECT_EQ(after.Sum("sandboxd_cache_synced"), 1);
}

}  // namespace
}  // namespace sandboxd
