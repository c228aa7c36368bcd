#include "server/migration_stream.h"

#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/call_context.h"
#include "server/call_credentials.h"
#include "server/log_format.h"
#include "server/proto_convert.h"
#include "server/status_mapping.h"

namespace sandboxd::server {
namespace {

namespace pb = sandbox::v1;
constexpr char kMethod[] = "MigrateSandboxes";

grpc::ByteBuffer Encode(const pb::MigrateSandboxesResponse& message) {
  grpc::ByteBuffer buffer;
  bool own = false;
  grpc::SerializationTraits<pb::MigrateSandboxesResponse>::Serialize(message, &buffer, &own);
  return buffer;
}

}  // namespace

struct MigrationStream::State {
  ServerMetrics* metrics = nullptr;
  absl::Time start;
  std::string request_id;
  kube::CallOptions opts;
  std::shared_ptr<kube::CancellationToken> cancel;

  absl::Mutex mu;
  MigrationStream* reactor ABSL_GUARDED_BY(mu) = nullptr;  // null once done
  std::deque<grpc::ByteBuffer> queue ABSL_GUARDED_BY(mu);
  grpc::ByteBuffer writing_now ABSL_GUARDED_BY(mu);  // the write in flight
  bool writing ABSL_GUARDED_BY(mu) = false;
  bool client_gone ABSL_GUARDED_BY(mu) = false;
  std::optional<absl::Status> final ABSL_GUARDED_BY(mu);
  bool finished ABSL_GUARDED_BY(mu) = false;
  std::string sandbox ABSL_GUARDED_BY(mu);
  std::string caller ABSL_GUARDED_BY(mu);

  void Send(const pb::MigrateSandboxesResponse& message) {
    grpc::ByteBuffer encoded = Encode(message);
    absl::MutexLock lock(&mu);
    if (client_gone) return;
    queue.push_back(std::move(encoded));
    Pump();
  }

  void Close(absl::Status status) {
    absl::MutexLock lock(&mu);
    if (final.has_value()) return;
    final = std::move(status);
    Pump();
  }

  // Starts the next write, or finishes once everything is written.
  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (reactor == nullptr || writing || finished) return;
    if (!queue.empty() && !client_gone) {
      writing = true;
      writing_now.Swap(&queue.front());
      queue.pop_front();
      reactor->StartWrite(&writing_now);
      return;
    }
    if (!final.has_value()) return;
    finished = true;
    const absl::Duration latency = absl::Now() - start;
    grpc::Status mapped = ToGrpcStatus(*final, kMethod);
    LogWithFields(LogLevel::kInfo, "rpc finished",
                  CallLogFields(kMethod, sandbox, caller, request_id, *final, latency));
    metrics->RpcHandled(ServerMetrics::RpcType::kServerStream, kMethod, mapped.error_code(),
                        latency);
    reactor->Finish(mapped);
  }
};

MigrationStream::MigrationStream(grpc::CallbackServerContext* ctx, ServerMetrics* metrics)
    : state_(std::make_shared<State>()) {
  state_->metrics = metrics;
  state_->start = absl::Now();
  state_->request_id = RequestIdOf(*ctx);
  state_->cancel = std::make_shared<kube::CancellationToken>();
  state_->opts.deadline = DeadlineOf(*ctx, kDefaultDeadline, kMaxDeadline);
  state_->opts.cancel = state_->cancel;
  state_->opts.request_id = state_->request_id;
  absl::MutexLock lock(&state_->mu);
  state_->reactor = this;
  metrics->RpcStarted(ServerMetrics::RpcType::kServerStream, kMethod);
}

MigrationStream* MigrationStream::Start(
    grpc::CallbackServerContext* ctx, absl::StatusOr<pb::MigrateSandboxesRequest> parsed,
    service::MigrationService* migrations, auth::AccessControl* access,
    ServerMetrics* metrics) {
  auto* stream = new MigrationStream(ctx, metrics);
  std::shared_ptr<State> state = stream->state_;
  absl::StatusOr<domain::MigrationBatch> batch =
      parsed.ok() ? MigrationBatchFromRequest(*parsed)
                  : absl::StatusOr<domain::MigrationBatch>(parsed.status());
  if (!batch.ok()) {
    state->Close(batch.status());
    return stream;
  }
  {
    absl::MutexLock lock(&state->mu);
    state->sandbox = absl::StrCat(batch->ns, "/*");
  }
  access->Admit(
      CredentialsOf(*ctx), auth::AccessRequest{"update", batch->ns, ""}, state->opts,
      [state, migrations, batch = *batch](auth::Admission admission) {
        if (admission.caller.has_value()) {
          absl::MutexLock lock(&state->mu);
          state->caller = admission.caller->username;
        }
        if (!admission.status.ok()) return state->Close(admission.status);
        migrations->MigrateAll(
            batch, state->opts,
            [state](const domain::MigrationReport& report) {
              pb::MigrateSandboxesResponse message;
              *message.mutable_progress() = MigrationToProto(report);
              state->Send(message);
            },
            [state](absl::StatusOr<domain::MigrationSummary> summary) {
              if (!summary.ok()) return state->Close(summary.status());
              pb::MigrateSandboxesResponse message;
              *message.mutable_summary() = SummaryToProto(*summary);
              state->Send(message);
              state->Close(absl::OkStatus());
            });
      });
  return stream;
}

void MigrationStream::OnWriteDone(bool ok) {
  absl::MutexLock lock(&state_->mu);
  state_->writing = false;
  if (ok) {
    state_->metrics->MessageSent(ServerMetrics::RpcType::kServerStream, kMethod);
  } else {
    state_->client_gone = true;  // cancelled or broken: nothing more can be written
    state_->queue.clear();
  }
  state_->Pump();
}

void MigrationStream::OnCancel() { state_->cancel->Cancel(); }

void MigrationStream::OnDone() {
  {
    absl::MutexLock lock(&state_->mu);
    state_->reactor = nullptr;
  }
  delete this;
}

}  // namespace sandboxd::server
