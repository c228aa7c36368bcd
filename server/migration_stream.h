// MigrationStream: one MigrateSandboxes call (server streaming). Admits the caller
// ("update" on sandboxes in the namespace), runs MigrationService::MigrateAll and writes
// one MigrateSandboxesResponse per report (a step, or a sandbox's final state) and then
// the summary; the stream ends with OK, or with the error of the whole batch (bad
// request, refused, listing failed). At most one write is in flight; reports wait in an
// unbounded queue (one message per step per sandbox of the batch: bounded by the batch).
//
// Deadline: the client's, kDefaultDeadline when it sent none, at most kMaxDeadline; each
// sandbox gets at most MigrationService::kBatchItemTimeout of it. Cancelling the call
// cancels the Kubernetes requests of the migrations in flight; the stream still ends
// once they have (a migration continues where it stopped when called again).
//
// Metrics and logging as for every call: started, each message sent, handled with its
// code and duration; one log line at the end.
//
// Thread-safe: reactions and the batch's callbacks may run concurrently; the state they
// share is guarded by one mutex. Deletes itself in OnDone.
#ifndef SANDBOXD_SERVER_MIGRATION_STREAM_H_
#define SANDBOXD_SERVER_MIGRATION_STREAM_H_

#include <memory>

#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "sandbox/v1/sandbox.pb.h"
#include "server/server_metrics.h"
#include "src/auth/access_control.h"
#include "src/service/migration_service.h"

namespace sandboxd::server {

class MigrationStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  static constexpr absl::Duration kDefaultDeadline = absl::Minutes(10);
  static constexpr absl::Duration kMaxDeadline = absl::Hours(1);

  // Starts the call for `request` (already parsed) or, with a non-OK `parsed`, finishes
  // it at once with that error. The pointers must outlive the call.
  static MigrationStream* Start(grpc::CallbackServerContext* ctx,
                                absl::StatusOr<sandbox::v1::MigrateSandboxesRequest> parsed,
                                service::MigrationService* migrations,
                                auth::AccessControl* access, ServerMetrics* metrics);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct State;
  MigrationStream(grpc::CallbackServerContext* ctx, ServerMetrics* metrics);

  std::shared_ptr<State> state_;
};

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_MIGRATION_STREAM_H_
