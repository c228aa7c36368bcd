#include "server/sandboxd_server.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"

namespace sandboxd::server {
namespace {

constexpr char kServiceName[] = "sandbox.v1.SandboxLifecycle";

absl::StatusOr<kube::KubeConfig> LoadKube(const KubeSettings& settings) {
  const char* in_cluster_host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (settings.kubeconfig.empty() && in_cluster_host != nullptr) {
    kube::InClusterOptions in_cluster;
    in_cluster.service_account_dir = settings.service_account_dir;
    return kube::LoadInClusterConfig(in_cluster);
  }
  kube::KubeConfigLoadOptions options;
  if (!settings.kubeconfig.empty()) options.kubeconfig_env = settings.kubeconfig;
  options.context = settings.context;
  options.allow_insecure_http = settings.allow_http;
  return kube::LoadKubeConfig(options);
}

int ToMillis(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

// Leaves gRPC server reflection out of the one server being built
// (ServerBuilder::SetOption). Linking gRPC's reflection library registers its plugin for
// every server of the process; this option removes it from one.
class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    const std::string reflection = grpc::reflection::ProtoServerReflectionPlugin().name();
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [&reflection](const auto& p) { return p->name() == reflection; }),
                   plugins->end());
  }
};

// How often the listener's certificate files are checked for changes.
constexpr unsigned int kCertificateRefreshSeconds = 60;

absl::Status CheckReadable(const std::string& path, const char* setting) {
  std::ifstream in(path);
  std::string first_line;
  if (!in || !std::getline(in, first_line) || first_line.rfind("-----BEGIN ", 0) != 0) {
    return domain::MakeError(absl::StatusCode::kInvalidArgument, domain::reason::kInvalidConfig,
                             absl::StrCat(setting, ": cannot read a PEM file at \"", path, "\""),
                             {{"setting", setting}, {"path", path}});
  }
  return absl::OkStatus();
}

