// FakeKubeClient: an in-memory KubeClient for unit tests of code that lists and watches
// (Reflector, CacheFeed). It records every List, Watch and RunAfter; the test pops them
// and completes them, on the test thread. Other calls fail with UNIMPLEMENTED.
#ifndef SANDBOXD_TESTS_UNIT_KUBE_FAKE_KUBE_CLIENT_H_
#define SANDBOXD_TESTS_UNIT_KUBE_FAKE_KUBE_CLIENT_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "src/kube/kube_client.h"

namespace sandboxd::kube {

// A watch event of `type` whose object is `json`, parsed as the watch decoder would (a
// `json` that is not an object gives a null object, which reflectors reject).
inline WatchEvent Event(WatchEvent::Type type, absl::string_view json) {
  absl::StatusOr<JsonObject> object = JsonObject::Parse(json);
  return WatchEvent{type, object.ok() ? *std::move(object) : JsonObject()};
}

// Records List/Watch/RunAfter; the test pops and completes them. Thread-safe (one mutex,
// never held while a callback runs).
class FakeKubeClient final : public KubeClient {
 public:
  struct PendingList {
    Kind kind;
    std::string ns;
    ListOptions opts;
    CallOptions call;
    ResponseCallback done;
  };
  struct PendingWatch {
    Kind kind;
    std::string ns;
    WatchOptions opts;
    std::function<void(WatchEvent)> on_event;
    std::function<void(absl::Status)> on_done;
    std::shared_ptr<std::atomic<bool>> stopped;
  };
  struct Timer {
    absl::Duration delay;
    std::function<void()> fn;
  };

  void Get(const ObjectRef&, const std::string&, const CallOptions&,
           ResponseCallback done) override {
    done(absl::UnimplementedError("fake"));
  }
  void List(Kind kind, const std::string& ns, const ListOptions& list, const CallOptions& call,
            ResponseCallback done) override {
    absl::MutexLock lock(&mu_);
    lists_.push_back({kind, ns, list, call, std::move(done)});
  }
  void Create(Kind, const std::string&, std::string, const CallOptions&,
              ResponseCallback done) override {
    done(absl::UnimplementedError("fake"));
  }
  void Patch(const ObjectRef&, const std::string&, PatchType, std::string, const CallOptions&,
             ResponseCallback done) override {
    done(absl::UnimplementedError("fake"));
  }
  void Delete(const ObjectRef&, const DeleteOptions&, const CallOptions&,
              ResponseCallback done) override {
    done(absl::UnimplementedError("fake"));
  }
  std::unique_ptr<WatchHandle> Watch(Kind kind, const std::string& ns, const WatchOptions& opts,
                                     const CallOptions&, std::function<void(WatchEvent)> on_event,
                                     std::function<void(absl::Status)> on_done) override {
    auto stopped = std::make_shared<std::atomic<bool>>(false);
    {
      absl::MutexLock lock(&mu_);
      watches_.push_back({kind, ns, opts, std::move(on_event), std::move(on_done), stopped});
    }
    class Handle final : public WatchHandle {
     public:
      explicit Handle(std::shared_ptr<std::atomic<bool>> s) : s_(std::move(s)) {}
      void Stop() override { s_->store(true); }

     private:
      std::shared_ptr<std::atomic<bool>> s_;
    };
    return std::make_unique<Handle>(stopped);
  }
  absl::Status RunAfter(absl::Duration delay, std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    timers_.push_back({delay, std::move(fn)});
    return absl::OkStatus();
  }

  PendingList PopList() {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(lists_.empty());
    PendingList p = std::move(lists_.front());
    lists_.pop_front();
    return p;
  }
  PendingWatch PopWatch() {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(watches_.empty());
    PendingWatch p = std::move(watches_.front());
    watches_.pop_front();
    return p;
  }
  Timer PopTimer() {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(timers_.empty());
    Timer t = std::move(timers_.front());
    timers_.pop_front();
    return t;
  }
  // Outstanding operations, as "L<lists> W<watches> T<timers>".
  std::string Pending() {
    absl::MutexLock lock(&mu_);
    return absl::StrCat("L", lists_.size(), " W", watches_.size(), " T", timers_.size());
  }

 private:
  absl::Mutex mu_;
  std::deque<PendingList> lists_ ABSL_GUARDED_BY(mu_);
  std::deque<PendingWatch> watches_ ABSL_GUARDED_BY(mu_);
  std::deque<Timer> timers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_TESTS_UNIT_KUBE_FAKE_KUBE_CLIENT_H_
