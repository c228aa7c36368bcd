// LeaderElector against LeaseServer, an in-memory KubeClient that stores one Lease with
// resourceVersion concurrency, runs on a fake clock, and completes calls and timers only
// when the test says so (on the test thread).
#include "src/kube/leader_election.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace sandboxd::kube {
namespace {

using ::testing::ElementsAre;

std::string Serialise(const rapidjson::Value& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  value.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string MicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

// One Lease (sandboxd-system/leader) in memory. A write is applied when it is called and
// answered when the test runs the completions. Every call is logged as
// "<identity> <verb> <HTTP status>", the identity taken from the request id; the test's
// own entries (callbacks) go to the same log. Thread-safe; never holds its mutex while a
// completion or timer runs.
class LeaseServer final : public KubeClient {
 public:
  explicit LeaseServer(absl::Time start) : now_(start) {}

  void Get(const ObjectRef& ref, const std::string& subresource, const CallOptions& call,
           ResponseCallback done) override {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(ref.kind, Kind::kLease);
    if (unavailable_) return RespondLocked(call, "GET 503", absl::UnavailableError("down"), done);
    if (lease_.empty()) {
      return RespondLocked(call, "GET 404", absl::NotFoundError("not found"), done);
    }
    RespondLocked(call, "GET 200", lease_, done);
  }
  void List(Kind, const std::string&, const ListOptions&, const CallOptions&,
            ResponseCallback done) override {
    ADD_FAILURE() << "List";
  }
  void Create(Kind kind, const std::string& ns, std::string body, const CallOptions& call,
              ResponseCallback done) override {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(kind, Kind::kLease);
    EXPECT_EQ(ns, "sandboxd-system");
    if (unavailable_) return RespondLocked(call, "POST 503", absl::UnavailableError("down"), done);
    if (!lease_.empty()) {
      return RespondLocked(call, "POST 409", absl::AlreadyExistsError("exists"), done);
    }
    StoreLocked(body);
    RespondLocked(call, "POST 201", lease_, done);
  }
  void Patch(const ObjectRef&, const std::string&, PatchType, std::string, const CallOptions&,
             ResponseCallback done) override {
    ADD_FAILURE() << "Patch";
  }
  void Delete(const ObjectRef&, const DeleteOptions&, const CallOptions&,
              ResponseCallback done) override {
    ADD_FAILURE() << "Delete";
  }
  void Replace(const ObjectRef& ref, const std::string& subresource, std::string body,
               const CallOptions& call, ResponseCallback done) override {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(ref.kind, Kind::kLease);
    if (unavailable_) return RespondLocked(call, "PUT 503", absl::UnavailableError("down"), done);
    if (lease_.empty()) return RespondLocked(call, "PUT 404", absl::NotFoundError("gone"), done);
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    std::string rv = doc["metadata"]["resourceVersion"].GetString();
    if (rv != absl::StrCat(rv_)) {
      return RespondLocked(call, "PUT 409", absl::AbortedError("conflict"), done);
    }
    StoreLocked(body);
    RespondLocked(call, "PUT 200", lease_, done);
  }
  absl::Status RunAfter(absl::Duration delay, std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    timers_.push_back({now_ + delay, seq_++, std::move(fn)});
    return absl::OkStatus();
  }

  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  // Runs the oldest pending completion on this thread; false if there is none.
  bool SettleOne() {
    std::function<void()> next;
    {
      absl::MutexLock lock(&mu_);
      if (completions_.empty()) return false;
      next = std::move(completions_.front());
      completions_.pop_front();
    }
    next();
    return true;
  }
  // Runs the pending completions (and those they cause) on this thread.
  void Settle() {
    for (;;) {
      std::function<void()> next;
      {
        absl::MutexLock lock(&mu_);
        if (completions_.empty()) return;
        next = std::move(completions_.front());
        completions_.pop_front();
      }
      next();
    }
  }
  // Moves the clock forward by `d`, firing due timers in order, each followed by Settle()
  // unless `settle` is false.
  void Advance(absl::Duration d, bool settle = true) {
    absl::Time target = Now() + d;
    for (;;) {
      std::function<void()> fn;
      {
        absl::MutexLock lock(&mu_);
        auto due = timers_.end();
        for (auto it = timers_.begin(); it != timers_.end(); ++it) {
          if (it->due <= target && (due == timers_.end() || it->due < due->due ||
                                    (it->due == due->due && it->seq < due->seq))) {
            due = it;
          }
        }
        if (due == timers_.end()) {
          now_ = target;
          break;
        }
        now_ = std::max(now_, due->due);
        fn = std::move(due->fn);
        timers_.erase(due);
      }
      fn();
      if (settle) Settle();
    }
    if (settle) Settle();
  }
  // Waits (real time, at most 10 s) until the log holds `entry`.
  bool AwaitLogged(const std::string& entry) {
    absl::MutexLock lock(&mu_);
    awaited_entry_ = entry;
    return mu_.AwaitWithTimeout(absl::Condition(this, &LeaseServer::Logged), absl::Seconds(10));
  }

  // Waits (real time, at most 10 s) until the last call's cancellation token is set.
  bool AwaitLastCallCancelled() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(this, &LeaseServer::LastCallCancelled),
                                absl::Seconds(10));
  }

