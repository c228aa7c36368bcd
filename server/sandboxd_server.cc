#include "server/sandboxd_server.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"
#include "src/domain/errors.h"

namespace sandboxd::server {
namespace {

constexpr char kServiceName[] = "sandbox.v1.SandboxLifecycle";

absl::StatusOr<kube::KubeConfig> LoadKube(const KubeSettings& settings) {
  if (settings.kubeconfig.empty() && std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
    return kube::LoadInClusterConfig();
  }
  kube::KubeConfigLoadOptions options;
  if (!settings.kubeconfig.empty()) options.kubeconfig_env = settings.kubeconfig;
  options.context = settings.context;
  return kube::LoadKubeConfig(options);
}

int ToMillis(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

}  // namespace

absl::StatusOr<std::unique_ptr<SandboxdServer>> SandboxdServer::Start(
    const ServerConfig& config, const Hooks& hooks) {
  absl::StatusOr<kube::KubeConfig> kube_config = LoadKube(config.kube);
  if (!kube_config.ok()) return domain::WithContext(kube_config.status(), "load Kubernetes config");
  kube::CurlKubeClientOptions kube_options;
  kube_options.qps = config.kube.qps;
  kube_options.burst = config.kube.burst;
  std::unique_ptr<SandboxdServer> s(new SandboxdServer());
  absl::StatusOr<std::unique_ptr<kube::CurlKubeClient>> client =
      kube::CurlKubeClient::Create(*std::move(kube_config), kube_options);
  if (!client.ok()) return domain::WithContext(client.status(), "start Kubernetes client");
  s->kube_ = *std::move(client);
  kube::KubeClient* kube = s->kube_.get();
  if (hooks.decorate_kube) {
    s->decorated_kube_ = hooks.decorate_kube(kube);
    kube = s->decorated_kube_.get();
  }
  service::SandboxCache::Options cache_options;
  cache_options.defaults = config.sandbox_defaults;
  s->fanout_ = std::make_unique<service::TaskPool>(
      static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  s->cache_ = std::make_unique<service::SandboxCache>(cache_options);
  s->feed_ = std::make_unique<service::CacheFeed>(kube, s->cache_.get());
  s->service_ = std::make_unique<service::SandboxService>(kube, config.sandbox_defaults);
  s->grpc_service_ = std::make_unique<SandboxLifecycleService>(
      s->service_.get(), s->cache_.get(), s->fanout_.get(), config.sandbox_defaults.limits);

  // Keeps the health descriptors linked in, so that reflection can describe the service.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address, grpc::InsecureServerCredentials(), &s->port_);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ToMillis(config.keepalive.time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ToMillis(config.keepalive.timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             ToMillis(config.keepalive.min_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.RegisterService(s->grpc_service_.get());
  if (hooks.configure_grpc) hooks.configure_grpc(builder);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return domain::MakeError(absl::StatusCode::kUnavailable, "LISTEN_FAILED",
                             absl::StrCat("cannot listen on ", config.listen_address),
                             {{"address", config.listen_address}});
  }
  grpc::HealthCheckServiceInterface* health = s->server_->GetHealthCheckService();
  health->SetServingStatus(false);
  health->SetServingStatus(kServiceName, false);
  s->feed_->Start();
  s->housekeeping_ = std::thread([raw = s.get()] { raw->Housekeeping(); });
  spdlog::info("sandboxd listening on {} (port {}); NOT_SERVING until the watch cache syncs",
               config.listen_address, s->port_);
  return s;
}

void SandboxdServer::Housekeeping() {
  constexpr absl::Duration kPeriod = absl::Seconds(1);
  constexpr int kTicksPerRederive = 5;
  for (int tick = 0; !stopping_.WaitForNotificationWithTimeout(kPeriod); ++tick) {
    if (!serving_.HasBeenNotified() && cache_->synced()) {
      grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
      health->SetServingStatus(true);
      health->SetServingStatus(kServiceName, true);
      serving_.Notify();
      spdlog::info("watch cache synced ({} sandboxes); SERVING", cache_->stats().sandboxes);
    }
    if (tick % kTicksPerRederive == 0) cache_->Tick(absl::Now());
  }
}

bool SandboxdServer::WaitUntilServing(absl::Duration timeout) {
  return serving_.WaitForNotificationWithTimeout(timeout);
}

void SandboxdServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  // Health first, so that load balancers stop sending new calls; then end the watch
  // streams (UNAVAILABLE + resume token), which would otherwise hold Shutdown forever.
  server_->GetHealthCheckService()->Shutdown();
  cache_->Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  stopping_.Notify();
  if (housekeeping_.joinable()) housekeeping_.join();
  feed_->Stop();
  kube_.reset();  // fails the Kubernetes requests still pending with CANCELLED
  spdlog::info("sandboxd stopped");
}

SandboxdServer::~SandboxdServer() {
  if (server_ != nullptr) Shutdown(absl::ZeroDuration());
}

}  // namespace sandboxd::server
