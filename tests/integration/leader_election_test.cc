// LeaderElector on the local plane: several electors, each with its own CurlKubeClient
// under sandboxd's identity (sandboxd.kubeconfig, so deploy/rbac.yaml's Role is what lets
// them read and write the Lease sandboxd-system/sandboxd-leader), with short timings
// (lease 3 s, renew deadline 2 s, retry 0.5 s). The Lease is checked with kubectl as
// admin. Throughout, a sampler asks every elector IsLeader() every 5 ms and the
// callbacks count leaders: never two at once.
#include "src/kube/leader_election.h"

#include <curl/curl.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "src/kube/curl_kube_client.h"
#include "src/kube/forwarding_kube_client.h"
#include "src/kube/kube_config.h"
#include "tools/testing/plane.h"

namespace sandboxd::kube {
namespace {

using ::sandboxd::testing::Eventually;
using ::sandboxd::testing::Plane;

constexpr char kNamespace[] = "sandboxd-system";
constexpr char kLease[] = "sandboxd-leader";
const absl::Duration kLeaseDuration = absl::Seconds(3);
const absl::Duration kRenewDeadline = absl::Seconds(2);
const absl::Duration kRetryPeriod = absl::Milliseconds(500);
constexpr double kJitter = 1.2;
// Scheduling and request latency on a loaded 2-core machine.
const absl::Duration kSlack = absl::Seconds(1);

// Fails every call with UNAVAILABLE (asynchronously, like a dead network) once cut.
class PartitionableClient final : public ForwardingKubeClient {
 public:
  using ForwardingKubeClient::ForwardingKubeClient;
  void Cut() { cut_.store(true); }

  void Get(const ObjectRef& ref, const std::string& sub, const CallOptions& opts,
           ResponseCallback done) override {
    if (!Fail(done)) ForwardingKubeClient::Get(ref, sub, opts, std::move(done));
  }
  void Create(Kind kind, const std::string& ns, std::string body, const CallOptions& opts,
              ResponseCallback done) override {
    if (!Fail(done)) ForwardingKubeClient::Create(kind, ns, std::move(body), opts, std::move(done));
  }
  void Replace(const ObjectRef& ref, const std::string& sub, std::string body,
               const CallOptions& opts, ResponseCallback done) override {
    if (!Fail(done))
      ForwardingKubeClient::Replace(ref, sub, std::move(body), opts, std::move(done));
  }

 private:
  bool Fail(ResponseCallback& done) {
    if (!cut_.load()) return false;
    absl::Status s = RunAfter(absl::Milliseconds(100), [done = std::move(done)] {
      done(absl::UnavailableError("partitioned"));
    });
    EXPECT_TRUE(s.ok()) << s;
    return true;
  }
  std::atomic<bool> cut_{false};
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  struct Candidate {
    std::string identity;
    std::unique_ptr<CurlKubeClient> client;
    std::unique_ptr<PartitionableClient> partitionable;
    std::unique_ptr<LeaderElector> elector;  // destroyed first
  };

  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }

  void SetUp() override {
    ASSERT_EQ(plane_
                  .Kubectl(absl::StrCat("-n ", kNamespace, " delete lease ", kLease,
                                        " --ignore-not-found --wait"))
                  .exit_code,
              0);
  }

  void TearDown() override {
    StopSampler();
    candidates_.clear();
    plane_.Kubectl(
        absl::StrCat("-n ", kNamespace, " delete lease ", kLease, " --ignore-not-found"));
    EXPECT_EQ(overlaps_.load(), 0) << "on_started_leading while another elector led";
    EXPECT_EQ(sampled_overlaps_.load(), 0) << "two electors answered IsLeader() at once";
  }

  Candidate& Add(const std::string& identity, bool release_on_stop) {
    KubeConfigLoadOptions load;
    load.kubeconfig_env = plane_.sandboxd_kubeconfig();
    absl::StatusOr<KubeConfig> config = LoadKubeConfig(load);
    EXPECT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<CurlKubeClient>> client = CurlKubeClient::Create(*config);
    EXPECT_TRUE(client.ok()) << client.status();
    auto c = std::make_unique<Candidate>();
    c->identity = identity;
    c->client = *std::move(client);
    c->partitionable = std::make_unique<PartitionableClient>(c->client.get());

    LeaderElectionOptions o;
    o.lease_namespace = kNamespace;
    o.lease_name = kLease;
    o.identity = identity;
    o.lease_duration = kLeaseDuration;
    o.renew_deadline = kRenewDeadline;
    o.retry_period = kRetryPeriod;
    o.retry_jitter = kJitter;
    o.release_on_stop = release_on_stop;
    o.on_started_leading = [this, identity] {
      if (leaders_.fetch_add(1) != 0) ++overlaps_;
      Note(identity, "started");
    };
    o.on_stopped_leading = [this, identity] {
      leaders_.fetch_sub(1);
      Note(identity, "stopped");
    };
    absl::StatusOr<std::unique_ptr<LeaderElector>> e =
        LeaderElector::Create(c->partitionable.get(), o);
    EXPECT_TRUE(e.ok()) << e.status();
    c->elector = *std::move(e);
    candidates_.push_back(std::move(c));
    return *candidates_.back();
  }

