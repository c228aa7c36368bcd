// Reflector against an in-memory FakeKubeClient that records every call and lets the test
// complete it (on the test thread), with an injected clock and jitter.
#include "src/kube/reflector.h"

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/unit/kube/fake_kube_client.h"

namespace sandboxd::kube {
namespace {

// Records sink calls as strings. Thread-safe.
class RecordingSink final : public ReflectorSink {
 public:
  void OnUpsert(const JsonObject& object) override {
    Record(absl::StrCat("upsert ", object.Json()));
    if (on_call) on_call();
  }
  void OnDelete(const std::string& ns, const std::string& name,
                const std::string& resource_version) override {
    Record(absl::StrCat("delete ", ns, "/", name, "@", resource_version));
    if (on_call) on_call();
  }
  void OnSynced() override {
    Record("synced");
    if (on_call) on_call();
  }
  std::vector<std::string> Take() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    out.swap(calls_);
    return out;
  }
  bool HasRoom() override {
    ++room_asked;
    return room.load();
  }
  std::function<void()> on_call;  // set before Start
  std::atomic<bool> room{true};   // what HasRoom answers
  std::atomic<int> room_asked{0};

 private:
  void Record(std::string s) {
    absl::MutexLock lock(&mu_);
    calls_.push_back(std::move(s));
  }
  absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

// A list item as the API server sends it (no kind/apiVersion) and as the sink gets it.
std::string Item(const std::string& name, const std::string& rv) {
  return absl::StrCat(R"({"metadata":{"name":")", name, R"(","namespace":"u1","resourceVersion":")",
                      rv, R"("}})");
}
std::string Upserted(const std::string& name, const std::string& rv) {
  return absl::StrCat("upsert ", R"({"metadata":{"name":")", name,
                      R"(","namespace":"u1","resourceVersion":")", rv,
                      R"("},"kind":"StatefulSet","apiVersion":"apps/v1"})");
}
std::string Page(const std::vector<std::string>& items, const std::string& rv,
                 const std::string& cont = "") {
  std::string joined;
  for (const auto& i : items) absl::StrAppend(&joined, joined.empty() ? "" : ",", i);
  return absl::StrCat(R"({"kind":"StatefulSetList","apiVersion":"apps/v1","metadata":{"resourceVersion":")",
                      rv, R"(","continue":")", cont, R"("},"items":[)", joined, "]}");
}
std::string WatchObj(const std::string& name, const std::string& rv) {
  return absl::StrCat(R"({"kind":"StatefulSet","apiVersion":"apps/v1","metadata":{"name":")", name,
                      R"(","namespace":"u1","resourceVersion":")", rv, R"("}})");
}
std::string BookmarkObj(const std::string& rv) {
  return absl::StrCat(R"({"kind":"StatefulSet","apiVersion":"apps/v1","metadata":{"resourceVersion":")",
                      rv, R"("}})");
}

class ReflectorTest : public ::testing::Test {
 protected:
  ReflectorOptions Options() {
    ReflectorOptions o;
    o.kind = Kind::kStatefulSet;
    o.label_selector = "app.kubernetes.io/managed-by=sandboxd";
    o.uniform01 = [] { return 0.5; };
    o.clock = [this] {
      absl::MutexLock lock(&clock_mu_);
      return now_;
    };
    return o;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&clock_mu_);
    now_ += d;
  }

  FakeKubeClient client_;
  RecordingSink sink_;
  absl::Mutex clock_mu_;
  absl::Time now_ ABSL_GUARDED_BY(clock_mu_) = absl::FromUnixSeconds(1000000);
};

TEST_F(ReflectorTest, RelistAbandonsTheWatchAndListsOneNamespaceAgain) {
  ReflectorOptions options = Options();
  options.ns = "u1";
  Reflector r(&client_, &sink_, options);
  EXPECT_EQ(r.Relist(), 0);  // not started
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
  r.Start();
  auto l1 = client_.PopList();
  EXPECT_EQ(l1.ns, "u1");
  EXPECT_EQ(l1.call.request_id, "reflector/u1/statefulsets");
  l1.done(Page({Item("a", "90")}, "100"));
  auto w1 = client_.PopWatch();
  EXPECT_EQ(w1.ns, "u1");
  w1.on_event(Event(WatchEvent::Type::kAdded, WatchObj("b", "101")));
  EXPECT_EQ(sink_.Take(), (std::vector<std::string>{Upserted("a", "90"), "synced",
                                                    "upsert " + WatchObj("b", "101")}));

  EXPECT_EQ(r.Relist(), 2);  // the number of the list it began
  EXPECT_TRUE(w1.stopped->load());
  EXPECT_EQ(client_.Pending(), "L1 W0 T0");
  w1.on_event(Event(WatchEvent::Type::kAdded, WatchObj("c", "102")));  // abandoned: ignored
  auto l2 = client_.PopList();
  EXPECT_EQ(l2.ns, "u1");
  EXPECT_EQ(l2.opts.continue_token, "");
  l2.done(Page({Item("a", "150")}, "200"));
  EXPECT_EQ(sink_.Take(),
            (std::vector<std::string>{Upserted("a", "150"), "delete u1/b@200", "synced"}));
  EXPECT_EQ(client_.PopWatch().opts.resource_version, "200");
  EXPECT_EQ(r.Stats().lists, 2);
  EXPECT_EQ(r.Stats().relists_after_410, 0);

  r.Stop();
  EXPECT_EQ(r.Relist(), 0);
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
}

