// ClaimJanitor against the FakeKubeClient and a synced SandboxCache: which claims it
// deletes, the exact requests (GET of the StatefulSet, then DELETE of the claim with UID
// and resourceVersion preconditions), when (the grace), and Stop. Timers and responses
// are completed on the test thread.
#include "src/service/claim_janitor.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/domain/builders.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"
#include "src/kube/objects_json.h"
#include "src/service/sandbox_cache.h"
#include "tests/unit/kube/fake_kube_client.h"

namespace sandboxd::service {
namespace {

using kube::FakeKubeClient;
using Call = FakeKubeClient::PendingCall;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);
const char kNs[] = "ns-a";
constexpr absl::Duration kGrace = absl::Seconds(60);
constexpr absl::Duration kInterval = absl::Seconds(10);

domain::SandboxDefaults Defaults() {
  domain::SandboxDefaults d;
  d.image = "ghcr.io/acme/sandbox:1.2";
  return d;
}

kube::StatefulSet Sts(const std::string& name) {
  domain::SandboxSpec s;
  s.name = name;
  s.ns = kNs;
  kube::StatefulSet sts =
      domain::BuildStatefulSet(domain::ApplyDefaults(s, Defaults()), Defaults());
  sts.metadata.uid = "uid-" + name;
  sts.metadata.resource_version = "1";
  return sts;
}

// The claim of sandbox `name` as its StatefulSet's claim template makes it (app label,
// managed-by), created 10 minutes before the start, without owner references.
kube::PersistentVolumeClaim Claim(const std::string& name) {
  kube::PersistentVolumeClaim c;
  c.metadata.name = "vn-homevn-agent-" + name + "-0";
  c.metadata.ns = kNs;
  c.metadata.uid = "pvc-" + name;
  c.metadata.resource_version = "42";
  c.metadata.labels = {{"app", name}, {domain::kLabelManagedBy, domain::kManagedByValue}};
  c.metadata.creation_timestamp = kStart - absl::Minutes(10);
  c.status.phase = "Bound";
  return c;
}

class ClaimJanitorTest : public testing::Test {
 protected:
  void SetUp() override {
    SandboxCache::Options o;
    o.defaults = Defaults();
    o.clock = [] { return kStart; };
    cache_ = std::make_unique<SandboxCache>(std::move(o));
    cache_->MarkSynced(SandboxCache::Source::kStatefulSets);
    cache_->MarkSynced(SandboxCache::Source::kPods);
    cache_->MarkSynced(SandboxCache::Source::kClaims);
    ClaimJanitor::Options j;
    j.grace = kGrace;
    j.interval = kInterval;
    j.clock = [this] { return now_; };
    janitor_ = std::make_unique<ClaimJanitor>(&kube_, cache_.get(), j);
  }
  void TearDown() override { janitor_.reset(); }

  // Runs the pending sweep timer at `at` (checking its delay).
  void SweepAt(absl::Time at) {
    now_ = at;
    FakeKubeClient::Timer timer = kube_.PopTimer();
    EXPECT_EQ(timer.delay, kInterval);
    if (timer.fn) timer.fn();
  }
  // Sweeps at the start (the claims are first seen) and once the grace has passed.
  void SweepPastGrace() {
    janitor_->Start();
    SweepAt(kStart);
    EXPECT_EQ(kube_.PendingCalls(), 0u) << "nothing before the grace";
    SweepAt(kStart + kGrace);
  }
  // Pops the GET of sandbox `name`'s StatefulSet.
  Call ExpectGetSts(const std::string& name) {
    Call get = kube_.PopCall();
    EXPECT_EQ(get.Describe(), "GET statefulsets/" + name);
    EXPECT_EQ(get.ref.ns, kNs);
    EXPECT_NE(get.call.deadline, absl::InfiniteFuture());
    return get;
  }
  // Pops the DELETE of sandbox `name`'s claim, checking its preconditions.
  Call ExpectDeleteClaim(const std::string& name) {
    Call del = kube_.PopCall();
    EXPECT_EQ(del.Describe(), "DELETE persistentvolumeclaims/vn-homevn-agent-" + name + "-0");
    EXPECT_EQ(del.ref.ns, kNs);
    EXPECT_EQ(del.del.precondition_uid, "pvc-" + name);
    EXPECT_EQ(del.del.precondition_resource_version, "42");
    return del;
  }

