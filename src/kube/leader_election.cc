#include "src/kube/leader_election.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "spdlog/spdlog.h"

namespace sandboxd::kube {
namespace {

// What sandboxd reads of a Lease.
struct LeaseRecord {
  std::string resource_version;
  std::string holder;
  absl::Duration duration;  // zero when absent
  std::string acquire_time;
  int64_t transitions = 0;
};

// What sandboxd writes into a Lease's spec.
struct LeaseSpec {
  std::string holder;
  int64_t duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int64_t transitions = 0;
};

// RFC 3339 with microseconds (Kubernetes MicroTime).
std::string MicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

const rapidjson::Value* Member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string StringAt(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value* v = Member(obj, name);
  if (v == nullptr || !v->IsString()) return "";
  return std::string(v->GetString(), v->GetStringLength());
}

int64_t IntAt(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value* v = Member(obj, name);
  return v != nullptr && v->IsInt64() ? v->GetInt64() : 0;
}

absl::StatusOr<LeaseRecord> ParseLease(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  const rapidjson::Value* metadata = doc.HasParseError() ? nullptr : Member(doc, "metadata");
  LeaseRecord record;
  if (metadata != nullptr) record.resource_version = StringAt(*metadata, "resourceVersion");
  if (record.resource_version.empty()) {
    return absl::InternalError("lease: undecodable object (no metadata.resourceVersion)");
  }
  if (const rapidjson::Value* spec = Member(doc, "spec"); spec != nullptr) {
    record.holder = StringAt(*spec, "holderIdentity");
    record.duration = absl::Seconds(IntAt(*spec, "leaseDurationSeconds"));
    record.acquire_time = StringAt(*spec, "acquireTime");
    record.transitions = IntAt(*spec, "leaseTransitions");
  }
  return record;
}

void Set(rapidjson::Value& obj, const char* name, rapidjson::Value value,
         rapidjson::Document::AllocatorType& alloc) {
  if (auto it = obj.FindMember(name); it != obj.MemberEnd()) {
    it->value = std::move(value);
  } else {
    obj.AddMember(rapidjson::Value(name, alloc), std::move(value), alloc);
  }
}

// `doc` (a Lease) with its spec's election fields set to `spec`; other fields are kept.
std::string WriteSpec(rapidjson::Document& doc, const LeaseSpec& spec) {
  auto& alloc = doc.GetAllocator();
  if (!doc.HasMember("spec") || !doc["spec"].IsObject()) {
    Set(doc, "spec", rapidjson::Value(rapidjson::kObjectType), alloc);
  }
  rapidjson::Value& s = doc["spec"];
  Set(s, "holderIdentity", rapidjson::Value(spec.holder.c_str(), alloc), alloc);
  Set(s, "leaseDurationSeconds", rapidjson::Value(spec.duration_seconds), alloc);
  Set(s, "acquireTime", rapidjson::Value(spec.acquire_time.c_str(), alloc), alloc);
  Set(s, "renewTime", rapidjson::Value(spec.renew_time.c_str(), alloc), alloc);
  Set(s, "leaseTransitions", rapidjson::Value(spec.transitions), alloc);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// A new Lease `ns`/`name` carrying `spec`.
std::string NewLease(const std::string& ns, const std::string& name, const LeaseSpec& spec) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& alloc = doc.GetAllocator();
  doc.AddMember("apiVersion", "coordination.k8s.io/v1", alloc);
  doc.AddMember("kind", "Lease", alloc);
  rapidjson::Value metadata(rapidjson::kObjectType);
  metadata.AddMember("name", rapidjson::Value(name.c_str(), alloc), alloc);
  metadata.AddMember("namespace", rapidjson::Value(ns.c_str(), alloc), alloc);
  doc.AddMember("metadata", std::move(metadata), alloc);
  return WriteSpec(doc, spec);
}

// `lease_json` with `spec` written into it; INTERNAL if it is not a JSON object.
absl::StatusOr<std::string> UpdatedLease(const std::string& lease_json, const LeaseSpec& spec) {
  rapidjson::Document doc;
  doc.Parse(lease_json.data(), lease_json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InternalError("lease: undecodable object");
  }
  return WriteSpec(doc, spec);
}

}  // namespace

// The election loop. Handlers run with mu_ held and return the client operations to issue;
// after mu_ is released, Report() runs the leadership callbacks the state asks for, then
// the operations are issued (a client may complete a call inline or on another thread at
// once).
// Callbacks of a superseded timer, and every loop callback after Stop, change nothing
// but the cached Lease.
// Thread-safe.
class LeaderElector::Core : public std::enable_shared_from_this<Core> {
 public:
  Core(KubeClient* client, LeaderElectionOptions options)
      : client_(client),
        options_(std::move(options)),
        name_(absl::StrCat(options_.lease_namespace, "/", options_.lease_name)),
        ref_{Kind::kLease, options_.lease_namespace, options_.lease_name},
        clock_(options_.clock ? options_.clock : [] { return absl::Now(); }),
        uniform01_(options_.uniform01) {
    if (!uniform01_) {
      // shared_ptr: std::function requires a copyable callable.
      auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
      uniform01_ = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
    }
  }

