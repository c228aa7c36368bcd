#include "src/kube/curl_kube_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"
#include "src/kube/kube_errors.h"
#include "src/kube/rate_limiter.h"
#include "src/kube/watch_decoder.h"

namespace sandboxd::kube {
namespace {

// Idle connections kept for reuse (HTTP/1.1: one per concurrent request at peak).
constexpr long kMaxPooledConnections = 64;

constexpr absl::Duration kLongThrottle = absl::Milliseconds(50);
// How often the loop wakes while calls are pending, to observe cancellation and deadlines
// of calls waiting for a token or a retry.
constexpr absl::Duration kPendingTick = absl::Milliseconds(50);
constexpr absl::Duration kIdleTick = absl::Seconds(1);
constexpr size_t kMaxIdleHandles = 16;
// A watch whose stream carries less than 1 byte/s for timeoutSeconds plus this slack is
// treated as dead (the server should have closed it at timeoutSeconds).
constexpr int64_t kWatchStallSlackSeconds = 30;
// Error bodies of watches (non-2xx) are kept up to this size.
constexpr size_t kMaxWatchErrorBody = 64 << 10;

// Wakes the loop's poll from any thread; a no-op once the loop is gone.
// Thread-safe. Shared (shared_ptr) because watch handles may outlive the client.
class Waker {
 public:
  explicit Waker(CURLM* multi) : multi_(multi) {}
  void Wake() {
    absl::MutexLock lock(&mu_);
    if (multi_ != nullptr) curl_multi_wakeup(multi_);
  }
  void Detach() {
    absl::MutexLock lock(&mu_);
    multi_ = nullptr;
  }

 private:
  absl::Mutex mu_;
  CURLM* multi_ ABSL_GUARDED_BY(mu_);
};

// State shared by a watch's Call (on the loop) and its handle (anywhere). Thread-safe.
struct WatchControl {
  std::atomic<bool> stopped{false};
  std::shared_ptr<Waker> waker;
};

class CurlWatchHandle final : public WatchHandle {
 public:
  explicit CurlWatchHandle(std::shared_ptr<WatchControl> control)
      : control_(std::move(control)) {}
  ~CurlWatchHandle() override { Stop(); }
  void Stop() override {
    if (!control_->stopped.exchange(true)) control_->waker->Wake();
  }

 private:
  const std::shared_ptr<WatchControl> control_;
};

// One KubeClient call, across all its attempts. Owned by the loop.
struct Call {
  HttpRequest req;
  CallOptions opts;
  ResponseCallback done;
  uint64_t id = 0;  // local sequence number, logged next to opts.request_id

  int tries = 0;  // attempts started
  bool refreshed_auth = false;
  bool resent_after_transport_failure = false;  // an attempt failed in transport
  bool token_reserved = false;
  // While the call waits for its throttle token: when the wait ends. A call that gives
  // up before then hands the token back.
  absl::Time throttled_until = absl::InfinitePast();
  absl::Time start_at = absl::InfinitePast();

  // Current attempt.
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string response;
  absl::Time attempt_start;
  char error[CURL_ERROR_SIZE] = {};
  std::atomic<bool>* stopping = nullptr;

  // Watch calls only (is_watch): `done` wraps the caller's on_done.
  bool is_watch = false;
  std::function<void(WatchEvent)> on_event;
  std::shared_ptr<WatchControl> control;  // shared with the CurlWatchHandle
  int64_t low_speed_seconds = 0;          // 0: no stall cut-off
  std::optional<WatchDecoder> decoder;    // fresh per attempt
  std::optional<absl::Status> stream_end;  // set when the write callback ended the stream
  int64_t events = 0;

  bool Cancelled() const {
    return (opts.cancel && opts.cancel->IsCancelled()) ||
           (control && control->stopped.load(std::memory_order_relaxed));
  }
};

size_t WriteWatchBody(Call* call, absl::string_view bytes) {
  long http = 0;
  curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &http);
  if (http < 200 || http > 299) {  // an error body: kept for StatusFromHttpResponse
    if (call->response.size() < kMaxWatchErrorBody) call->response.append(bytes.data(), bytes.size());
    return bytes.size();
  }
  absl::Status s = call->decoder->Feed(bytes, [call](WatchEvent event) {
    if (call->Cancelled()) return false;
    ++call->events;
    call->on_event(std::move(event));
    return !call->Cancelled();  // Stop() from inside on_event: no further event
  });
  if (s.ok()) return bytes.size();
  call->stream_end = std::move(s);
  return 0;  // != bytes.size(): libcurl ends the transfer with CURLE_WRITE_ERROR
}

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  Call* call = static_cast<Call*>(user);
  if (call->is_watch) return WriteWatchBody(call, absl::string_view(data, size * n));
  call->response.append(data, size * n);
  return size * n;
}

