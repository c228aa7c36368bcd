// SandboxdServer: a running sandboxd — the Kubernetes client, the watch cache and its
// feed, the sandbox service and the gRPC server (SandboxLifecycle, health, reflection) —
// assembled from a ServerConfig. main() runs one; integration tests run one in-process on
// a free port.
//
// Health is NOT_SERVING until the watch cache, the set of served namespaces and the
// Ingress hosts have synced, SERVING until Shutdown(). The listener uses TLS (certificate files
// re-read when they change; client certificates verified against tls.client_ca_file when set)
// unless tls.plaintext, which logs a warning. health_listen_address, when set, is a second,
// plaintext listener with only the health service (Kubernetes gRPC probes speak no TLS).
// metrics_listen_address, when set, serves Prometheus metrics at /metrics over plaintext
// HTTP (server_metrics.h); the server's state there is read at each scrape.
// orphan_claim_grace, when positive, runs a ClaimJanitor on the watch cache (every
// replica: it needs no leader).
//
// Thread-safe: Shutdown() may be called from any thread, once.
#ifndef SANDBOXD_SERVER_SANDBOXD_SERVER_H_
#define SANDBOXD_SERVER_SANDBOXD_SERVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/sandbox_lifecycle_service.h"
#include "server/server_config.h"
#include "server/server_metrics.h"
#include "src/auth/access_control.h"
#include "src/auth/authenticator.h"
#include "src/auth/authorizer.h"
#include "src/auth/namespace_gate.h"
#include "src/kube/curl_kube_client.h"
#include "src/service/cache_feed.h"
#include "src/service/claim_janitor.h"
#include "src/service/ingress_hosts.h"
#include "src/service/migration_service.h"
#include "src/service/sandbox_cache.h"
#include "src/service/sandbox_service.h"
#include "src/service/task_pool.h"

namespace sandboxd::server {

class SandboxdServer {
 public:
  // Loads the kubeconfig (or the in-cluster config when config.kube.kubeconfig is empty
  // and KUBERNETES_SERVICE_HOST is set), starts the Kubernetes client and the gRPC server
  // listening on config.listen_address (port 0: a free port, see port()), and starts
  // filling the watch cache. The health status of the server and of
  // sandbox.v1.SandboxLifecycle becomes SERVING once the cache has synced.
  // Errors: those of loading the Kubernetes config; INVALID_ARGUMENT without a TLS
  // certificate unless tls.plaintext, or if a TLS file cannot be read; UNAVAILABLE if the address
  // cannot be bound (the metrics address included). curl_global_init() must have been called.
  //
  // Hooks for benchmarks and tests (all optional). `decorate_kube` wraps the Kubernetes client that
  // the service and the watch cache use (the server owns what it returns);
  // `configure_grpc` adjusts the gRPC server builder last, before the server is built
  // (e.g. to add interceptors).
  struct Hooks {
    std::function<std::unique_ptr<kube::KubeClient>(kube::KubeClient* inner)> decorate_kube;
    std::function<void(grpc::ServerBuilder&)> configure_grpc;
    // Replaces the number of changes the watch cache keeps for resuming streams
    // (SandboxCache::Options::history_capacity); tests use a tiny one.
    std::optional<size_t> watch_history_capacity;
  };
  static absl::StatusOr<std::unique_ptr<SandboxdServer>> Start(const ServerConfig& config,
                                                               const Hooks& hooks = {});

  ~SandboxdServer();  // Shutdown(absl::ZeroDuration()) unless already shut down

  int port() const { return port_; }
  // The port of /metrics (0 when metrics_listen_address is empty).
  int metrics_port() const { return metrics_port_; }

  // Waits up to `timeout` for the watch cache to sync (health SERVING). True if it did.
  bool WaitUntilServing(absl::Duration timeout);

  // Counters of the Kubernetes watches behind the cache (tests, diagnostics).
  service::CacheFeed::Stats watch_stats() const { return feed_->stats(); }
  service::SandboxCache::Stats cache_stats() const { return cache_->stats(); }
  // The watch cache (benchmarks feed it synthetic sandboxes).
  service::SandboxCache* cache() const { return cache_.get(); }
  // The hosts every Ingress claims, as the Ingress watch has seen them (tests).
  const service::IngressHosts* ingress_hosts() const { return ingress_hosts_.get(); }

  // Marks health NOT_SERVING, ends every watch stream with UNAVAILABLE and a resume
  // token, stops accepting calls, lets unary calls in flight finish for up to `grace`,
  // then cancels the rest and waits for them.
  void Shutdown(absl::Duration grace);

 private:
  SandboxdServer() = default;

  // Marks the server SERVING once the cache syncs; re-derives time-dependent phases.
  void Housekeeping();
  // The state metrics_ reports at each scrape.
  ServerMetrics::State MetricsState() const;
  // Sets the health of the server and of sandbox.v1.SandboxLifecycle on every listener.
  void SetServing(bool serving);

  // Outlives everything it counts; Shutdown() stops its listener before the cache feed.
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<kube::CurlKubeClient> kube_;
  std::unique_ptr<kube::KubeClient> decorated_kube_;  // wraps kube_ when set
  std::unique_ptr<service::TaskPool> fanout_;  // outlives the cache, feed and streams
  std::unique_ptr<service::SandboxCache> cache_;
  std::unique_ptr<service::CacheFeed> feed_;
  std::unique_ptr<service::IngressHosts> ingress_hosts_;
  std::unique_ptr<service::ClaimJanitor> janitor_;  // null when orphan_claim_grace is 0
  std::unique_ptr<service::SandboxService> service_;
  std::unique_ptr<service::MigrationService> migrations_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<auth::CallerLimits> caller_limits_;
  std::unique_ptr<auth::Authorizer> authorizer_;
  std::unique_ptr<auth::NamespaceGate> namespaces_;
  std::unique_ptr<auth::AccessControl> access_;
  std::unique_ptr<SandboxLifecycleService> grpc_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;  // config.health_listen_address; may be null
  int port_ = 0;
  int metrics_port_ = 0;
  bool shut_down_ = false;
  absl::Notification serving_;
  absl::Notification stopping_;
  std::thread housekeeping_;
};

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_SANDBOXD_SERVER_H_
