// ServerMetrics: the text exposition of each kind of metric, and /metrics over HTTP.
#include "server/server_metrics.h"

#include <curl/curl.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/domain/errors.h"

namespace sandboxd::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using RpcType = ServerMetrics::RpcType;

TEST(ServerMetricsTest, CountsCallsAsGoGrpcPrometheusNamesThem) {
  ServerMetrics metrics("1.2.3", "v1.31.0");
  metrics.RpcStarted(RpcType::kUnary, "GetSandbox");
  metrics.RpcHandled(RpcType::kUnary, "GetSandbox", grpc::StatusCode::NOT_FOUND,
                     absl::Milliseconds(3));
  metrics.RpcStarted(RpcType::kUnary, "GetSandbox");
  metrics.MessageSent(RpcType::kUnary, "GetSandbox");
  metrics.RpcHandled(RpcType::kUnary, "GetSandbox", grpc::StatusCode::OK, absl::Seconds(2));
  metrics.RpcStarted(RpcType::kServerStream, "WatchSandboxes");
  metrics.MessageSent(RpcType::kServerStream, "WatchSandboxes");
  metrics.MessageSent(RpcType::kServerStream, "WatchSandboxes");
  const std::string text = metrics.TextExposition();
  const std::string get =
      "grpc_method=\"GetSandbox\",grpc_service=\"sandbox.v1.SandboxLifecycle\","
      "grpc_type=\"unary\"";
  EXPECT_THAT(text, HasSubstr(absl::StrCat("grpc_server_started_total{", get, "} 2")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("grpc_server_msg_received_total{", get, "} 2")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("grpc_server_msg_sent_total{", get, "} 1")));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_code=\"NotFound\","
                              "grpc_method=\"GetSandbox\",grpc_service=\"sandbox.v1."
                              "SandboxLifecycle\",grpc_type=\"unary\"} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_code=\"OK\","
                              "grpc_method=\"GetSandbox\",grpc_service=\"sandbox.v1."
                              "SandboxLifecycle\",grpc_type=\"unary\"} 1"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("grpc_server_handling_seconds_count{", get, "} 2")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("grpc_server_handling_seconds_bucket{", get,
                                           ",le=\"0.005\"} 1")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("grpc_server_handling_seconds_bucket{", get,
                                           ",le=\"2.5\"} 2")));
  EXPECT_THAT(text, HasSubstr("grpc_server_msg_sent_total{grpc_method=\"WatchSandboxes\","
                              "grpc_service=\"sandbox.v1.SandboxLifecycle\","
                              "grpc_type=\"server_stream\"} 2"));
  EXPECT_THAT(text, HasSubstr("# TYPE grpc_server_handling_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("sandboxd_build_info{kube_version=\"v1.31.0\","
                              "version=\"1.2.3\"} 1"));
}

TEST(ServerMetricsTest, KubeObserverFeedsClientGoMetrics) {
  ServerMetrics metrics("1", "v1");
  std::shared_ptr<kube::KubeClientObserver> observer = metrics.kube_observer();
  observer->AttemptDone("POST", "127.0.0.1:6443", 201, absl::Milliseconds(20), false);
  observer->AttemptDone("POST", "127.0.0.1:6443", 201, absl::Milliseconds(20), false);
  observer->AttemptDone("GET", "127.0.0.1:6443", 0, absl::Seconds(1), false);
  observer->AttemptDone("GET", "127.0.0.1:6443", 200, absl::Minutes(5), /*watch=*/true);
  observer->Throttled("PATCH", "127.0.0.1:6443", absl::Milliseconds(300));
  const std::string text = metrics.TextExposition();
  EXPECT_THAT(text, HasSubstr("rest_client_requests_total{code=\"201\",host=\"127.0.0.1:6443\","
                              "method=\"POST\"} 2"));
  EXPECT_THAT(text, HasSubstr("rest_client_requests_total{code=\"<error>\","
                              "host=\"127.0.0.1:6443\",method=\"GET\"} 1"));
  EXPECT_THAT(text, HasSubstr("rest_client_requests_total{code=\"200\","
                              "host=\"127.0.0.1:6443\",method=\"GET\"} 1"));
  // The watch is not a latency sample.
  EXPECT_THAT(text, HasSubstr("rest_client_request_duration_seconds_count{host=\"127.0.0.1:"
                              "6443\",verb=\"GET\"} 1"));
  EXPECT_THAT(text, HasSubstr("rest_client_rate_limiter_duration_seconds_bucket{host=\"127.0."
                              "0.1:6443\",verb=\"PATCH\",le=\"0.5\"} 1"));
  EXPECT_THAT(text, HasSubstr("rest_client_rate_limiter_duration_seconds_bucket{host=\"127.0."
                              "0.1:6443\",verb=\"PATCH\",le=\"0.25\"} 0"));
}