// The listener's credentials: TLS from files that are watched for changes (optionally
// verifying client certificates), or plaintext when explicitly configured.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListenerCredentials(
    const TlsSettings& tls) {
  if (tls.plaintext) {
    spdlog::warn("serving gRPC WITHOUT TLS (tls.plaintext): bearer tokens cross the network "
                 "in the clear; use this only on a loopback address for local tests");
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert_file.empty()) {
    return domain::MakeError(
        absl::StatusCode::kInvalidArgument, domain::reason::kInvalidConfig,
        "tls.cert_file: no TLS certificate; set tls.cert_file and tls.key_file "
        "(--tls_cert_file, --tls_key_file), or tls.plaintext (--plaintext) for local tests",
        {{"setting", "tls.cert_file"}});
  }
  SANDBOXD_RETURN_IF_ERROR(CheckReadable(tls.cert_file, "tls.cert_file"));
  SANDBOXD_RETURN_IF_ERROR(CheckReadable(tls.key_file, "tls.key_file"));
  if (!tls.client_ca_file.empty()) {
    SANDBOXD_RETURN_IF_ERROR(CheckReadable(tls.client_ca_file, "tls.client_ca_file"));
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, tls.client_ca_file, kCertificateRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!tls.client_ca_file.empty()) {
    options.watch_root_certs();
    // A client certificate is optional (bearer tokens work too) but verified when sent.
    options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SandboxdServer>> SandboxdServer::Start(
    const ServerConfig& config, const Hooks& hooks) {
  absl::StatusOr<kube::KubeConfig> kube_config = LoadKube(config.kube);
  if (!kube_config.ok()) return domain::WithContext(kube_config.status(), "load Kubernetes config");
  kube::CurlKubeClientOptions kube_options;
  kube_options.qps = config.kube.qps;
  kube_options.burst = config.kube.burst;
  kube_options.allow_insecure_http = config.kube.allow_http;
  std::unique_ptr<SandboxdServer> s(new SandboxdServer());
  s->metrics_ = std::make_unique<ServerMetrics>(SANDBOXD_VERSION, SANDBOXD_KUBE_VERSION);
  kube_options.observer = s->metrics_->kube_observer();
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
  if (hooks.watch_history_capacity.has_value()) {
    cache_options.history_capacity = *hooks.watch_history_capacity;
  }
  s->fanout_ = std::make_unique<service::TaskPool>(
      static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  s->cache_ = std::make_unique<service::SandboxCache>(cache_options);
  s->feed_ = std::make_unique<service::CacheFeed>(kube, s->cache_.get(),
                                                  config.kube.namespaced
                                                      ? service::CacheFeed::Scope::kPerNamespace
                                                      : service::CacheFeed::Scope::kCluster);
  s->ingress_hosts_ = std::make_unique<service::IngressHosts>(kube);
  if (config.orphan_claim_grace > absl::ZeroDuration()) {
    service::ClaimJanitor::Options janitor;
    janitor.grace = config.orphan_claim_grace;
    s->janitor_ = std::make_unique<service::ClaimJanitor>(kube, s->cache_.get(), janitor);
  }
  auth::Authenticator::Options authn;
  authn.audiences = config.auth.audiences;
  s->authenticator_ = std::make_unique<auth::Authenticator>(kube, authn);
  auth::CallerLimits::Options fair;
  fair.calls_per_second = config.fair_use.calls_per_second;
  fair.burst = config.fair_use.burst;
  fair.max_watch_streams = config.fair_use.max_watch_streams;
  s->caller_limits_ = std::make_unique<auth::CallerLimits>(fair);
  s->authorizer_ = std::make_unique<auth::Authorizer>(kube, auth::Authorizer::Options{});
  auth::NamespaceGate::Options served;
  served.label_selector = config.auth.served_namespace_selector;
  served.own_namespace = config.auth.own_namespace;
  auth::NamespaceGate::Observer feed_follows;  // the cache holds served namespaces only
  feed_follows.served = [feed = s->feed_.get()](const std::string& ns) {
    feed->NamespaceServed(ns);
  };
  feed_follows.unserved = [feed = s->feed_.get()](const std::string& ns) {
    feed->NamespaceUnserved(ns);
  };
  feed_follows.synced = [feed = s->feed_.get()]() { feed->Start(); };
  s->namespaces_ = std::make_unique<auth::NamespaceGate>(kube, served, feed_follows);
  s->service_ = std::make_unique<service::SandboxService>(
      kube, s->cache_.get(), config.sandbox_defaults, s->ingress_hosts_.get(), absl::Now,
      [gate = s->namespaces_.get()](const std::string& ns) {
        return gate->AllowedIngressDomains(ns);
      });
  s->access_ = std::make_unique<auth::AccessControl>(
      s->authenticator_.get(), s->caller_limits_.get(), s->authorizer_.get(),
      s->namespaces_.get());
  s->migrations_ = std::make_unique<service::MigrationService>(kube, s->service_.get(),
                                                               config.sandbox_defaults);
  s->grpc_service_ = std::make_unique<SandboxLifecycleService>(
      s->service_.get(), s->migrations_.get(), s->cache_.get(), s->fanout_.get(), s->access_.get(),
      config.sandbox_defaults.limits, s->metrics_.get());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ListenerCredentials(config.tls);
  if (!credentials.ok()) return credentials.status();

  // Keeps the health descriptors linked in, so that reflection can describe the service.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!config.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.AddListeningPort(config.listen_address, *credentials, &s->port_);
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
    return domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kListenFailed,
                             absl::StrCat("cannot listen on ", config.listen_address),
                             {{"address", config.listen_address}});
  }
  if (!config.health_listen_address.empty()) {
    grpc::ServerBuilder health_builder;
    int health_port = 0;
    health_builder.AddListeningPort(config.health_listen_address,
                                    grpc::InsecureServerCredentials(), &health_port);
    s->health_server_ = health_builder.BuildAndStart();
    if (s->health_server_ == nullptr || health_port == 0) {
      return domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kListenFailed,
                               absl::StrCat("cannot listen on ", config.health_listen_address),
                               {{"address", config.health_listen_address}});
    }
  }
  if (!config.metrics_listen_address.empty()) {
    s->metrics_->SetStateSource([raw = s.get()] { return raw->MetricsState(); });
    absl::StatusOr<int> metrics_port = s->metrics_->Serve(config.metrics_listen_address);
    if (!metrics_port.ok()) return metrics_port.status();
    s->metrics_port_ = *metrics_port;
  }
  s->SetServing(false);
  s->namespaces_->Start();  // starts the feed once the served namespaces are known
  s->ingress_hosts_->Start();
  if (s->janitor_ != nullptr) s->janitor_->Start();
  s->housekeeping_ = std::thread([raw = s.get()] { raw->Housekeeping(); });
  spdlog::info("sandboxd listening on {} (port {}); NOT_SERVING until the watch cache syncs",
               config.listen_address, s->port_);
  if (s->metrics_port_ != 0) {
    spdlog::info("metrics at http://{}/metrics (port {})", config.metrics_listen_address,
                 s->metrics_port_);
  }
  return s;
}