// Sets call.req, or arranges for an invalid request to fail on the I/O thread.
void SetRequest(Call& call, absl::StatusOr<HttpRequest> request) {
  if (request.ok()) {
    call.req = *std::move(request);
    return;
  }
  // Invalid arguments still fail on the I/O thread, never on the caller's stack.
  absl::Status error = request.status();
  call.req.method = "INVALID";
  call.done = [error, done = std::move(call.done)](absl::StatusOr<std::string>) { done(error); };
  call.opts.deadline = absl::InfinitePast();  // fails at once in StartReady
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const Call* call = static_cast<const Call*>(user);
  return (call->Cancelled() || call->stopping->load(std::memory_order_relaxed)) ? 1 : 0;
}

std::string HeaderValue(CURL* easy, const char* name) {
  curl_header* h = nullptr;
  if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == nullptr) {
    return "";
  }
  return h->value;
}

// The host:port of `server` ("https://host:port/prefix" -> "host:port"), as client-go's
// metrics label it.
std::string HostOf(absl::string_view server) {
  if (size_t scheme = server.find("://"); scheme != absl::string_view::npos) {
    server.remove_prefix(scheme + 3);
  }
  return std::string(server.substr(0, server.find('/')));
}

}  // namespace

// Owns the multi handle, the I/O thread and every in-flight call.
// Thread-safe entry points: Submit() and the destructor; everything else runs on the
// I/O thread only (the "loop state" below is touched by no other thread).
class CurlKubeClient::IoLoop {
 public:
  IoLoop(KubeConfig config, CurlKubeClientOptions options, CURLM* multi)
      : config_(std::move(config)),
        options_(std::move(options)),
        credentials_(options_.credentials ? options_.credentials
                                          : std::shared_ptr<CredentialSource>(
                                                MakeCredentialSource(config_))),
        multi_(multi),
        waker_(std::make_shared<Waker>(multi)),
        host_(HostOf(config_.server)),
        limiter_(options_.qps, options_.burst, absl::Now()),
        backoff_(options_.backoff, options_.jitter) {
    // HTTP/1.1 over a pool of kept-alive connections, one transfer per connection: with
    // libcurl 7.88 (bookworm), multiplexed HTTP/2 transfers were seen to stall mid-body
    // under concurrency (LIST responses stopping at ~20 KB until the deadline), and a
    // stalled watch would silently freeze the cache. See docs/benchmarks.md.
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, kMaxPooledConnections);
    thread_ = std::thread([this] { Run(); });
  }

  ~IoLoop() {
    Stop();
    // A credential refresh still running (at most the exec plugin's 30 s timeout) uses
    // mu_ and multi_: wait for it before they go.
    if (refresher_.joinable()) refresher_.join();
    waker_->Detach();
    for (CURL* e : idle_) curl_easy_cleanup(e);
    curl_multi_cleanup(multi_);
  }

  // Fails every pending call with CANCELLED and joins the I/O thread. Idempotent; must not
  // be called from the I/O thread.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_requested_ = true;
    }
    stopping_.store(true, std::memory_order_relaxed);
    curl_multi_wakeup(multi_);
    if (thread_.joinable()) thread_.join();
  }

  void Submit(std::unique_ptr<Call> call) {
    std::unique_ptr<Call> refused;  // the loop is gone: only from callbacks run during shutdown
    {
      absl::MutexLock lock(&mu_);
      if (closed_) {
        refused = std::move(call);
      } else {
        call->id = ++next_id_;
        incoming_.push_back(std::move(call));
      }
    }
    if (refused != nullptr) {
      refused->done(StatusFromTransport(TransportFailure::kCancelled, "kube client is shut down"));
      return;
    }
    curl_multi_wakeup(multi_);
  }

  // Queues `fn` to run on the loop at now + delay. CANCELLED once the loop has shut down.
  absl::Status RunAfter(absl::Duration delay, std::function<void()> fn) {
    {
      absl::MutexLock lock(&mu_);
      if (!closed_) {
        incoming_timers_.emplace_back(absl::Now() + delay, std::move(fn));
        fn = nullptr;
      }
    }
    if (fn) return absl::CancelledError("kube client is shut down");
    curl_multi_wakeup(multi_);
    return absl::OkStatus();
  }

  std::shared_ptr<WatchControl> NewWatchControl() {
    auto control = std::make_shared<WatchControl>();
    control->waker = waker_;
    return control;
  }

 private:
  void Run() {
    while (true) {
      TakeIncoming();
      RunDueTimers(absl::Now());
      {
        absl::MutexLock lock(&mu_);
        if (stop_requested_) break;
      }
      ResumeAwaitingCredentials(absl::Now());
      StartReady(absl::Now());
      int running = 0;
      curl_multi_perform(multi_, &running);
      ReapFinished();
      int timeout_ms = NextTimeoutMs(absl::Now());
      curl_multi_poll(multi_, nullptr, 0, timeout_ms, nullptr);
      curl_multi_perform(multi_, &running);
      ReapFinished();
    }
    Shutdown();
  }

  void TakeIncoming() {
    std::vector<std::unique_ptr<Call>> batch;
    std::vector<std::pair<absl::Time, std::function<void()>>> timers;
    {
      absl::MutexLock lock(&mu_);
      batch.swap(incoming_);
      timers.swap(incoming_timers_);
    }
    for (auto& c : batch) waiting_.push_back(std::move(c));
    for (auto& t : timers) timers_.emplace(t.first, std::move(t.second));
  }

  // Credentials that need blocking work (an exec plugin run, a token file read) are
  // fetched by CredentialSource::Get() on a separate thread, never on the loop; calls
  // that need them wait in awaiting_credentials_ and are sent when the result arrives.
  void StartCredentialRefresh() {
    if (refreshing_) return;
    refreshing_ = true;
    if (refresher_.joinable()) refresher_.join();  // the previous one has posted its result
    refresher_ = std::thread([this, source = credentials_] {
      absl::StatusOr<Credentials> creds = source->Get(absl::Now());
      {
        absl::MutexLock lock(&mu_);
        refreshed_ = std::move(creds);
      }
      curl_multi_wakeup(multi_);
    });
  }

  // Sends the calls that waited for credentials, once they have arrived.
  void ResumeAwaitingCredentials(absl::Time now) {
    std::optional<absl::StatusOr<Credentials>> creds;
    {
      absl::MutexLock lock(&mu_);
      creds.swap(refreshed_);
    }
    if (creds.has_value()) {
      refreshing_ = false;
      std::vector<std::unique_ptr<Call>> calls;
      calls.swap(awaiting_credentials_);
      for (auto& call : calls) {
        if (!GaveUp(call, now)) StartAttemptWith(std::move(call), *creds, now);
      }
      return;
    }
    std::vector<std::unique_ptr<Call>> still;
    for (auto& call : awaiting_credentials_) {
      if (!GaveUp(call, now)) still.push_back(std::move(call));
    }
    awaiting_credentials_.swap(still);
  }

  // Finishes a call that waited for credentials and was cancelled or ran out of time;
  // true if it did (`call` is then moved from).
  bool GaveUp(std::unique_ptr<Call>& call, absl::Time now) {
    if (call->Cancelled()) {
      Finish(std::move(call), StatusFromTransport(TransportFailure::kCancelled,
                                                  "cancelled while waiting for credentials"));
      return true;
    }
    if (now >= call->opts.deadline) {
      Finish(std::move(call),
             StatusFromTransport(TransportFailure::kDeadlineExceeded,
                                 "deadline passed while waiting for credentials"));
      return true;
    }
    return false;
  }

  // Runs every timer due at `now`. Timers added by them arrive via incoming_timers_.
  void RunDueTimers(absl::Time now) {
    std::vector<std::function<void()>> due;
    while (!timers_.empty() && timers_.begin()->first <= now) {
      due.push_back(std::move(timers_.begin()->second));
      timers_.erase(timers_.begin());
    }
    for (auto& fn : due) fn();
  }

  // Fails every call with CANCELLED, including calls issued by those callbacks. Pending
  // timers are destroyed without running.
  void Shutdown() {
    timers_.clear();
    while (true) {
      for (auto& [easy, call] : active_) {
        curl_multi_remove_handle(multi_, easy);
        ReleaseEasy(*call);
        waiting_.push_back(std::move(call));
      }
      active_.clear();
      for (auto& call : awaiting_credentials_) waiting_.push_back(std::move(call));
      awaiting_credentials_.clear();
      std::vector<std::unique_ptr<Call>> calls;
      calls.swap(waiting_);
      for (auto& c : calls) {
        Finish(std::move(c),
               StatusFromTransport(TransportFailure::kCancelled, "kube client is shut down"));
      }
      absl::MutexLock lock(&mu_);
      if (incoming_.empty()) {
        closed_ = true;
        return;
      }
      waiting_.swap(incoming_);
    }
  }

  void StartReady(absl::Time now) {
    std::vector<std::unique_ptr<Call>> still_waiting;
    std::vector<std::unique_ptr<Call>> calls;
    calls.swap(waiting_);
    for (auto& call : calls) {
      if (call->Cancelled()) {
        ReturnThrottleToken(*call, now);
        Finish(std::move(call), StatusFromTransport(TransportFailure::kCancelled,
                                                    "cancelled before the request was sent"));
        continue;
      }
      if (now >= call->opts.deadline) {
        ReturnThrottleToken(*call, now);
        Finish(std::move(call), StatusFromTransport(TransportFailure::kDeadlineExceeded,
                                                    "deadline passed before the request was sent"));
        continue;
      }
      if (now < call->start_at) {
        still_waiting.push_back(std::move(call));
        continue;
      }
      if (!call->token_reserved) {
        std::optional<absl::Duration> wait = limiter_.ReserveBefore(now, call->opts.deadline);
        if (!wait.has_value()) {  // no token taken: the wait would outlast the deadline
          spdlog::info("kube request_id={} #{} {} {}: client-side throttling would wait past "
                       "the deadline",
                       call->opts.request_id, call->id, call->req.method, call->req.path);
          Finish(std::move(call),
                 StatusFromTransport(TransportFailure::kDeadlineExceeded,
                                     "client-side throttling: no request slot before the "
                                     "deadline"));
          continue;
        }
        call->token_reserved = true;
        if (options_.observer) options_.observer->Throttled(call->req.method, host_, *wait);
        if (*wait > absl::ZeroDuration()) {
          if (*wait > kLongThrottle) {
            spdlog::info("kube request_id={} #{} {} {}: client-side throttling, waiting {}",
                         call->opts.request_id, call->id, call->req.method, call->req.path,
                         absl::FormatDuration(*wait));
          }
          call->start_at = now + *wait;
          call->throttled_until = call->start_at;
          still_waiting.push_back(std::move(call));
          continue;
        }
      }
      call->throttled_until = absl::InfinitePast();
      StartAttempt(std::move(call), now);
    }
    // Calls may have been added by callbacks run above (via Submit -> incoming_), never
    // directly to waiting_, so the swap-back loses nothing.
    for (auto& c : still_waiting) waiting_.push_back(std::move(c));
  }

  // A call that gives up while waiting for its throttle token hands it back.
  void ReturnThrottleToken(Call& call, absl::Time now) {
    if (call.token_reserved && now < call.throttled_until) limiter_.Unreserve(now);
    call.throttled_until = absl::InfinitePast();
  }

  void StartAttempt(std::unique_ptr<Call> call, absl::Time now) {
    std::optional<absl::StatusOr<Credentials>> cached = credentials_->Cached(now);
    if (!cached.has_value()) {
      awaiting_credentials_.push_back(std::move(call));
      StartCredentialRefresh();
      return;
    }
    StartAttemptWith(std::move(call), *cached, now);
  }

  void StartAttemptWith(std::unique_ptr<Call> call, const absl::StatusOr<Credentials>& creds,
                        absl::Time now) {
    if (!creds.ok()) {
      Finish(std::move(call), creds.status());
      return;
    }
    CURL* easy = TakeEasy();
    if (easy == nullptr) {
      Finish(std::move(call), absl::InternalError("curl_easy_init failed"));
      return;
    }
    Call* c = call.get();
    c->easy = easy;
    c->response.clear();
    c->error[0] = '\0';
    c->attempt_start = now;
    c->stopping = &stopping_;
    ++c->tries;

    std::string url = config_.server + c->req.path;
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, c->error);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &WriteBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
    long keepalive = static_cast<long>(absl::ToInt64Seconds(options_.tcp_keepalive));
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, keepalive);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, keepalive);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
    if (c->is_watch) {
      // No CURLOPT_TIMEOUT: the stream lives until timeoutSeconds; keepalive finds dead
      // peers and the low-speed cut-off finds a stream the server forgot to close.
      c->decoder.emplace();
      c->stream_end.reset();
      if (c->low_speed_seconds > 0) {
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, static_cast<long>(c->low_speed_seconds));
      }
    } else if (c->opts.deadline != absl::InfiniteFuture()) {
      int64_t left = std::max<int64_t>(1, absl::ToInt64Milliseconds(c->opts.deadline - now));
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(left));
    }

    // TLS: certificates stay in memory (blobs are copied by libcurl). A configured CA is
    // the only trust anchor: CAINFO_BLOB replaces the default CA file, but libcurl built
    // with a default CA directory (Debian: --with-ca-path=/etc/ssl/certs) would still
    // consult that directory, so it is cleared too.
    if (!config_.ca_pem.empty()) {
      curl_blob ca{const_cast<char*>(config_.ca_pem.data()), config_.ca_pem.size(),
                   CURL_BLOB_COPY};
      curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca);
      curl_easy_setopt(easy, CURLOPT_CAINFO, nullptr);
      curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
    }
    if (config_.insecure_skip_tls_verify) {
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    // A changed client certificate never matches a cached connection (libcurl compares
    // the TLS config, blobs included), so rotation opens new connections.
    if (!creds->client_cert_pem.empty()) {
      curl_blob cert{const_cast<char*>(creds->client_cert_pem.data()),
                     creds->client_cert_pem.size(), CURL_BLOB_COPY};
      curl_blob key{const_cast<char*>(creds->client_key_pem.data()), creds->client_key_pem.size(),
                    CURL_BLOB_COPY};
      curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key);
      curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    }

    c->headers = curl_slist_append(c->headers, "Accept: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    if (!creds->bearer_token.empty()) {
      std::string auth = absl::StrCat("Authorization: Bearer ", creds->bearer_token);
      c->headers = curl_slist_append(c->headers, auth.c_str());
    }
    if (!c->req.content_type.empty()) {
      std::string ct = absl::StrCat("Content-Type: ", c->req.content_type);
      c->headers = curl_slist_append(c->headers, ct.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, c->headers);

    if (c->req.method == "GET") {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else {
      if (c->req.method != "POST") {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, c->req.method.c_str());
      }
      if (c->req.method == "POST" || !c->req.body.empty()) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, c->req.body.data());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(c->req.body.size()));
      }
    }

    CURLMcode mc = curl_multi_add_handle(multi_, easy);
    if (mc != CURLM_OK) {
      ReleaseEasy(*c);
      Finish(std::move(call), absl::InternalError(absl::StrCat("curl_multi_add_handle: ",
                                                               curl_multi_strerror(mc))));
      return;
    }
    active_.emplace(easy, std::move(call));
  }

  void ReapFinished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode result = msg->data.result;
      auto it = active_.find(easy);
      if (it == active_.end()) continue;
      std::unique_ptr<Call> call = std::move(it->second);
      active_.erase(it);
      curl_multi_remove_handle(multi_, easy);
      OnAttemptDone(std::move(call), result);
    }
    // Cancellation observed on the loop too, so idle transfers stop promptly.
    std::vector<CURL*> cancelled;
    for (auto& [easy, call] : active_) {
      if (call->Cancelled()) cancelled.push_back(easy);
    }
    for (CURL* easy : cancelled) {
      auto it = active_.find(easy);
      std::unique_ptr<Call> call = std::move(it->second);
      active_.erase(it);
      curl_multi_remove_handle(multi_, easy);
      LogAttempt(*call, 0, "cancelled");
      ReleaseEasy(*call);
      Observe(*call, 0, absl::Now());
      Finish(std::move(call),
             StatusFromTransport(TransportFailure::kCancelled, "cancelled by the caller"));
    }
  }

  void OnAttemptDone(std::unique_ptr<Call> call, CURLcode result) {
    absl::Time now = absl::Now();
    long http = 0;
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &http);
    std::string retry_after = HeaderValue(call->easy, "Retry-After");
    std::string flow_schema = HeaderValue(call->easy, "X-Kubernetes-PF-FlowSchema-UID");
    std::string curl_error = call->error[0] != '\0' ? call->error : curl_easy_strerror(result);
    ReleaseEasy(*call);
    Observe(*call, result == CURLE_OK ? static_cast<int>(http) : 0, now);
    // The API server's reachability, as every call (watches too) sees it: the first
    // response after a transport failure ends an outage. A call that was cancelled or
    // timed out, and a watch that this client ended itself (its write callback stopped
    // the transfer: an ERROR event, a malformed line, its consumer stopping it), say
    // nothing about the server.
    const bool ended_here = call->is_watch && call->stream_end.has_value();
    if (result == CURLE_OK) {
      if (unreachable_) recovered_at_ = now;
      unreachable_ = false;
    } else if (result != CURLE_ABORTED_BY_CALLBACK && result != CURLE_OPERATION_TIMEDOUT &&
               !ended_here) {
      unreachable_ = true;
    }
    if (call->is_watch) {
      OnWatchAttemptDone(std::move(call), result, http, curl_error, now);
      return;
    }

    if (result != CURLE_OK) {
      LogAttempt(*call, 0, curl_error);
      if (result == CURLE_ABORTED_BY_CALLBACK) {
        Finish(std::move(call),
               StatusFromTransport(TransportFailure::kCancelled,
                                   stopping_.load() ? "kube client is shut down"
                                                    : "cancelled by the caller"));
        return;
      }
      if (result == CURLE_OPERATION_TIMEDOUT &&
          now + absl::Milliseconds(5) >= call->opts.deadline) {
        // Built before `call` is moved: the order in which arguments are evaluated is
        // unspecified (clang goes left to right).
        absl::Status late = StatusFromTransport(TransportFailure::kDeadlineExceeded,
                                                absl::StrCat(call->req.method, " ", call->req.path,
                                                             ": deadline exceeded: ", curl_error));
        Finish(std::move(call), std::move(late));
        return;
      }
      absl::Status status = StatusFromTransport(
          TransportFailure::kConnection,
          absl::StrCat(call->req.method, " ", call->req.path, ": transport: ", curl_error));
      // A write is repeated after a transport error only if the caller says it is
      // idempotent: the server may have applied it.
      if (call->req.method == "GET" || call->opts.idempotent_writes) {
        call->resent_after_transport_failure = true;
        MaybeRetry(std::move(call), std::move(status), std::nullopt, now);
      } else {
        Finish(std::move(call), std::move(status));
      }
      return;
    }

    LogAttempt(*call, http, "");
    if (http >= 200 && http < 300) {
      std::string body = std::move(call->response);
      Finish(std::move(call), std::move(body));
      return;
    }
    if (http == 404 && call->req.method == "DELETE" && call->resent_after_transport_failure) {
      Finish(std::move(call), std::string());  // an earlier attempt deleted it
      return;
    }
    absl::Status status = StatusFromHttpResponse(static_cast<int>(http), call->response);
    if (RetryWithFreshCredentials(call, http, now)) return;
    // An API server that has just come back refuses with 403 until its authorizer has
    // synced: a call that met a transport failure (the outage), and any call within
    // options_.forbidden_grace_after_outage of the end of one, retries a 403 as well, and
    // if it runs out of tries or time it fails UNAVAILABLE (transient), not
    // PERMISSION_DENIED. A quota or admission refusal is final: the request passed
    // authorization to get there.
    if (http == 403 && OriginOf(status) == KubeOrigin::kApi &&
        (call->resent_after_transport_failure ||
         now < recovered_at_ + options_.forbidden_grace_after_outage)) {
      absl::Status unavailable = absl::UnavailableError(absl::StrCat(
          "refused right after the API server was unreachable (its authorizer may not have "
          "synced yet): ",
          status.message()));
      status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
        unavailable.SetPayload(url, payload);
      });
      MaybeRetry(std::move(call), std::move(unavailable), std::nullopt, now);
      return;
    }
    if (http == 429 || (http >= 500 && http <= 599)) {
      if (http == 429 || !flow_schema.empty()) {
        spdlog::warn("kube request_id={} #{} {} {}: HTTP {} (flow schema uid '{}')",
                     call->opts.request_id, call->id, call->req.method, call->req.path, http,
                     flow_schema);
      }
      MaybeRetry(std::move(call), std::move(status), ParseRetryAfter(retry_after), now);
      return;
    }
    Finish(std::move(call), std::move(status));
  }

  // After a first 401: drops the cached credentials (token file re-read, exec plugin
  // re-run) and queues the call again; true if it did (`call` is then moved from).
  bool RetryWithFreshCredentials(std::unique_ptr<Call>& call, long http, absl::Time now) {
    if (http != 401 || call->refreshed_auth || !credentials_->Invalidate()) return false;
    call->refreshed_auth = true;
    call->token_reserved = false;
    call->start_at = now;
    spdlog::info("kube request_id={} #{}: 401, refreshing credentials and retrying",
                 call->opts.request_id, call->id);
    waiting_.push_back(std::move(call));
    return true;
  }

  // A watch ends here: never retried, except once after a 401 with fresh credentials
  // (no event can have been delivered then).
  void OnWatchAttemptDone(std::unique_ptr<Call> call, CURLcode result, long http,
                          const std::string& curl_error, absl::Time now) {
    std::string what = absl::StrCat("watch ", call->req.path);
    if (call->Cancelled() || result == CURLE_ABORTED_BY_CALLBACK) {
      LogAttempt(*call, http, "cancelled");
      FinishWatch(std::move(call),
                  StatusFromTransport(TransportFailure::kCancelled,
                                      absl::StrCat(what, stopping_.load()
                                                             ? ": kube client is shut down"
                                                             : ": stopped by the caller")));
      return;
    }
    if (call->stream_end.has_value()) {
      absl::Status end = *std::move(call->stream_end);
      LogAttempt(*call, http, end.ToString());
      FinishWatch(std::move(call), std::move(end));
      return;
    }
    if (result != CURLE_OK) {
      LogAttempt(*call, 0, curl_error);
      FinishWatch(std::move(call),
                  StatusFromTransport(TransportFailure::kConnection,
                                      absl::StrCat(what, ": transport: ", curl_error)));
      return;
    }
    LogAttempt(*call, http, "");
    if (http >= 200 && http < 300) {
      Call* c = call.get();
      absl::Status end = c->decoder->Finish([c](WatchEvent event) {
        if (c->Cancelled()) return false;
        ++c->events;
        c->on_event(std::move(event));
        return true;
      });
      spdlog::debug("kube request_id={} #{} {}: server ended the stream after {} events",
                    c->opts.request_id, c->id, what, c->events);
      FinishWatch(std::move(call), std::move(end));
      return;
    }
    absl::Status status = StatusFromHttpResponse(static_cast<int>(http), call->response);
    if (RetryWithFreshCredentials(call, http, now)) return;
    FinishWatch(std::move(call), std::move(status));
  }

  void FinishWatch(std::unique_ptr<Call> call, absl::Status status) {
    if (status.ok()) {
      Finish(std::move(call), std::string());
    } else {
      Finish(std::move(call), std::move(status));
    }
  }

  void MaybeRetry(std::unique_ptr<Call> call, absl::Status status,
                  std::optional<absl::Duration> retry_after, absl::Time now) {
    if (call->tries >= options_.max_tries) {
      spdlog::warn("kube request_id={} #{}: giving up after {} tries: {}", call->opts.request_id,
                   call->id, call->tries, status.ToString());
      Finish(std::move(call), std::move(status));
      return;
    }
    absl::Duration wait = RetryWait(backoff_.Delay(call->tries - 1), retry_after);
    if (now + wait >= call->opts.deadline) {
      spdlog::warn("kube request_id={} #{}: not retrying, next try in {} is past the deadline: {}",
                   call->opts.request_id, call->id, absl::FormatDuration(wait), status.ToString());
      Finish(std::move(call), std::move(status));
      return;
    }
    spdlog::info("kube request_id={} #{} {} {}: retry {} in {} after: {}", call->opts.request_id,
                 call->id, call->req.method, call->req.path, call->tries,
                 absl::FormatDuration(wait), status.ToString());
    call->start_at = now + wait;
    call->token_reserved = false;
    waiting_.push_back(std::move(call));
  }

  void Observe(const Call& call, int http, absl::Time now) {
    if (options_.observer) {
      options_.observer->AttemptDone(call.req.method, host_, http, now - call.attempt_start,
                                     call.is_watch);
    }
  }

  void LogAttempt(const Call& call, long http, const std::string& error) {
    int64_t ms = absl::ToInt64Milliseconds(absl::Now() - call.attempt_start);
    if (error.empty()) {
      spdlog::debug("kube request_id={} #{} {} {} -> {} in {} ms (try {})", call.opts.request_id,
                    call.id, call.req.method, call.req.path, http, ms, call.tries);
    } else {
      spdlog::info("kube request_id={} #{} {} {} -> error after {} ms (try {}): {}",
                   call.opts.request_id, call.id, call.req.method, call.req.path, ms, call.tries,
                   error);
    }
  }

  // Every failure the client reports is marked as Kubernetes-originated (credential
  // errors and malformed streams included), so that its detail stays in the log.
  void Finish(std::unique_ptr<Call> call, absl::StatusOr<std::string> result) {
    if (!result.ok()) result = WithOrigin(result.status());
    ResponseCallback done = std::move(call->done);
    call.reset();
    done(std::move(result));
  }

  int NextTimeoutMs(absl::Time now) {
    // Waiting calls, and transfers with a caller's CancellationToken, are polled; watch
    // stops and shutdown wake the loop explicitly; libcurl reports its own timeouts.
    bool poll = !waiting_.empty() || !awaiting_credentials_.empty();
    for (const auto& [easy, c] : active_) poll = poll || c->opts.cancel != nullptr;
    absl::Duration timeout = poll ? kPendingTick : kIdleTick;
    if (!timers_.empty()) timeout = std::min(timeout, timers_.begin()->first - now);
    for (const auto& c : waiting_) {
      timeout = std::min(timeout, c->start_at - now);
      timeout = std::min(timeout, c->opts.deadline - now);
    }
    long curl_ms = -1;
    curl_multi_timeout(multi_, &curl_ms);
    int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::Ceil(
                                          std::max(timeout, absl::ZeroDuration()),
                                          absl::Milliseconds(1))));
    if (curl_ms >= 0) ms = std::min<int64_t>(ms, curl_ms);
    return static_cast<int>(ms);
  }

  CURL* TakeEasy() {
    if (idle_.empty()) return curl_easy_init();
    CURL* e = idle_.back();
    idle_.pop_back();
    curl_easy_reset(e);
    return e;
  }

  void ReleaseEasy(Call& call) {
    if (call.easy != nullptr) {
      if (idle_.size() < kMaxIdleHandles) {
        idle_.push_back(call.easy);
      } else {
        curl_easy_cleanup(call.easy);
      }
      call.easy = nullptr;
    }
    curl_slist_free_all(call.headers);
    call.headers = nullptr;
  }

  const KubeConfig config_;
  const CurlKubeClientOptions options_;
  const std::shared_ptr<CredentialSource> credentials_;  // shared: may be injected
  CURLM* const multi_;
  const std::shared_ptr<Waker> waker_;  // shared with watch handles
  std::atomic<bool> stopping_{false};

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Call>> incoming_ ABSL_GUARDED_BY(mu_);
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<absl::Time, std::function<void()>>> incoming_timers_ ABSL_GUARDED_BY(mu_);
  // The result of the credential refresh, posted by refresher_.
  std::optional<absl::StatusOr<Credentials>> refreshed_ ABSL_GUARDED_BY(mu_);

  const std::string host_;  // of config_.server, for the observer

  // Loop state: I/O thread only.
  TokenBucket limiter_;
  Backoff backoff_;
  std::vector<std::unique_ptr<Call>> waiting_;  // throttled or backing off
  std::unordered_map<CURL*, std::unique_ptr<Call>> active_;
  std::multimap<absl::Time, std::function<void()>> timers_;
  std::vector<CURL*> idle_;
  std::vector<std::unique_ptr<Call>> awaiting_credentials_;  // sent when credentials arrive
  bool refreshing_ = false;  // refresher_ runs CredentialSource::Get()
  bool unreachable_ = false;                        // the last attempt to end failed in transport
  absl::Time recovered_at_ = absl::InfinitePast();  // the end of the last outage
  std::thread refresher_;    // started and joined on the I/O thread, or in ~IoLoop

  std::thread thread_;  // last: started once everything above is initialised
};