  // Another process writes the Lease: holderIdentity becomes `holder`.
  void WriteHolder(const std::string& holder) {
    absl::MutexLock lock(&mu_);
    rapidjson::Document doc;
    doc.Parse(lease_.data(), lease_.size());
    doc["spec"]["holderIdentity"].SetString(holder.c_str(), doc.GetAllocator());
    StoreLocked(Serialise(doc));
    log_.push_back(absl::StrCat("external PUT holder=", holder));
  }
  // Someone deletes the Lease.
  void DeleteLease() {
    absl::MutexLock lock(&mu_);
    lease_.clear();
    log_.emplace_back("external DELETE");
  }
  void SetUnavailable(bool unavailable) {
    absl::MutexLock lock(&mu_);
    unavailable_ = unavailable;
  }
  void Note(std::string entry) {
    absl::MutexLock lock(&mu_);
    log_.push_back(std::move(entry));
  }
  std::vector<std::string> TakeLog() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    out.swap(log_);
    return out;
  }

  // The stored Lease's spec field `name` as text ("" if absent).
  std::string Spec(const char* name) {
    absl::MutexLock lock(&mu_);
    rapidjson::Document doc;
    doc.Parse(lease_.data(), lease_.size());
    if (doc.HasParseError() || !doc.HasMember("spec") || !doc["spec"].HasMember(name)) return "";
    const rapidjson::Value& v = doc["spec"][name];
    return v.IsString() ? v.GetString() : Serialise(v);
  }
  int64_t ResourceVersion() {
    absl::MutexLock lock(&mu_);
    return rv_;
  }

 private:
  struct Timer {
    absl::Time due;
    uint64_t seq;
    std::function<void()> fn;
  };

  bool LastCallCancelled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return last_cancel_ != nullptr && last_cancel_->IsCancelled();
  }
  bool Logged() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::find(log_.begin(), log_.end(), awaited_entry_) != log_.end();
  }

  void StoreLocked(const std::string& body) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    std::string rv = absl::StrCat(++rv_);
    doc["metadata"].RemoveMember("resourceVersion");
    doc["metadata"].AddMember("resourceVersion", rapidjson::Value(rv.c_str(), doc.GetAllocator()),
                              doc.GetAllocator());
    lease_ = Serialise(doc);
  }
  void RespondLocked(const CallOptions& call, const std::string& what,
                     absl::StatusOr<std::string> result, ResponseCallback& done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string who = call.request_id.substr(call.request_id.find('/') + 1);
    log_.push_back(absl::StrCat(who, " ", what));
    last_cancel_ = call.cancel;
    completions_.emplace_back(
        [done = std::move(done), result = std::move(result)] { done(result); });
  }

  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 100;
  std::string lease_ ABSL_GUARDED_BY(mu_);  // "" = absent
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> completions_ ABSL_GUARDED_BY(mu_);
  std::vector<Timer> timers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  std::string awaited_entry_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const CancellationToken> last_cancel_ ABSL_GUARDED_BY(mu_);
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  // An elector `identity` with the default timings (15 s / 10 s / 2 s), no jitter; its
  // callbacks log "<identity> started|stopped" and check that no two electors lead.
  std::unique_ptr<LeaderElector> Elector(const std::string& identity, bool release = false) {
    LeaderElectionOptions o;
    o.lease_namespace = "sandboxd-system";
    o.lease_name = "leader";
    o.identity = identity;
    o.release_on_stop = release;
    o.clock = [this] { return server_.Now(); };
    o.uniform01 = [] { return 0.0; };
    o.on_started_leading = [this, identity] {
      EXPECT_EQ(leaders_, 0) << identity << " starts leading while another leads";
      ++leaders_;
      server_.Note(absl::StrCat(identity, " started"));
    };
    o.on_stopped_leading = [this, identity] {
      --leaders_;
      server_.Note(absl::StrCat(identity, " stopped"));
    };
    absl::StatusOr<std::unique_ptr<LeaderElector>> e = LeaderElector::Create(&server_, o);
    EXPECT_TRUE(e.ok()) << e.status();
    return *std::move(e);
  }

  // Calls e.Stop() on another thread (it waits for the release's answer) and runs the
  // server's completions on this one until Stop returns.
  void StopWhileSettling(LeaderElector& e) {
    absl::Notification stopped;
    std::thread stopper([&] {
      e.Stop();
      stopped.Notify();
    });
    while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(1))) server_.Settle();
    stopper.join();
    server_.Settle();
  }

  const absl::Time t0_ = absl::FromUnixSeconds(1800000000);
  LeaseServer server_{t0_};
  std::atomic<int> leaders_{0};  // electors leading now, by their callbacks
};