// Flow control: a full sink pauses the reflector before its next read (the next list
// page, the watch after a list, the rest of a watch); Resume() continues exactly there,
// and no event is lost.
TEST_F(ReflectorTest, AFullSinkPausesReadingUntilResume) {
  Reflector r(&client_, &sink_, Options());
  r.Resume();  // not paused: nothing happens
  r.Start();
  sink_.room = false;
  client_.PopList().done(Page({Item("a", "90")}, "100", "c1"));
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");  // the next page waits
  EXPECT_TRUE(r.Stats().paused);
  EXPECT_EQ(r.Stats().pauses, 1);
  r.Resume();
  auto l2 = client_.PopList();
  EXPECT_EQ(l2.opts.continue_token, "c1");
  EXPECT_FALSE(r.Stats().paused);
  l2.done(Page({Item("b", "95")}, "100"));
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");  // the watch waits
  EXPECT_EQ(sink_.Take(),
            (std::vector<std::string>{Upserted("a", "90"), Upserted("b", "95"), "synced"}));
  sink_.room = true;
  r.Resume();
  r.Resume();  // idempotent
  auto w1 = client_.PopWatch();
  EXPECT_EQ(w1.opts.resource_version, "100");
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");

  w1.on_event(Event(WatchEvent::Type::kAdded, WatchObj("c", "101")));
  sink_.room = false;
  w1.on_event(Event(WatchEvent::Type::kModified, WatchObj("c", "102")));  // then full
  EXPECT_TRUE(w1.stopped->load());                                        // stops reading
  w1.on_event(Event(WatchEvent::Type::kModified, WatchObj("c", "103")));  // ignored
  w1.on_done(absl::CancelledError("stopped"));                            // ignored
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
  EXPECT_EQ(sink_.Take(), (std::vector<std::string>{"upsert " + WatchObj("c", "101"),
                                                    "upsert " + WatchObj("c", "102")}));
  EXPECT_EQ(r.Stats().pauses, 3);
  EXPECT_EQ(r.Stats().backoffs, 0);
  sink_.room = true;
  r.Resume();
  auto w2 = client_.PopWatch();
  EXPECT_EQ(w2.opts.resource_version, "102");  // 103 comes again on this watch
  w2.on_event(Event(WatchEvent::Type::kModified, WatchObj("c", "103")));
  EXPECT_EQ(sink_.Take(), (std::vector<std::string>{"upsert " + WatchObj("c", "103")}));
  EXPECT_EQ(r.Stats().lists, 1);

  // Stop while paused: Resume does nothing afterwards.
  sink_.room = false;
  w2.on_event(Event(WatchEvent::Type::kBookmark, BookmarkObj("110")));
  r.Stop();
  r.Resume();
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
}

