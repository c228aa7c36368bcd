// ServerMetrics: sandboxd's Prometheus metrics, served as text at /metrics on their own
// plaintext HTTP listener (Serve). Names follow what operators already use:
//
//   gRPC server (go-grpc-prometheus): grpc_server_started_total,
//     grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code},
//     grpc_server_handling_seconds (histogram, labels without grpc_code),
//     grpc_server_msg_received_total, grpc_server_msg_sent_total. grpc_type is "unary" or
//     "server_stream"; grpc_code is Go's name of the code ("OK", "NotFound", ...).
//   Kubernetes client (client-go): rest_client_requests_total{code,method,host} (every
//     attempt, retries and watches included; code "<error>" without a response),
//     rest_client_request_duration_seconds{verb,host} (histogram; watches excluded),
//     rest_client_rate_limiter_duration_seconds{verb,host} (histogram of client-side
//     throttle waits).
//   sandboxd's own (sandboxd_*): counters of watch streams kept here (RESETs sent,
//     active streams), and the server's state read at scrape time from the State source
//     (sandboxes by phase and error reason, cache synced, reflector counters, queue
//     depths, merged and dropped stream updates, orphaned claims deleted) plus
//     sandboxd_build_info.
// docs/OPERATIONS.md lists every metric and what to alert on.
//
// Prometheus stays inside the .cc: callers see only these small methods.
// Thread-safe: every method may be called from any thread.
#ifndef SANDBOXD_SERVER_SERVER_METRICS_H_
#define SANDBOXD_SERVER_SERVER_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "src/domain/sandbox.h"
#include "src/kube/kube_client_observer.h"

namespace sandboxd::server {

class ServerMetrics {
 public:
  enum class RpcType { kUnary, kServerStream };

  // The server's state at scrape time (counters among them only grow).
  struct State {
    std::map<domain::Phase, size_t> sandboxes_by_phase;
    std::map<domain::ErrorReason, size_t> sandboxes_by_error_reason;  // in ERROR
    bool cache_synced = false;
    int64_t reflector_lists = 0;             // every LIST from the first page, first included
    int64_t reflector_relists_after_410 = 0;
    int64_t reflector_watches = 0;
    int64_t watch_events_applied = 0;        // Kubernetes watch events received by the cache
    size_t cache_input_queue = 0;            // received, not yet applied
    size_t fanout_queue = 0;                 // stream wake-ups waiting for a thread
    size_t stream_queued_events = 0;         // pending in all watch streams
    uint64_t stream_merged_updates = 0;      // queued states replaced by a newer one
    uint64_t stream_dropped_updates = 0;     // queued states dropped by a collapse
    uint64_t orphan_claims_deleted = 0;      // by the claim janitor
  };

  ServerMetrics(std::string version, std::string kube_version);
  ~ServerMetrics();  // stops serving
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Read at every scrape, on the HTTP server's threads; must not block for long. Unset:
  // the state metrics are absent.
  void SetStateSource(std::function<State()> source);

  // Serves /metrics on `address` (host:port; port 0: a free one). Returns the bound port.
  // UNAVAILABLE (LISTEN_FAILED) if it cannot listen. At most once.
  absl::StatusOr<int> Serve(const std::string& address);
  // Stops serving (a scrape in progress completes first); takes up to 2 s (civetweb's
  // accept loop polls for the stop). Idempotent.
  void StopServing();

  // The text exposition of every metric (what /metrics returns).
  std::string TextExposition() const;

  // For CurlKubeClientOptions::observer: feeds the rest_client_* metrics.
  std::shared_ptr<kube::KubeClientObserver> kube_observer() const;

  // ---- gRPC calls (`method` is the bare method name, e.g. "CreateSandbox").
  // A call started and its request message arrived.
  void RpcStarted(RpcType type, absl::string_view method);
  // A response message was sent.
  void MessageSent(RpcType type, absl::string_view method);
  // The call ended with `code` after `latency`.
  void RpcHandled(RpcType type, absl::string_view method, grpc::StatusCode code,
                  absl::Duration latency);

  // ---- Watch streams.
  void StreamSubscribed();  // a stream began receiving events
  void StreamEnded();       // a subscribed stream ended
  // A RESET was sent: as the stream's first message (a resume token that cannot be
  // honoured) or later (the stream's queue collapsed).
  void ResetSent(bool first_message);

  // Go's name of a gRPC code ("OK", "NotFound", ...), as go-grpc-prometheus labels it.
  static const char* CodeName(grpc::StatusCode code);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_SERVER_METRICS_H_
