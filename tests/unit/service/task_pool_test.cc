#include "src/service/task_pool.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sandboxd::service {
namespace {

TEST(TaskPoolTest, OneThreadRunsTasksInPostingOrder) {
  std::vector<int> order;  // touched only by the pool's one thread, read after the join
  {
    TaskPool pool(1);
    for (int i = 0; i < 1000; ++i) pool.Post([&order, i]() { order.push_back(i); });
  }
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(TaskPoolTest, DestructorRunsEveryPostedTaskBeforeJoining) {
  std::atomic<int> ran{0};
  absl::Notification release;
  // Releases the pool's only thread while the destructor below is already waiting, so
  // the 100 tasks are still queued when the pool is told to stop.
  std::thread releaser([&]() {
    absl::SleepFor(absl::Milliseconds(100));
    release.Notify();
  });
  {
    TaskPool pool(1);
    pool.Post([&]() { release.WaitForNotification(); });
    for (int i = 0; i < 100; ++i) pool.Post([&]() { ++ran; });
  }
  releaser.join();
  EXPECT_EQ(ran.load(), 100);
}

TEST(TaskPoolTest, ThreadsRunTasksInParallel) {
  absl::Notification both_running;
  std::atomic<int> running{0};
  TaskPool pool(2);
  for (int i = 0; i < 2; ++i) {
    pool.Post([&]() {
      if (++running == 2) both_running.Notify();
      both_running.WaitForNotification();  // only returns if the other task runs too
    });
  }
  EXPECT_TRUE(both_running.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

}  // namespace
}  // namespace sandboxd::service
