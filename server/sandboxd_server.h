// SandboxdServer: a running sandboxd — the Kubernetes client, the sandbox service and
// the gRPC server (SandboxLifecycle, health, reflection) — assembled from a ServerConfig.
// main() runs one; integration tests run one in-process on a free port.
//
// Thread-safe: Shutdown() may be called from any thread, once.
#ifndef SANDBOXD_SERVER_SANDBOXD_SERVER_H_
#define SANDBOXD_SERVER_SANDBOXD_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "server/sandbox_lifecycle_service.h"
#include "server/server_config.h"
#include "src/kube/curl_kube_client.h"
#include "src/service/sandbox_service.h"

namespace sandboxd::server {

class SandboxdServer {
 public:
  // Loads the kubeconfig (or the in-cluster config when config.kube.kubeconfig is empty
  // and KUBERNETES_SERVICE_HOST is set), starts the Kubernetes client and the gRPC server
  // listening on config.listen_address (port 0: a free port, see port()). The health
  // status of the server and of sandbox.v1.SandboxLifecycle is SERVING once started.
  // Errors: those of loading the Kubernetes config; UNAVAILABLE if the address cannot be
  // bound. curl_global_init() must have been called.
  static absl::StatusOr<std::unique_ptr<SandboxdServer>> Start(const ServerConfig& config);

  ~SandboxdServer();  // Shutdown(absl::ZeroDuration()) unless already shut down

  int port() const { return port_; }

  // Marks health NOT_SERVING, stops accepting calls, lets calls in flight finish for up
  // to `grace`, then cancels the rest and waits for them.
  void Shutdown(absl::Duration grace);

 private:
  SandboxdServer() = default;

  std::unique_ptr<kube::CurlKubeClient> kube_;
  std::unique_ptr<service::SandboxService> service_;
  std::unique_ptr<SandboxLifecycleService> grpc_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_SANDBOXD_SERVER_H_
