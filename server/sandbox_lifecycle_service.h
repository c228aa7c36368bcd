// SandboxLifecycleService: the gRPC callback-API adapter of sandbox.v1.SandboxLifecycle.
// Each RPC converts its request (proto_convert.h), calls SandboxService, and finishes with
// the one absl -> gRPC status mapping (status_mapping.h). No handler blocks: the service
// completes on the Kubernetes client's I/O thread, which finishes the RPC.
//
// Where reads come from (cache or API server) is the service's choice. WatchSandbox /
// WatchSandboxes stream from the cache (WatchReactor), so that a change is serialized once
// for all streams.
//
// Every method is registered as a raw (ByteBuffer) method and parses its request itself:
// bytes that are not a valid request are INVALID_ARGUMENT reason MALFORMED_REQUEST (not
// gRPC's own answer). The wire format is unchanged: typed stubs, grpcurl and server
// reflection (which describes the service from the descriptor pool) see the same service.
//
// Order of every RPC: parse -> convert (wire-level checks) -> admit -> service. Admission
// is auth::AccessControl: the caller's identity, its Kubernetes RBAC permission for the
// RPC's verb on sandboxes in the namespace, a served namespace; nothing reaches the
// service before that.
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
// Metrics: every call is counted in `metrics` (server_metrics.h: started, handled with its
// code and latency, messages received and sent).
//
// Thread-safe. `service`, `migrations`, `cache`, `fanout` and `metrics` must outlive this object and
// every call in flight.
#ifndef SANDBOXD_SERVER_SANDBOX_LIFECYCLE_SERVICE_H_
#define SANDBOXD_SERVER_SANDBOX_LIFECYCLE_SERVICE_H_

#include <utility>

#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/server_metrics.h"
#include "server/watch_reactor.h"
#include "src/auth/access_control.h"
#include "src/domain/sandbox.h"
#include "src/service/migration_service.h"
#include "src/service/sandbox_cache.h"
#include "src/service/sandbox_service.h"
#include "src/service/task_pool.h"

namespace sandboxd::server {

// The callback service with every method re-registered as a raw (ByteBuffer) method.
namespace internal {
namespace v1 = ::sandbox::v1;
using Raw = v1::SandboxLifecycle::WithRawCallbackMethod_CreateSandbox<
    v1::SandboxLifecycle::WithRawCallbackMethod_GetSandbox<
    v1::SandboxLifecycle::WithRawCallbackMethod_ListSandboxes<
    v1::SandboxLifecycle::WithRawCallbackMethod_StartSandbox<
    v1::SandboxLifecycle::WithRawCallbackMethod_StopSandbox<
    v1::SandboxLifecycle::WithRawCallbackMethod_UpdateSandboxEnv<
    v1::SandboxLifecycle::WithRawCallbackMethod_DeleteSandbox<
    v1::SandboxLifecycle::WithRawCallbackMethod_WatchSandbox<
    v1::SandboxLifecycle::WithRawCallbackMethod_WatchSandboxes<
    v1::SandboxLifecycle::WithRawCallbackMethod_MigrateSandbox<
    v1::SandboxLifecycle::WithRawCallbackMethod_MigrateSandboxes<
    v1::SandboxLifecycle::WithRawCallbackMethod_RollbackMigration<
    v1::SandboxLifecycle::CallbackService>>>>>>>>>>>>;
}  // namespace internal

// The callback service with every method re-registered as a raw (ByteBuffer) method.
using SandboxLifecycleBase = internal::Raw;

class SandboxLifecycleService final : public SandboxLifecycleBase {
 public:
  static constexpr absl::Duration kDefaultDeadline = absl::Seconds(30);
  static constexpr absl::Duration kMaxDeadline = absl::Minutes(5);

  SandboxLifecycleService(service::SandboxService* service,
                          service::MigrationService* migrations, service::SandboxCache* cache,
                          service::TaskPool* fanout, auth::AccessControl* access,
                          domain::SandboxLimits limits, ServerMetrics* metrics)
      : service_(service), migrations_(migrations), cache_(cache), fanout_(fanout),
        access_(access), limits_(std::move(limits)), metrics_(metrics) {}

  // Raw unary methods: `request` is the method's <Method>Request, `response` receives its
  // <Method>Response (e.g. CreateSandboxRequest / CreateSandboxResponse).
  grpc::ServerUnaryReactor* CreateSandbox(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetSandbox(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListSandboxes(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* StartSandbox(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* StopSandbox(grpc::CallbackServerContext* ctx,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UpdateSandboxEnv(grpc::CallbackServerContext* ctx,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteSandbox(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  // Migration (authorized as "update" on sandboxes), delegated to MigrationService.
  grpc::ServerUnaryReactor* MigrateSandbox(grpc::CallbackServerContext* ctx,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RollbackMigration(grpc::CallbackServerContext* ctx,
                                              const grpc::ByteBuffer* request,
                                              grpc::ByteBuffer* response) override;
  // Raw: `request` is a MigrateSandboxesRequest; see MigrationStream.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* MigrateSandboxes(
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) override;
  // Raw: `request` is a WatchSandboxRequest / WatchSandboxesRequest; each message written
  // is a WatchSandboxResponse / WatchSandboxesResponse.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchSandbox(
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchSandboxes(
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) override;

 private:
  // Admission of a watch stream on the sandboxes of `ns` (named `name`, or all), then
  // the wait for the cache to reach its resume token and min_resource_version
  // (SandboxService::AwaitWatchStart).
  WatchReactor::Admission AdmitWatch(grpc::CallbackServerContext* ctx, const std::string& ns,
                                     const std::string& name, const std::string& resume_token,
                                     const std::string& min_resource_version);
  // Runs one call of a raw unary method (defined in the .cc): parses the request, then
  // `handle(call, &request, &response)`, which finishes the call exactly once.
  template <typename Request, typename Response, typename Handle>
  grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* ctx, absl::string_view method,
                                     const grpc::ByteBuffer* raw_request,
                                     grpc::ByteBuffer* raw_response, Handle handle);

  service::SandboxService* const service_;  // not owned
  service::MigrationService* const migrations_;  // not owned
  service::SandboxCache* const cache_;      // not owned
  service::TaskPool* const fanout_;         // not owned
  auth::AccessControl* const access_;       // not owned
  const domain::SandboxLimits limits_;
  ServerMetrics* const metrics_;            // not owned
};

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_SANDBOX_LIFECYCLE_SERVICE_H_