TEST_F(ReflectorTest, ListSyncedEventsThen410RelistWithSyntheticDeletes) {
  Reflector r(&client_, &sink_, Options());
  r.Start();
  r.Start();  // idempotent
  EXPECT_EQ(client_.Pending(), "L1 W0 T0");

  auto l1 = client_.PopList();
  EXPECT_EQ(l1.opts.label_selector, "app.kubernetes.io/managed-by=sandboxd");
  EXPECT_EQ(l1.opts.limit, 500);
  EXPECT_EQ(l1.opts.continue_token, "");
  EXPECT_EQ(l1.opts.resource_version, "");
  EXPECT_EQ(l1.call.request_id, "reflector/statefulsets");
  EXPECT_EQ(l1.kind, Kind::kStatefulSet);
  EXPECT_EQ(l1.ns, "");  // all namespaces
  l1.done(Page({Item("a", "90"), Item("b", "91")}, "100", "c1"));
  EXPECT_FALSE(r.HasSynced());
  auto l2 = client_.PopList();
  EXPECT_EQ(l2.opts.continue_token, "c1");
  EXPECT_EQ(l2.opts.resource_version, "");
  l2.done(Page({Item("c", "95")}, "100"));
  EXPECT_EQ(sink_.Take(), (std::vector<std::string>{Upserted("a", "90"), Upserted("b", "91"),
                                                    Upserted("c", "95"), "synced"}));
  EXPECT_TRUE(r.HasSynced());

  auto w1 = client_.PopWatch();
  EXPECT_EQ(w1.opts.resource_version, "100");
  EXPECT_EQ(w1.opts.label_selector, "app.kubernetes.io/managed-by=sandboxd");
  EXPECT_TRUE(w1.opts.allow_bookmarks);
  EXPECT_EQ(w1.opts.timeout_seconds, 450);  // 300 + 300 * 0.5
  w1.on_event(Event(WatchEvent::Type::kAdded, WatchObj("d", "101")));
  w1.on_event(Event(WatchEvent::Type::kModified, WatchObj("a", "102")));
  w1.on_event(Event(WatchEvent::Type::kDeleted, WatchObj("b", "103")));
  w1.on_event(Event(WatchEvent::Type::kBookmark, BookmarkObj("110")));
  EXPECT_EQ(sink_.Take(),
            (std::vector<std::string>{"upsert " + WatchObj("d", "101"),
                                      "upsert " + WatchObj("a", "102"), "delete u1/b@103"}));
  EXPECT_EQ(r.Stats().last_resource_version, "110");
  EXPECT_EQ(r.Stats().events, 4);

  // Server timeout: re-watch from the bookmark's RV, no list.
  Advance(absl::Minutes(7));
  w1.on_done(absl::OkStatus());
  auto w2 = client_.PopWatch();
  EXPECT_EQ(w2.opts.resource_version, "110");
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");

  // 410 -> relist from scratch; c and d are gone, a is kept, e is new.
  Advance(absl::Minutes(1));
  w2.on_done(absl::OutOfRangeError("too old resource version"));
  auto l3 = client_.PopList();
  EXPECT_EQ(l3.opts.continue_token, "");
  EXPECT_EQ(l3.opts.resource_version, "");
  l3.done(Page({Item("a", "150"), Item("e", "160")}, "200"));
  EXPECT_EQ(sink_.Take(),
            (std::vector<std::string>{Upserted("a", "150"), Upserted("e", "160"), "delete u1/c@200",
                                      "delete u1/d@200", "synced"}));
  auto w3 = client_.PopWatch();
  EXPECT_EQ(w3.opts.resource_version, "200");

  ReflectorStats s = r.Stats();
  EXPECT_EQ(s.lists, 2);
  EXPECT_EQ(s.list_pages, 3);
  EXPECT_EQ(s.watches_started, 3);
  EXPECT_EQ(s.relists_after_410, 1);
  EXPECT_EQ(s.backoffs, 0);
  EXPECT_EQ(s.last_resource_version, "200");
  EXPECT_TRUE(s.synced);

  r.Stop();
  EXPECT_TRUE(w3.stopped->load());
}

TEST_F(ReflectorTest, ExpiredContinueTokenRestartsTheListAtOnce) {
  Reflector r(&client_, &sink_, Options());
  r.Start();
  client_.PopList().done(Page({Item("a", "1")}, "10", "c1"));
  client_.PopList().done(absl::OutOfRangeError("continue token expired"));
  auto again = client_.PopList();
  EXPECT_EQ(again.opts.continue_token, "");
  again.done(Page({Item("b", "2")}, "20"));
  EXPECT_EQ(sink_.Take(), (std::vector<std::string>{Upserted("a", "1"), Upserted("b", "2"),
                                                    "delete u1/a@20", "synced"}));
  EXPECT_EQ(client_.PopWatch().opts.resource_version, "20");
  EXPECT_EQ(r.Stats().lists, 2);
  EXPECT_EQ(r.Stats().backoffs, 0);
}

