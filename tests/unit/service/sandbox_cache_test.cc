#include "src/service/sandbox_cache.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/domain/builders.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/status.h"
#include "src/domain/trim.h"
#include "src/domain/validation.h"
#include "src/service/cache_memory.h"

namespace sandboxd::service {
namespace {

using domain::Phase;
using Type = WatchEvent::Type;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);
const char kNs[] = "ns-a";

// The token of a position (sts, pod, pvc).
std::string Token(uint64_t sts, uint64_t pod, uint64_t pvc) {
  return absl::StrFormat("v1.%d.%d.%d", sts, pod, pvc);
}
// Tests that never call MarkProgress: every complete position is the zero one.
std::string Token0() { return Token(0, 0, 0); }

domain::SandboxDefaults Defaults() {
  domain::SandboxDefaults d;
  d.image = "ghcr.io/acme/sandbox:1.2";
  return d;
}

// A StatefulSet as BuildStatefulSet makes it, observed by the controller, not ready.
kube::StatefulSet Sts(const std::string& name, const std::string& project = "",
                      std::map<std::string, std::string> labels = {}) {
  domain::SandboxSpec s;
  s.name = name;
  s.ns = kNs;
  s.project = project;
  s.labels = std::move(labels);
  s.env = {{"A", "1"}, {"B", "2"}, {"C", "3"}, {"D", "4"}, {"E", "5"}};
  kube::StatefulSet sts = domain::BuildStatefulSet(domain::ApplyDefaults(s, Defaults()), Defaults());
  sts.metadata.uid = "uid-" + name;
  sts.metadata.resource_version = "1";
  sts.metadata.generation = 1;
  sts.metadata.creation_timestamp = kStart - absl::Minutes(10);
  sts.status.observed_generation = 1;
  return sts;
}

// The StatefulSet ready, as written at `version`: resourceVersion and generation (the
// Sandbox.version) both set to it, and observed by the controller.
kube::StatefulSet Ready(kube::StatefulSet sts, const std::string& version) {
  sts.status.replicas = 1;
  sts.status.ready_replicas = 1;
  sts.metadata.resource_version = version;
  sts.metadata.generation = std::stoll(version);
  sts.status.observed_generation = sts.metadata.generation;
  return sts;
}

kube::Pod Pod(const std::string& name, const std::string& phase = "Running") {
  kube::Pod pod;
  pod.metadata.name = name + "-0";
  pod.metadata.ns = kNs;
  pod.metadata.labels = {{"app", name}};
  pod.metadata.creation_timestamp = kStart - absl::Minutes(5);
  pod.status.phase = phase;
  pod.status.pod_ip = "10.0.0.7";
  kube::ContainerStatus cs;
  cs.name = name;
  cs.image = "ghcr.io/acme/sandbox:1.2";
  cs.container_id = "containerd://0123456789abcdef0123456789abcdef";
  cs.state.running = kube::ContainerStateRunning{kStart - absl::Minutes(4)};
  pod.status.container_statuses = {cs};
  pod.status.conditions = {{"Ready", "True", "", "", kStart}, {"PodScheduled", "True", "", "", kStart}};
  return pod;
}

kube::PersistentVolumeClaim Claim(const std::string& name, const std::string& phase = "Bound",
                                  absl::Time created = kStart - absl::Minutes(10)) {
  kube::PersistentVolumeClaim c;
  c.metadata.name = "vn-homevn-agent-" + name + "-0";
  c.metadata.labels = {{"app", name}, {"app.kubernetes.io/managed-by", "sandboxd"}};  // template
  c.metadata.ns = kNs;
  c.metadata.uid = "pvc-" + name;
  c.metadata.creation_timestamp = created;
  c.spec.access_modes = {"ReadWriteOnce"};
  c.spec.resources.requests = {{"storage", "5Gi"}};
  c.status.phase = phase;
  if (phase == "Bound") c.status.capacity = {{"storage", "5Gi"}};
  return c;
}

class SandboxCacheTest : public testing::Test {
 protected:
  SandboxCache::Options Opts() {
    SandboxCache::Options o;
    o.defaults = Defaults();
    o.history_capacity = 16;
    o.queue_capacity = 4;
    o.clock = [this]() { return now_; };
    return o;
  }
  void MakeCache(SandboxCache::Options o) { cache_ = std::make_unique<SandboxCache>(std::move(o)); }
  void SyncAll() {
    cache_->MarkSynced(SandboxCache::Source::kStatefulSets);
    cache_->MarkSynced(SandboxCache::Source::kPods);
    cache_->MarkSynced(SandboxCache::Source::kClaims);
  }
  void SetUp() override {
    MakeCache(Opts());
    SyncAll();
  }
  std::shared_ptr<WatchSubscription> Sub(WatchFilter f = {kNs, "", "", ""},
                                         const std::string& token = "") {
    auto sub = cache_->Subscribe(f, token, [this]() { ++ready_calls_; });
    EXPECT_TRUE(sub.ok()) << sub.status();
    return sub.ok() ? *sub : nullptr;
  }
  uint64_t Seq() { return cache_->stats().sequence; }

