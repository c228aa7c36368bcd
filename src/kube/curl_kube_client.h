// CurlKubeClient: the KubeClient that talks HTTP(S) to a real API server with libcurl.
//
// One I/O thread runs a curl multi loop that owns every request: it throttles them with
// a client-side token bucket (waits are timers on the loop, not sleeping threads; a
// call whose wait for a token would end after its deadline fails at once with
// DEADLINE_EXCEEDED without taking one, and a call cancelled while it waits gives its
// token back),
// sends them over reused connections (HTTP/2 multiplexed when the server offers it,
// TCP keepalive 30 s, connect timeout 30 s), retries 429/5xx with jittered exponential
// backoff honouring Retry-After (up to `max_tries` attempts, never past the call's
// deadline), retries transport errors for GET (and for writes of calls that declare them
// idempotent: CallOptions::idempotent_writes), refreshes credentials once per call
// on a 401, and maps failures through kube_errors (every failure it reports carries
// kube_errors' origin mark). Credentials that need blocking work (an exec plugin run, a
// token file read) are produced on a separate thread, never on the loop; calls wait for
// them (still cancellable and bounded by their deadlines) and share one run. It also carries watch streams (see
// Watch) and timers (RunAfter) on the same loop. Each attempt is logged (spdlog, debug)
// with the request id, method, path, HTTP status and latency; retries, throttle waits over
// 50 ms and APF rejections (X-Kubernetes-PF-FlowSchema-UID) at info/warn.
//
// Precondition: the program called curl_global_init(CURL_GLOBAL_DEFAULT) once before
// creating a client (in main(), before any thread starts), and calls curl_global_cleanup
// only after every client is destroyed.
//
// Lifetime: destroying the client fails every pending call with CANCELLED (on the I/O
// thread) and joins the thread, and waits for a credential plugin still running (at
// most its 30 s timeout). Do not call methods concurrently with destruction;
// calls issued from callbacks during destruction fail with CANCELLED.
//
// Thread-safe: every method may be called from any thread, including from callbacks.
#ifndef SANDBOXD_KUBE_CURL_KUBE_CLIENT_H_
#define SANDBOXD_KUBE_CURL_KUBE_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/kube/backoff.h"
#include "src/kube/credentials.h"
#include "src/kube/kube_client.h"
#include "src/kube/kube_client_observer.h"
#include "src/kube/kube_config.h"
#include "src/kube/kube_request.h"

namespace sandboxd::kube {

struct CurlKubeClientOptions {
  // Client-side throttle. client-go defaults (5 / 10); sandboxd passes higher values.
  // qps <= 0 disables throttling.
  double qps = 5.0;
  int burst = 10;
  // Attempts per call, the first included (429/5xx and GET transport errors).
  int max_tries = 10;
  Backoff::Options backoff;
  // Uniform [0,1) source for backoff jitter; null: a seeded PRNG. Called on the I/O thread.
  std::function<double()> jitter;
  // A 403 that arrives within this time of the end of an outage (the first response after
  // a transport failure) is retried like a 503: a restarted API server refuses requests
  // until its authorizer has synced. Calls that met the outage themselves always retry it.
  // A quota or admission refusal (kube_errors.h, KubeOrigin) is never retried.
  absl::Duration forbidden_grace_after_outage = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(30);
  absl::Duration tcp_keepalive = absl::Seconds(30);
  std::string user_agent = "sandboxd/0.1";
  std::string field_manager = "sandboxd";
  // Overrides MakeCredentialSource(config) when set (tests, custom auth).
  std::shared_ptr<CredentialSource> credentials;
  // Accept an "http://" server (no TLS). Off: Create() refuses it (see Create).
  bool allow_insecure_http = false;
  // Told about every attempt and throttle wait (metrics); null: nobody.
  std::shared_ptr<KubeClientObserver> observer;
};

class CurlKubeClient final : public KubeClient {
 public:
  // Starts the I/O thread. INVALID_ARGUMENT when config.server is empty;
  // FAILED_PRECONDITION, naming the cluster, when it is "http://..." and
  // options.allow_insecure_http is off; INTERNAL when libcurl cannot create a multi handle.
  // Logs a warning naming the cluster when config.insecure_skip_tls_verify is set.
  //
  // TLS trust: with config.ca_pem set, that bundle is the only trust anchor (libcurl's
  // default CA file and CA directory are not consulted); otherwise the system store.
  static absl::StatusOr<std::unique_ptr<CurlKubeClient>> Create(KubeConfig config,
                                                                CurlKubeClientOptions options = {});
  ~CurlKubeClient() override;

  CurlKubeClient(const CurlKubeClient&) = delete;
  CurlKubeClient& operator=(const CurlKubeClient&) = delete;

  void Get(const ObjectRef& ref, const std::string& subresource, const CallOptions& opts,
           ResponseCallback done) override;
  void List(Kind kind, const std::string& ns, const ListOptions& list, const CallOptions& opts,
            ResponseCallback done) override;
  void Create(Kind kind, const std::string& ns, std::string body, const CallOptions& opts,
              ResponseCallback done) override;
  void Patch(const ObjectRef& ref, const std::string& subresource, PatchType type,
             std::string body, const CallOptions& opts, ResponseCallback done) override;
  void Delete(const ObjectRef& ref, const DeleteOptions& del, const CallOptions& opts,
              ResponseCallback done) override;
  void Replace(const ObjectRef& ref, const std::string& subresource, std::string body,
               const CallOptions& opts, ResponseCallback done) override;
  // See KubeClient::Watch. The stream has no overall timeout: TCP keepalive, plus a
  // low-speed cut-off (under 1 byte/s for timeoutSeconds + 30 s -> UNAVAILABLE) when
  // opts.timeout_seconds > 0. A 401 is retried once with refreshed credentials; nothing
  // else is retried. Stopping wakes the I/O loop at once.
  std::unique_ptr<WatchHandle> Watch(Kind kind, const std::string& ns, const WatchOptions& opts,
                                     const CallOptions& call,
                                     std::function<void(WatchEvent)> on_event,
                                     std::function<void(absl::Status)> on_done) override;
  // See KubeClient::RunAfter: a timer on the I/O loop (never a sleeping thread).
  absl::Status RunAfter(absl::Duration delay, std::function<void()> fn) override;

  // The namespace of the loaded context (convenience for main()).
  const std::string& default_namespace() const { return default_namespace_; }

 private:
  class IoLoop;  // defined in curl_kube_client.cc; owns all libcurl state

  CurlKubeClient(std::unique_ptr<IoLoop> loop, std::string ns, std::string field_manager);
  void Submit(absl::StatusOr<HttpRequest> request, const CallOptions& opts,
              ResponseCallback done);

  const std::unique_ptr<IoLoop> loop_;
  const std::string default_namespace_;
  const std::string field_manager_;
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_CURL_KUBE_CLIENT_H_
