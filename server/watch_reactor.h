// WatchReactor: one server-streaming WatchSandbox / WatchSandboxes call, fed by a
// SandboxCache subscription. At most one write is in flight; the next message is taken
// from the subscription when the previous write completes (or when the subscription
// signals that it has one), so a slow client only grows its own bounded queue, which the
// cache merges per sandbox — it never blocks the cache or other streams.
//
// Encode once, write N times: the two watch methods are registered as raw (ByteBuffer)
// methods, and a message is the response's wire encoding assembled from a small
// per-stream head (type, resume token) and the serialized Sandbox, which is computed once
// per recorded change and shared by every stream it is delivered to
// (service::SharedSandbox::Encoded). A written buffer is released at once, so an idle
// stream holds no message.
//
// The stream ends with:
//   UNAVAILABLE (reason SERVER_SHUTTING_DOWN, metadata resumeToken) when the server
//     shuts down: reconnect elsewhere and resume with the token;
//   CANCELLED when the client cancels or the deadline passes (gRPC reports it);
//   the subscription's error when it cannot continue.
//
// Metrics (server_metrics.h): the stream is counted as started when created, each
// completed write as a message sent, its end with the status code and duration; while
// subscribed it is an active stream; each RESET it sends is counted.
//
// Thread-safe: reactions and the subscription's on_ready may run concurrently; all
// state is guarded by one mutex. Deletes itself in OnDone.
#ifndef SANDBOXD_SERVER_WATCH_REACTOR_H_
#define SANDBOXD_SERVER_WATCH_REACTOR_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "server/server_metrics.h"
#include "src/service/sandbox_cache.h"
#include "src/service/task_pool.h"

namespace sandboxd::server {

// The wire encoding of `event` as a WatchSandboxResponse or WatchSandboxesResponse (the
// two messages have the same fields and numbers). The Sandbox part is taken from
// event.sandbox's memo, encoded by the first stream that writes it.
grpc::ByteBuffer EncodeWatchResponse(const service::WatchEvent& event);

class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Decides whether the stream may start: calls its argument once, on any thread, with
  // the caller's identity ("" if it was not authenticated) and a lease the stream holds
  // until it ends (e.g. the caller's stream slot), or the refusal.
  using Lease = std::shared_ptr<void>;
  using Admitted = std::function<void(std::string caller, absl::StatusOr<Lease>)>;
  using Admission = std::function<void(Admitted)>;

  // What the stream's "rpc finished" log line names besides caller, code and latency.
  struct CallNames {
    std::string method;      // "WatchSandbox" or "WatchSandboxes"
    std::string sandbox;     // "<namespace>/<name>", "<namespace>/*", "" if not known
    std::string request_id;  // RequestIdOf the call
  };

  // Starts a stream over `cache` with `filter` from `resume_token` once `admission` said
  // OK. Returns the reactor to hand to gRPC; it finishes with the mapped error if the
  // admission or the subscription is refused (e.g. INVALID_ARGUMENT for a malformed
  // token). The subscription's wake-ups are served on `fanout` (which must outlive the
  // cache's inputs). `metrics` must outlive the stream. When it ends, the stream logs one
  // "rpc finished" line as a unary call does (log_format.h, CallLogFields).
  static WatchReactor* Start(service::SandboxCache* cache, service::TaskPool* fanout,
                             service::WatchFilter filter, const std::string& resume_token,
                             CallNames names, const Admission& admission, ServerMetrics* metrics);
  // A stream refused before it starts: finishes at once with `status`.
  static WatchReactor* Reject(const absl::Status& status, CallNames names, ServerMetrics* metrics);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // State shared with the subscription's on_ready callback, which may outlive the reactor.
  struct Shared {
    Shared(WatchReactor* reactor, CallNames names, ServerMetrics* metrics)
        : reactor(reactor), names(std::move(names)), metrics(metrics), start(absl::Now()) {}

    // Starts the next write, or finishes the stream, if nothing is in flight.
    void Pump() ABSL_LOCKS_EXCLUDED(mu);
    // Finishes the stream with `status`.
    void FinishLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

    absl::Mutex mu;
    WatchReactor* reactor ABSL_GUARDED_BY(mu);  // null after OnDone
    Lease lease ABSL_GUARDED_BY(mu);            // from the admission; released in OnDone
    std::shared_ptr<service::WatchSubscription> subscription ABSL_GUARDED_BY(mu);
    // The write in flight; cleared when it completes.
    grpc::ByteBuffer message ABSL_GUARDED_BY(mu);
    bool writing ABSL_GUARDED_BY(mu) = false;
    bool finished ABSL_GUARDED_BY(mu) = false;
    bool cancelled ABSL_GUARDED_BY(mu) = false;
    bool broken ABSL_GUARDED_BY(mu) = false;
    int64_t writes ABSL_GUARDED_BY(mu) = 0;  // messages whose write started
    std::string caller ABSL_GUARDED_BY(mu);  // from the admission
    absl::Status final_status ABSL_GUARDED_BY(mu);
    grpc::StatusCode code ABSL_GUARDED_BY(mu) = grpc::StatusCode::OK;  // final_status mapped
    const CallNames names;
    ServerMetrics* const metrics;
    const absl::Time start;
  };

  WatchReactor(CallNames names, ServerMetrics* metrics);
  // Subscribes and starts writing; finishes with the error if the cache refuses.
  void Subscribe(service::SandboxCache* cache, service::TaskPool* fanout,
                 const service::WatchFilter& filter, const std::string& resume_token);
  // Ends a stream that never started (no subscription) with `status`.
  WatchReactor* FinishAtOnce(const absl::Status& status);

  const std::shared_ptr<Shared> shared_;
};

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_WATCH_REACTOR_H_