  absl::Time now_ = kStart;
  std::unique_ptr<SandboxCache> cache_;
  std::atomic<int> ready_calls_{0};
};

// Every pending event as "TYPE name phase token".
std::vector<std::string> Drain(WatchSubscription& sub) {
  std::vector<std::string> out;
  while (std::optional<WatchEvent> e = sub.Next()) {
    std::string line = WatchEventTypeName(e->type);
    if (e->sandbox != nullptr) {
      const domain::Sandbox& sb = e->sandbox->sandbox();
      line += std::string(" ") + sb.spec.name + " " + domain::PhaseName(sb.phase);
    }
    line += " [" + e->resume_token + "]";
    out.push_back(line);
  }
  return out;
}

domain::ListQuery Q(const std::string& ns) {
  domain::ListQuery q;
  q.ns = ns;
  return q;
}

std::string T(uint64_t sts, uint64_t pod, uint64_t pvc) { return "[" + Token(sts, pod, pvc) + "]"; }
std::string T0() { return "[" + Token0() + "]"; }
// The token of an initial-state ADDED or a RESET.
std::string TI() { return "[v1.i]"; }

// ---- store and derivation --------------------------------------------------------------

TEST_F(SandboxCacheTest, JoinsPodAndClaimThatArriveBeforeTheirStatefulSet) {
  cache_->ApplyPod(Pod("alice"));
  cache_->ApplyClaim(Claim("alice"));
  EXPECT_EQ(Seq(), 0u);  // no StatefulSet: no sandbox, no change
  EXPECT_EQ(cache_->Get(kNs, "alice").status().code(), absl::StatusCode::kNotFound);

  cache_->ApplyStatefulSet(Sts("alice"));
  absl::StatusOr<domain::Sandbox> sb = cache_->Get(kNs, "alice");
  ASSERT_TRUE(sb.ok()) << sb.status();
  EXPECT_EQ(sb->phase, Phase::kStarting);
  EXPECT_EQ(sb->message, "waiting for pod alice-0 to be ready (phase Running)");
  EXPECT_EQ(sb->storage.phase, "Bound");
  EXPECT_EQ(sb->storage.capacity, "5Gi");
  EXPECT_EQ(sb->storage.uid, "pvc-alice");
  EXPECT_EQ(sb->spec.env.size(), 5u);

  cache_->ApplyStatefulSet(Ready(Sts("alice"), "2"));
  EXPECT_EQ(cache_->Get(kNs, "alice")->phase, Phase::kRunning);
  EXPECT_EQ(cache_->Get(kNs, "alice")->version, "2");
  EXPECT_EQ(Seq(), 2u);

  // Pod gone while the StatefulSet wants a replica, then scaled to 0: STOPPED.
  kube::StatefulSet stopped = Sts("alice");
  stopped.spec.replicas = 0;
  cache_->DeletePod(kNs, "alice-0");
  cache_->ApplyStatefulSet(stopped);
  EXPECT_EQ(cache_->Get(kNs, "alice")->phase, Phase::kStopped);

  // Objects of other names are ignored.
  kube::Pod stray = Pod("x");
  stray.metadata.name = "x-1";
  cache_->ApplyPod(stray);
  kube::PersistentVolumeClaim other_claim = Claim("x");
  other_claim.metadata.name = "data-y-0";  // not "<template>-<app label>-0"
  cache_->ApplyClaim(other_claim);
  other_claim.metadata.labels.erase("app");
  other_claim.metadata.name = "data-x-0";  // no app label and not "home-<name>-0"
  cache_->ApplyClaim(other_claim);
  EXPECT_EQ(cache_->stats().entries, 1u);
}

// Of a claim sandboxd did not make only the name is kept: it joins no sandbox, and a
// create asks the cache whether one has the name it wants.
TEST_F(SandboxCacheTest, KeepsOnlyTheNameOfAForeignClaim) {
  const std::string name = "vn-homevn-agent-alice-0";
  kube::PersistentVolumeClaim foreign = Claim("alice");
  foreign.metadata.labels.erase("app.kubernetes.io/managed-by");
  cache_->ApplyStatefulSet(Sts("alice"));
  EXPECT_EQ(*cache_->IsForeignClaim(kNs, name), false);
  cache_->ApplyClaim(foreign);
  EXPECT_EQ(*cache_->IsForeignClaim(kNs, name), true);
  EXPECT_EQ(*cache_->IsForeignClaim("other-ns", name), false);
  EXPECT_EQ(cache_->Get(kNs, "alice")->storage.uid, "");
  EXPECT_FALSE(cache_->HasClaim(kNs, "alice", name));
  const uint64_t seq = Seq();

  // Labelled managed-by=sandboxd: sandboxd's, joined.
  cache_->ApplyClaim(Claim("alice"));
  EXPECT_EQ(*cache_->IsForeignClaim(kNs, name), false);
  EXPECT_EQ(cache_->Get(kNs, "alice")->storage.uid, "pvc-alice");
  EXPECT_EQ(Seq(), seq + 1);
  // The label removed: foreign again, and the sandbox no longer has it.
  cache_->ApplyClaim(foreign);
  EXPECT_EQ(*cache_->IsForeignClaim(kNs, name), true);
  EXPECT_EQ(cache_->Get(kNs, "alice")->storage.uid, "");
  EXPECT_EQ(Seq(), seq + 2);
  cache_->DeleteClaim(kNs, name);
  EXPECT_EQ(*cache_->IsForeignClaim(kNs, name), false);
  EXPECT_EQ(Seq(), seq + 2);

  // Forgotten with its namespace; not known before the cache has synced.
  cache_->ApplyClaim(foreign);
  cache_->ForgetNamespace(kNs);
  EXPECT_EQ(*cache_->IsForeignClaim(kNs, name), false);
  MakeCache(Opts());
  EXPECT_EQ(cache_->IsForeignClaim(kNs, name).status().code(), absl::StatusCode::kUnavailable);
}

// A StatefulSet created before the Sealos naming: template "home", and its claim (from
// a template that, like today's, carried the app label, or an unlabelled one) joins it,
// whichever arrives first; a kept claim of the other template does not confuse it.
TEST_F(SandboxCacheTest, JoinsTheClaimOfTheStatefulSetsOwnTemplate) {
  domain::SandboxDefaults legacy_defaults = Defaults();
  legacy_defaults.claim_template_name = "home";
  kube::StatefulSet legacy = Sts("old");
  legacy.spec.volume_claim_templates[0].metadata.name = "home";
  legacy.spec.template_.spec.containers[0].volume_mounts[0].name = "home";
  kube::PersistentVolumeClaim home = Claim("old", "Bound");
  home.metadata.name = "home-old-0";
  home.metadata.labels.erase("app");
  home.metadata.uid = "pvc-home-old";
  kube::PersistentVolumeClaim other = Claim("old", "Pending");
  other.metadata.uid = "pvc-vn-old";  // vn-homevn-agent-old-0
  cache_->ApplyClaim(home);
  cache_->ApplyClaim(other);
  cache_->ApplyStatefulSet(legacy);
  absl::StatusOr<domain::Sandbox> sb = cache_->Get(kNs, "old");
  ASSERT_TRUE(sb.ok()) << sb.status();
  EXPECT_EQ(sb->storage.claim_name, "home-old-0");
  EXPECT_EQ(sb->storage.uid, "pvc-home-old");
  EXPECT_EQ(sb->storage.phase, "Bound");
  EXPECT_EQ(sb->spec.storage.mount_path, "/home/agent");

  // Deleting the other claim leaves the sandbox's; deleting its own clears it.
  cache_->DeleteClaim(kNs, "vn-homevn-agent-old-0");
  EXPECT_EQ(cache_->Get(kNs, "old")->storage.uid, "pvc-home-old");
  cache_->DeleteClaim(kNs, "home-old-0");
  EXPECT_EQ(cache_->Get(kNs, "old")->storage.uid, "");
  EXPECT_EQ(cache_->Get(kNs, "old")->storage.claim_name, "home-old-0");

  EXPECT_FALSE(cache_->HasClaim(kNs, "old", "home-old-0"));
  cache_->ApplyClaim(home);
  EXPECT_TRUE(cache_->HasClaim(kNs, "old", "home-old-0"));
  EXPECT_FALSE(cache_->HasClaim(kNs, "old", "vn-homevn-agent-old-0"));

  // A new-style sandbox whose name ends like another's: the label decides.
  kube::PersistentVolumeClaim b = Claim("a-b");
  cache_->ApplyStatefulSet(Sts("a-b"));
  cache_->ApplyClaim(b);
  EXPECT_EQ(cache_->Get(kNs, "a-b")->storage.uid, "pvc-a-b");
  cache_->DeleteClaim(kNs, "vn-homevn-agent-a-b-0");
  EXPECT_EQ(cache_->Get(kNs, "a-b")->storage.uid, "");
}

TEST_F(SandboxCacheTest, DerivationOnTrimmedObjectsEqualsDerivationOnWholeObjects) {
  kube::StatefulSet sts = Ready(Sts("alice", "p1", {{"team", "a"}}), "7");
  sts.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"] =
      std::string(2000, 'x');
  kube::Pod pod = Pod("alice", "Pending");
  pod.status.container_statuses[0].state = {};
  pod.status.container_statuses[0].state.waiting =
      kube::ContainerStateWaiting{"CrashLoopBackOff", "back-off 5m"};
  pod.status.container_statuses[0].restart_count = 4;
  pod.status.container_statuses[0].last_state.terminated =
      kube::ContainerStateTerminated{137, std::nullopt, "OOMKilled", "", std::nullopt, std::nullopt};
  kube::PersistentVolumeClaim claim = Claim("alice");
  const kube::StatefulSet trimmed_sts = domain::TrimStatefulSet(sts);
  const kube::Pod trimmed_pod = domain::TrimPod(pod);
  const kube::PersistentVolumeClaim trimmed_claim = domain::TrimClaim(claim);
  for (bool with_pod : {false, true}) {
    domain::Sandbox whole =
        domain::DeriveSandbox(sts, with_pod ? &pod : nullptr, &claim, kStart, Defaults());
    domain::Sandbox trimmed = domain::DeriveSandbox(
        trimmed_sts, with_pod ? &trimmed_pod : nullptr, &trimmed_claim, kStart, Defaults());
    EXPECT_TRUE(trimmed == whole);  // every field (domain operator==)
    EXPECT_EQ(trimmed.message, whole.message);
  }
  EXPECT_EQ(domain::DeriveSandbox(sts, &pod, &claim, kStart, Defaults()).error_reason,
            domain::ErrorReason::kCrashLoop);
}

// Prints the estimate quoted in sandbox_cache.h. The test objects are minimal (no
// last-applied annotation, no volumes, one container): real decoded objects are larger,
// the trimmed ones are not.
TEST_F(SandboxCacheTest, MemoryEstimate) {
  SandboxCache::Options o = Opts();
  o.history_capacity = 1;
  MakeCache(o);
  SyncAll();
  for (const char* name : {"alice", "bob"}) {  // the history holds bob's ADDED only
    cache_->ApplyStatefulSet(Ready(Sts(name, "p1", {{"team", "a"}, {"tier", "web"}}), "7"));
    cache_->ApplyPod(Pod(name));
    cache_->ApplyClaim(Claim(name));
  }
  const kube::StatefulSet sts = Ready(Sts("alice", "p1", {{"team", "a"}, {"tier", "web"}}), "7");
  const size_t whole = ApproxBytes(sts) + ApproxBytes(Pod("alice")) + ApproxBytes(Claim("alice"));
  const size_t trimmed = ApproxBytes(domain::TrimStatefulSet(sts)) +
                         ApproxBytes(domain::TrimPod(Pod("alice"))) +
                         ApproxBytes(domain::TrimClaim(Claim("alice")));
  const size_t per_sandbox = cache_->stats().approx_bytes / 2;
  const size_t view = ApproxBytes(*cache_->Get(kNs, "alice"));
  std::cout << "per sandbox: " << per_sandbox << " bytes (trimmed objects " << trimmed
            << ", view " << view << "); whole objects " << whole << "\n";
  EXPECT_LT(trimmed, whole);
  EXPECT_LT(per_sandbox, 12000u);
}

TEST_F(SandboxCacheTest, UnchangedViewRecordsNothing) {
  cache_->ApplyStatefulSet(Sts("alice"));
  cache_->ApplyPod(Pod("alice"));
  const uint64_t seq = Seq();
  cache_->ApplyStatefulSet(Sts("alice"));  // same object again (relist)
  kube::Pod pod = Pod("alice");
  pod.metadata.resource_version = "99";  // pod changes the view does not show
  pod.status.pod_ip = "10.0.0.8";
  cache_->ApplyPod(pod);
  EXPECT_EQ(Seq(), seq);
}

TEST_F(SandboxCacheTest, AChangeIsSharedByEveryStreamAndEncodedOnce) {
  cache_->ApplyStatefulSet(Sts("alice"));
  std::shared_ptr<WatchSubscription> one = Sub();
  std::shared_ptr<WatchSubscription> two = Sub();
  Drain(*one);
  Drain(*two);
  cache_->ApplyStatefulSet(Ready(Sts("alice"), "2"));
  std::optional<WatchEvent> a = one->Next();
  std::optional<WatchEvent> b = two->Next();
  ASSERT_TRUE(a.has_value() && b.has_value());
  ASSERT_NE(a->sandbox, nullptr);
  EXPECT_EQ(a->sandbox, b->sandbox);  // one shared object, not two copies
  int encodes = 0;
  auto encode = [&encodes](const domain::Sandbox& sb) {
    ++encodes;
    return "encoded " + sb.spec.name + " v" + sb.version;
  };
  EXPECT_EQ(a->sandbox->Encoded(encode), "encoded alice v2");
  EXPECT_EQ(b->sandbox->Encoded(encode), "encoded alice v2");
  EXPECT_EQ(encodes, 1);
}

TEST(SharedSandboxTest, ConcurrentFirstEncodersAgreeOnOneResult) {
  domain::Sandbox sb;
  sb.spec.name = "alice";
  const SharedSandbox shared(std::make_shared<const internal::SandboxState>(
      internal::SandboxState{sb, {}}));
  std::atomic<int> encodes{0};
  std::vector<const std::string*> seen(8, nullptr);
  std::vector<std::thread> threads;
  threads.reserve(seen.size());
  for (const std::string*& slot : seen) {
    threads.emplace_back([&, out = &slot]() {
      *out = &shared.Encoded([&](const domain::Sandbox& s) {
        return std::to_string(encodes.fetch_add(1)) + s.spec.name;
      });
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GE(encodes.load(), 1);
  for (const std::string* p : seen) EXPECT_EQ(p, seen[0]);  // the same kept string
  EXPECT_THAT(*seen[0], testing::EndsWith("alice"));
}

TEST_F(SandboxCacheTest, DeleteRecordsDeletedWithTheLastState) {
  cache_->ApplyStatefulSet(Ready(Sts("alice"), "5"));
  cache_->ApplyPod(Pod("alice"));
  std::shared_ptr<WatchSubscription> sub = Sub();
  EXPECT_EQ(Seq(), 1u);  // the pod does not change a RUNNING view
  EXPECT_THAT(Drain(*sub), testing::ElementsAre("ADDED alice RUNNING " + TI(),
                                                "INITIAL_STATE_COMPLETE " + T0()));
  cache_->DeleteStatefulSet(kNs, "alice");
  std::optional<WatchEvent> e = sub->Next();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->type, Type::kDeleted);
  EXPECT_EQ(e->sandbox->sandbox().phase, Phase::kRunning);
  EXPECT_EQ(e->sandbox->sandbox().version, "5");
  EXPECT_EQ(e->resume_token, Token0());
  EXPECT_EQ(cache_->Get(kNs, "alice").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(domain::GetErrorDetail(cache_->Get(kNs, "alice").status()).reason,
            "SANDBOX_NOT_FOUND");
  EXPECT_EQ(cache_->stats().sandboxes, 0u);
  EXPECT_EQ(cache_->stats().entries, 1u);  // the pod remains until it is deleted
  cache_->DeletePod(kNs, "alice-0");
  EXPECT_EQ(cache_->stats().entries, 0u);
  EXPECT_EQ(Seq(), 2u);
}

TEST_F(SandboxCacheTest, TickRecordsTimeDependentPhasesOnlyWhenThePhaseChanges) {
  cache_->ApplyClaim(Claim("alice", "Pending", kStart));
  cache_->ApplyStatefulSet(Sts("alice"));
  EXPECT_EQ(cache_->Get(kNs, "alice")->phase, Phase::kStarting);
  std::shared_ptr<WatchSubscription> sub = Sub();
  Drain(*sub);
  cache_->Tick(kStart + absl::Minutes(1));
  EXPECT_EQ(Seq(), 1u);
  cache_->Tick(kStart + absl::Minutes(3));
  EXPECT_EQ(Seq(), 2u);
  EXPECT_EQ(cache_->Get(kNs, "alice")->error_reason, domain::ErrorReason::kClaimNotBound);
  EXPECT_EQ(cache_->Get(kNs, "alice")->message,
            "claim vn-homevn-agent-alice-0 Pending since 2023-11-14T22:13:20Z (limit 2m)");
  cache_->Tick(kStart + absl::Minutes(4));  // nothing in the derived view changes
  EXPECT_EQ(Seq(), 2u);
  EXPECT_THAT(Drain(*sub), testing::ElementsAre("MODIFIED alice ERROR " + T0()));
}

// ---- reads ------------------------------------------------------------------------------

TEST_F(SandboxCacheTest, NotSyncedIsUnavailable) {
  MakeCache(Opts());
  cache_->ApplyStatefulSet(Sts("alice"));
  cache_->MarkSynced(SandboxCache::Source::kStatefulSets);
  cache_->MarkSynced(SandboxCache::Source::kPods);
  EXPECT_FALSE(cache_->synced());
  absl::Status get = cache_->Get(kNs, "alice").status();
  EXPECT_EQ(get.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(get.message(), "sandboxd is starting (its watch cache has not synced); retry shortly");
  EXPECT_EQ(domain::GetErrorDetail(get).reason, "CACHE_NOT_SYNCED");
  EXPECT_EQ(cache_->List(Q(kNs)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache_->Subscribe({kNs, "", "", ""}, "", nullptr).status().code(),
            absl::StatusCode::kUnavailable);
  cache_->MarkSynced(SandboxCache::Source::kClaims);
  EXPECT_TRUE(cache_->synced());
  EXPECT_TRUE(cache_->Get(kNs, "alice").ok());
}

std::vector<std::string> Names(const domain::ListResult& r) {
  std::vector<std::string> out;
  for (const domain::Sandbox& s : r.sandboxes) out.push_back(s.spec.name);
  return out;
}

TEST_F(SandboxCacheTest, ListPagesInNameOrderWithFilters) {
  cache_->ApplyStatefulSet(Sts("e", "p1", {{"team", "a"}}));
  cache_->ApplyStatefulSet(Sts("b", "p1", {{"team", "b"}}));
  cache_->ApplyStatefulSet(Sts("d", "p2", {{"team", "a"}}));
  cache_->ApplyStatefulSet(Sts("a", "p1", {{"team", "a"}}));
  cache_->ApplyStatefulSet(Sts("c", "p1"));
  kube::StatefulSet other = Sts("a");
  other.metadata.ns = "ns-b";
  cache_->ApplyStatefulSet(other);
  cache_->ApplyPod(Pod("f"));  // no StatefulSet: not listed

  domain::ListQuery q;
  q.ns = kNs;
  q.page_size = 2;
  absl::StatusOr<domain::ListResult> page = cache_->List(q);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Names(*page), testing::ElementsAre("a", "b"));
  ASSERT_FALSE(page->next_page_token.empty());
  q.page_token = page->next_page_token;
  page = cache_->List(q);
  EXPECT_THAT(Names(*page), testing::ElementsAre("c", "d"));
  q.page_token = page->next_page_token;
  page = cache_->List(q);
  EXPECT_THAT(Names(*page), testing::ElementsAre("e"));
  EXPECT_EQ(page->next_page_token, "");

  q = Q(kNs);
  q.project = "p1";
  EXPECT_THAT(Names(*cache_->List(q)), testing::ElementsAre("a", "b", "c", "e"));
  q.label_selector = "team=a";
  EXPECT_THAT(Names(*cache_->List(q)), testing::ElementsAre("a", "e"));
  q.label_selector = "team notin (b), app.kubernetes.io/managed-by=sandboxd";
  q.page_size = 1;
  page = cache_->List(q);
  EXPECT_THAT(Names(*page), testing::ElementsAre("a"));
  q.page_token = page->next_page_token;
  page = cache_->List(q);
  EXPECT_THAT(Names(*page), testing::ElementsAre("c"));  // b is filtered out
  q.page_token = page->next_page_token;
  page = cache_->List(q);
  EXPECT_THAT(Names(*page), testing::ElementsAre("e"));
  EXPECT_EQ(page->next_page_token, "");

  q = Q(kNs);
  q.label_selector = "team in (";
  EXPECT_EQ(domain::GetErrorDetail(cache_->List(q).status()).metadata["field"],
            "label_selector");
  q = Q(kNs);
  q.page_token = "!!!";
  EXPECT_EQ(domain::GetErrorDetail(cache_->List(q).status()).metadata["field"], "page_token");
  q = Q("Bad_NS");
  EXPECT_EQ(cache_->List(q).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- watches ----------------------------------------------------------------------------

TEST_F(SandboxCacheTest, InitialStateThenMarkerThenChanges) {
  cache_->ApplyStatefulSet(Sts("bob"));
  cache_->ApplyStatefulSet(Ready(Sts("alice"), "2"));
  std::shared_ptr<WatchSubscription> sub = Sub();
  EXPECT_EQ(sub->pending(), 3u);
  EXPECT_THAT(Drain(*sub),
              testing::ElementsAre("ADDED alice RUNNING " + TI(), "ADDED bob STARTING " + TI(),
                                   "INITIAL_STATE_COMPLETE " + T0()));
  EXPECT_EQ(sub->last_token(), Token0());
  EXPECT_EQ(ready_calls_, 0);
  cache_->ApplyStatefulSet(Ready(Sts("bob"), "3"));
  EXPECT_EQ(ready_calls_, 1);
  cache_->ApplyStatefulSet(Sts("carol"));
  EXPECT_EQ(ready_calls_, 1);  // not re-armed: Next() has not returned nullopt since
  EXPECT_THAT(Drain(*sub),
              testing::ElementsAre("MODIFIED bob RUNNING " + T0(), "ADDED carol STARTING " + T0()));

  // A single-sandbox watch.
  std::shared_ptr<WatchSubscription> one = Sub({kNs, "bob", "", ""});
  EXPECT_THAT(Drain(*one),
              testing::ElementsAre("ADDED bob RUNNING " + TI(), "INITIAL_STATE_COMPLETE " + T0()));
  cache_->ApplyStatefulSet(Ready(Sts("alice"), "9"));
  EXPECT_THAT(Drain(*one), testing::ElementsAre());
  EXPECT_EQ(one->last_token(), Token0());
}

// ---- positions and resume tokens --------------------------------------------------------

using Source = SandboxCache::Source;
// One input as CacheFeed delivers it: the object (or delete) at `rv`, then the progress.
using Input = std::function<void(SandboxCache&)>;

Input StsAt(kube::StatefulSet sts, uint64_t rv) {
  sts.metadata.resource_version = std::to_string(rv);
  return [sts, rv](SandboxCache& c) {
    c.ApplyStatefulSet(sts);
    c.MarkProgress(Source::kStatefulSets, rv);
  };
}
Input DeleteStsAt(const std::string& name, uint64_t rv) {
  return [name, rv](SandboxCache& c) {
    c.DeleteStatefulSet(kNs, name, rv);
    c.MarkProgress(Source::kStatefulSets, rv);
  };
}
Input PodAt(kube::Pod pod, uint64_t rv) {
  pod.metadata.resource_version = std::to_string(rv);
  return [pod, rv](SandboxCache& c) {
    c.ApplyPod(pod);
    c.MarkProgress(Source::kPods, rv);
  };
}
Input ClaimAt(kube::PersistentVolumeClaim claim, uint64_t rv) {
  claim.metadata.resource_version = std::to_string(rv);
  return [claim, rv](SandboxCache& c) {
    c.ApplyClaim(claim);
    c.MarkProgress(Source::kClaims, rv);
  };
}
// The three first lists, empty, at `rv`: the floor of every kind.
void FirstListsAt(SandboxCache& c, uint64_t rv) {
  for (Source k : {Source::kStatefulSets, Source::kPods, Source::kClaims}) {
    c.MarkSynced(k);
    c.MarkProgress(k, rv);
  }
}

TEST(ResumeTokenTest, RoundTripAndFormats) {
  const Progress p{{12, 34, 56}};
  EXPECT_EQ(EncodeResumeToken(p), "v1.12.34.56");
  absl::StatusOr<ResumePosition> parsed = ParseResumeToken("v1.12.34.56");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->kind, ResumePosition::Kind::kAt);
  EXPECT_EQ(parsed->at, p);
  EXPECT_EQ(ParseResumeToken("")->kind, ResumePosition::Kind::kNone);
  // Incomplete positions and the per-process tokens of earlier versions: start over.
  for (const char* token : {"v1.i", "abcdef0123456789.5", "abcdef0123456789.i"}) {
    EXPECT_EQ(ParseResumeToken(token)->kind, ResumePosition::Kind::kRestart) << token;
  }
  for (const char* token : {"x", "v1", "v1.1.2", "v1.1.2.3.4", "v2.1.2.3", "v1.a.2.3", "v1.-1.2.3",
                            "v1.1.2.", "v1.+1.2.3", "v1.99999999999999999999999.0.0",
                            "ABCDEF0123456789.1", "abcdef0123456789.", "abcdef0123456789.1x"}) {
    absl::StatusOr<ResumePosition> bad = ParseResumeToken(token);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_EQ(domain::GetErrorDetail(bad.status()).metadata["field"], "resume_token") << token;
  }
  EXPECT_TRUE((Progress{{2, 2, 2}}).Covers(Progress{{1, 2, 0}}));
  EXPECT_FALSE((Progress{{2, 2, 2}}).Covers(Progress{{1, 3, 0}}));
  EXPECT_EQ(Max(Progress{{1, 5, 2}}, Progress{{3, 4, 2}}), (Progress{{3, 5, 2}}));
}

// A stream on replica A is cut; the client resumes on replica B, which received the same
// inputs with the kinds interleaved differently (each kind in resourceVersion order, as
// its watch delivers them). B replays exactly what the client has not seen.
TEST_F(SandboxCacheTest, ResumeOnAnotherReplicaReplaysExactlyTheUnseenChanges) {
  kube::StatefulSet alice_ready = Ready(Sts("alice"), "14");
  const Input s1 = StsAt(Sts("alice"), 11), c1 = ClaimAt(Claim("alice"), 12),
              p1 = PodAt(Pod("alice"), 13), s2 = StsAt(alice_ready, 14), s3 = StsAt(Sts("bob"), 15),
              p2 = PodAt(Pod("bob"), 16), s4 = DeleteStsAt("alice", 17);

  SandboxCache a(Opts());
  FirstListsAt(a, 10);
  auto on_a = *a.Subscribe({kNs, "", "", ""}, "", nullptr);
  EXPECT_THAT(Drain(*on_a), testing::ElementsAre("INITIAL_STATE_COMPLETE " + T(10, 10, 10)));
  std::vector<std::string> seen_on_a;
  for (const Input& in : {s1, c1}) {
    in(a);
    for (std::string& e : Drain(*on_a)) seen_on_a.push_back(std::move(e));
  }
  const std::string early = on_a->last_token();
  for (const Input& in : {p1, s2}) {
    in(a);
    for (std::string& e : Drain(*on_a)) seen_on_a.push_back(std::move(e));
  }
  const std::string late = on_a->last_token();
  EXPECT_THAT(seen_on_a, testing::ElementsAre("ADDED alice STARTING " + T(11, 10, 10),
                                              "MODIFIED alice STARTING " + T(11, 10, 12),
                                              "MODIFIED alice STARTING " + T(11, 13, 12),
                                              "MODIFIED alice RUNNING " + T(14, 13, 12)));
  EXPECT_EQ(early, Token(11, 10, 12));
  EXPECT_EQ(late, Token(14, 13, 12));
  for (const Input& in : {s3, p2, s4}) in(a);  // the client is gone

  // B: pods first, then claims, then StatefulSets.
  SandboxCache b(Opts());
  FirstListsAt(b, 10);
  for (const Input& in : {p1, p2, c1, s1, s2, s3, s4}) in(b);
  EXPECT_EQ(b.progress(kNs), (Progress{{17, 16, 12}}));
  EXPECT_EQ(b.Get(kNs, "bob")->resource_version, "15");  // Sandbox.resource_version

  // From `late`: bob appeared and alice went; nothing of alice before is repeated.
  auto resumed = *b.Subscribe({kNs, "", "", ""}, late, nullptr);
  EXPECT_EQ(resumed->last_token(), late);
  EXPECT_THAT(Drain(*resumed), testing::ElementsAre("ADDED bob STARTING " + T(15, 16, 12),
                                                    "DELETED alice RUNNING " + T(17, 16, 12),
                                                    "INITIAL_STATE_COMPLETE " + T(17, 16, 12)));
  // From `early`: B recorded alice's ADDED with her pod (unseen: pod 13 > 10), but the
  // client knows alice (StatefulSet 11 <= 11): MODIFIED. Then each unseen change.
  auto from_early = *b.Subscribe({kNs, "", "", ""}, early, nullptr);
  EXPECT_THAT(Drain(*from_early), testing::ElementsAre("MODIFIED alice STARTING " + T(11, 16, 12),
                                                       "MODIFIED alice RUNNING " + T(14, 16, 12),
                                                       "ADDED bob STARTING " + T(15, 16, 12),
                                                       "DELETED alice RUNNING " + T(17, 16, 12),
                                                       "INITIAL_STATE_COMPLETE " + T(17, 16, 12)));
  // A watch of alice alone, from `early`: her changes only.
  EXPECT_THAT(Drain(**b.Subscribe({kNs, "alice", "", ""}, early, nullptr)),
              testing::ElementsAre("MODIFIED alice STARTING " + T(11, 16, 12),
                                   "MODIFIED alice RUNNING " + T(15, 16, 12),
                                   "DELETED alice RUNNING " + T(17, 16, 12),
                                   "INITIAL_STATE_COMPLETE " + T(17, 16, 12)));
  // At the head of B: just the marker.
  EXPECT_THAT(Drain(**b.Subscribe({kNs, "", "", ""}, Token(17, 16, 12), nullptr)),
              testing::ElementsAre("INITIAL_STATE_COMPLETE " + T(17, 16, 12)));
  // A token from A carries over to A too (same process, same rules).
  EXPECT_THAT(Drain(**a.Subscribe({kNs, "", "", ""}, late, nullptr)),
              testing::ElementsAre("ADDED bob STARTING " + T(15, 13, 12),
                                   "MODIFIED bob STARTING " + T(15, 16, 12),
                                   "DELETED alice RUNNING " + T(17, 16, 12),
                                   "INITIAL_STATE_COMPLETE " + T(17, 16, 12)));
  // Replayed changes are not merged with live ones either.
  auto live = *b.Subscribe({kNs, "", "", ""}, late, nullptr);
  StsAt(Ready(Sts("bob"), "18"), 18)(b);
  EXPECT_THAT(Drain(*live), testing::ElementsAre("ADDED bob STARTING " + T(15, 16, 12),
                                                 "DELETED alice RUNNING " + T(17, 16, 12),
                                                 "INITIAL_STATE_COMPLETE " + T(17, 16, 12),
                                                 "MODIFIED bob RUNNING " + T(18, 16, 12)));
}

TEST_F(SandboxCacheTest, ResumeBelowTheFloorIncompleteOrOldFormatResets) {
  SandboxCache::Options o = Opts();
  o.history_capacity = 2;
  MakeCache(o);
  FirstListsAt(*cache_, 10);
  StsAt(Sts("alice"), 11)(*cache_);               // change 1
  StsAt(Sts("bob"), 12)(*cache_);                 // change 2
  StsAt(Ready(Sts("alice"), "13"), 13)(*cache_);  // change 3; evicts 1: floor sts 11
  const std::vector<std::string> reset = {"RESET " + TI(), "ADDED alice RUNNING " + TI(),
                                          "ADDED bob STARTING " + TI(),
                                          "INITIAL_STATE_COMPLETE " + T(13, 10, 10)};
  // Older than the first lists: deletes before them were never seen here.
  EXPECT_THAT(Drain(*Sub({kNs, "", "", ""}, Token(9, 10, 10))), testing::ElementsAreArray(reset));
  EXPECT_THAT(Drain(*Sub({kNs, "", "", ""}, Token(10, 10, 9))), testing::ElementsAreArray(reset));
  // Before the evicted change 1.
  EXPECT_THAT(Drain(*Sub({kNs, "", "", ""}, Token(10, 10, 10))), testing::ElementsAreArray(reset));
  EXPECT_THAT(Drain(*Sub({kNs, "", "", ""}, Token(11, 10, 10))),
              testing::ElementsAre("ADDED bob STARTING " + T(12, 10, 10),
                                   "MODIFIED alice RUNNING " + T(13, 10, 10),
                                   "INITIAL_STATE_COMPLETE " + T(13, 10, 10)))
      << "after change 1: changes 2 and 3 are in the history";
  EXPECT_THAT(Drain(*Sub({kNs, "", "", ""}, "abcdef0123456789.2")),
              testing::ElementsAreArray(reset));  // a per-process token of an older sandboxd
  EXPECT_THAT(Drain(*Sub({kNs, "", "", ""}, "v1.i")),
              testing::ElementsAreArray(reset));  // from within an initial state
}

TEST_F(SandboxCacheTest, ResumeWaitsUntilTheCacheHasCaughtUp) {
  MakeCache(Opts());
  FirstListsAt(*cache_, 10);
  StsAt(Sts("alice"), 11)(*cache_);
  // Ahead of this cache: Subscribe refuses; WhenAt runs once every kind has caught up.
  absl::Status ahead = cache_->Subscribe({kNs, "", "", ""}, Token(12, 13, 10), nullptr).status();
  EXPECT_EQ(ahead.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(domain::GetErrorDetail(ahead).reason, "CACHE_BEHIND");
  std::vector<bool> answers;
  cache_->WhenAt(kNs, Progress{{12, 13, 10}}, [&answers](bool ok) { answers.push_back(ok); });
  cache_->MarkProgress(Source::kPods, 13);  // a bookmark
  EXPECT_TRUE(answers.empty());
  StsAt(Ready(Sts("alice"), "12"), 12)(*cache_);
  EXPECT_THAT(answers, testing::ElementsAre(true));
  EXPECT_THAT(Drain(*Sub({kNs, "", "", ""}, Token(12, 13, 10))),
              testing::ElementsAre("INITIAL_STATE_COMPLETE " + T(12, 13, 10)));
  // Already there: at once. Shut down first: false.
  cache_->WhenAt(kNs, Progress{{5, 0, 0}}, [&answers](bool ok) { answers.push_back(ok); });
  cache_->WhenAt(kNs, Progress{{99, 0, 0}}, [&answers](bool ok) { answers.push_back(ok); });
  cache_->WhenStatefulSetsAt(kNs, 12, [&answers](bool ok) { answers.push_back(ok); });
  // Given up (a version that never comes): never answered, even when reached later.
  std::function<void()> give_up =
      cache_->WhenAt(kNs, Progress{{12, 50, 10}}, [&answers](bool ok) { answers.push_back(ok); });
  give_up();
  cache_->MarkProgress(Source::kPods, 50);
  cache_->Shutdown();
  EXPECT_THAT(answers, testing::ElementsAre(true, true, true, false));
}

TEST_F(SandboxCacheTest, MalformedTokenIsInvalidArgument) {
  for (const char* token :
       {"x", "abc.1", "ABCDEF0123456789.1", "abcdef0123456789.", "abcdef0123456789.-1",
        "abcdef0123456789.1x", "abcdef0123456789.ii", "v1.1.2", "v1.1.2.x"}) {
    absl::Status s = cache_->Subscribe({kNs, "", "", ""}, token, nullptr).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_EQ(domain::GetErrorDetail(s).metadata["field"], "resume_token") << token;
  }
  EXPECT_EQ(cache_->Subscribe({"", "", "", ""}, "", nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(domain::GetErrorDetail(
                cache_->Subscribe({kNs, "", "", "a in ("}, "", nullptr).status())
                .metadata["field"],
            "label_selector");
}

TEST_F(SandboxCacheTest, SlowSubscriberMergesPerSandbox) {
  cache_->ApplyStatefulSet(Sts("alice"));  // 1
  cache_->ApplyStatefulSet(Sts("bob"));    // 2
  std::shared_ptr<WatchSubscription> sub = Sub();
  Drain(*sub);
  cache_->ApplyStatefulSet(Ready(Sts("alice"), "2"));  // 3 alice MODIFIED
  cache_->ApplyStatefulSet(Ready(Sts("bob"), "2"));    // 4 bob MODIFIED
  cache_->ApplyStatefulSet(Ready(Sts("alice"), "3"));  // 5 merged into alice's item
  cache_->ApplyStatefulSet(Sts("carol"));              // 6 carol ADDED
  cache_->ApplyStatefulSet(Ready(Sts("carol"), "2"));  // 7 stays ADDED, newer state
  cache_->ApplyStatefulSet(Sts("dave"));               // 8 dave ADDED
  cache_->DeleteStatefulSet(kNs, "dave");              // 9 ADDED+DELETED: dropped
  cache_->DeleteStatefulSet(kNs, "bob");               // 10 bob MODIFIED -> DELETED in place
  cache_->ApplyStatefulSet(Sts("bob"));                // 11 recreated: a new item after
  EXPECT_EQ(sub->pending(), 4u);
  std::optional<WatchEvent> first = sub->Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->sandbox->sandbox().version, "3");  // the latest state of alice
  EXPECT_EQ(first->resume_token, Token0());           // bob's change 4 is still undelivered
  EXPECT_THAT(Drain(*sub),
              testing::ElementsAre("DELETED bob RUNNING " + T0(), "ADDED carol RUNNING " + T0(),
                                   "ADDED bob STARTING " + T0()));
  EXPECT_EQ(sub->last_token(), Token0());
}

TEST_F(SandboxCacheTest, OverflowCollapsesToResetAndFreshInitialState) {
  std::shared_ptr<WatchSubscription> slow = Sub();
  std::shared_ptr<WatchSubscription> fast = Sub();
  EXPECT_THAT(Drain(*slow), testing::ElementsAre("INITIAL_STATE_COMPLETE " + T0()));
  EXPECT_THAT(Drain(*fast), testing::ElementsAre("INITIAL_STATE_COMPLETE " + T0()));
  const int calls = ready_calls_;
  std::vector<std::string> fast_events;
  for (const char* name : {"a", "b", "c", "d", "e"}) {  // capacity 4
    cache_->ApplyStatefulSet(Sts(name));
    for (const std::string& e : Drain(*fast)) fast_events.push_back(e);
  }
  EXPECT_EQ(ready_calls_, calls + 5 + 1);  // fast after each change, slow once
  EXPECT_EQ(fast_events.size(), 5u);
  EXPECT_EQ(fast_events.back(), "ADDED e STARTING " + T0());
  cache_->ApplyStatefulSet(Sts("f"));  // ignored by the collapsed queue
  EXPECT_EQ(slow->pending(), 1u);
  EXPECT_THAT(Drain(*slow),
              testing::ElementsAre("RESET " + TI(), "ADDED a STARTING " + TI(),
                                   "ADDED b STARTING " + TI(), "ADDED c STARTING " + TI(),
                                   "ADDED d STARTING " + TI(), "ADDED e STARTING " + TI(),
                                   "ADDED f STARTING " + TI(), "INITIAL_STATE_COMPLETE " + T0()));
  cache_->ApplyStatefulSet(Ready(Sts("a"), "2"));
  EXPECT_THAT(Drain(*slow), testing::ElementsAre("MODIFIED a RUNNING " + T0()));
}

TEST_F(SandboxCacheTest, FiltersTurnLeavingTheSelectorIntoDeleted) {
  cache_->ApplyStatefulSet(Sts("alice", "p1", {{"team", "a"}}));
  cache_->ApplyStatefulSet(Sts("bob", "p2", {{"team", "a"}}));
  std::shared_ptr<WatchSubscription> sub = Sub({kNs, "", "p1", "team=a"});
  EXPECT_THAT(Drain(*sub), testing::ElementsAre("ADDED alice STARTING " + TI(),
                                                "INITIAL_STATE_COMPLETE " + T0()));
  cache_->ApplyStatefulSet(Sts("alice", "p1", {{"team", "b"}}));  // 3: leaves the selector
  cache_->ApplyStatefulSet(Sts("bob", "p2", {{"team", "b"}}));    // 4: never matched
  cache_->ApplyStatefulSet(Sts("alice", "p1", {{"team", "a"}}));  // 5: back
  EXPECT_THAT(Drain(*sub), testing::ElementsAre("DELETED alice STARTING " + T0(),
                                                "ADDED alice STARTING " + T0()));
}

// A change is offered only to the streams of its namespace, and of those with a name in
// their filter only to its sandbox's: the others are never touched (offered() stays 0).
TEST_F(SandboxCacheTest, AChangeIsOfferedOnlyToTheStreamsItConcerns) {
  kube::StatefulSet other = Sts("alice");
  other.metadata.ns = "team-b";
  std::shared_ptr<WatchSubscription> all_a = Sub({kNs, "", "", ""});
  std::shared_ptr<WatchSubscription> alice_a = Sub({kNs, "alice", "", ""});
  std::shared_ptr<WatchSubscription> bob_a = Sub({kNs, "bob", "", ""});
  std::shared_ptr<WatchSubscription> p2_a = Sub({kNs, "", "p2", ""});
  std::shared_ptr<WatchSubscription> all_b = Sub({"team-b", "", "", ""});
  std::shared_ptr<WatchSubscription> alice_b = Sub({"team-b", "alice", "", ""});
  for (const auto& sub : {all_a, alice_a, bob_a, p2_a, all_b, alice_b}) Drain(*sub);

  cache_->ApplyStatefulSet(Sts("alice"));
  cache_->ApplyStatefulSet(Ready(Sts("alice"), "7"));
  EXPECT_EQ(all_a->offered(), 2u);
  EXPECT_EQ(alice_a->offered(), 2u);
  EXPECT_EQ(p2_a->offered(), 2u);  // filtered by project after the namespace index
  EXPECT_EQ(bob_a->offered(), 0u);
  EXPECT_EQ(all_b->offered(), 0u);
  EXPECT_EQ(alice_b->offered(), 0u);
  EXPECT_EQ(Drain(*all_a).size(), 1u);  // ADDED, merged with the MODIFIED
  EXPECT_EQ(Drain(*alice_a).size(), 1u);
  EXPECT_TRUE(Drain(*p2_a).empty());

  cache_->ApplyStatefulSet(other);
  EXPECT_EQ(all_b->offered(), 1u);
  EXPECT_EQ(alice_b->offered(), 1u);
  EXPECT_EQ(all_a->offered(), 2u);
  EXPECT_EQ(alice_a->offered(), 2u);
  EXPECT_EQ(bob_a->offered(), 0u);

  // A cancelled stream leaves the index; the others stay in it.
  alice_a->Cancel();
  bob_a->Cancel();
  cache_->DeleteStatefulSet(kNs, "alice");
  EXPECT_EQ(alice_a->offered(), 2u);
  EXPECT_EQ(all_a->offered(), 3u);
  EXPECT_EQ(cache_->stats().subscriptions, 4u);
}

TEST_F(SandboxCacheTest, CancelAndShutdown) {
  cache_->ApplyStatefulSet(Sts("alice"));
  std::shared_ptr<WatchSubscription> cancelled = Sub();
  std::shared_ptr<WatchSubscription> waiting = Sub();
  std::shared_ptr<WatchSubscription> busy = Sub();
  EXPECT_EQ(cache_->stats().subscriptions, 3u);
  cancelled->Cancel();
  EXPECT_TRUE(cancelled->closed());
  EXPECT_FALSE(cancelled->Next().has_value());
  EXPECT_EQ(cache_->stats().subscriptions, 2u);
  Drain(*waiting);
  ASSERT_TRUE(busy->Next().has_value());  // mid-initial-state
  const int calls = ready_calls_;
  cache_->Shutdown();
  EXPECT_EQ(ready_calls_, calls + 1);  // only `waiting` was waiting for on_ready
  for (const auto& sub : {waiting, busy}) {
    EXPECT_TRUE(sub->closed());
    EXPECT_FALSE(sub->Next().has_value());
    EXPECT_EQ(sub->pending(), 0u);
  }
  EXPECT_EQ(waiting->last_token(), Token0());
  EXPECT_EQ(waiting->end_status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(domain::GetErrorDetail(waiting->end_status()).reason, "SERVER_SHUTTING_DOWN");
  EXPECT_EQ(domain::GetErrorDetail(waiting->end_status()).metadata.at("resumeToken"), Token0());
  EXPECT_TRUE(cancelled->end_status().ok());
  // An incomplete initial state: resuming from it starts over (RESET).
  EXPECT_EQ(busy->last_token(), "v1.i");
  EXPECT_EQ(cache_->stats().subscriptions, 0u);
  EXPECT_EQ(cache_->Subscribe({kNs, "", "", ""}, "", nullptr).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(cache_->Get(kNs, "alice").ok());  // reads still work
  // Subscriptions outlive the cache safely.
  cache_.reset();
  EXPECT_FALSE(busy->Next().has_value());
  busy->Cancel();
}

TEST_F(SandboxCacheTest, SubscriptionOutlivingTheCacheAfterCollapseIsClosed) {
  std::shared_ptr<WatchSubscription> sub = Sub();
  Drain(*sub);
  cache_.reset();
  EXPECT_TRUE(sub->closed());
  EXPECT_FALSE(sub->Next().has_value());
}

// Inputs from three threads while a consumer drains with on_ready: the consumer ends with
// exactly the cache's final state of every sandbox (through merges and collapses).
TEST_F(SandboxCacheTest, ConcurrentInputsConvergeForTheConsumer) {
  // Shared with on_ready: the cache, destroyed after this frame, wakes the open
  // subscription when it shuts down.
  auto ready = std::make_shared<std::atomic<bool>>(false);
  auto sub = *cache_->Subscribe({kNs, "", "", ""}, "", [ready]() { *ready = true; });
  std::map<std::string, std::string> seen;  // name -> version; absent when deleted
  auto consume = [&]() {
    while (std::optional<WatchEvent> e = sub->Next()) {
      if (e->type == Type::kReset) seen.clear();
      if (e->type == Type::kAdded || e->type == Type::kModified) {
        seen[e->sandbox->sandbox().spec.name] = e->sandbox->sandbox().version;
      }
      if (e->type == Type::kDeleted) seen.erase(e->sandbox->sandbox().spec.name);
    }
  };
  std::atomic<bool> done{false};
  std::thread consumer([&]() {
    while (!done) {
      if (ready->exchange(false)) consume();
      std::this_thread::yield();
    }
  });
  consume();
  std::vector<std::thread> inputs;
  inputs.emplace_back([&]() {
    for (int i = 0; i < 2000; ++i) {
      std::string name = "s" + std::to_string(i % 37);
      if (i % 11 == 0) {
        cache_->DeleteStatefulSet(kNs, name);
      } else {
        cache_->ApplyStatefulSet(Ready(Sts(name), std::to_string(i)));
      }
    }
  });
  inputs.emplace_back([&]() {
    for (int i = 0; i < 2000; ++i) cache_->ApplyPod(Pod("s" + std::to_string(i % 37)));
  });
  inputs.emplace_back([&]() {
    for (int i = 0; i < 2000; ++i) {
      cache_->ApplyClaim(Claim("s" + std::to_string(i % 37), i % 2 ? "Bound" : "Pending"));
    }
  });
  for (std::thread& t : inputs) t.join();
  done = true;
  consumer.join();
  consume();
  std::map<std::string, std::string> expected;
  domain::ListQuery q = Q(kNs);
  q.page_size = 500;
  absl::StatusOr<domain::ListResult> all = cache_->List(q);
  ASSERT_TRUE(all.ok()) << all.status();
  for (const domain::Sandbox& s : all->sandboxes) expected[s.spec.name] = s.version;
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(sub->last_token(), Token0());
}

// ---- served namespaces ----------------------------------------------------------------

TEST_F(SandboxCacheTest, PendingNamespaceIsNotSyncedUntilListed) {
  cache_->ApplyStatefulSet(Sts("alice"));
  cache_->SetNamespacePending(kNs, true);
  EXPECT_TRUE(cache_->synced());
  EXPECT_FALSE(cache_->synced(kNs));
  EXPECT_TRUE(cache_->synced("ns-b"));
  absl::Status get = cache_->Get(kNs, "alice").status();
  EXPECT_EQ(get.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(get.message(),
            "sandboxd has just begun serving namespace ns-a and is listing its sandboxes; "
            "retry shortly");
  EXPECT_EQ(domain::GetErrorDetail(get).reason, "CACHE_NOT_SYNCED");
  EXPECT_EQ(domain::GetErrorDetail(get).metadata.at("namespace"), kNs);
  EXPECT_EQ(cache_->List(Q(kNs)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache_->GetStatefulSet(kNs, "alice").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache_->Subscribe({kNs, "", "", ""}, "", nullptr).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(cache_->List(Q("ns-b")).ok());
  cache_->SetNamespacePending(kNs, false);
  EXPECT_TRUE(cache_->synced(kNs));
  EXPECT_EQ(cache_->Get(kNs, "alice")->spec.name, "alice");
}

TEST_F(SandboxCacheTest, ForgetNamespaceDropsItsObjectsClosesItsStreamsAndResetsOldTokens) {
  MakeCache(Opts());
  FirstListsAt(*cache_, 10);
  kube::StatefulSet other = Sts("zed");
  other.metadata.ns = "ns-b";
  StsAt(other, 11)(*cache_);
  StsAt(Sts("alice"), 12)(*cache_);
  PodAt(Pod("alice"), 13)(*cache_);
  ClaimAt(Claim("alice"), 14)(*cache_);
  cache_->ApplyClaim(Claim("bob"));  // a claim without StatefulSet: no change
  std::shared_ptr<WatchSubscription> mine = Sub();
  Drain(*mine);
  std::shared_ptr<WatchSubscription> theirs = Sub({"ns-b", "", "", ""});
  Drain(*theirs);
  ASSERT_EQ(cache_->stats().sandboxes, 2u);
  ASSERT_EQ(cache_->stats().entries, 3u);
  const uint64_t seq = Seq();
  const std::string before = mine->last_token();
  EXPECT_EQ(before, Token(12, 13, 14));
  const int calls = ready_calls_;

  cache_->ForgetNamespace(kNs);
  EXPECT_EQ(ready_calls_, calls + 1);  // `mine` was waiting: woken to see it is closed
  EXPECT_TRUE(mine->closed());
  EXPECT_FALSE(theirs->closed());
  EXPECT_EQ(mine->last_token(), before);
  EXPECT_EQ(mine->end_status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(mine->end_status().message(), "sandboxd does not serve namespace ns-a");
  EXPECT_EQ(domain::GetErrorDetail(mine->end_status()).reason, "NAMESPACE_NOT_SERVED");
  EXPECT_TRUE(theirs->end_status().ok());
  SandboxCache::Stats stats = cache_->stats();
  EXPECT_EQ(stats.sandboxes, 1u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.subscriptions, 1u);
  EXPECT_EQ(stats.sequence, seq) << "forgetting records no change";
  EXPECT_EQ(domain::GetErrorDetail(cache_->Get(kNs, "alice").status()).reason, "SANDBOX_NOT_FOUND");
  EXPECT_TRUE(cache_->Get("ns-b", "zed").ok());
  // A claim event of the forgotten namespace finds no owner left.
  cache_->DeleteClaim(kNs, Claim("bob").metadata.name, 15);
  EXPECT_EQ(cache_->stats().entries, 1u);

  // Served again and listed: a token from before the forget starts over (what was deleted
  // meanwhile was never seen here); a later one resumes.
  StsAt(Sts("alice"), 20)(*cache_);
  EXPECT_THAT(Drain(*Sub({kNs, "", "", ""}, before)),
              testing::ElementsAre("RESET " + TI(), "ADDED alice STARTING " + TI(),
                                   "INITIAL_STATE_COMPLETE " + T(20, 13, 14)));
  EXPECT_THAT(Drain(*Sub({kNs, "", "", ""}, Token(20, 13, 14))),
              testing::ElementsAre("INITIAL_STATE_COMPLETE " + T(20, 13, 14)));
  EXPECT_THAT(Drain(*Sub({"ns-b", "", "", ""}, Token(11, 10, 10))),
              testing::ElementsAre("INITIAL_STATE_COMPLETE " + T(20, 13, 14)))
      << "other namespaces resume as before";
}

// The claim janitor's candidates: sandboxd's claims, not kept, without owner references,
// of sandboxes without a StatefulSet, in synced namespaces.
TEST_F(SandboxCacheTest, StrayClaimsAreUnownedManagedClaimsOfSandboxesWithoutStatefulSet) {
  auto managed = [](const std::string& name) {
    kube::PersistentVolumeClaim c = Claim(name);  // labelled managed-by=sandboxd
    c.metadata.resource_version = "7";
    return c;
  };
  auto names = [this] {
    std::vector<std::string> out;
    for (const SandboxCache::StrayClaim& c : cache_->StrayClaims()) {
      out.push_back(c.ns + "/" + c.sandbox + "/" + c.name);
    }
    return out;
  };
  cache_->ApplyClaim(managed("orphan"));
  kube::PersistentVolumeClaim kept = managed("kept");
  kept.metadata.annotations[domain::kAnnotationKeptClaim] = "true";
  cache_->ApplyClaim(kept);
  kube::PersistentVolumeClaim owned = managed("owned");
  owned.metadata.owner_references = {{"apps/v1", "StatefulSet", "owned", "uid-owned", {}, {}}};
  cache_->ApplyClaim(owned);
  kube::PersistentVolumeClaim foreign = Claim("foreign");
  foreign.metadata.labels.erase(domain::kLabelManagedBy);
  cache_->ApplyClaim(foreign);
  cache_->ApplyStatefulSet(Sts("live"));
  cache_->ApplyClaim(managed("live"));

  std::vector<SandboxCache::StrayClaim> stray = cache_->StrayClaims();
  ASSERT_EQ(stray.size(), 1u);
  EXPECT_EQ(stray[0].ns, kNs);
  EXPECT_EQ(stray[0].sandbox, "orphan");
  EXPECT_EQ(stray[0].name, "vn-homevn-agent-orphan-0");
  EXPECT_EQ(stray[0].uid, "pvc-orphan");
  EXPECT_EQ(stray[0].resource_version, "7");
  EXPECT_EQ(stray[0].created, kStart - absl::Minutes(10));

  // The StatefulSet goes: its claim is a candidate. An owner reference, or the kept
  // annotation, taken away or given, moves a claim in or out.
  cache_->DeleteStatefulSet(kNs, "live");
  owned.metadata.owner_references.clear();
  cache_->ApplyClaim(owned);
  kube::PersistentVolumeClaim orphan = managed("orphan");
  orphan.metadata.annotations[domain::kAnnotationKeptClaim] = "true";
  cache_->ApplyClaim(orphan);
  EXPECT_THAT(names(), testing::ElementsAre("ns-a/live/vn-homevn-agent-live-0",
                                            "ns-a/owned/vn-homevn-agent-owned-0"));

  // A StatefulSet arriving, the claim deleted: no longer.
  cache_->ApplyStatefulSet(Sts("live"));
  cache_->DeleteClaim(kNs, "vn-homevn-agent-owned-0");
  EXPECT_THAT(names(), testing::ElementsAre());

  // Only synced namespaces; a forgotten one's claims are gone.
  cache_->DeleteStatefulSet(kNs, "live");
  cache_->SetNamespacePending(kNs, true);
  EXPECT_THAT(names(), testing::ElementsAre());
  cache_->SetNamespacePending(kNs, false);
  EXPECT_THAT(names(), testing::ElementsAre("ns-a/live/vn-homevn-agent-live-0"));
  cache_->ForgetNamespace(kNs);
  EXPECT_THAT(names(), testing::ElementsAre());
}

TEST_F(SandboxCacheTest, ReadYourWritesFollowsTheScopeOfTheNamespace) {
  cache_->AddProgressScope("ns-own");
  EXPECT_EQ(cache_->ScopeOf("ns-own"), "ns-own");
  EXPECT_EQ(cache_->ScopeOf(kNs), "");
  std::vector<std::string> reached;
  auto record = [&reached](const std::string& what) {
    return [&reached, what](bool ok) { reached.push_back(what + (ok ? " ok" : " gave up")); };
  };
  cache_->WhenStatefulSetsAt(kNs, 10, record("cluster 10"));
  cache_->WhenStatefulSetsAt("ns-own", 10, record("own 10"));
  cache_->MarkProgress(Source::kStatefulSets, 12);
  EXPECT_THAT(reached, testing::ElementsAre("cluster 10 ok"));
  cache_->MarkProgress(Source::kStatefulSets, 11, "ns-own");
  EXPECT_THAT(reached, testing::ElementsAre("cluster 10 ok", "own 10 ok"));
}

}  // namespace
}  // namespace sandboxd::service