  void StartAll() {
    StartSampler();
    for (auto& c : candidates_) c->elector->Start();
  }

  // The electors answering IsLeader() now.
  std::vector<Candidate*> Leaders() {
    std::vector<Candidate*> out;
    for (auto& c : candidates_) {
      if (c->elector->IsLeader()) out.push_back(c.get());
    }
    return out;
  }

  // Waits for exactly one leader other than `except`; null after `timeout`.
  Candidate* AwaitLeader(absl::Duration timeout, Candidate* except = nullptr) {
    Candidate* leader = nullptr;
    Eventually(
        [&] {
          std::vector<Candidate*> now = Leaders();
          leader = now.size() == 1 && now[0] != except ? now[0] : nullptr;
          return leader != nullptr;
        },
        timeout);
    return leader;
  }

  std::string LeaseField(const std::string& field) {
    return plane_.JsonPath(kNamespace, absl::StrCat("lease/", kLease),
                           absl::StrCat("{.spec.", field, "}"));
  }

  // The time of the first callback entry "<identity> <what>" at or after `since`.
  absl::Time When(const std::string& identity, const std::string& what, absl::Time since) {
    absl::MutexLock lock(&mu_);
    for (const auto& [t, entry] : events_) {
      if (t >= since && entry == absl::StrCat(identity, " ", what)) return t;
    }
    return absl::InfiniteFuture();
  }

  Plane plane_;

 private:
  void Note(const std::string& identity, const std::string& what) {
    absl::MutexLock lock(&mu_);
    events_.emplace_back(absl::Now(), absl::StrCat(identity, " ", what));
  }

  void StartSampler() {
    sampler_ = std::thread([this] {
      while (!stop_sampling_.HasBeenNotified()) {
        if (Leaders().size() > 1) ++sampled_overlaps_;
        ++samples_;
        stop_sampling_.WaitForNotificationWithTimeout(absl::Milliseconds(5));
      }
    });
  }
  void StopSampler() {
    if (!sampler_.joinable()) return;
    stop_sampling_.Notify();
    sampler_.join();
    EXPECT_GT(samples_.load(), 100);
  }

