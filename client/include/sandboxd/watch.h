// SandboxWatch: a watch stream (WatchSandbox or WatchSandboxes) that survives server
// restarts and connection loss.
//
// A background thread reads the stream into a bounded queue; the caller takes events
// with the blocking Next(). When the stream ends with UNAVAILABLE (the server shuts down,
// the connection drops, the server cannot be reached) the thread reconnects after a
// backoff and resumes with the resume_token of the last message it received; messages
// already queued are still delivered, so no event is ever skipped (one may repeat).
//
// The server answers a resume token it cannot honour (another server process issued it,
// it is too old, or the state was incomplete) with a RESET event: the caller must
// discard every state it built from earlier events; the whole state follows as ADDED
// events and one INITIAL_STATE_COMPLETE. Next() passes RESET on like any other event.
//
// Thread safety: Next() from one thread at a time; Cancel() from any thread. The watch
// must not outlive the Client that made it.
#ifndef SANDBOXD_CLIENT_WATCH_H_
#define SANDBOXD_CLIENT_WATCH_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "sandbox/v1/sandbox.pb.h"
#include "sandboxd/retry_policy.h"

namespace sandboxd {

// One message of a watch stream.
struct WatchEvent {
  sandbox::v1::WatchEventType type = sandbox::v1::WATCH_EVENT_TYPE_UNSPECIFIED;
  // Set for ADDED, MODIFIED and DELETED.
  std::optional<sandbox::v1::Sandbox> sandbox;
  std::string resume_token;
};

// Opens and reads one stream of a watch; the Client implements it per RPC.
// Not thread-safe; used by the watch's thread only.
class WatchSource {
 public:
  virtual ~WatchSource() = default;
  // Starts a stream on `context` resuming after `resume_token` ("" = from the start).
  // Errors: what preparing the call fails with (e.g. an unreadable token file).
  virtual absl::Status Open(grpc::ClientContext* context, const std::string& resume_token) = 0;
  // The next message of the open stream; false when the stream has ended.
  virtual bool Read(WatchEvent* event) = 0;
  // Why the open stream ended (after Read returned false).
  virtual grpc::Status Finish() = 0;
};

class SandboxWatch {
 public:
  // Reads from `source` from `resume_token` on; reconnects on UNAVAILABLE with `retry`'s
  // backoff, giving up after `max_reconnect_failures` consecutive failed reconnects
  // (0: never; a reconnect has failed when its stream ends before any message).
  SandboxWatch(std::unique_ptr<WatchSource> source, std::string resume_token,
               RetryPolicy retry, int max_reconnect_failures);
  // Cancels the stream and joins the thread.
  ~SandboxWatch();
  SandboxWatch(const SandboxWatch&) = delete;
  SandboxWatch& operator=(const SandboxWatch&) = delete;

  // The next event, waiting at most `timeout`. Errors: DEADLINE_EXCEEDED when no event
  // came within `timeout` (the watch stays usable); otherwise the error that ended the
  // watch (CANCELLED after Cancel(), or the server's non-retryable error), returned
  // again by every later call.
  absl::StatusOr<WatchEvent> Next(absl::Duration timeout = absl::InfiniteDuration());

  // Ends the watch: a blocked Next() returns CANCELLED once the queue is drained.
  void Cancel();

  // How many times the watch has reconnected so far.
  int reconnects() const;

 private:
  void Run();
  // Waits `delay` unless cancelled first; false when cancelled.
  bool SleepUnlessCancelled(absl::Duration delay);

  static constexpr size_t kQueueCapacity = 1024;
  const std::unique_ptr<WatchSource> source_;
  const RetryPolicy retry_;
  const int max_reconnect_failures_;
  std::string resume_token_;  // of the last message received; the thread's only

  mutable absl::Mutex mu_;
  std::deque<WatchEvent> queue_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> ended_ ABSL_GUARDED_BY(mu_);  // set once the thread is done
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;  // of the open stream
  int reconnects_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // started last
};

}  // namespace sandboxd

#endif  // SANDBOXD_CLIENT_WATCH_H_