TEST(ServerMetricsTest, StreamsAndStateAtScrapeTime) {
  ServerMetrics metrics("1", "v1");
  metrics.StreamSubscribed();
  metrics.StreamSubscribed();
  metrics.StreamEnded();
  metrics.ResetSent(/*first_message=*/true);
  metrics.ResetSent(/*first_message=*/false);
  metrics.ResetSent(/*first_message=*/false);
  EXPECT_THAT(metrics.TextExposition(), Not(HasSubstr("sandboxd_sandboxes{")));
  int scrapes = 0;
  metrics.SetStateSource([&scrapes] {
    ++scrapes;
    ServerMetrics::State state;
    state.sandboxes_by_phase[domain::Phase::kRunning] = 3;
    state.sandboxes_by_error_reason[domain::ErrorReason::kCrashLoop] = 1;
    state.cache_synced = true;
    state.reflector_relists_after_410 = 2;
    state.stream_dropped_updates = 257;
    state.orphan_claims_deleted = 4;
    return state;
  });
  const std::string text = metrics.TextExposition();
  EXPECT_EQ(scrapes, 1);
  EXPECT_THAT(text, HasSubstr("sandboxd_watch_streams 1"));
  EXPECT_THAT(text, HasSubstr("sandboxd_watch_resets_total{cause=\"resume_token\"} 1"));
  EXPECT_THAT(text, HasSubstr("sandboxd_watch_resets_total{cause=\"overflow\"} 2"));
  EXPECT_THAT(text, HasSubstr("sandboxd_sandboxes{phase=\"RUNNING\"} 3"));
  EXPECT_THAT(text, HasSubstr("sandboxd_sandboxes{phase=\"STOPPED\"} 0"));
  EXPECT_THAT(text, HasSubstr("sandboxd_sandboxes_in_error{reason=\"CRASH_LOOP\"} 1"));
  EXPECT_THAT(text, HasSubstr("sandboxd_cache_synced 1"));
  EXPECT_THAT(text, HasSubstr("# TYPE sandboxd_reflector_relists_after_410_total counter"));
  EXPECT_THAT(text, HasSubstr("sandboxd_reflector_relists_after_410_total 2"));
  EXPECT_THAT(text, HasSubstr("sandboxd_watch_stream_dropped_updates_total 257"));
  EXPECT_THAT(text, HasSubstr("# TYPE sandboxd_orphan_claims_deleted_total counter"));
  EXPECT_THAT(text, HasSubstr("sandboxd_orphan_claims_deleted_total 4"));
}

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

TEST(ServerMetricsTest, ServesTheExpositionOverHttp) {
  ServerMetrics metrics("9.9.9", "v1");
  absl::StatusOr<int> port = metrics.Serve("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  ASSERT_GT(*port, 0);
  CURL* curl = curl_easy_init();
  std::string body;
  const std::string url = absl::StrCat("http://127.0.0.1:", *port, "/metrics");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  EXPECT_EQ(code, 200);
  EXPECT_THAT(body, HasSubstr("sandboxd_build_info{kube_version=\"v1\",version=\"9.9.9\"} 1"));

  // The same port again: LISTEN_FAILED.
  ServerMetrics other("1", "v1");
  absl::StatusOr<int> taken = other.Serve(absl::StrCat("127.0.0.1:", *port));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(domain::GetErrorDetail(taken.status()).reason, "LISTEN_FAILED");
  metrics.StopServing();
  metrics.StopServing();  // idempotent
}

}  // namespace
}  // namespace sandboxd::server