  std::vector<std::unique_ptr<Candidate>> candidates_;
  std::atomic<int> leaders_{0};
  std::atomic<int> overlaps_{0};
  std::atomic<int> sampled_overlaps_{0};
  std::atomic<int> samples_{0};
  std::thread sampler_;
  absl::Notification stop_sampling_;
  absl::Mutex mu_;
  std::vector<std::pair<absl::Time, std::string>> events_ ABSL_GUARDED_BY(mu_);
};

// Three electors: one leads and keeps leading; stopped without release (as if it died),
// another takes over once the lease has expired, not before.
TEST_F(LeaderElectionTest, OneLeaderThenFailoverAfterExpiry) {
  Add("replica-a", false);
  Add("replica-b", false);
  Add("replica-c", false);
  StartAll();
  Candidate* first = AwaitLeader(absl::Seconds(10));
  ASSERT_NE(first, nullptr);
  absl::SleepFor(absl::Seconds(3));  // six renewals
  ASSERT_EQ(Leaders(), std::vector<Candidate*>{first});
  EXPECT_EQ(LeaseField("holderIdentity"), first->identity);
  EXPECT_EQ(LeaseField("leaseTransitions"), "0");
  EXPECT_EQ(LeaseField("leaseDurationSeconds"), "3");
  for (auto* c : {"replica-a", "replica-b", "replica-c"}) {
    EXPECT_EQ(When(c, "started", absl::InfinitePast()) != absl::InfiniteFuture(),
              c == first->identity)
        << c;
  }

  absl::Time stopped = absl::Now();
  first->elector->Stop();
  Candidate* second = AwaitLeader(kLeaseDuration + kRetryPeriod * (1 + kJitter) + 2 * kSlack);
  ASSERT_NE(second, nullptr);
  absl::Duration failover = When(second->identity, "started", stopped) - stopped;
  RecordProperty("failover_ms", absl::StrCat(absl::ToInt64Milliseconds(failover)));
  // The candidate waited out the lease from the last renewal it saw (about one retry
  // period before the stop), and saw it at most one jittered retry period late.
  EXPECT_GE(failover, kLeaseDuration - 2 * kRetryPeriod);
  EXPECT_LE(failover, kLeaseDuration + kRetryPeriod * (1 + kJitter) + kSlack);
  EXPECT_EQ(LeaseField("holderIdentity"), second->identity);
  EXPECT_EQ(LeaseField("leaseTransitions"), "1");
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(Leaders(), std::vector<Candidate*>{second});
}

// Stop with release: holderIdentity is cleared and a candidate takes over at its next
// try, well within the lease duration; twice.
TEST_F(LeaderElectionTest, ReleasedLeaseIsTakenOverAtOnce) {
  Add("replica-a", true);
  Add("replica-b", true);
  Add("replica-c", true);
  StartAll();
  Candidate* first = AwaitLeader(absl::Seconds(10));
  ASSERT_NE(first, nullptr);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(LeaseField("leaseTransitions"), "0");

  absl::Time stopped = absl::Now();
  first->elector->Stop();  // returns once the release has been answered
  std::string holder = LeaseField("holderIdentity");
  EXPECT_NE(holder, first->identity);
  Candidate* second = AwaitLeader(kLeaseDuration, first);
  ASSERT_NE(second, nullptr);
  RecordProperty("takeover_after_release_ms",
                 absl::StrCat(absl::ToInt64Milliseconds(When(second->identity, "started", stopped) -
                                                        stopped)));
  EXPECT_LE(When(second->identity, "started", stopped) - stopped,
            kRetryPeriod * (1 + kJitter) + kSlack);
  EXPECT_EQ(LeaseField("holderIdentity"), second->identity);
  EXPECT_EQ(LeaseField("leaseTransitions"), "1");
  EXPECT_EQ(LeaseField("leaseDurationSeconds"), "3");

  stopped = absl::Now();
  second->elector->Stop();
  Candidate* third = nullptr;
  Eventually(
      [&] {
        std::vector<Candidate*> now = Leaders();
        third = now.size() == 1 && now[0] != first && now[0] != second ? now[0] : nullptr;
        return third != nullptr;
      },
      kLeaseDuration);
  ASSERT_NE(third, nullptr);
  EXPECT_LE(When(third->identity, "started", stopped) - stopped,
            kRetryPeriod * (1 + kJitter) + kSlack);
  EXPECT_EQ(LeaseField("holderIdentity"), third->identity);
  EXPECT_EQ(LeaseField("leaseTransitions"), "2");
}

// The leader loses the API server but keeps running: it stops leading at its renew
// deadline, before the other can take over (lease duration after the last renewal).
TEST_F(LeaderElectionTest, PartitionedLeaderStepsDownBeforeTakeover) {
  Candidate& a = Add("replica-a", false);
  Candidate& b = Add("replica-b", false);
  StartAll();
  Candidate* first = AwaitLeader(absl::Seconds(10));
  ASSERT_NE(first, nullptr);
  Candidate* other = first == &a ? &b : &a;
  absl::SleepFor(absl::Seconds(1));

  absl::Time cut = absl::Now();
  first->partitionable->Cut();
  ASSERT_NE(AwaitLeader(kLeaseDuration + kRetryPeriod * (1 + kJitter) + 2 * kSlack, first),
            nullptr);
  absl::Time stepped_down = When(first->identity, "stopped", cut);
  absl::Time took_over = When(other->identity, "started", cut);
  RecordProperty("step_down_ms", absl::StrCat(absl::ToInt64Milliseconds(stepped_down - cut)));
  RecordProperty("takeover_ms", absl::StrCat(absl::ToInt64Milliseconds(took_over - cut)));
  EXPECT_LE(stepped_down - cut, kRenewDeadline + absl::Milliseconds(500));
  EXPECT_LT(stepped_down, took_over);
  EXPECT_GE(took_over - stepped_down, kLeaseDuration - kRenewDeadline - kRetryPeriod);
  EXPECT_EQ(LeaseField("holderIdentity"), other->identity);
  EXPECT_EQ(LeaseField("leaseTransitions"), "1");
  EXPECT_FALSE(first->elector->IsLeader());
}

// RBAC (deploy/rbac.yaml): sandboxd may create leases and get/update only its own.
TEST_F(LeaderElectionTest, SandboxdMayWriteOnlyItsLease) {
  const std::string as = "--as=system:serviceaccount:sandboxd-system:sandboxd";
  struct Row {
    std::string verb;
    std::string what;
    std::string ns;
    std::string want;
  };
  const Row rows[] = {
      {"create", "leases", kNamespace, "yes"},
      {"get", "leases/sandboxd-leader", kNamespace, "yes"},
      {"update", "leases/sandboxd-leader", kNamespace, "yes"},
      {"update", "leases/another", kNamespace, "no"},
      {"delete", "leases/sandboxd-leader", kNamespace, "no"},
      {"create", "leases", "default", "no"},
  };
  for (const Row& r : rows) {
    sandboxd::testing::CommandResult out =
        plane_.Kubectl(absl::StrCat("auth can-i ", r.verb, " ", r.what, " -n ", r.ns, " ", as));
    EXPECT_EQ(out.output, r.want + "\n") << r.verb << " " << r.what << " in " << r.ns;
  }
}

}  // namespace
}  // namespace sandboxd::kube
