#include "server/watch_reactor.h"

#include <grpc/slice.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "sandbox/v1/sandbox.pb.h"
#include "server/log_format.h"
#include "server/proto_convert.h"
#include "server/status_mapping.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"

namespace sandboxd::server {
namespace {

namespace pb = sandbox::v1;
using Response = pb::WatchSandboxesResponse;  // encodes WatchSandboxResponse as well
constexpr bool SameField(int a, int b) { return a == b; }
static_assert(
    SameField(pb::WatchSandboxResponse::kTypeFieldNumber, Response::kTypeFieldNumber) &&
        SameField(pb::WatchSandboxResponse::kSandboxFieldNumber, Response::kSandboxFieldNumber) &&
        SameField(pb::WatchSandboxResponse::kResumeTokenFieldNumber,
                  Response::kResumeTokenFieldNumber),
    "WatchSandboxResponse and WatchSandboxesResponse must share their wire format");

pb::WatchEventType ToProto(service::WatchEvent::Type type) {
  switch (type) {
    case service::WatchEvent::Type::kAdded: return pb::WATCH_EVENT_TYPE_ADDED;
    case service::WatchEvent::Type::kModified: return pb::WATCH_EVENT_TYPE_MODIFIED;
    case service::WatchEvent::Type::kDeleted: return pb::WATCH_EVENT_TYPE_DELETED;
    case service::WatchEvent::Type::kInitialStateComplete:
      return pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE;
    case service::WatchEvent::Type::kReset: return pb::WATCH_EVENT_TYPE_RESET;
  }
  return pb::WATCH_EVENT_TYPE_UNSPECIFIED;
}

// The encoding of a response holding only `sandbox`: its `sandbox` field, tag included.
std::string EncodeSandboxField(const domain::Sandbox& sandbox) {
  Response only_sandbox;
  *only_sandbox.mutable_sandbox() = SandboxToProto(sandbox);
  return only_sandbox.SerializeAsString();
}

}  // namespace

grpc::ByteBuffer EncodeWatchResponse(const service::WatchEvent& event) {
  Response head;
  head.set_type(ToProto(event.type));
  head.set_resume_token(event.resume_token);
  const std::string* body =
      event.sandbox != nullptr ? &event.sandbox->Encoded(EncodeSandboxField) : nullptr;
  // Concatenated encodings of one message type parse as their merge, so head + body is
  // the whole response (fields in the order type, resume_token, sandbox).
  const size_t head_size = head.ByteSizeLong();
  grpc_slice slice = grpc_slice_malloc(head_size + (body != nullptr ? body->size() : 0));
  uint8_t* out = GRPC_SLICE_START_PTR(slice);
  head.SerializeWithCachedSizesToArray(out);
  if (body != nullptr) std::copy(body->begin(), body->end(), out + head_size);
  grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
  return grpc::ByteBuffer(&owned, 1);
}

WatchReactor::WatchReactor(CallNames names, ServerMetrics* metrics)
    : shared_(std::make_shared<Shared>(this, std::move(names), metrics)) {
  metrics->RpcStarted(ServerMetrics::RpcType::kServerStream, shared_->names.method);
}

WatchReactor* WatchReactor::Start(service::SandboxCache* cache, service::TaskPool* fanout,
                                  service::WatchFilter filter, const std::string& resume_token,
                                  CallNames names, const Admission& admission,
                                  ServerMetrics* metrics) {
  auto* reactor = new WatchReactor(std::move(names), metrics);
  // Until the stream is finished, gRPC keeps the reactor: the admission may answer later.
  admission([reactor, cache, fanout, filter = std::move(filter), resume_token](
                std::string caller, absl::StatusOr<Lease> admitted) {
    const absl::Status status = admitted.status();
    {
      absl::MutexLock lock(&reactor->shared_->mu);
      reactor->shared_->caller = std::move(caller);
      if (status.ok()) reactor->shared_->lease = *std::move(admitted);
    }
    if (!status.ok()) {
      reactor->FinishAtOnce(status);
      return;
    }
    reactor->Subscribe(cache, fanout, filter, resume_token);
  });
  return reactor;
}

void WatchReactor::Subscribe(service::SandboxCache* cache, service::TaskPool* fanout,
                             const service::WatchFilter& filter, const std::string& resume_token) {
  std::weak_ptr<Shared> weak = shared_;
  absl::StatusOr<std::shared_ptr<service::WatchSubscription>> subscription =
      cache->Subscribe(filter, resume_token, [weak, fanout]() {
        fanout->Post([weak]() {
          if (std::shared_ptr<Shared> shared = weak.lock()) shared->Pump();
        });
      });
  if (!subscription.ok()) {
    FinishAtOnce(subscription.status());  // refused: on_ready never runs
    return;
  }
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->subscription = *std::move(subscription);
    shared_->metrics->StreamSubscribed();  // before OnDone can see the subscription
  }
  shared_->Pump();
}

WatchReactor* WatchReactor::Reject(const absl::Status& status, CallNames names,
                                   ServerMetrics* metrics) {
  return (new WatchReactor(std::move(names), metrics))->FinishAtOnce(status);
}

WatchReactor* WatchReactor::FinishAtOnce(const absl::Status& status) {
  absl::MutexLock lock(&shared_->mu);  // OnCancel may run meanwhile
  shared_->FinishLocked(status);
  return this;
}

void WatchReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->writing = false;
    shared_->message.Clear();
    if (!ok) shared_->broken = true;  // the client is gone; OnCancel follows
  }
  if (ok) {
    shared_->metrics->MessageSent(ServerMetrics::RpcType::kServerStream, shared_->names.method);
  }
  shared_->Pump();
}

void WatchReactor::OnCancel() {
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->cancelled = true;
  }
  shared_->Pump();
}

void WatchReactor::OnDone() {
  std::shared_ptr<service::WatchSubscription> subscription;
  Lease lease;
  grpc::StatusCode code;
  std::string caller;
  absl::Status final_status;
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->reactor = nullptr;
    subscription = std::move(shared_->subscription);
    lease = std::move(shared_->lease);
    code = shared_->code;
    caller = shared_->caller;
    final_status = shared_->final_status;
  }
  if (subscription != nullptr) {
    subscription->Cancel();
    shared_->metrics->StreamEnded();
  }
  const CallNames& names = shared_->names;
  const absl::Duration latency = absl::Now() - shared_->start;
  shared_->metrics->RpcHandled(ServerMetrics::RpcType::kServerStream, names.method, code, latency);
  LogWithFields(
      LogLevel::kInfo, "rpc finished",
      CallLogFields(names.method, names.sandbox, caller, names.request_id, final_status, latency));
  delete this;
}

void WatchReactor::Shared::Pump() {
  absl::MutexLock lock(&mu);
  if (reactor == nullptr || writing || finished || subscription == nullptr) return;
  if (cancelled || broken) {
    FinishLocked(absl::CancelledError("stream cancelled"));
    return;
  }
  std::optional<service::WatchEvent> event = subscription->Next();
  if (!event.has_value()) {
    if (subscription->closed()) FinishLocked(subscription->end_status());
    return;
  }
  if (event->type == service::WatchEvent::Type::kReset) metrics->ResetSent(writes == 0);
  message = EncodeWatchResponse(*event);
  writing = true;
  ++writes;
  reactor->StartWrite(&message);
}

void WatchReactor::Shared::FinishLocked(const absl::Status& status) {
  const grpc::Status mapped = ToGrpcStatus(status, names.method);
  finished = true;
  final_status = status;
  code = mapped.error_code();
  reactor->Finish(mapped);
}

}  // namespace sandboxd::server