TEST_F(LeaderElectionTest, AcquiresAnAbsentLease) {
  auto a = Elector("a");
  EXPECT_FALSE(a->IsLeader());
  a->Start();
  server_.Settle();
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a GET 404", "a POST 201", "a started"));
  EXPECT_TRUE(a->IsLeader());
  EXPECT_EQ(a->Leader(), "a");
  EXPECT_EQ(server_.Spec("holderIdentity"), "a");
  EXPECT_EQ(server_.Spec("leaseDurationSeconds"), "15");
  EXPECT_EQ(server_.Spec("acquireTime"), MicroTime(t0_));
  EXPECT_EQ(server_.Spec("renewTime"), MicroTime(t0_));
  EXPECT_EQ(server_.Spec("leaseTransitions"), "0");
}

TEST_F(LeaderElectionTest, RenewsEveryRetryPeriodWithoutReading) {
  auto a = Elector("a");
  a->Start();
  server_.Settle();
  server_.TakeLog();
  server_.Advance(absl::Milliseconds(1999));
  EXPECT_THAT(server_.TakeLog(), ElementsAre());
  server_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a PUT 200"));
  EXPECT_EQ(server_.Spec("renewTime"), MicroTime(t0_ + absl::Seconds(2)));
  server_.Advance(absl::Seconds(2));
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a PUT 200"));
  EXPECT_EQ(server_.Spec("renewTime"), MicroTime(t0_ + absl::Seconds(4)));
  EXPECT_EQ(server_.Spec("acquireTime"), MicroTime(t0_));
  EXPECT_EQ(server_.Spec("leaseTransitions"), "0");
  EXPECT_TRUE(a->IsLeader());
}

// A renewal that conflicts because another process took the Lease: the leader reads it,
// stops leading at once, and waits out the other's lease before taking it back.
TEST_F(LeaderElectionTest, StepsDownWhenAConflictRevealsAnotherHolder) {
  auto a = Elector("a");
  a->Start();
  server_.Settle();
  server_.TakeLog();
  server_.WriteHolder("b");
  server_.Advance(absl::Seconds(2));  // t0+2: the change is seen
  EXPECT_THAT(server_.TakeLog(),
              ElementsAre("external PUT holder=b", "a PUT 409", "a GET 200", "a stopped"));
  EXPECT_FALSE(a->IsLeader());
  EXPECT_EQ(a->Leader(), "b");
  // b's record is valid until t0+2+15 by a's clock; a polls every 2 s and at expiry.
  server_.Advance(absl::Seconds(15) - absl::Milliseconds(1));
  for (const std::string& entry : server_.TakeLog()) EXPECT_EQ(entry, "a GET 200");
  server_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a GET 200", "a PUT 200", "a started"));
  EXPECT_EQ(server_.Spec("holderIdentity"), "a");
  EXPECT_EQ(server_.Spec("leaseTransitions"), "1");
  EXPECT_EQ(server_.Spec("acquireTime"), MicroTime(t0_ + absl::Seconds(17)));
}

// The Lease is deleted under the leader: its next renewal (404) reads, stops leading and
// creates the Lease again.
TEST_F(LeaderElectionTest, LeaseDeletedUnderTheLeader) {
  auto a = Elector("a");
  a->Start();
  server_.Settle();
  server_.TakeLog();
  server_.DeleteLease();
  server_.Advance(absl::Seconds(2));
  EXPECT_THAT(server_.TakeLog(), ElementsAre("external DELETE", "a PUT 404", "a GET 404",
                                             "a stopped", "a POST 201", "a started"));
  EXPECT_TRUE(a->IsLeader());
  EXPECT_EQ(server_.Spec("holderIdentity"), "a");
  EXPECT_EQ(server_.Spec("leaseTransitions"), "0");
}

