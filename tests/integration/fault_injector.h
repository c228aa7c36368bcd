// FaultInjector: a KubeClient decorator for tests of interrupted writes. It logs every
// write sandboxd sends (POST, PATCH, PUT, DELETE; never TokenReviews or
// SubjectAccessReviews) as "<VERB> <plural>[/<subresource>]", e.g. "POST statefulsets"
// (server-side dry runs marked kDryRun), and can
//   - fail the Nth write from now with UNAVAILABLE without sending it (FailWrite), as a
//     connection lost before the request left would;
//   - hold the first write of a given key until the test releases it (Hold, Release),
//     or complete it with an error without sending it (Abandon);
//   - cut the client off (Sever): every later request fails with UNAVAILABLE unsent, as
//     if the process had died (nothing it does reaches the API server any more).
// Reads and watches pass through unchanged unless severed (watches always pass).
//
// Callbacks of failed or abandoned calls run on the inner client's I/O thread (RunAfter),
// never on the caller's stack, as the KubeClient contract requires.
//
// Thread-safe. Installed by SandboxdServer::Hooks::decorate_kube (Install); the server
// owns it, so the test's pointer is valid until the server is destroyed.
#ifndef SANDBOXD_TESTS_INTEGRATION_FAULT_INJECTOR_H_
#define SANDBOXD_TESTS_INTEGRATION_FAULT_INJECTOR_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/kube/forwarding_kube_client.h"
#include "src/kube/kube_request.h"

namespace sandboxd::testing {

class FaultInjector final : public kube::ForwardingKubeClient {
 public:
  // Appended to the logged key of a server-side dry-run write (dryRun=All), which stores
  // nothing and is never failed or held.
  static constexpr char kDryRun[] = "(dry run)";

  explicit FaultInjector(kube::KubeClient* inner) : ForwardingKubeClient(inner) {}

  // A SandboxdServer::Hooks::decorate_kube that installs an injector and stores it in
  // `*out` (owned by the server).
  static auto Install(FaultInjector** out) {
    return [out](kube::KubeClient* inner) -> std::unique_ptr<kube::KubeClient> {
      auto injector = std::make_unique<FaultInjector>(inner);
      *out = injector.get();
      return injector;
    };
  }

  // The writes logged since the last TakeWrites(), in the order they were issued
  // (failed, held and abandoned ones included); starts logging afresh.
  std::vector<std::string> TakeWrites() {
    absl::MutexLock lock(&mu_);
    return std::exchange(writes_, {});
  }

  // The write that is `n` writes from now (1: the next one) fails with UNAVAILABLE
  // without being sent. Replaces an earlier FailWrite that has not fired yet.
  void FailWrite(int n) {
    absl::MutexLock lock(&mu_);
    fail_countdown_ = n;
    fault_fired_ = false;
    failed_write_.clear();
  }
  // Whether the write armed by the last FailWrite has been failed.
  bool fault_fired() {
    absl::MutexLock lock(&mu_);
    return fault_fired_;
  }
  // The key of the write that FailWrite failed last ("" if none).
  std::string failed_write() {
    absl::MutexLock lock(&mu_);
    return failed_write_;
  }

  // The next write whose key is `key` (e.g. "POST statefulsets") is held, unsent, until
  // Release() or Abandon(). One hold at a time.
  void Hold(const std::string& key) {
    absl::MutexLock lock(&mu_);
    hold_key_ = key;
  }
  // Waits up to `timeout` for the held write to arrive. True if it is held.
  bool WaitUntilHeld(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto held = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return held_ != nullptr; };
    mu_.AwaitWithTimeout(absl::Condition(&held), timeout);
    return held_ != nullptr;
  }
  // Sends the held write (no-op if none is held) and stops holding.
  void Release() {
    std::function<void()> send;
    {
      absl::MutexLock lock(&mu_);
      hold_key_.clear();
      send = std::move(held_);
      held_ = nullptr;
      abandon_held_ = nullptr;
    }
    if (send) send();
  }
  // Completes the held write with `status` without sending it, and stops holding.
  void Abandon(absl::Status status) {
    std::function<void(absl::Status)> abandon;
    {
      absl::MutexLock lock(&mu_);
      hold_key_.clear();
      abandon = std::move(abandon_held_);
      held_ = nullptr;
      abandon_held_ = nullptr;
    }
    if (abandon) abandon(std::move(status));
  }

  // From now on every request (reads and writes; watches excepted) fails with
  // UNAVAILABLE without being sent, and a held write is completed so. Irreversible.
  void Sever() {
    {
      absl::MutexLock lock(&mu_);
      severed_ = true;
    }
    Abandon(absl::UnavailableError("fault injector: severed"));
  }

