// WatchReactor: one server-streaming WatchSandbox / WatchSandboxes call, fed by a
// SandboxCache subscription. At most one write is in flight; the next message is taken
// from the subscription when the previous write completes (or when the subscription
// signals that it has one), so a slow client only grows its own bounded queue, which the
// cache merges per sandbox — it never blocks the cache or other streams.
//
// The stream ends with:
//   UNAVAILABLE (reason SERVER_SHUTTING_DOWN, metadata resumeToken) when the server
//     shuts down: reconnect elsewhere and resume with the token;
//   CANCELLED when the client cancels or the deadline passes (gRPC reports it);
//   the subscription's error when it cannot continue.
//
// Thread-safe: reactions and the subscription's on_ready may run concurrently; all
// state is guarded by one mutex. Deletes itself in OnDone.
#ifndef SANDBOXD_SERVER_WATCH_REACTOR_H_
#define SANDBOXD_SERVER_WATCH_REACTOR_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/server_callback.h"
#include "server/fanout_executor.h"
#include "server/proto_convert.h"
#include "server/status_mapping.h"
#include "spdlog/spdlog.h"
#include "src/domain/errors.h"
#include "src/service/sandbox_cache.h"

namespace sandboxd::server {

// Converts a cache event into a watch response (WatchSandboxResponse and
// WatchSandboxesResponse have the same fields).
template <typename Response>
Response WatchEventToProto(const service::WatchEvent& event) {
  Response response;
  switch (event.type) {
    case service::WatchEvent::Type::kAdded:
      response.set_type(sandbox::v1::WATCH_EVENT_TYPE_ADDED);
      break;
    case service::WatchEvent::Type::kModified:
      response.set_type(sandbox::v1::WATCH_EVENT_TYPE_MODIFIED);
      break;
    case service::WatchEvent::Type::kDeleted:
      response.set_type(sandbox::v1::WATCH_EVENT_TYPE_DELETED);
      break;
    case service::WatchEvent::Type::kInitialStateComplete:
      response.set_type(sandbox::v1::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE);
      break;
    case service::WatchEvent::Type::kReset:
      response.set_type(sandbox::v1::WATCH_EVENT_TYPE_RESET);
      break;
  }
  if (event.type == service::WatchEvent::Type::kAdded ||
      event.type == service::WatchEvent::Type::kModified ||
      event.type == service::WatchEvent::Type::kDeleted) {
    *response.mutable_sandbox() = SandboxToProto(event.sandbox);
  }
  response.set_resume_token(event.resume_token);
  return response;
}

template <typename Response>
class WatchReactor final : public grpc::ServerWriteReactor<Response> {
 public:
  // Starts a stream over `cache` with `filter` from `resume_token`. Returns the reactor
  // to hand to gRPC; it finishes at once with the mapped error if the subscription is
  // refused (e.g. INVALID_ARGUMENT for a malformed token). The subscription's wake-ups
  // are served on `fanout` (which must outlive the cache's inputs).
  static WatchReactor* Start(service::SandboxCache* cache, FanoutExecutor* fanout,
                             service::WatchFilter filter, const std::string& resume_token,
                             std::string method) {
    auto* reactor = new WatchReactor(std::move(method));
    std::weak_ptr<Shared> weak = reactor->shared_;
    absl::StatusOr<std::shared_ptr<service::WatchSubscription>> subscription =
        cache->Subscribe(std::move(filter), resume_token, [weak, fanout]() {
          fanout->Post([weak]() {
            if (std::shared_ptr<Shared> shared = weak.lock()) shared->Pump();
          });
        });
    if (!subscription.ok()) {
      absl::Status status = subscription.status();
      if (absl::IsFailedPrecondition(status)) {
        // The cache has not synced yet (health is NOT_SERVING): retryable.
        status = domain::MakeError(absl::StatusCode::kUnavailable, "CACHE_NOT_SYNCED",
                                   "sandboxd is starting; retry shortly");
      }
      {
        std::lock_guard<std::mutex> lock(reactor->shared_->mu);
        reactor->shared_->finished = true;
      }
      reactor->Finish(ToGrpcStatus(status, reactor->shared_->method));
      return reactor;
    }
    {
      std::lock_guard<std::mutex> lock(reactor->shared_->mu);
      reactor->shared_->subscription = *std::move(subscription);
    }
    reactor->shared_->Pump();
    return reactor;
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->writing = false;
      if (!ok) shared_->broken = true;  // the client is gone; OnCancel follows
    }
    shared_->Pump();
  }

  void OnCancel() override {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->cancelled = true;
    }
    shared_->Pump();
  }

  void OnDone() override {
    std::shared_ptr<service::WatchSubscription> subscription;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->reactor = nullptr;
      subscription = std::move(shared_->subscription);
    }
    if (subscription != nullptr) subscription->Cancel();
    spdlog::info("rpc={} stream ended", shared_->method);
    delete this;
  }

 private:
  // State shared with the subscription's on_ready callback, which may outlive the reactor.
  struct Shared {
    std::mutex mu;
    WatchReactor* reactor = nullptr;  // null after OnDone
    std::shared_ptr<service::WatchSubscription> subscription;
    Response message;  // the write in flight; alive until OnWriteDone
    bool writing = false;
    bool finished = false;
    bool cancelled = false;
    bool broken = false;
    std::string method;

    // Starts the next write, or finishes the stream, if nothing is in flight.
    void Pump() {
      std::lock_guard<std::mutex> lock(mu);
      if (reactor == nullptr || writing || finished || subscription == nullptr) return;
      if (cancelled || broken) {
        finished = true;
        reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
        return;
      }
      std::optional<service::WatchEvent> event = subscription->Next();
      if (!event.has_value()) {
        if (subscription->closed()) {
          finished = true;
          reactor->Finish(ToGrpcStatus(
              domain::MakeError(absl::StatusCode::kUnavailable, "SERVER_SHUTTING_DOWN",
                                "sandboxd is shutting down; resume the watch with resumeToken",
                                {{"resumeToken", subscription->last_token()}}),
              method));
        }
        return;
      }
      message = WatchEventToProto<Response>(*event);
      writing = true;
      reactor->StartWrite(&message);
    }
  };

  explicit WatchReactor(std::string method) : shared_(std::make_shared<Shared>()) {
    shared_->reactor = this;
    shared_->method = std::move(method);
  }

  const std::shared_ptr<Shared> shared_;
};

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_WATCH_REACTOR_H_