// The API server is unreachable: the leader keeps leading until exactly renew_deadline
// after its last successful write, then stops; it leads again once it can write.
TEST_F(LeaderElectionTest, StepsDownAtTheRenewDeadline) {
  auto a = Elector("a");
  a->Start();
  server_.Settle();
  server_.SetUnavailable(true);
  server_.TakeLog();
  server_.Advance(absl::Seconds(10) - absl::Milliseconds(1));
  EXPECT_TRUE(a->IsLeader());
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a PUT 503", "a PUT 503", "a PUT 503", "a PUT 503"));
  server_.Advance(absl::Milliseconds(1));  // the deadline first, then the due retry
  EXPECT_FALSE(a->IsLeader());
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a stopped", "a GET 503"));
  server_.SetUnavailable(false);
  server_.Advance(absl::Seconds(2));  // the record still names a: no new transition
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a GET 200", "a PUT 200", "a started"));
  EXPECT_EQ(server_.Spec("leaseTransitions"), "0");
  EXPECT_EQ(server_.Spec("acquireTime"), MicroTime(t0_));
}

// The leader stops without releasing (as if it died): the candidate takes over no earlier
// than lease_duration after the last write it saw, and at most one retry period later.
TEST_F(LeaderElectionTest, CandidateTakesOverAnExpiredLease) {
  auto a = Elector("a");
  auto b = Elector("b");
  a->Start();
  server_.Settle();
  b->Start();
  server_.Settle();
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a GET 404", "a POST 201", "a started", "b GET 200"));
  EXPECT_EQ(b->Leader(), "a");
  server_.Advance(absl::Seconds(5));
  a->Stop();
  EXPECT_THAT(server_.TakeLog(),
              ElementsAre("a PUT 200", "b GET 200", "a PUT 200", "b GET 200", "a stopped"));
  const absl::Time last_write = t0_ + absl::Seconds(4);
  server_.Advance(last_write + absl::Seconds(15) - server_.Now() - absl::Milliseconds(1));
  EXPECT_FALSE(b->IsLeader());
  for (const std::string& entry : server_.TakeLog()) EXPECT_EQ(entry, "b GET 200");
  server_.Advance(absl::Seconds(2));
  EXPECT_TRUE(b->IsLeader());
  EXPECT_THAT(server_.TakeLog(), ElementsAre("b GET 200", "b PUT 200", "b started"));
  EXPECT_EQ(server_.Spec("holderIdentity"), "b");
  EXPECT_EQ(server_.Spec("leaseTransitions"), "1");
  EXPECT_EQ(server_.Spec("acquireTime"), MicroTime(t0_ + absl::Seconds(19)));
}

// Stop with release: on_stopped_leading first, then holderIdentity "" (Stop waits for the
// answer); the candidate takes over at its next try, not after the lease duration.
TEST_F(LeaderElectionTest, ReleaseLetsTheCandidateTakeOverAtOnce) {
  auto a = Elector("a", /*release=*/true);
  auto b = Elector("b");
  a->Start();
  server_.Settle();
  b->Start();
  server_.Settle();
  server_.Advance(absl::Seconds(3));  // a renewed at t0+2
  server_.TakeLog();
  absl::Time before = absl::Now();
  StopWhileSettling(*a);
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));  // not Stop's timeout
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a stopped", "a PUT 200"));
  EXPECT_EQ(server_.Spec("holderIdentity"), "");
  EXPECT_EQ(server_.Spec("leaseDurationSeconds"), "1");
  EXPECT_EQ(server_.Spec("leaseTransitions"), "0");
  server_.Advance(absl::Seconds(1));  // b's next try (every 2 s since t0)
  EXPECT_THAT(server_.TakeLog(), ElementsAre("b GET 200", "b PUT 200", "b started"));
  EXPECT_EQ(server_.Spec("holderIdentity"), "b");
  EXPECT_EQ(server_.Spec("leaseTransitions"), "1");
  EXPECT_EQ(server_.Spec("leaseDurationSeconds"), "15");
}

