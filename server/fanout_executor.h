// FanoutExecutor: a small fixed pool of threads that runs watch-stream work (taking the
// next event from a subscription, converting it, starting the write) off the Kubernetes
// client's I/O thread. Without it, one change delivered to N streams runs N conversions
// and writes back to back on that thread, stalling every other Kubernetes request and
// watch meanwhile; with it, streams are served in parallel and the I/O thread only queues.
//
// Tasks run in FIFO order per thread, in parallel across threads; a task must not block.
// Thread-safe. The destructor runs every task already posted, then joins.
#ifndef SANDBOXD_SERVER_FANOUT_EXECUTOR_H_
#define SANDBOXD_SERVER_FANOUT_EXECUTOR_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sandboxd::server {

class FanoutExecutor {
 public:
  explicit FanoutExecutor(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~FanoutExecutor() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  FanoutExecutor(const FanoutExecutor&) = delete;
  FanoutExecutor& operator=(const FanoutExecutor&) = delete;

  void Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping and drained
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_FANOUT_EXECUTOR_H_
