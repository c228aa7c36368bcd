#include "src/service/claim_janitor.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"

namespace sandboxd::service {

using StrayClaim = SandboxCache::StrayClaim;

absl::Duration ClaimJanitor::DefaultInterval(absl::Duration grace) {
  return std::clamp(grace / 4, absl::Seconds(1), absl::Seconds(30));
}

class ClaimJanitor::Core : public std::enable_shared_from_this<Core> {
 public:
  Core(kube::KubeClient* kube, const SandboxCache* cache, Options options)
      : kube_(kube), cache_(cache), options_(Normalize(std::move(options))) {}

  void Start() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (started_ || stopped_) return;
      started_ = true;
    }
    Schedule();
  }

  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    cancel_->Cancel();
    mu_.Await(absl::Condition(
        +[](int* running) { return *running == 0; }, &running_));
  }

  uint64_t deleted() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return deleted_;
  }

 private:
  // The claims of one sweep that are due, and the one being handled.
  struct Sweep {
    std::vector<StrayClaim> due;
    size_t next = 0;
  };
  // When a candidate was first seen (by namespace and name); a new UID starts again.
  struct Seen {
    std::string uid;
    absl::Time since;
  };

  static Options Normalize(Options options) {
    if (!options.clock) options.clock = absl::Now;
    if (options.interval <= absl::ZeroDuration()) {
      options.interval = DefaultInterval(options.grace);
    }
    return options;
  }

  // Every callback runs its body between Enter (false after Stop: do nothing) and Leave.
  bool Enter() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (stopped_) return false;
    ++running_;
    return true;
  }
  void Leave() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    --running_;
  }

  // Outside Enter/Leave only in Start (before any callback can run).
  void Schedule() {
    absl::Status scheduled =
        kube_->RunAfter(options_.interval, [self = shared_from_this()] { self->RunSweep(); });
    if (!scheduled.ok()) spdlog::debug("claim janitor: no further sweep: {}", scheduled.ToString());
  }

  void RunSweep() {
    if (!Enter()) return;
    const absl::Time now = options_.clock();
    std::vector<StrayClaim> candidates = cache_->StrayClaims();
    auto sweep = std::make_shared<Sweep>();
    {
      absl::MutexLock lock(&mu_);
      std::map<std::pair<std::string, std::string>, Seen> seen;
      for (StrayClaim& claim : candidates) {
        const std::pair<std::string, std::string> key{claim.ns, claim.name};
        auto before = seen_.find(key);
        const absl::Time since =
            before != seen_.end() && before->second.uid == claim.uid ? before->second.since : now;
        seen.emplace(key, Seen{claim.uid, since});
        const absl::Time created = claim.created.value_or(now);
        if (now - std::max(since, created) >= options_.grace) {
          sweep->due.push_back(std::move(claim));
        }
      }
      seen_ = std::move(seen);
    }
    Next(std::move(sweep));
    Leave();
  }

  // Handles the next due claim of `sweep`, or schedules the next sweep. Inside Enter/Leave.
  void Next(std::shared_ptr<Sweep> sweep) {
    if (sweep->next == sweep->due.size()) return Schedule();
    const StrayClaim& claim = sweep->due[sweep->next];
    kube_->Get(kube::ObjectRef{kube::Kind::kStatefulSet, claim.ns, claim.sandbox}, "", Call(),
               [self = shared_from_this(), sweep](absl::StatusOr<std::string> r) {
                 if (!self->Enter()) return;
                 self->Confirmed(sweep, r.status());
                 self->Leave();
               });
  }

  // The StatefulSet GET of the current claim answered `status`.
  void Confirmed(std::shared_ptr<Sweep> sweep, const absl::Status& status) {
    const StrayClaim& claim = sweep->due[sweep->next];
    if (!absl::IsNotFound(status)) {
      if (!status.ok()) {
        spdlog::debug("claim janitor: claim {}/{} left for later: read StatefulSet {}: {}",
                      claim.ns, claim.name, claim.sandbox, status.ToString());
      }
      ++sweep->next;
      return Next(std::move(sweep));
    }
    kube::DeleteOptions del;
    del.precondition_uid = claim.uid;
    del.precondition_resource_version = claim.resource_version;
    kube_->Delete(kube::ObjectRef{kube::Kind::kPersistentVolumeClaim, claim.ns, claim.name}, del,
                  Call(), [self = shared_from_this(), sweep](absl::StatusOr<std::string> r) {
                    if (!self->Enter()) return;
                    self->Deleted(sweep, r.status());
                    self->Leave();
                  });
  }

  // The claim's DELETE answered `status`.
  void Deleted(std::shared_ptr<Sweep> sweep, const absl::Status& status) {
    const StrayClaim& claim = sweep->due[sweep->next];
    if (status.ok()) {
      spdlog::info("claim janitor: deleted orphaned claim {}/{} (sandbox {} has no StatefulSet)",
                   claim.ns, claim.name, claim.sandbox);
      absl::MutexLock lock(&mu_);
      ++deleted_;
    } else if (!absl::IsNotFound(status) && !absl::IsAborted(status)) {
      spdlog::warn("claim janitor: delete claim {}/{}: {}", claim.ns, claim.name,
                   status.ToString());
    }
    ++sweep->next;
    Next(std::move(sweep));
  }

  kube::CallOptions Call() const {
    kube::CallOptions opts;
    opts.deadline = absl::Now() + options_.request_timeout;
    opts.cancel = cancel_;
    opts.idempotent_writes = true;  // a DELETE with preconditions
    return opts;
  }

  kube::KubeClient* const kube_;
  const SandboxCache* const cache_;
  const Options options_;
  const std::shared_ptr<kube::CancellationToken> cancel_ =
      std::make_shared<kube::CancellationToken>();

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int running_ ABSL_GUARDED_BY(mu_) = 0;  // callbacks between Enter and Leave
  std::map<std::pair<std::string, std::string>, Seen> seen_ ABSL_GUARDED_BY(mu_);
  uint64_t deleted_ ABSL_GUARDED_BY(mu_) = 0;
};

ClaimJanitor::ClaimJanitor(kube::KubeClient* kube, const SandboxCache* cache, Options options)
    : core_(std::make_shared<Core>(kube, cache, std::move(options))) {}

ClaimJanitor::~ClaimJanitor() { Stop(); }

void ClaimJanitor::Start() { core_->Start(); }

void ClaimJanitor::Stop() { core_->Stop(); }

uint64_t ClaimJanitor::deleted() const { return core_->deleted(); }

}  // namespace sandboxd::service