TEST_F(ReflectorTest, BacksOffWithJitterCapAndReset) {
  Reflector r(&client_, &sink_, Options());
  r.Start();
  // Lists keep failing: 800 ms doubling, each stretched by jitter 0.5, capped at 30 s.
  std::vector<absl::Duration> delays;
  for (int i = 0; i < 7; ++i) {
    client_.PopList().done(absl::UnavailableError("apiserver down"));
    auto t = client_.PopTimer();
    delays.push_back(t.delay);
    Advance(t.delay);
    t.fn();
  }
  EXPECT_EQ(delays, (std::vector<absl::Duration>{
                        absl::Milliseconds(1200), absl::Milliseconds(2400), absl::Milliseconds(4800),
                        absl::Milliseconds(9600), absl::Milliseconds(19200), absl::Seconds(30),
                        absl::Seconds(30)}));
  EXPECT_EQ(r.Stats().backoffs, 7);
  EXPECT_EQ(r.Stats().last_error.code(), absl::StatusCode::kUnavailable);
  client_.PopList().done(Page({}, "50"));
  EXPECT_EQ(sink_.Take(), (std::vector<std::string>{"synced"}));

  // Healthy for more than 2 minutes: the next failure starts again at 800 ms (x1.5).
  auto w = client_.PopWatch();
  Advance(absl::Minutes(3));
  w.on_done(absl::UnavailableError("connection reset"));
  auto t = client_.PopTimer();
  EXPECT_EQ(t.delay, absl::Milliseconds(1200));
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
  Advance(t.delay);
  t.fn();
  // A watch error keeps the RV: watch again, no list.
  auto w2 = client_.PopWatch();
  EXPECT_EQ(w2.opts.resource_version, "50");

  // A watch that ends OK within 1 s without events is a failure (next backoff step).
  Advance(absl::Milliseconds(500));
  w2.on_done(absl::OkStatus());
  auto t2 = client_.PopTimer();
  EXPECT_EQ(t2.delay, absl::Milliseconds(2400));
  Advance(t2.delay);
  t2.fn();
  // ...but one with an event is not, however short.
  auto w3 = client_.PopWatch();
  w3.on_event(Event(WatchEvent::Type::kBookmark, BookmarkObj("60")));
  Advance(absl::Milliseconds(100));
  w3.on_done(absl::OkStatus());
  EXPECT_EQ(client_.PopWatch().opts.resource_version, "60");
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
  EXPECT_EQ(r.Stats().lists, 8);
  EXPECT_EQ(r.Stats().backoffs, 9);
}

TEST_F(ReflectorTest, Immediate410AfterRelistBacksOffThenLists) {
  Reflector r(&client_, &sink_, Options());
  r.Start();
  client_.PopList().done(Page({}, "10"));
  client_.PopWatch().on_done(absl::OutOfRangeError("gone"));  // at once, no events
  auto t = client_.PopTimer();
  EXPECT_EQ(t.delay, absl::Milliseconds(1200));
  t.fn();
  EXPECT_EQ(client_.Pending(), "L1 W0 T0");
  EXPECT_EQ(r.Stats().relists_after_410, 1);
}

TEST_F(ReflectorTest, StopFromInsideASinkCallIsTheLastCall) {
  Reflector r(&client_, &sink_, Options());
  int calls = 0;
  sink_.on_call = [&] {
    if (++calls == 2) r.Stop();
  };
  r.Start();
  auto l = client_.PopList();
  l.done(Page({Item("a", "1"), Item("b", "2"), Item("c", "3")}, "10"));
  EXPECT_EQ(sink_.Take(), (std::vector<std::string>{Upserted("a", "1"), Upserted("b", "2")}));
  EXPECT_TRUE(l.call.cancel->IsCancelled());
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
  EXPECT_FALSE(r.HasSynced());
}

TEST_F(ReflectorTest, NoSinkCallAfterStop) {
  Reflector r(&client_, &sink_, Options());
  r.Start();
  client_.PopList().done(Page({Item("a", "1")}, "10"));
  sink_.Take();
  auto w = client_.PopWatch();
  w.on_done(absl::UnavailableError("reset"));
  auto t = client_.PopTimer();
  r.Stop();
  // Late callbacks of every kind are ignored.
  w.on_event(Event(WatchEvent::Type::kAdded, WatchObj("z", "11")));
  t.fn();
  EXPECT_TRUE(sink_.Take().empty());
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
  r.Start();  // no restart after Stop
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
}

TEST_F(ReflectorTest, StopStopsTheWatchAndIgnoresItsEvents) {
  auto r = std::make_unique<Reflector>(&client_, &sink_, Options());
  r->Start();
  client_.PopList().done(Page({}, "10"));
  sink_.Take();
  auto w = client_.PopWatch();
  r.reset();  // destructor stops
  EXPECT_TRUE(w.stopped->load());
  w.on_event(Event(WatchEvent::Type::kAdded, WatchObj("z", "11")));  // core outlives the reflector
  w.on_done(absl::CancelledError("stopped"));
  EXPECT_TRUE(sink_.Take().empty());
  EXPECT_EQ(client_.Pending(), "L0 W0 T0");
}

TEST_F(ReflectorTest, UndecodableEventStopsTheWatchAndRewatchesFromTheLastRv) {
  Reflector r(&client_, &sink_, Options());
  r.Start();
  client_.PopList().done(Page({}, "10"));
  auto w = client_.PopWatch();
  w.on_event(Event(WatchEvent::Type::kAdded, R"({"metadata":{}})"));
  EXPECT_TRUE(w.stopped->load());
  auto t = client_.PopTimer();
  t.fn();
  EXPECT_EQ(client_.PopWatch().opts.resource_version, "10");
  EXPECT_EQ(r.Stats().last_error.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(sink_.Take(), (std::vector<std::string>{"synced"}));
}

}  // namespace
}  // namespace sandboxd::kube
