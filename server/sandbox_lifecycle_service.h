// SandboxLifecycleService: the gRPC callback-API adapter of sandbox.v1.SandboxLifecycle.
// Each RPC converts its request (proto_convert.h), calls SandboxService, and finishes with
// the one absl -> gRPC status mapping (status_mapping.h). No handler blocks: the service
// completes on the Kubernetes client's I/O thread, which finishes the RPC.
//
// Where reads come from (cache or API server) is the service's choice. WatchSandbox /
// WatchSandboxes stream from the cache (WatchReactor);
// they are registered as raw (ByteBuffer) methods so that a change is serialized once for
// all streams, and parse their request themselves (a malformed one is INVALID_ARGUMENT).
//
// Every RPC is admitted first (auth::AccessControl: the caller's identity, its Kubernetes
// RBAC permission for the RPC's verb on sandboxes in the namespace, a served namespace);
// nothing reaches the service before that.
//
// Per call: the RPC deadline (default kDefaultDeadline when the client sent none, at most
// kMaxDeadline) bounds all Kubernetes requests of the call; a cancelled RPC cancels them;
// one log line per call (server/log_format.h: CallLogFields, caller input escaped) names
// the method, the sandbox, the caller, the request id (client metadata "x-request-id",
// else generated), the code and the latency.
//
// The project and label_selector filters of ListSandboxes and WatchSandboxes are checked
// against `limits` (proto_convert.h) before they reach the cache or Kubernetes.
//
// Thread-safe. `service`, `cache` and `fanout` must outlive this object and every call in
// flight.
#ifndef SANDBOXD_SERVER_SANDBOX_LIFECYCLE_SERVICE_H_
#define SANDBOXD_SERVER_SANDBOX_LIFECYCLE_SERVICE_H_

#include <utility>

#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/watch_reactor.h"
#include "src/auth/access_control.h"
#include "src/domain/sandbox.h"
#include "src/service/sandbox_cache.h"
#include "src/service/sandbox_service.h"
#include "src/service/task_pool.h"

namespace sandboxd::server {

// The callback service with the two watch methods re-registered as raw methods.
using SandboxLifecycleBase = sandbox::v1::SandboxLifecycle::WithRawCallbackMethod_WatchSandbox<
    sandbox::v1::SandboxLifecycle::WithRawCallbackMethod_WatchSandboxes<
        sandbox::v1::SandboxLifecycle::CallbackService>>;

class SandboxLifecycleService final : public SandboxLifecycleBase {
 public:
  static constexpr absl::Duration kDefaultDeadline = absl::Seconds(30);
  static constexpr absl::Duration kMaxDeadline = absl::Minutes(5);

  SandboxLifecycleService(service::SandboxService* service, service::SandboxCache* cache,
                          service::TaskPool* fanout, auth::AccessControl* access,
                          domain::SandboxLimits limits)
      : service_(service), cache_(cache), fanout_(fanout), access_(access),
        limits_(std::move(limits)) {}

  grpc::ServerUnaryReactor* CreateSandbox(grpc::CallbackServerContext* ctx,
                                          const sandbox::v1::CreateSandboxRequest* request,
                                          sandbox::v1::CreateSandboxResponse* response) override;
  grpc::ServerUnaryReactor* GetSandbox(grpc::CallbackServerContext* ctx,
                                       const sandbox::v1::GetSandboxRequest* request,
                                       sandbox::v1::GetSandboxResponse* response) override;
  grpc::ServerUnaryReactor* ListSandboxes(grpc::CallbackServerContext* ctx,
                                          const sandbox::v1::ListSandboxesRequest* request,
                                          sandbox::v1::ListSandboxesResponse* response) override;
  grpc::ServerUnaryReactor* StartSandbox(grpc::CallbackServerContext* ctx,
                                         const sandbox::v1::StartSandboxRequest* request,
                                         sandbox::v1::StartSandboxResponse* response) override;
  grpc::ServerUnaryReactor* StopSandbox(grpc::CallbackServerContext* ctx,
                                        const sandbox::v1::StopSandboxRequest* request,
                                        sandbox::v1::StopSandboxResponse* response) override;
  grpc::ServerUnaryReactor* UpdateSandboxEnv(
      grpc::CallbackServerContext* ctx, const sandbox::v1::UpdateSandboxEnvRequest* request,
      sandbox::v1::UpdateSandboxEnvResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSandbox(grpc::CallbackServerContext* ctx,
                                          const sandbox::v1::DeleteSandboxRequest* request,
                                          sandbox::v1::DeleteSandboxResponse* response) override;
  // Raw: `request` is a WatchSandboxRequest / WatchSandboxesRequest; each message written
  // is a WatchSandboxResponse / WatchSandboxesResponse.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchSandbox(
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchSandboxes(
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) override;

 private:
  // Admission of a watch stream on the sandboxes of `ns` (named `name`, or all).
  WatchReactor::Admission AdmitWatch(grpc::CallbackServerContext* ctx, const std::string& ns,
                                     const std::string& name);

  service::SandboxService* const service_;  // not owned
  service::SandboxCache* const cache_;      // not owned
  service::TaskPool* const fanout_;         // not owned
  auth::AccessControl* const access_;       // not owned
  const domain::SandboxLimits limits_;
};

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_SANDBOX_LIFECYCLE_SERVICE_H_
