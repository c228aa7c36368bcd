// Barrier: joins parallel asynchronous calls. Runs `then` after `count` calls of
// Arrive(), on the thread of the last one.
//
// Thread-safe.
#ifndef SANDBOXD_SERVICE_BARRIER_H_
#define SANDBOXD_SERVICE_BARRIER_H_

#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sandboxd::service {

class Barrier {
 public:
  Barrier(int count, std::function<void()> then) : remaining_(count), then_(std::move(then)) {}
  void Arrive() {
    {
      absl::MutexLock lock(&mu_);
      if (--remaining_ > 0) return;
    }
    then_();
  }

 private:
  absl::Mutex mu_;
  int remaining_ ABSL_GUARDED_BY(mu_);
  const std::function<void()> then_;
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_BARRIER_H_