  void Get(const kube::ObjectRef& ref, const std::string& subresource,
           const kube::CallOptions& opts, kube::ResponseCallback done) override {
    if (Severed()) return FailLater(std::move(done), "severed");
    ForwardingKubeClient::Get(ref, subresource, opts, std::move(done));
  }
  void List(kube::Kind kind, const std::string& ns, const kube::ListOptions& list,
            const kube::CallOptions& opts, kube::ResponseCallback done) override {
    if (Severed()) return FailLater(std::move(done), "severed");
    ForwardingKubeClient::List(kind, ns, list, opts, std::move(done));
  }
  void Create(kube::Kind kind, const std::string& ns, std::string body,
              const kube::CallOptions& opts, kube::ResponseCallback done) override {
    Write(Key("POST", kind, ""), kind, opts.dry_run, std::move(done),
          [this, kind, ns, body = std::move(body), opts](kube::ResponseCallback d) mutable {
            ForwardingKubeClient::Create(kind, ns, std::move(body), opts, std::move(d));
          });
  }
  void Patch(const kube::ObjectRef& ref, const std::string& subresource, kube::PatchType type,
             std::string body, const kube::CallOptions& opts,
             kube::ResponseCallback done) override {
    Write(Key("PATCH", ref.kind, subresource), ref.kind, opts.dry_run, std::move(done),
          [this, ref, subresource, type, body = std::move(body),
           opts](kube::ResponseCallback d) mutable {
            ForwardingKubeClient::Patch(ref, subresource, type, std::move(body), opts,
                                        std::move(d));
          });
  }
  void Delete(const kube::ObjectRef& ref, const kube::DeleteOptions& del,
              const kube::CallOptions& opts, kube::ResponseCallback done) override {
    Write(Key("DELETE", ref.kind, ""), ref.kind, opts.dry_run, std::move(done),
          [this, ref, del, opts](kube::ResponseCallback d) {
            ForwardingKubeClient::Delete(ref, del, opts, std::move(d));
          });
  }
  void Replace(const kube::ObjectRef& ref, const std::string& subresource, std::string body,
               const kube::CallOptions& opts, kube::ResponseCallback done) override {
    Write(Key("PUT", ref.kind, subresource), ref.kind, opts.dry_run, std::move(done),
          [this, ref, subresource, body = std::move(body), opts](kube::ResponseCallback d) mutable {
            ForwardingKubeClient::Replace(ref, subresource, std::move(body), opts, std::move(d));
          });
  }

 private:
  using Send = std::function<void(kube::ResponseCallback)>;

  static std::string Key(const char* verb, kube::Kind kind, const std::string& subresource) {
    std::string key = absl::StrCat(verb, " ", kube::ResourceFor(kind).plural);
    if (!subresource.empty()) absl::StrAppend(&key, "/", subresource);
    return key;
  }
  static bool IsReview(kube::Kind kind) {
    return kind == kube::Kind::kTokenReview || kind == kube::Kind::kSubjectAccessReview;
  }

  bool Severed() {
    absl::MutexLock lock(&mu_);
    return severed_;
  }

  // Runs `done` with UNAVAILABLE on the I/O thread (or, if the client no longer takes
  // timers, on a thread of its own).
  void FailLater(kube::ResponseCallback done, const std::string& why) {
    auto fail = [done, why]() {
      done(absl::UnavailableError(absl::StrCat("fault injector: ", why)));
    };
    if (!inner()->RunAfter(absl::ZeroDuration(), fail).ok()) std::thread(fail).detach();
  }

  void Write(const std::string& key, kube::Kind kind, bool dry_run, kube::ResponseCallback done,
             Send send) {
    if (IsReview(kind)) return send(std::move(done));
    enum class Fate { kSend, kFail, kHold, kSevered } fate = Fate::kSend;
    {
      absl::MutexLock lock(&mu_);
      writes_.push_back(dry_run ? absl::StrCat(key, " ", kDryRun) : key);
      if (severed_) {
        fate = Fate::kSevered;
      } else if (dry_run) {
        fate = Fate::kSend;  // writes nothing: neither failed nor held
      } else if (fail_countdown_ > 0 && --fail_countdown_ == 0) {
        fate = Fate::kFail;
        fault_fired_ = true;
        failed_write_ = key;
      } else if (!hold_key_.empty() && key == hold_key_ && held_ == nullptr) {
        fate = Fate::kHold;
        hold_key_.clear();
        held_ = [send, done]() { send(done); };
        abandon_held_ = [this, done](absl::Status status) {
          auto complete = [done, status]() { done(status); };
          if (!inner()->RunAfter(absl::ZeroDuration(), complete).ok()) {
            std::thread(complete).detach();
          }
        };
      }
    }
    switch (fate) {
      case Fate::kSend: return send(std::move(done));
      case Fate::kFail: return FailLater(std::move(done), absl::StrCat("failed write ", key));
      case Fate::kSevered: return FailLater(std::move(done), "severed");
      case Fate::kHold: return;
    }
  }

  absl::Mutex mu_;
  std::vector<std::string> writes_ ABSL_GUARDED_BY(mu_);
  int fail_countdown_ ABSL_GUARDED_BY(mu_) = 0;
  bool fault_fired_ ABSL_GUARDED_BY(mu_) = false;
  std::string failed_write_ ABSL_GUARDED_BY(mu_);
  std::string hold_key_ ABSL_GUARDED_BY(mu_);
  std::function<void()> held_ ABSL_GUARDED_BY(mu_);
  std::function<void(absl::Status)> abandon_held_ ABSL_GUARDED_BY(mu_);
  bool severed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sandboxd::testing

#endif  // SANDBOXD_TESTS_INTEGRATION_FAULT_INJECTOR_H_