absl::StatusOr<std::unique_ptr<CurlKubeClient>> CurlKubeClient::Create(
    KubeConfig config, CurlKubeClientOptions options) {
  if (config.server.empty()) return absl::InvalidArgumentError("kube config has no server");
  const std::string cluster = config.cluster.empty() ? config.server : config.cluster;
  if (absl::StartsWith(config.server, "http://") && !options.allow_insecure_http) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Kubernetes cluster \"", cluster, "\": the API server ", config.server,
        " is plain http: refused, credentials and sandbox data would cross the network "
        "unencrypted; use https, or allow it explicitly (kube.allow_http, --kube_allow_http)"));
  }
  if (absl::StartsWith(config.server, "http://")) {
    spdlog::warn("Kubernetes cluster \"{}\": talking plain http to {} (allowed explicitly): "
                 "credentials and data cross the network unencrypted",
                 cluster, config.server);
  }
  if (config.insecure_skip_tls_verify) {
    spdlog::warn("Kubernetes cluster \"{}\": insecure-skip-tls-verify is set: the API "
                 "server's certificate is NOT verified, anyone on the path can impersonate it",
                 cluster);
  }
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::InternalError("curl_multi_init failed");
  std::string ns = config.ns;
  std::string field_manager = options.field_manager;
  spdlog::info("kube client: server {} (from {}), namespace {}, qps {}, burst {}", config.server,
               config.source, ns, options.qps, options.burst);
  auto loop = std::make_unique<IoLoop>(std::move(config), std::move(options), multi);
  return std::unique_ptr<CurlKubeClient>(
      new CurlKubeClient(std::move(loop), std::move(ns), std::move(field_manager)));
}