// Stop during a renewal: the release waits for the renewal's answer and uses the
// resourceVersion it returned.
TEST_F(LeaderElectionTest, ReleaseAfterAnInFlightRenewal) {
  auto a = Elector("a", /*release=*/true);
  a->Start();
  server_.Settle();
  server_.Advance(absl::Seconds(2), /*settle=*/false);  // the renewal is applied, unanswered
  server_.TakeLog();
  absl::Notification stopped;
  std::thread stopper([&] {
    a->Stop();
    stopped.Notify();
  });
  ASSERT_TRUE(server_.AwaitLogged("a stopped"));  // Stop waits for the renewal's answer
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a stopped"));
  EXPECT_FALSE(stopped.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  absl::Time before = absl::Now();
  while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(1))) server_.Settle();
  stopper.join();
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));  // not Stop's timeout
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a PUT 200"));
  EXPECT_EQ(server_.Spec("holderIdentity"), "");
}

// Stop while the acquiring POST is in flight (applied, unanswered): no callback runs (it
// never led), and the Lease it got is released once the answer arrives.
TEST_F(LeaderElectionTest, StopDuringAnAcquisitionReleasesWhatItGot) {
  auto a = Elector("a", /*release=*/true);
  a->Start();
  ASSERT_TRUE(server_.SettleOne());  // GET 404 -> POST
  EXPECT_EQ(server_.Spec("holderIdentity"), "a");
  absl::Notification stopped;
  std::thread stopper([&] {
    a->Stop();
    stopped.Notify();
  });
  ASSERT_TRUE(server_.AwaitLastCallCancelled());  // Stop has begun
  while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(1))) server_.Settle();
  stopper.join();
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a GET 404", "a POST 201", "a PUT 200"));
  EXPECT_EQ(server_.Spec("holderIdentity"), "");
  EXPECT_FALSE(a->IsLeader());
}

// A stale cached copy at release time (another write happened meanwhile, still naming
// this process): one re-read, then the release.
TEST_F(LeaderElectionTest, ReleaseRereadsAStaleCopy) {
  auto a = Elector("a", /*release=*/true);
  a->Start();
  server_.Settle();
  server_.TakeLog();
  server_.WriteHolder("a");
  absl::Time before = absl::Now();
  StopWhileSettling(*a);
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));  // not Stop's timeout
  EXPECT_THAT(server_.TakeLog(), ElementsAre("external PUT holder=a", "a stopped", "a PUT 409",
                                             "a GET 200", "a PUT 200"));
  EXPECT_EQ(server_.Spec("holderIdentity"), "");
  EXPECT_EQ(server_.Spec("leaseTransitions"), "0");
}

TEST_F(LeaderElectionTest, StopWithoutReleaseLeavesTheLease) {
  auto a = Elector("a");
  a->Start();
  server_.Settle();
  int64_t rv = server_.ResourceVersion();
  a->Stop();
  server_.Settle();
  EXPECT_THAT(server_.TakeLog(), ElementsAre("a GET 404", "a POST 201", "a started", "a stopped"));
  EXPECT_EQ(server_.ResourceVersion(), rv);
  EXPECT_EQ(server_.Spec("holderIdentity"), "a");
  server_.Advance(absl::Minutes(1));
  EXPECT_THAT(server_.TakeLog(), ElementsAre());
}

TEST(LeaderElectionOptionsTest, InvalidOptionsAreRefused) {
  LeaseServer server(absl::UnixEpoch());
  auto valid = [] {
    LeaderElectionOptions o;
    o.lease_namespace = "ns";
    o.lease_name = "n";
    o.identity = "i";
    return o;
  };
  ASSERT_TRUE(LeaderElector::Create(&server, valid()).ok());
  struct Row {
    const char* what;
    std::function<void(LeaderElectionOptions&)> change;
  };
  const Row rows[] = {
      {"no namespace", [](auto& o) { o.lease_namespace = ""; }},
      {"no name", [](auto& o) { o.lease_name = ""; }},
      {"no identity", [](auto& o) { o.identity = ""; }},
      {"fractional lease", [](auto& o) { o.lease_duration = absl::Milliseconds(15500); }},
      {"zero retry", [](auto& o) { o.retry_period = absl::ZeroDuration(); }},
      {"negative jitter", [](auto& o) { o.retry_jitter = -0.1; }},
      {"deadline = lease", [](auto& o) { o.renew_deadline = absl::Seconds(15); }},
      {"deadline too short for retries",
       [](auto& o) { o.renew_deadline = absl::Milliseconds(4400); }},
  };
  for (const Row& r : rows) {
    LeaderElectionOptions o = valid();
    r.change(o);
    EXPECT_EQ(LeaderElector::Create(&server, o).status().code(), absl::StatusCode::kInvalidArgument)
        << r.what;
  }
  EXPECT_EQ(LeaderElector::Create(nullptr, valid()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sandboxd::kube