  void Start() {
    Actions next;
    {
      absl::MutexLock lock(&mu_);
      if (started_ || stopped_) return;
      started_ = true;
      spdlog::info("leader election {}: {} is a candidate", name_, options_.identity);
      next = BeginAttemptLocked();
    }
    Run(std::move(next));
  }

  void Stop() {
    std::shared_ptr<absl::Notification> released;
    std::shared_ptr<CancellationToken> cancel;
    absl::Time wait_until;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      ++timer_gen_;
      if (leading_) spdlog::info("leader election {}: {} stops leading (stopped)", name_,
                                 options_.identity);
      leading_ = false;
      cancel = attempt_cancel_;
      // Whether the Lease is ours is decided when the release is due: an attempt still in
      // flight may change it.
      if (options_.release_on_stop && started_) {
        release_wanted_ = true;
        released = release_done_;
        wait_until = clock_() + options_.renew_deadline;
      }
    }
    if (cancel) cancel->Cancel();
    bool inside_callback = reporting_thread_.load() == std::this_thread::get_id();
    Report();
    if (released && !inside_callback) {
      released->WaitForNotificationWithTimeout(wait_until - clock_());
    }
  }

  bool IsLeader() const {
    absl::MutexLock lock(&mu_);
    return leading_ && !stopped_ && clock_() < renewed_at_ + options_.renew_deadline;
  }

  std::string Leader() const {
    absl::MutexLock lock(&mu_);
    return observed_holder_;
  }

 private:
  using Actions = std::vector<std::function<void()>>;

  // --- the loop (mu_ held) ---