CurlKubeClient::CurlKubeClient(std::unique_ptr<IoLoop> loop, std::string ns,
                               std::string field_manager)
    : loop_(std::move(loop)),
      default_namespace_(std::move(ns)),
      field_manager_(std::move(field_manager)) {}

// Stops the loop while this object is still whole, so callbacks run during shutdown may
// still call its methods (they fail with CANCELLED).
CurlKubeClient::~CurlKubeClient() { loop_->Stop(); }

void CurlKubeClient::Submit(absl::StatusOr<HttpRequest> request, const CallOptions& opts,
                            ResponseCallback done) {
  auto call = std::make_unique<Call>();
  call->opts = opts;
  call->done = std::move(done);
  SetRequest(*call, std::move(request));
  loop_->Submit(std::move(call));
}

std::unique_ptr<WatchHandle> CurlKubeClient::Watch(Kind kind, const std::string& ns,
                                                   const WatchOptions& opts,
                                                   const CallOptions& call_opts,
                                                   std::function<void(WatchEvent)> on_event,
                                                   std::function<void(absl::Status)> on_done) {
  auto call = std::make_unique<Call>();
  call->opts = call_opts;
  call->is_watch = true;
  call->on_event = std::move(on_event);
  call->done = [on_done = std::move(on_done)](absl::StatusOr<std::string> result) {
    on_done(result.status());
  };
  call->low_speed_seconds =
      opts.timeout_seconds > 0 ? opts.timeout_seconds + kWatchStallSlackSeconds : 0;
  std::shared_ptr<WatchControl> control = loop_->NewWatchControl();
  call->control = control;
  SetRequest(*call, BuildWatch(kind, ns, opts));
  loop_->Submit(std::move(call));
  return std::make_unique<CurlWatchHandle>(std::move(control));
}