void SandboxdServer::Housekeeping() {
  constexpr absl::Duration kPeriod = absl::Seconds(1);
  constexpr int kTicksPerRederive = 5;
  for (int tick = 0; !stopping_.WaitForNotificationWithTimeout(kPeriod); ++tick) {
    if (!serving_.HasBeenNotified() && cache_->synced() && namespaces_->synced() &&
        ingress_hosts_->synced()) {
      SetServing(true);
      serving_.Notify();
      spdlog::info("watch cache synced ({} sandboxes); SERVING", cache_->stats().sandboxes);
    }
    if (tick % kTicksPerRederive == 0) cache_->Tick(absl::Now());
  }
}

ServerMetrics::State SandboxdServer::MetricsState() const {
  ServerMetrics::State state;
  service::SandboxCache::Stats cache = cache_->stats();
  state.sandboxes_by_phase = std::move(cache.by_phase);
  state.sandboxes_by_error_reason = std::move(cache.by_error_reason);
  state.stream_queued_events = cache.queued_events;
  state.stream_merged_updates = cache.merged_updates;
  state.stream_dropped_updates = cache.dropped_updates;
  state.cache_synced = cache_->synced();
  service::CacheFeed::Stats feed = feed_->stats();
  state.reflector_lists = feed.lists;
  state.reflector_relists_after_410 = feed.relists_after_410;
  state.reflector_watches = feed.watches_started;
  state.watch_events_applied = feed.events;
  state.cache_input_queue = feed.queued;
  state.fanout_queue = fanout_->queued();
  state.orphan_claims_deleted = janitor_ != nullptr ? janitor_->deleted() : 0;
  return state;
}

void SandboxdServer::SetServing(bool serving) {
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server == nullptr) continue;
    grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
    health->SetServingStatus(serving);
    health->SetServingStatus(kServiceName, serving);
  }
}

bool SandboxdServer::WaitUntilServing(absl::Duration timeout) {
  return serving_.WaitForNotificationWithTimeout(timeout);
}

void SandboxdServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  // Stopping the metrics listener takes up to 2 s (its accept loop polls for the stop):
  // done alongside the drain, and before the parts its scrapes read are stopped.
  std::thread stop_metrics([this] { metrics_->StopServing(); });
  // Health first, so that load balancers stop sending new calls; then end the watch
  // streams (UNAVAILABLE + resume token), which would otherwise hold Shutdown forever.
  server_->GetHealthCheckService()->Shutdown();
  if (health_server_ != nullptr) health_server_->GetHealthCheckService()->Shutdown();
  cache_->Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  if (health_server_ != nullptr) {
    health_server_->Shutdown(absl::ToChronoTime(absl::Now()));
    health_server_->Wait();
  }
  stopping_.Notify();
  if (housekeeping_.joinable()) housekeeping_.join();
  stop_metrics.join();
  if (janitor_ != nullptr) janitor_->Stop();  // it reads the cache and uses the client
  namespaces_->Stop();  // first: it drives the feed
  feed_->Stop();
  ingress_hosts_->Stop();
  kube_.reset();  // fails the Kubernetes requests still pending with CANCELLED
  spdlog::info("sandboxd stopped");
}

SandboxdServer::~SandboxdServer() {
  if (server_ != nullptr) Shutdown(absl::ZeroDuration());
}

}  // namespace sandboxd::server