  // Begins an attempt: a leader with a valid lease PUTs its cached copy, else GET.
  Actions BeginAttemptLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    in_flight_ = true;
    attempt_cancel_ = std::make_shared<CancellationToken>();
    absl::Time now = clock_();
    if (leading_ && now < renewed_at_ + options_.renew_deadline) {
      absl::StatusOr<LeaseRecord> cached = ParseLease(lease_json_);
      if (cached.ok()) return WriteLocked(/*fast=*/true, *cached);
    }
    return {[self = shared_from_this(), call = CallLocked()] {
      self->client_->Get(self->ref_, "", call, [self](absl::StatusOr<std::string> body) {
        self->Handle([&] { return self->OnGetLocked(std::move(body)); });
      });
    }};
  }

  CallOptions CallLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CallOptions call;
    call.request_id = absl::StrCat("leader-election/", options_.identity);
    call.cancel = attempt_cancel_;
    // A leader's request is worthless after its renew deadline; a candidate's is bounded
    // by the same length.
    call.deadline = leading_ ? renewed_at_ + options_.renew_deadline
                             : clock_() + options_.renew_deadline;
    return call;
  }

  Actions OnGetLocked(absl::StatusOr<std::string> body) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stopped_) {
      if (body.ok()) ObserveLocked(*body).IgnoreError();
      in_flight_ = false;
      return {};
    }
    absl::Time now = clock_();
    if (body.status().code() == absl::StatusCode::kNotFound) {
      if (leading_) {
        // Someone deleted it: a candidate may be creating it right now.
        leading_ = false;
        spdlog::warn("leader election {}: {} stops leading: the lease was deleted", name_,
                     options_.identity);
      }
      LeaseSpec spec{options_.identity, absl::ToInt64Seconds(options_.lease_duration),
                     MicroTime(now), MicroTime(now), 0};
      std::string lease = NewLease(options_.lease_namespace, options_.lease_name, spec);
      return {[self = shared_from_this(), call = CallLocked(), lease = std::move(lease), now] {
        self->client_->Create(Kind::kLease, self->options_.lease_namespace, lease, call,
                              [self, now](absl::StatusOr<std::string> body) {
                                self->Handle([&] {
                                  return self->OnWriteLocked(false, now, std::move(body));
                                });
                              });
      }};
    }
    if (!body.ok()) return EndAttemptLocked(body.status(), "read");
    absl::StatusOr<LeaseRecord> record = ObserveLocked(*body);
    if (!record.ok()) return EndAttemptLocked(record.status(), "read");
    if (!record->holder.empty() && record->holder != options_.identity) {
      absl::Time expires = observed_at_ + ObservedDurationLocked();
      if (now < expires) {
        if (leading_) {
          leading_ = false;
          spdlog::warn("leader election {}: {} stops leading: {} holds the lease", name_,
                       options_.identity, record->holder);
        }
        return EndAttemptLocked(absl::OkStatus(), "", expires - now);
      }
    }
    return WriteLocked(/*fast=*/false, *record);
  }

  // PUTs the cached Lease with this process as holder (renewal, or acquisition of a free
  // Lease: new acquireTime, one more transition).
  Actions WriteLocked(bool fast, const LeaseRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::Time now = clock_();
    bool ours = record.holder == options_.identity;
    LeaseSpec spec{options_.identity, absl::ToInt64Seconds(options_.lease_duration),
                   ours && !record.acquire_time.empty() ? record.acquire_time : MicroTime(now),
                   MicroTime(now), ours ? record.transitions : record.transitions + 1};
    absl::StatusOr<std::string> lease = UpdatedLease(lease_json_, spec);
    if (!lease.ok()) return EndAttemptLocked(lease.status(), "write");
    return {[self = shared_from_this(), call = CallLocked(), lease = *std::move(lease), fast,
             now] {
      self->client_->Replace(self->ref_, "", lease, call,
                             [self, fast, now](absl::StatusOr<std::string> body) {
                               self->Handle([&] {
                                 return self->OnWriteLocked(fast, now, std::move(body));
                               });
                             });
    }};
  }

  // `sent` is when the write was sent: the lease is ours from then on, at the latest.
  Actions OnWriteLocked(bool fast, absl::Time sent, absl::StatusOr<std::string> body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stopped_) {
      if (body.ok()) ObserveLocked(*body).IgnoreError();
      in_flight_ = false;
      return {};
    }
    if (!body.ok()) {
      if (fast && (body.status().code() == absl::StatusCode::kAborted ||
                   body.status().code() == absl::StatusCode::kNotFound)) {
        // Someone else wrote (or deleted) the Lease: read it and decide again.
        return {[self = shared_from_this(), call = CallLocked()] {
          self->client_->Get(self->ref_, "", call, [self](absl::StatusOr<std::string> body) {
            self->Handle([&] { return self->OnGetLocked(std::move(body)); });
          });
        }};
      }
      return EndAttemptLocked(body.status(), "write");
    }
    absl::StatusOr<LeaseRecord> record = ObserveLocked(*body);
    if (!record.ok()) return EndAttemptLocked(record.status(), "write");
    absl::Time now = clock_();
    renewed_at_ = sent;
    Actions next;
    if (now < sent + options_.renew_deadline) {
      if (!leading_) {
        leading_ = true;
        spdlog::info("leader election {}: {} is leading (leaseTransitions {})", name_,
                     options_.identity, record->transitions);
      }
      next = WatchdogLocked();
    } else if (leading_) {
      leading_ = false;
      spdlog::warn("leader election {}: {} stops leading: the renewal took past {}", name_,
                   options_.identity, absl::FormatDuration(options_.renew_deadline));
    }
    Actions end = EndAttemptLocked(absl::OkStatus(), "");
    next.insert(next.end(), end.begin(), end.end());
    return next;
  }

  // Ends an attempt and schedules the next: a leader after retry_period; a candidate
  // after the jittered period, or at `until_free` if that is sooner.
  Actions EndAttemptLocked(const absl::Status& status, absl::string_view what,
                           absl::Duration until_free = absl::InfiniteDuration())
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    in_flight_ = false;
    if (!status.ok()) {
      spdlog::warn("leader election {}: {} failed for {}{}: {}", name_, std::string(what),
                   options_.identity, leading_ ? " (leading)" : "", status.ToString());
    }
    absl::Duration delay = options_.retry_period;
    if (!leading_) {
      double u = std::clamp(uniform01_(), 0.0, 1.0);
      delay = std::min(options_.retry_period * (1.0 + options_.retry_jitter * u), until_free);
    }
    uint64_t gen = ++timer_gen_;
    return {[self = shared_from_this(), delay, gen] {
      self->Schedule(delay, [self, gen] {
        self->Handle([&]() -> Actions {
          if (self->stopped_ || gen != self->timer_gen_) return {};
          return self->BeginAttemptLocked();
        });
      });
    }};
  }

  // A timer at the renew deadline, unless one is pending: the leader stops leading then
  // if no write has succeeded meanwhile, whatever is in flight.
  Actions WatchdogLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!leading_ || watchdog_pending_) return {};
    watchdog_pending_ = true;
    absl::Duration delay = renewed_at_ + options_.renew_deadline - clock_();
    return {[self = shared_from_this(), delay] {
      self->Schedule(delay, [self] {
        self->Handle([&]() -> Actions {
          self->watchdog_pending_ = false;
          if (self->stopped_ || !self->leading_) return {};
          if (self->clock_() < self->renewed_at_ + self->options_.renew_deadline) {
            return self->WatchdogLocked();
          }
          self->leading_ = false;
          spdlog::warn("leader election {}: {} stops leading: not renewed within {}",
                       self->name_, self->options_.identity,
                       absl::FormatDuration(self->options_.renew_deadline));
          return {};
        });
      });
    }};
  }

  // Caches a Lease the server returned; a new resourceVersion restarts the expiry clock.
  absl::StatusOr<LeaseRecord> ObserveLocked(const std::string& lease_json)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::StatusOr<LeaseRecord> record = ParseLease(lease_json);
    if (!record.ok()) return record;
    if (record->resource_version != observed_rv_) {
      observed_rv_ = record->resource_version;
      observed_at_ = clock_();
      if (record->holder != observed_holder_) {
        spdlog::info("leader election {}: {} sees holder '{}'", name_, options_.identity,
                     record->holder);
      }
    }
    observed_holder_ = record->holder;
    observed_duration_ = record->duration;
    lease_json_ = lease_json;
    return record;
  }

  absl::Duration ObservedDurationLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return observed_duration_ > absl::ZeroDuration() ? observed_duration_
                                                     : options_.lease_duration;
  }

  // --- release (after Stop) ---

  // The release write, once no attempt is in flight and on_stopped_leading has run.
  Actions MaybeReleaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!release_wanted_ || release_started_ || in_flight_) return {};
    release_started_ = true;
    return ReleaseLocked(/*reread=*/false);
  }

  Actions ReleaseLocked(bool reread) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::StatusOr<LeaseRecord> record = ParseLease(lease_json_);
    if (!record.ok() || record->holder != options_.identity) return ReleaseDoneLocked("");
    absl::Time now = clock_();
    LeaseSpec spec{"", 1, MicroTime(now), MicroTime(now), record->transitions};
    absl::StatusOr<std::string> lease = UpdatedLease(lease_json_, spec);
    if (!lease.ok()) return ReleaseDoneLocked(lease.status().ToString());
    CallOptions call;
    call.request_id = absl::StrCat("leader-election/", options_.identity);
    call.deadline = now + options_.renew_deadline;
    return {[self = shared_from_this(), call, lease = *std::move(lease), reread] {
      self->client_->Replace(self->ref_, "", lease, call,
                             [self, call, reread](absl::StatusOr<std::string> body) {
                               self->Handle([&] {
                                 return self->OnReleasedLocked(call, reread, std::move(body));
                               });
                             });
    }};
  }

  Actions OnReleasedLocked(const CallOptions& call, bool reread, absl::StatusOr<std::string> body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (body.ok()) {
      ObserveLocked(*body).IgnoreError();
      spdlog::info("leader election {}: {} released the lease", name_, options_.identity);
      return ReleaseDoneLocked("");
    }
    if (body.status().code() != absl::StatusCode::kAborted || reread) {
      return ReleaseDoneLocked(body.status().ToString());
    }
    // The cached copy is stale (e.g. a cancelled renewal was applied): read, then release
    // if the Lease is still ours.
    return {[self = shared_from_this(), call] {
      self->client_->Get(self->ref_, "", call, [self](absl::StatusOr<std::string> body) {
        self->Handle([&]() -> Actions {
          if (!body.ok()) return self->ReleaseDoneLocked(body.status().ToString());
          self->ObserveLocked(*body).IgnoreError();
          return self->ReleaseLocked(/*reread=*/true);
        });
      });
    }};
  }

  Actions ReleaseDoneLocked(const std::string& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!error.empty()) {
      spdlog::warn("leader election {}: {} could not release the lease: {}", name_,
                   options_.identity, error);
    }
    if (!release_done_->HasBeenNotified()) release_done_->Notify();
    return {};
  }

  // --- plumbing (mu_ not held) ---

  // Runs `handler` under mu_, then the callbacks the new state asks for, then the client
  // operations the handler returned (so a change of leadership is reported before any
  // further request goes out).
  template <typename Handler>
  void Handle(Handler handler) ABSL_LOCKS_EXCLUDED(mu_) {
    Actions next;
    {
      absl::MutexLock lock(&mu_);
      next = handler();
    }
    Report();
    Run(std::move(next));
  }

  void Run(Actions actions) ABSL_LOCKS_EXCLUDED(mu_) {
    for (auto& action : actions) action();
  }

  void Schedule(absl::Duration delay, std::function<void()> fn) {
    absl::Status scheduled = client_->RunAfter(std::max(delay, absl::ZeroDuration()), std::move(fn));
    if (!scheduled.ok()) {
      spdlog::error("leader election {}: {} cannot schedule a timer, stalled: {}", name_,
                    options_.identity, scheduled.ToString());
    }
  }

  // Runs on_started_leading / on_stopped_leading until the reported state matches the
  // state, then (stopped) the release. Re-entrant calls from a callback return at once:
  // the outer loop looks again after the callback.
  void Report() ABSL_LOCKS_EXCLUDED(mu_, callback_mu_) {
    if (reporting_thread_.load() == std::this_thread::get_id()) return;
    Actions release;
    {
      absl::MutexLock callbacks(&callback_mu_);
      reporting_thread_.store(std::this_thread::get_id());
      for (;;) {
        bool want;
        {
          absl::MutexLock lock(&mu_);
          want = leading_ && !stopped_;
          if (want == reported_leading_) {
            if (stopped_) release = MaybeReleaseLocked();
            break;
          }
        }
        reported_leading_ = want;
        const std::function<void()>& callback =
            want ? options_.on_started_leading : options_.on_stopped_leading;
        if (callback) callback();
      }
      reporting_thread_.store(std::thread::id());
    }
    Run(std::move(release));
  }

  KubeClient* const client_;  // not owned
  const LeaderElectionOptions options_;
  const std::string name_;  // namespace/name, for logs
  const ObjectRef ref_;
  const std::function<absl::Time()> clock_;

  mutable absl::Mutex mu_;  // never held while a callback or a client call runs
  std::function<double()> uniform01_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time renewed_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // last write's send time
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;  // an attempt's request is out
  std::shared_ptr<CancellationToken> attempt_cancel_ ABSL_GUARDED_BY(mu_);
  uint64_t timer_gen_ ABSL_GUARDED_BY(mu_) = 0;  // only the newest loop timer acts
  bool watchdog_pending_ ABSL_GUARDED_BY(mu_) = false;
  // The Lease as last returned by the server, and what was read of it.
  std::string lease_json_ ABSL_GUARDED_BY(mu_);
  std::string observed_rv_ ABSL_GUARDED_BY(mu_);
  std::string observed_holder_ ABSL_GUARDED_BY(mu_);
  absl::Duration observed_duration_ ABSL_GUARDED_BY(mu_);
  absl::Time observed_at_ ABSL_GUARDED_BY(mu_);  // local time of the last change seen
  bool release_wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool release_started_ ABSL_GUARDED_BY(mu_) = false;
  const std::shared_ptr<absl::Notification> release_done_ =
      std::make_shared<absl::Notification>();

  absl::Mutex callback_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // held while a callback runs
  bool reported_leading_ ABSL_GUARDED_BY(callback_mu_) = false;
  std::atomic<std::thread::id> reporting_thread_{std::thread::id()};
};

