// TaskPool: a small fixed pool of threads running posted tasks. With one thread it is a
// serial queue (FIFO). Used for the watch fan-out (server: taking the next event from a
// subscription, encoding it, starting the write, off the Kubernetes client's I/O thread)
// and for the cache input (CacheFeed: decoding watch events into the cache, in order).
//
// Tasks run in FIFO order per thread, in parallel across threads; a task must not block.
// Thread-safe. The destructor runs every task already posted, then joins.
#ifndef SANDBOXD_SERVICE_TASK_POOL_H_
#define SANDBOXD_SERVICE_TASK_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sandboxd::service {

class TaskPool {
 public:
  explicit TaskPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~TaskPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Tasks posted and not yet started.
  size_t queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return tasks_.size();
  }

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

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_TASK_POOL_H_