absl::Status CurlKubeClient::RunAfter(absl::Duration delay, std::function<void()> fn) {
  return loop_->RunAfter(delay, std::move(fn));
}

void CurlKubeClient::Get(const ObjectRef& ref, const std::string& subresource,
                         const CallOptions& opts, ResponseCallback done) {
  Submit(BuildGet(ref, subresource), opts, std::move(done));
}

void CurlKubeClient::List(Kind kind, const std::string& ns, const ListOptions& list,
                          const CallOptions& opts, ResponseCallback done) {
  Submit(BuildList(kind, ns, list), opts, std::move(done));
}

void CurlKubeClient::Create(Kind kind, const std::string& ns, std::string body,
                            const CallOptions& opts, ResponseCallback done) {
  Submit(BuildCreate(kind, ns, std::move(body), field_manager_, opts.dry_run), opts,
         std::move(done));
}

void CurlKubeClient::Patch(const ObjectRef& ref, const std::string& subresource, PatchType type,
                           std::string body, const CallOptions& opts, ResponseCallback done) {
  Submit(BuildPatch(ref, subresource, type, std::move(body), field_manager_, opts.dry_run), opts,
         std::move(done));
}

void CurlKubeClient::Delete(const ObjectRef& ref, const DeleteOptions& del,
                            const CallOptions& opts, ResponseCallback done) {
  Submit(BuildDelete(ref, del, opts.dry_run), opts, std::move(done));
}

void CurlKubeClient::Replace(const ObjectRef& ref, const std::string& subresource,
                             std::string body, const CallOptions& opts, ResponseCallback done) {
  Submit(BuildReplace(ref, subresource, std::move(body), field_manager_, opts.dry_run), opts,
         std::move(done));
}

}  // namespace sandboxd::kube