  absl::Time now_ = kStart;
  FakeKubeClient kube_;
  std::unique_ptr<SandboxCache> cache_;
  std::unique_ptr<ClaimJanitor> janitor_;
};

TEST_F(ClaimJanitorTest, AnOrphanPastTheGraceIsConfirmedAbsentThenDeletedWithPreconditions) {
  cache_->ApplyClaim(Claim("gone"));
  SweepPastGrace();
  Call get = ExpectGetSts("gone");
  EXPECT_EQ(kube_.PendingCalls(), 0u) << "one request at a time";
  get.done(absl::NotFoundError("statefulsets \"gone\" not found"));
  Call del = ExpectDeleteClaim("gone");
  EXPECT_TRUE(del.call.idempotent_writes);
  EXPECT_EQ(del.del.propagation, kube::Propagation::kBackground);
  del.done(std::string("{}"));
  EXPECT_EQ(janitor_->deleted(), 1u);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
  EXPECT_EQ(kube_.Pending(), "L0 W0 T1") << "the next sweep";
}

TEST_F(ClaimJanitorTest, NothingForKeptOwnedUnmanagedOrLiveClaims) {
  kube::PersistentVolumeClaim kept = Claim("kept");
  kept.metadata.annotations[domain::kAnnotationKeptClaim] = "true";
  cache_->ApplyClaim(kept);
  kube::PersistentVolumeClaim owned = Claim("owned");
  owned.metadata.owner_references = {{"apps/v1", "StatefulSet", "owned", "uid-owned", true, true}};
  cache_->ApplyClaim(owned);
  kube::PersistentVolumeClaim foreign = Claim("foreign");
  foreign.metadata.labels.erase(domain::kLabelManagedBy);
  cache_->ApplyClaim(foreign);
  kube::PersistentVolumeClaim other = Claim("other");
  other.metadata.labels[domain::kLabelManagedBy] = "someone-else";
  cache_->ApplyClaim(other);
  cache_->ApplyStatefulSet(Sts("live"));
  cache_->ApplyClaim(Claim("live"));
  SweepPastGrace();
  SweepAt(kStart + 10 * kGrace);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
  EXPECT_EQ(kube_.Pending(), "L0 W0 T1");
  EXPECT_EQ(janitor_->deleted(), 0u);
}

TEST_F(ClaimJanitorTest, AClaimYoungerThanTheGraceWaits) {
  kube::PersistentVolumeClaim young = Claim("young");
  young.metadata.creation_timestamp = kStart + absl::Seconds(5);  // the API server's clock
  cache_->ApplyClaim(young);
  janitor_->Start();
  SweepAt(kStart);
  SweepAt(kStart + kGrace);  // seen for the grace, but created 55 s ago
  EXPECT_EQ(kube_.PendingCalls(), 0u);
  SweepAt(kStart + kGrace + absl::Seconds(5));
  ExpectGetSts("young");
}

TEST_F(ClaimJanitorTest, TheGraceStartsAgainWhenTheClaimWasNotAnOrphanInBetween) {
  cache_->ApplyClaim(Claim("flaky"));
  janitor_->Start();
  SweepAt(kStart);
  kube::PersistentVolumeClaim owned = Claim("flaky");
  owned.metadata.owner_references = {{"apps/v1", "StatefulSet", "flaky", "uid-flaky", true, true}};
  cache_->ApplyClaim(owned);
  SweepAt(kStart + absl::Seconds(30));
  cache_->ApplyClaim(Claim("flaky"));  // released again
  SweepAt(kStart + absl::Seconds(40));
  SweepAt(kStart + absl::Seconds(90));  // 90 s since first seen, 50 s in a row
  EXPECT_EQ(kube_.PendingCalls(), 0u);
  // A new claim of the same name (a new UID) starts again too.
  kube::PersistentVolumeClaim recreated = Claim("flaky");
  recreated.metadata.uid = "pvc-flaky-2";
  cache_->ApplyClaim(recreated);
  SweepAt(kStart + absl::Seconds(100));
  EXPECT_EQ(kube_.PendingCalls(), 0u);
  SweepAt(kStart + absl::Seconds(160));
  ExpectGetSts("flaky");
}

TEST_F(ClaimJanitorTest, AStatefulSetFoundOrAnErrorLeavesTheClaim) {
  cache_->ApplyClaim(Claim("a"));
  cache_->ApplyClaim(Claim("b"));
  SweepPastGrace();
  // The cache lagged: the API server has the StatefulSet.
  ExpectGetSts("a").done(kube::ToJson(Sts("a")));
  ExpectGetSts("b").done(absl::UnavailableError("connection refused"));
  EXPECT_EQ(kube_.PendingCalls(), 0u);
  EXPECT_EQ(kube_.Pending(), "L0 W0 T1");
  // The next sweep asks again.
  SweepAt(kStart + kGrace + kInterval);
  ExpectGetSts("a");
}

TEST_F(ClaimJanitorTest, ADeleteAnsweredNotFoundOrConflictIsDoneAndTheSweepGoesOn) {
  cache_->ApplyClaim(Claim("a"));
  cache_->ApplyClaim(Claim("b"));
  cache_->ApplyClaim(Claim("c"));
  SweepPastGrace();
  ExpectGetSts("a").done(absl::NotFoundError("not found"));
  ExpectDeleteClaim("a").done(absl::NotFoundError("not found"));  // another replica's
  ExpectGetSts("b").done(absl::NotFoundError("not found"));
  ExpectDeleteClaim("b").done(absl::AbortedError("Precondition failed: UID"));  // changed
  ExpectGetSts("c").done(absl::NotFoundError("not found"));
  ExpectDeleteClaim("c").done(std::string("{}"));
  EXPECT_EQ(janitor_->deleted(), 1u);
  EXPECT_EQ(kube_.Pending(), "L0 W0 T1");
}

TEST_F(ClaimJanitorTest, StopEndsTheSweepsAndIgnoresLateAnswers) {
  cache_->ApplyClaim(Claim("gone"));
  SweepPastGrace();
  Call get = ExpectGetSts("gone");
  ASSERT_NE(get.call.cancel, nullptr);
  EXPECT_FALSE(get.call.cancel->IsCancelled());
  janitor_->Stop();
  EXPECT_TRUE(get.call.cancel->IsCancelled()) << "the request in flight is cancelled";
  get.done(absl::NotFoundError("not found"));
  EXPECT_EQ(kube_.PendingCalls(), 0u) << "no DELETE after Stop";
  EXPECT_EQ(kube_.Pending(), "L0 W0 T0") << "no further sweep";
  janitor_->Start();  // nothing after Stop
  EXPECT_EQ(kube_.Pending(), "L0 W0 T0");
}

TEST_F(ClaimJanitorTest, ATimerFiringAfterStopDoesNothing) {
  cache_->ApplyClaim(Claim("gone"));
  janitor_->Start();
  FakeKubeClient::Timer timer = kube_.PopTimer();
  janitor_->Stop();
  now_ = kStart + 10 * kGrace;
  timer.fn();
  EXPECT_EQ(kube_.PendingCalls(), 0u);
  EXPECT_EQ(kube_.Pending(), "L0 W0 T0");
}

TEST(ClaimJanitorIntervalTest, AQuarterOfTheGraceWithinOneAndThirtySeconds) {
  EXPECT_EQ(ClaimJanitor::DefaultInterval(absl::Seconds(60)), absl::Seconds(15));
  EXPECT_EQ(ClaimJanitor::DefaultInterval(absl::Seconds(2)), absl::Seconds(1));
  EXPECT_EQ(ClaimJanitor::DefaultInterval(absl::Minutes(10)), absl::Seconds(30));
}

}  // namespace
}  // namespace sandboxd::service