absl::StatusOr<std::unique_ptr<LeaderElector>> LeaderElector::Create(
    KubeClient* client, LeaderElectionOptions options) {
  auto invalid = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("leader election: ", what));
  };
  if (client == nullptr) return invalid("client is null");
  if (options.lease_namespace.empty()) return invalid("lease_namespace is empty");
  if (options.lease_name.empty()) return invalid("lease_name is empty");
  if (options.identity.empty()) return invalid("identity is empty");
  if (options.lease_duration < absl::Seconds(1) ||
      options.lease_duration != absl::Seconds(absl::ToInt64Seconds(options.lease_duration))) {
    // The Lease carries whole seconds; others time the lease by that number.
    return invalid("lease_duration must be a whole number of seconds, at least 1");
  }
  if (options.retry_period <= absl::ZeroDuration()) return invalid("retry_period is not positive");
  if (options.retry_jitter < 0) return invalid("retry_jitter is negative");
  if (options.renew_deadline >= options.lease_duration) {
    return invalid("renew_deadline must be shorter than lease_duration");
  }
  if (options.renew_deadline <= options.retry_period * (1.0 + options.retry_jitter)) {
    return invalid("renew_deadline must exceed retry_period * (1 + retry_jitter)");
  }
  return std::unique_ptr<LeaderElector>(
      new LeaderElector(std::make_shared<Core>(client, std::move(options))));
}

LeaderElector::LeaderElector(std::shared_ptr<Core> core) : core_(std::move(core)) {}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() { core_->Start(); }

void LeaderElector::Stop() { core_->Stop(); }

bool LeaderElector::IsLeader() const { return core_->IsLeader(); }

std::string LeaderElector::Leader() const { return core_->Leader(); }

}  // namespace sandboxd::kube
