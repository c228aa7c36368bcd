// CacheFeed against FakeKubeClient: which lists and watches it makes in each scope, and
// that the cache holds exactly the served namespaces — pending while a newly served one
// is listed, forgotten when one stops being served.
#include "src/service/cache_feed.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "src/domain/builders.h"
#include "src/domain/validation.h"
#include "src/kube/objects_json.h"
#include "tests/unit/kube/fake_kube_client.h"

namespace sandboxd::service {
namespace {

using kube::FakeKubeClient;
using kube::Kind;

// Polls `condition` (the feed applies input on its own thread) for up to 10 s.
bool Until(const std::function<bool()>& condition) {
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

domain::SandboxDefaults Defaults() {
  domain::SandboxDefaults d;
  d.image = "registry.local/agent:1";
  return d;
}

std::string StsJson(const std::string& ns, const std::string& name, const std::string& rv) {
  domain::SandboxSpec spec;
  spec.ns = ns;
  spec.name = name;
  kube::StatefulSet sts =
      domain::BuildStatefulSet(domain::ApplyDefaults(spec, Defaults()), Defaults());
  sts.metadata.uid = "uid-" + name;
  sts.metadata.resource_version = rv;
  return kube::ToJson(sts);
}

std::string ListOf(const std::vector<std::string>& items, const std::string& rv) {
  std::string joined;
  for (const std::string& item : items) absl::StrAppend(&joined, joined.empty() ? "" : ",", item);
  return absl::StrCat(R"({"metadata":{"resourceVersion":")", rv, R"("},"items":[)", joined, "]}");
}

class CacheFeedTest : public ::testing::Test {
 protected:
  CacheFeedTest() : cache_(Options()) {}
  static SandboxCache::Options Options() {
    SandboxCache::Options o;
    o.defaults = Defaults();
    return o;
  }
  // Completes the next three lists (StatefulSets, pods, claims, in that order) with
  // `sts_items` as the StatefulSets and no pods or claims; returns their namespaces.
  std::vector<std::string> CompleteLists(const std::vector<std::string>& sts_items,
                                         const std::string& rv) {
    std::vector<std::string> namespaces;
    for (Kind kind : {Kind::kStatefulSet, Kind::kPod, Kind::kPersistentVolumeClaim}) {
      FakeKubeClient::PendingList list = client_.PopList();
      EXPECT_EQ(list.kind, kind);
      // Every claim (the foreign ones too); only sandboxd's StatefulSets and pods.
      EXPECT_EQ(list.opts.label_selector, kind == Kind::kPersistentVolumeClaim
                                              ? ""
                                              : "app.kubernetes.io/managed-by=sandboxd");
      namespaces.push_back(list.ns);
      list.done(ListOf(kind == Kind::kStatefulSet ? sts_items : std::vector<std::string>{}, rv));
    }
    return namespaces;
  }
  size_t CachedIn(const std::string& ns) {
    domain::ListQuery query;
    query.ns = ns;
    absl::StatusOr<domain::ListResult> list = cache_.List(query);
    return list.ok() ? list->sandboxes.size() : 999;
  }

  FakeKubeClient client_;
  SandboxCache cache_;
};

// Bounded input: with room for two inputs, a reflector whose inputs the input thread has
// not applied yet pauses (its watch ends, nothing is read), and once the queue has
// drained it watches again from the last version it delivered: nothing is lost.
TEST_F(CacheFeedTest, AFullInputQueuePausesTheWatchUntilItDrains) {
  CacheFeed feed(&client_, &cache_, CacheFeed::Scope::kCluster, /*queue_capacity=*/2);
  feed.NamespaceServed("a");
  feed.Start();
  ASSERT_TRUE(Until([&] { return client_.Pending() == "L3 W0 T0"; }));
  CompleteLists({}, "20");
  ASSERT_TRUE(Until([&] { return cache_.synced("a") && client_.Pending() == "L0 W3 T0"; }));
  FakeKubeClient::PendingWatch sts_watch = client_.PopWatch();
  FakeKubeClient::PendingWatch pod_watch = client_.PopWatch();
  FakeKubeClient::PendingWatch claim_watch = client_.PopWatch();

  // The input thread blocks in a stream's on_ready (run by the thread that applied the
  // change), with the first input still counted as queued.
  absl::Notification entered;
  absl::Notification release;
  std::atomic<bool> first{true};
  auto sub = cache_.Subscribe({"a", "", "", ""}, "", [&] {
    if (!first.exchange(false)) return;
    entered.Notify();
    release.WaitForNotification();
  });
  ASSERT_TRUE(sub.ok()) << sub.status();
  while ((*sub)->Next().has_value()) {
  }
  sts_watch.on_event(kube::Event(kube::WatchEvent::Type::kAdded, StsJson("a", "s1", "21")));
  entered.WaitForNotification();
  EXPECT_FALSE(sts_watch.stopped->load());
  sts_watch.on_event(kube::Event(kube::WatchEvent::Type::kAdded, StsJson("a", "s2", "22")));
  EXPECT_TRUE(sts_watch.stopped->load()) << "full: the reflector stops reading";
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
  EXPECT_EQ(feed.stats().pauses, 1);

  release.Notify();
  ASSERT_TRUE(Until([&] { return client_.Pending() == "L0 W1 T0"; }));
  EXPECT_EQ(client_.PopWatch().opts.resource_version, "22");
  ASSERT_TRUE(Until([&] { return CachedIn("a") == 2; }));
  EXPECT_EQ(feed.stats().pauses, 1);
  (*sub)->Cancel();
}

TEST_F(CacheFeedTest, ClusterScopeHoldsServedNamespacesAndRelistsForANewOne) {
  CacheFeed feed(&client_, &cache_, CacheFeed::Scope::kCluster);
  feed.NamespaceServed("a");
  EXPECT_FALSE(cache_.synced("a"));
  EXPECT_EQ(client_.Pending(), "L0 W0 T0") << "nothing listed before Start";
  feed.Start();
  ASSERT_TRUE(Until([&] { return client_.Pending() == "L3 W0 T0"; }));
  EXPECT_EQ(CompleteLists({StsJson("a", "s1", "10"), StsJson("b", "x1", "11")}, "20"),
            (std::vector<std::string>{"", "", ""}));
  ASSERT_TRUE(Until([&] { return cache_.synced("a"); }));
  EXPECT_TRUE(cache_.synced());
  EXPECT_EQ(CachedIn("a"), 1u);
  EXPECT_EQ(CachedIn("b"), 0u) << "not served: dropped";
  ASSERT_EQ(client_.Pending(), "L0 W3 T0");
  std::vector<FakeKubeClient::PendingWatch> watches;
  watches.reserve(3);
  for (int i = 0; i < 3; ++i) watches.push_back(client_.PopWatch());

  // b becomes served: pending until every reflector has listed again.
  feed.NamespaceServed("b");
  EXPECT_FALSE(cache_.synced("b"));
  ASSERT_TRUE(Until([&] { return client_.Pending() == "L3 W0 T0"; }));
  for (const auto& watch : watches) EXPECT_TRUE(watch.stopped->load());
  FakeKubeClient::PendingList sts = client_.PopList();
  sts.done(ListOf({StsJson("a", "s1", "10"), StsJson("b", "x1", "11")}, "30"));
  FakeKubeClient::PendingList pods = client_.PopList();
  pods.done(ListOf({}, "30"));
  EXPECT_FALSE(cache_.synced("b")) << "the claims are not listed yet";
  client_.PopList().done(ListOf({}, "30"));
  ASSERT_TRUE(Until([&] { return cache_.synced("b"); }));
  EXPECT_EQ(CachedIn("b"), 1u);
  EXPECT_TRUE(cache_.Get("b", "x1").ok());
  EXPECT_EQ(feed.stats().lists, 6);
  EXPECT_EQ(feed.stats().reflectors, 3u);

  // a stops being served: forgotten at once; its later events are dropped.
  feed.NamespaceUnserved("a");
  ASSERT_TRUE(Until([&] { return CachedIn("a") == 0; }));
  FakeKubeClient::PendingWatch sts_watch = client_.PopWatch();
  EXPECT_EQ(sts_watch.kind, Kind::kStatefulSet);
  sts_watch.on_event(kube::Event(kube::WatchEvent::Type::kModified, StsJson("a", "s1", "40")));
  sts_watch.on_event(kube::Event(kube::WatchEvent::Type::kModified, StsJson("b", "x2", "41")));
  ASSERT_TRUE(Until([&] { return cache_.Get("b", "x2").ok(); }));
  EXPECT_EQ(CachedIn("a"), 0u);
  EXPECT_TRUE(cache_.synced("a")) << "not pending: simply not served";
  feed.Stop();
}

TEST_F(CacheFeedTest, PerNamespaceScopeWatchesEachServedNamespaceOnItsOwn) {
  CacheFeed feed(&client_, &cache_, CacheFeed::Scope::kPerNamespace);
  feed.NamespaceServed("a");
  feed.Start();
  EXPECT_TRUE(cache_.synced()) << "nothing cluster-wide to wait for";
  EXPECT_FALSE(cache_.synced("a"));
  ASSERT_EQ(client_.Pending(), "L3 W0 T0");
  EXPECT_EQ(CompleteLists({StsJson("a", "s1", "10")}, "20"),
            (std::vector<std::string>{"a", "a", "a"}));
  ASSERT_TRUE(Until([&] { return cache_.synced("a"); }));
  EXPECT_EQ(CachedIn("a"), 1u);
  std::vector<FakeKubeClient::PendingWatch> a_watches;
  a_watches.reserve(3);
  for (int i = 0; i < 3; ++i) a_watches.push_back(client_.PopWatch());
  EXPECT_EQ(a_watches[0].ns, "a");

  // Read-your-writes follows a's own StatefulSet watch.
  std::atomic<int> reached{0};
  cache_.WhenStatefulSetsAt("a", 25, [&reached](bool ok) { reached = ok ? 1 : -1; });
  EXPECT_EQ(reached, 0);
  a_watches[0].on_event(kube::Event(kube::WatchEvent::Type::kModified, StsJson("a", "s1", "25")));
  ASSERT_TRUE(Until([&] { return reached != 0; }));
  EXPECT_EQ(reached, 1);

  feed.NamespaceServed("b");
  ASSERT_EQ(client_.Pending(), "L3 W0 T0");
  EXPECT_EQ(CompleteLists({StsJson("b", "x1", "30")}, "31"),
            (std::vector<std::string>{"b", "b", "b"}));
  ASSERT_TRUE(Until([&] { return cache_.synced("b"); }));
  EXPECT_EQ(feed.stats().reflectors, 6u);

  feed.NamespaceUnserved("a");
  for (const auto& watch : a_watches) EXPECT_TRUE(watch.stopped->load());
  ASSERT_TRUE(Until([&] { return CachedIn("a") == 0; }));
  EXPECT_EQ(CachedIn("b"), 1u);
  EXPECT_EQ(feed.stats().reflectors, 3u);
  EXPECT_EQ(client_.Pending(), "L0 W3 T0") << "b's watches only";
  feed.Stop();
}

}  // namespace
}  // namespace sandboxd::service
