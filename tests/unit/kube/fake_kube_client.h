// FakeKubeClient: an in-memory KubeClient for unit tests (Reflector, CacheFeed,
// SandboxService). It records every call (Get, Create, Patch, Delete and Replace as
// PendingCall; List; Watch; RunAfter); the test pops them in the order they were issued
// and completes them, on the test thread. It answers nothing by itself.
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
#include "src/kube/kube_request.h"

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
  // A Get, Create, Patch, Delete or Replace.
  struct PendingCall {
    std::string verb;  // GET, POST, PATCH, DELETE, PUT
    ObjectRef ref;     // name "" for POST
    std::string subresource;
    std::string body;      // POST, PATCH, PUT
    PatchType patch_type;  // PATCH
    DeleteOptions del;     // DELETE
    CallOptions call;
    ResponseCallback done;

    // "<VERB> <plural>[/<name>[/<subresource>]]", e.g. "PATCH statefulsets/foo".
    std::string Describe() const {
      std::string out = absl::StrCat(verb, " ", ResourceFor(ref.kind).plural);
      if (!ref.name.empty()) absl::StrAppend(&out, "/", ref.name);
      if (!subresource.empty()) absl::StrAppend(&out, "/", subresource);
      return out;
    }
  };
  struct Timer {
    absl::Duration delay;
    std::function<void()> fn;
  };

  void Get(const ObjectRef& ref, const std::string& subresource, const CallOptions& call,
           ResponseCallback done) override {
    Record({"GET", ref, subresource, "", PatchType::kMerge, {}, call, std::move(done)});
  }
  void List(Kind kind, const std::string& ns, const ListOptions& list, const CallOptions& call,
            ResponseCallback done) override {
    absl::MutexLock lock(&mu_);
    lists_.push_back({kind, ns, list, call, std::move(done)});
  }
  void Create(Kind kind, const std::string& ns, std::string body, const CallOptions& call,
              ResponseCallback done) override {
    Record({"POST",
            {kind, ns, ""},
            "",
            std::move(body),
            PatchType::kMerge,
            {},
            call,
            std::move(done)});
  }
  void Patch(const ObjectRef& ref, const std::string& subresource, PatchType type, std::string body,
             const CallOptions& call, ResponseCallback done) override {
    Record({"PATCH", ref, subresource, std::move(body), type, {}, call, std::move(done)});
  }
  void Delete(const ObjectRef& ref, const DeleteOptions& del, const CallOptions& call,
              ResponseCallback done) override {
    Record({"DELETE", ref, "", "", PatchType::kMerge, del, call, std::move(done)});
  }
  void Replace(const ObjectRef& ref, const std::string& subresource, std::string body,
               const CallOptions& call, ResponseCallback done) override {
    Record(
        {"PUT", ref, subresource, std::move(body), PatchType::kMerge, {}, call, std::move(done)});
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

  // The oldest call not yet popped; a default-constructed one (verb "") if there is none.
  PendingCall PopCall() {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(calls_.empty()) << "no pending call";
    if (calls_.empty()) return PendingCall{};
    PendingCall c = std::move(calls_.front());
    calls_.pop_front();
    return c;
  }
  // Calls issued and not yet popped.
  size_t PendingCalls() {
    absl::MutexLock lock(&mu_);
    return calls_.size();
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
  void Record(PendingCall call) {
    absl::MutexLock lock(&mu_);
    calls_.push_back(std::move(call));
  }

  absl::Mutex mu_;
  std::deque<PendingCall> calls_ ABSL_GUARDED_BY(mu_);
  std::deque<PendingList> lists_ ABSL_GUARDED_BY(mu_);
  std::deque<PendingWatch> watches_ ABSL_GUARDED_BY(mu_);
  std::deque<Timer> timers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_TESTS_UNIT_KUBE_FAKE_KUBE_CLIENT_H_
