#include "sandboxd/watch.h"

#include <utility>

#include "absl/random/random.h"
#include "sandboxd/errors.h"

namespace sandboxd {

SandboxWatch::SandboxWatch(std::unique_ptr<WatchSource> source, std::string resume_token,
                           RetryPolicy retry, int max_reconnect_failures)
    : source_(std::move(source)),
      retry_(retry),
      max_reconnect_failures_(max_reconnect_failures),
      resume_token_(std::move(resume_token)),
      thread_([this] { Run(); }) {}

SandboxWatch::~SandboxWatch() {
  Cancel();
  thread_.join();
}

void SandboxWatch::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

int SandboxWatch::reconnects() const {
  absl::MutexLock lock(&mu_);
  return reconnects_;
}

absl::StatusOr<WatchEvent> SandboxWatch::Next(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || ended_.has_value();
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) {
    return absl::DeadlineExceededError("no watch event within " + absl::FormatDuration(timeout));
  }
  if (queue_.empty()) return *ended_;
  WatchEvent event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

bool SandboxWatch::SleepUnlessCancelled(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&cancelled_), delay);
  return !cancelled_;
}

void SandboxWatch::Run() {
  absl::BitGen random;
  int failures = 0;  // consecutive streams that ended before any message
  absl::Status ended;
  while (true) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) break;
      context_ = &context;
    }
    bool received = false;
    grpc::Status finished;
    absl::Status opened = source_->Open(&context, resume_token_);
    if (opened.ok()) {
      WatchEvent event;
      while (source_->Read(&event)) {
        received = true;
        resume_token_ = event.resume_token;
        absl::MutexLock lock(&mu_);
        auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return cancelled_ || queue_.size() < kQueueCapacity;
        };
        mu_.Await(absl::Condition(&has_room));
        if (cancelled_) {
          context.TryCancel();
          break;
        }
        queue_.push_back(std::move(event));
      }
      finished = source_->Finish();
    }
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
      if (cancelled_) break;
    }
    if (!opened.ok()) {
      ended = opened;
      break;
    }
    // A stream ends only with an error; an OK end is treated as a dropped connection.
    if (!finished.ok() && finished.error_code() != grpc::StatusCode::UNAVAILABLE) {
      ended = StatusFromGrpc(finished);
      break;
    }
    failures = received ? 1 : failures + 1;
    if (max_reconnect_failures_ > 0 && failures > max_reconnect_failures_) {
      ended = StatusFromGrpc(finished);
      if (ended.ok()) ended = absl::UnavailableError("watch stream ended");
      break;
    }
    if (!SleepUnlessCancelled(BackoffDelay(retry_, failures, absl::Uniform(random, 0.0, 1.0)))) {
      break;
    }
    absl::MutexLock lock(&mu_);
    ++reconnects_;
  }
  absl::MutexLock lock(&mu_);
  if (cancelled_) ended = absl::CancelledError("watch cancelled");
  ended_ = ended;
}

}  // namespace sandboxd
