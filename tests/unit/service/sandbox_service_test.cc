// SandboxService against the FakeKubeClient: the exact Kubernetes requests of each
// operation (verbs, objects, bodies, preconditions, order), with and without a synced
// watch cache, and the answers it composes from them. The requests are completed one by
// one on the test thread, so every test also shows what the service waits for.
#include "src/service/sandbox_service.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/domain/builders.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"
#include "src/kube/objects_json.h"
#include "src/kube/patches.h"
#include "src/service/sandbox_cache.h"
#include "tests/unit/kube/fake_kube_client.h"

namespace sandboxd::service {
namespace {

using kube::FakeKubeClient;
using testing::HasSubstr;
using Call = FakeKubeClient::PendingCall;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
const char kNs[] = "ns-a";
const char kName[] = "alice";
const char kClaim[] = "vn-homevn-agent-alice-0";  // the Sealos template of /home/agent
const char kLegacyClaim[] = "home-alice-0";

domain::SandboxDefaults Defaults() {
  domain::SandboxDefaults d;
  d.image = "ghcr.io/acme/sandbox:1.2";
  d.ingress_domain = "sandboxes.example.com";  // two Ingresses per sandbox
  return d;
}

domain::SandboxSpec Spec() {
  domain::SandboxSpec s;
  s.ns = kNs;
  s.name = kName;
  s.env = {{"A", "1"}};
  return s;
}

// The StatefulSet of Spec() as the API server stores it at `rv` (generation and the
// controller's observed generation alike), wanting `replicas`.
kube::StatefulSet Stored(const std::string& rv, int32_t replicas = 1) {
  kube::StatefulSet sts = domain::BuildStatefulSet(domain::ApplyDefaults(Spec(), Defaults()),
                                                   Defaults(), "vn-homevn-agent");
  sts.metadata.uid = "uid-alice";
  sts.metadata.resource_version = rv;
  sts.metadata.generation = std::stoll(rv);
  sts.metadata.creation_timestamp = kNow - absl::Minutes(10);
  sts.spec.replicas = replicas;
  sts.status.observed_generation = sts.metadata.generation;
  sts.status.replicas = replicas;
  sts.status.ready_replicas = replicas;
  return sts;
}

// An object document with only metadata, labelled managed-by sandboxd if `managed`.
std::string Meta(const std::string& name, bool managed, bool kept = false) {
  kube::ConfigMap object;  // any kind: only its metadata is read
  object.metadata.name = name;
  object.metadata.ns = kNs;
  object.metadata.uid = "uid-" + name;
  if (managed) object.metadata.labels[domain::kLabelManagedBy] = domain::kManagedByValue;
  if (kept) object.metadata.annotations[domain::kAnnotationKeptClaim] = "true";
  return kube::ToJson(object);
}

absl::Status NotFound() { return absl::NotFoundError("not found"); }

domain::DeleteRequest DeleteOf(bool keep_storage = false, bool allow_missing = false) {
  domain::DeleteRequest request;
  request.ns = kNs;
  request.name = kName;
  request.keep_storage = keep_storage;
  request.allow_missing = allow_missing;
  return request;
}

std::string ReasonOf(const absl::Status& s) { return domain::GetErrorDetail(s).reason; }

// The answer of an asynchronous call, once it has come.
template <typename T>
struct Answer {
  std::optional<T> value;
  std::function<void(T)> Callback() {
    return [this](T v) { value = std::move(v); };
  }
};

class SandboxServiceTest : public testing::Test {
 protected:
  // A service without a cache (every read goes to the API server), or with a synced,
  // empty one.
  void MakeService(bool with_cache) {
    if (with_cache) {
      SandboxCache::Options o;
      o.defaults = Defaults();
      o.clock = [] { return kNow; };
      cache_ = std::make_unique<SandboxCache>(std::move(o));
      cache_->MarkSynced(SandboxCache::Source::kStatefulSets);
      cache_->MarkSynced(SandboxCache::Source::kPods);
      cache_->MarkSynced(SandboxCache::Source::kClaims);
    }
    service_ = std::make_unique<SandboxService>(&kube_, cache_.get(), Defaults(), nullptr,
                                                [] { return kNow; });
  }
  // The cache applies `sts` and reports its watch at its resourceVersion.
  void CacheSees(const kube::StatefulSet& sts) {
    cache_->ApplyStatefulSet(sts);
    cache_->MarkProgress(SandboxCache::Source::kStatefulSets,
                         std::stoull(sts.metadata.resource_version));
  }
  // Pops the next request and checks what it is.
  Call Next(const std::string& describe) {
    Call call = kube_.PopCall();
    EXPECT_EQ(call.Describe(), describe);
    return call;
  }
  // The next request is `describe`; it is answered with `body`.
  void Reply(const std::string& describe, absl::StatusOr<std::string> body) {
    Call call = Next(describe);
    if (call.done) call.done(std::move(body));
  }
  // The Load sequence of the API-server path: GET StatefulSet, then pod and claim.
  void ReplyLoad(const kube::StatefulSet& sts) {
    Reply("GET statefulsets/alice", kube::ToJson(sts));
    Reply("GET pods/alice-0", NotFound());
    Reply(std::string("GET persistentvolumeclaims/") + kClaim, NotFound());
  }
  kube::CallOptions Opts() const {
    kube::CallOptions o;
    o.deadline = absl::Now() + absl::Seconds(30);
    return o;
  }

  FakeKubeClient kube_;
  std::unique_ptr<SandboxCache> cache_;
  std::unique_ptr<SandboxService> service_;
};

// ---- create ----------------------------------------------------------------------------

TEST_F(SandboxServiceTest, CreateWithoutCacheSendsTheObjectsThenReadsTheSandbox) {
  MakeService(/*with_cache=*/false);
  Answer<absl::StatusOr<domain::Sandbox>> got;
  service_->Create(Spec(), Opts(), got.Callback());

  // Without a cache, whether a kept legacy claim exists, and whether a foreign claim has
  // the new one's name, is asked of the API server.
  Reply(std::string("GET persistentvolumeclaims/") + kLegacyClaim, NotFound());
  Reply(std::string("GET persistentvolumeclaims/") + kClaim, NotFound());
  // The namespace's first create: its NetworkPolicy, shared by its sandboxes, unowned.
  Call policy = Next("POST networkpolicies");
  EXPECT_EQ(policy.body, kube::ToJson(*domain::BuildNetworkPolicy(kNs, Defaults())));
  policy.done(policy.body);
  Call sts = Next("POST statefulsets");
  EXPECT_TRUE(sts.call.idempotent_writes);
  kube::StatefulSet desired = domain::BuildStatefulSet(domain::ApplyDefaults(Spec(), Defaults()),
                                                       Defaults(), "vn-homevn-agent");
  EXPECT_EQ(sts.body, kube::ToJson(desired));
  sts.done(kube::ToJson(Stored("5")));

  // The children, in parallel, each owned by the StatefulSet just created.
  std::vector<Call> children;
  for (const char* what : {"POST services", "POST ingresses", "POST ingresses"}) {
    children.push_back(Next(what));
    EXPECT_THAT(children.back().body, HasSubstr(R"("uid":"uid-alice")")) << what;
  }
  EXPECT_THAT(children[1].body, HasSubstr("alice-app.sandboxes.example.com"));
  EXPECT_THAT(children[2].body, HasSubstr("alice-ttyd.sandboxes.example.com"));
  EXPECT_EQ(kube_.PendingCalls(), 0u);  // nothing else until every child is there
  for (Call& c : children) c.done(c.body);

  ReplyLoad(Stored("5"));
  ASSERT_TRUE(got.value.has_value());
  ASSERT_TRUE(got.value->ok()) << got.value->status();
  EXPECT_EQ((*got.value)->spec.name, kName);
  EXPECT_EQ((*got.value)->uid, "uid-alice");
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, CreateWithCacheSendsOnlyTheObjectsAndAnswersFromTheCache) {
  MakeService(/*with_cache=*/true);
  Answer<absl::StatusOr<domain::Sandbox>> got;
  service_->Create(Spec(), Opts(), got.Callback());

  // The cache knows there is no legacy claim to adopt and no foreign claim: no reads.
  Reply("POST networkpolicies", absl::AlreadyExistsError("exists"));  // made by another replica
  Reply("POST statefulsets", kube::ToJson(Stored("5")));
  std::vector<Call> children;
  for (const char* what : {"POST services", "POST ingresses", "POST ingresses"}) {
    children.push_back(Next(what));
  }
  for (Call& c : children) c.done(c.body);

  // Read-your-writes: the answer waits for the cache to apply resourceVersion 5.
  EXPECT_FALSE(got.value.has_value());
  CacheSees(Stored("4"));
  EXPECT_FALSE(got.value.has_value());
  CacheSees(Stored("5"));
  ASSERT_TRUE(got.value.has_value());
  ASSERT_TRUE(got.value->ok()) << got.value->status();
  EXPECT_EQ((*got.value)->version, "5");
  EXPECT_EQ(kube_.PendingCalls(), 0u);  // no GET of the answer
}

TEST_F(SandboxServiceTest, TheNetworkPolicyIsSentOnlyOnTheNamespacesFirstCreate) {
  MakeService(/*with_cache=*/true);
  Answer<absl::StatusOr<domain::Sandbox>> first;
  service_->Create(Spec(), Opts(), first.Callback());
  Reply("POST networkpolicies", absl::UnavailableError("connection reset"));
  ASSERT_TRUE(first.value.has_value());
  EXPECT_EQ(first.value->status().code(), absl::StatusCode::kUnavailable);  // nothing else sent

  Answer<absl::StatusOr<domain::Sandbox>> second;
  service_->Create(Spec(), Opts(), second.Callback());
  Reply("POST networkpolicies", kube::ToJson(*domain::BuildNetworkPolicy(kNs, Defaults())));
  Reply("POST statefulsets", absl::UnavailableError("connection reset"));
  ASSERT_TRUE(second.value.has_value());

  Answer<absl::StatusOr<domain::Sandbox>> third;
  service_->Create(Spec(), Opts(), third.Callback());
  Reply("POST statefulsets", absl::UnavailableError("connection reset"));
  ASSERT_TRUE(third.value.has_value());
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, CreateRefusesAForeignClaimTheCacheKnowsAndSendsNothing) {
  MakeService(/*with_cache=*/true);
  kube::PersistentVolumeClaim foreign;
  foreign.metadata.ns = kNs;
  foreign.metadata.name = kClaim;
  foreign.metadata.resource_version = "3";
  cache_->ApplyClaim(foreign);
  Answer<absl::StatusOr<domain::Sandbox>> got;
  service_->Create(Spec(), Opts(), got.Callback());

  ASSERT_TRUE(got.value.has_value());
  EXPECT_EQ(got.value->status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(got.value->status()), domain::reason::kForeignClaim);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, CreateWithoutCacheRefusesAForeignClaimAndWritesNothing) {
  MakeService(/*with_cache=*/false);
  Answer<absl::StatusOr<domain::Sandbox>> got;
  service_->Create(Spec(), Opts(), got.Callback());

  Reply(std::string("GET persistentvolumeclaims/") + kLegacyClaim, NotFound());
  Reply(std::string("GET persistentvolumeclaims/") + kClaim, Meta(kClaim, /*managed=*/false));
  ASSERT_TRUE(got.value.has_value());
  EXPECT_EQ(got.value->status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(got.value->status()), domain::reason::kForeignClaim);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, CreateRetryOfTheSameSpecCreatesOnlyTheMissingChildren) {
  MakeService(/*with_cache=*/false);
  Answer<absl::StatusOr<domain::Sandbox>> got;
  service_->Create(Spec(), Opts(), got.Callback());

  Reply(std::string("GET persistentvolumeclaims/") + kLegacyClaim, NotFound());
  Reply(std::string("GET persistentvolumeclaims/") + kClaim, Meta(kClaim, /*managed=*/true));
  Reply("POST networkpolicies", absl::AlreadyExistsError("exists"));
  Reply("POST statefulsets", absl::AlreadyExistsError("exists"));
  Reply("GET statefulsets/alice", kube::ToJson(Stored("5")));
  // Each child is read; only the missing ones are created.
  Call service = Next("GET services/alice-service");
  Call app = Next("GET ingresses/alice-app-ingress");
  Call ttyd = Next("GET ingresses/alice-ttyd-ingress");
  service.done(Meta("alice-service", true));
  app.done(Meta("alice-app-ingress", true));
  ttyd.done(NotFound());
  Call created_ttyd = Next("POST ingresses");
  EXPECT_THAT(created_ttyd.body, HasSubstr("alice-ttyd-ingress"));
  created_ttyd.done(created_ttyd.body);

  ReplyLoad(Stored("5"));
  ASSERT_TRUE(got.value.has_value());
  EXPECT_TRUE(got.value->ok()) << got.value->status();
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, CreateOfAnExistingNameWithAnotherSpecIsAlreadyExists) {
  MakeService(/*with_cache=*/true);
  Answer<absl::StatusOr<domain::Sandbox>> got;
  domain::SandboxSpec other = Spec();
  other.env["A"] = "2";
  service_->Create(other, Opts(), got.Callback());

  Reply("POST networkpolicies", absl::AlreadyExistsError("exists"));
  Reply("POST statefulsets", absl::AlreadyExistsError("exists"));
  Reply("GET statefulsets/alice", kube::ToJson(Stored("5")));
  ASSERT_TRUE(got.value.has_value());
  EXPECT_EQ(got.value->status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReasonOf(got.value->status()), domain::reason::kSandboxAlreadyExists);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

// ---- start / stop ----------------------------------------------------------------------

TEST_F(SandboxServiceTest, StopIsOnePatchOfReplicasAndAnswersOnceTheCacheHasIt) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::StatusOr<domain::Sandbox>> got;
  service_->Stop(kNs, kName, Opts(), got.Callback());

  Call patch = Next("PATCH statefulsets/alice");
  EXPECT_EQ(patch.patch_type, kube::PatchType::kMerge);
  EXPECT_EQ(patch.body, kube::ScalePatch(0));
  EXPECT_TRUE(patch.call.idempotent_writes);
  patch.done(kube::ToJson(Stored("3", /*replicas=*/0)));
  EXPECT_FALSE(got.value.has_value());
  CacheSees(Stored("3", /*replicas=*/0));
  ASSERT_TRUE(got.value.has_value());
  ASSERT_TRUE(got.value->ok()) << got.value->status();
  EXPECT_EQ((*got.value)->desired_replicas, 0);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, StartOfARunningSandboxSendsNothing) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::StatusOr<domain::Sandbox>> got;
  service_->Start(kNs, kName, Opts(), got.Callback());
  ASSERT_TRUE(got.value.has_value());
  ASSERT_TRUE(got.value->ok()) << got.value->status();
  EXPECT_EQ((*got.value)->desired_replicas, 1);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, AWriteTheCacheDoesNotSeeInTimeIsAnsweredFromTheApiServer) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::StatusOr<domain::Sandbox>> got;
  service_->Stop(kNs, kName, Opts(), got.Callback());
  Reply("PATCH statefulsets/alice", kube::ToJson(Stored("3", /*replicas=*/0)));

  FakeKubeClient::Timer timer = kube_.PopTimer();
  EXPECT_EQ(timer.delay, SandboxService::kMaxCacheWait);
  timer.fn();  // the cache never reached 3
  ReplyLoad(Stored("3", /*replicas=*/0));
  ASSERT_TRUE(got.value.has_value());
  ASSERT_TRUE(got.value->ok()) << got.value->status();
  EXPECT_EQ((*got.value)->desired_replicas, 0);
}

TEST_F(SandboxServiceTest, StopOfASandboxBeingDeletedIsFailedPrecondition) {
  MakeService(/*with_cache=*/true);
  kube::StatefulSet deleting = Stored("2");
  deleting.metadata.deletion_timestamp = kNow;
  CacheSees(deleting);
  Answer<absl::StatusOr<domain::Sandbox>> got;
  service_->Stop(kNs, kName, Opts(), got.Callback());
  ASSERT_TRUE(got.value.has_value());
  EXPECT_EQ(got.value->status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(got.value->status()), domain::reason::kSandboxDeleting);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

// ---- update env ------------------------------------------------------------------------

TEST_F(SandboxServiceTest, UpdateEnvPatchesWithTheCachedVersionAndRereadsOnceAfterAConflict) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::StatusOr<domain::Sandbox>> got;
  domain::EnvUpdate update;
  update.set = {{"B", "2"}};
  service_->UpdateEnv(kNs, kName, update, Opts(), got.Callback());

  Call first = Next("PATCH statefulsets/alice");
  EXPECT_EQ(first.patch_type, kube::PatchType::kStrategicMerge);
  EXPECT_THAT(first.body, HasSubstr(R"("resourceVersion":"2")"));
  EXPECT_THAT(first.body, HasSubstr(R"({"name":"B","value":"2"})"));
  first.done(absl::AbortedError("conflict"));  // changed since the cache saw it
  // The second attempt reads the API server, not the (stale) cache.
  Reply("GET statefulsets/alice", kube::ToJson(Stored("3")));
  Call second = Next("PATCH statefulsets/alice");
  EXPECT_THAT(second.body, HasSubstr(R"("resourceVersion":"3")"));
  second.done(kube::ToJson(Stored("4")));
  CacheSees(Stored("4"));
  ASSERT_TRUE(got.value.has_value());
  EXPECT_TRUE(got.value->ok()) << got.value->status();
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, UpdateEnvWithoutAChangeSendsNothing) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::StatusOr<domain::Sandbox>> got;
  domain::EnvUpdate update;
  update.set = {{"A", "1"}};  // already so
  update.remove = {"NOT_THERE"};
  service_->UpdateEnv(kNs, kName, update, Opts(), got.Callback());
  ASSERT_TRUE(got.value.has_value());
  EXPECT_TRUE(got.value->ok()) << got.value->status();
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, UpdateEnvVersionMismatchIsConfirmedByTheApiServerAndWritesNothing) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::StatusOr<domain::Sandbox>> got;
  domain::EnvUpdate update;
  update.set = {{"B", "2"}};
  update.expected_version = "1";
  service_->UpdateEnv(kNs, kName, update, Opts(), got.Callback());

  Reply("GET statefulsets/alice", kube::ToJson(Stored("2")));
  ASSERT_TRUE(got.value.has_value());
  EXPECT_EQ(got.value->status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(got.value->status()), domain::reason::kVersionMismatch);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, UpdateEnvGivesUpAfterTheMaximumOfConflicts) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::StatusOr<domain::Sandbox>> got;
  domain::EnvUpdate update;
  update.set = {{"B", "2"}};
  service_->UpdateEnv(kNs, kName, update, Opts(), got.Callback());

  for (int attempt = 1; attempt <= SandboxService::kMaxConflictRetries; ++attempt) {
    if (attempt > 1) Reply("GET statefulsets/alice", kube::ToJson(Stored("2")));
    Reply("PATCH statefulsets/alice", absl::AbortedError("conflict"));
  }
  ASSERT_TRUE(got.value.has_value());
  EXPECT_EQ(got.value->status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ReasonOf(got.value->status()), domain::reason::kConcurrentModification);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

// ---- delete ----------------------------------------------------------------------------

TEST_F(SandboxServiceTest, DeleteIsOneForegroundDeleteWithTheUidAsPrecondition) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::Status> got;
  service_->Delete(DeleteOf(), Opts(), got.Callback());

  Call del = Next("DELETE statefulsets/alice");
  EXPECT_EQ(del.del.propagation, kube::Propagation::kForeground);
  EXPECT_EQ(del.del.precondition_uid, "uid-alice");
  kube::StatefulSet marked = Stored("3");
  marked.metadata.deletion_timestamp = kNow;
  del.done(kube::ToJson(marked));
  // The claim goes by the retention policy once it has its owner reference; one the
  // StatefulSet controller has not given it yet would stay behind.
  kube::PersistentVolumeClaim owned;
  owned.metadata.name = kClaim;
  owned.metadata.ns = kNs;
  owned.metadata.uid = "uid-claim";
  owned.metadata.labels[domain::kLabelManagedBy] = domain::kManagedByValue;
  owned.metadata.owner_references = {domain::StatefulSetOwnerReference(kName, "uid-alice")};
  Reply(std::string("GET persistentvolumeclaims/") + kClaim, kube::ToJson(owned));
  EXPECT_FALSE(got.value.has_value());  // until the cache shows it being deleted
  CacheSees(marked);
  ASSERT_TRUE(got.value.has_value());
  EXPECT_TRUE(got.value->ok()) << *got.value;
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, DeleteRemovesAClaimNoStatefulSetOwnsYet) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::Status> got;
  service_->Delete(DeleteOf(), Opts(), got.Callback());

  Reply("DELETE statefulsets/alice", kube::ToJson(Stored("3")));
  Reply(std::string("GET persistentvolumeclaims/") + kClaim, Meta(kClaim, /*managed=*/true));
  Call del = Next(std::string("DELETE persistentvolumeclaims/") + kClaim);
  EXPECT_EQ(del.del.precondition_uid, std::string("uid-") + kClaim);
  del.done("{}");
  CacheSees(Stored("3"));
  ASSERT_TRUE(got.value.has_value());
  EXPECT_TRUE(got.value->ok()) << *got.value;
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, DeleteKeepingStorageReleasesTheClaimBeforeTheDelete) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::Status> got;
  service_->Delete(DeleteOf(/*keep_storage=*/true), Opts(), got.Callback());

  Call retain = Next("PATCH statefulsets/alice");
  const auto policy = domain::RetentionPolicy(/*keep_storage_on_delete=*/true);
  EXPECT_EQ(retain.body, kube::RetentionPolicyPatch(policy.when_deleted, policy.when_scaled));
  kube::StatefulSet patched = Stored("3");
  patched.status.observed_generation = 2;  // the controller has not seen Retain yet
  retain.done(kube::ToJson(patched));
  CacheSees(patched);
  // Polls the cache until the controller has observed generation 3.
  FakeKubeClient::Timer poll = kube_.PopTimer();
  EXPECT_EQ(poll.delay, SandboxService::kObservePollInterval);
  EXPECT_EQ(kube_.PendingCalls(), 0u);
  CacheSees(Stored("4"));  // observed generation 4 >= 3
  poll.fn();
  Call keep = Next(std::string("PATCH persistentvolumeclaims/") + kClaim);
  EXPECT_EQ(keep.body, kube::KeepClaimPatch(domain::kAnnotationKeptClaim));
  keep.done(Meta(kClaim, /*managed=*/true, /*kept=*/true));
  Call del = Next("DELETE statefulsets/alice");
  EXPECT_EQ(del.del.precondition_uid, "uid-alice");
  kube::StatefulSet marked = Stored("5");
  marked.metadata.deletion_timestamp = kNow;
  del.done(kube::ToJson(marked));
  CacheSees(marked);
  ASSERT_TRUE(got.value.has_value());
  EXPECT_TRUE(got.value->ok()) << *got.value;
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

// A StatefulSet the cache still shows (a delete under way) that is gone by the time the
// claim is to be kept: a repeated delete, handled as the DELETE's 404 (leftovers only).
TEST_F(SandboxServiceTest, DeleteKeepingStorageOfAStatefulSetGoneMeanwhileRemovesLeftovers) {
  MakeService(/*with_cache=*/true);
  kube::StatefulSet marked = Stored("2");
  marked.metadata.deletion_timestamp = kNow;
  CacheSees(marked);
  Answer<absl::Status> got;
  service_->Delete(DeleteOf(/*keep_storage=*/true, /*allow_missing=*/true), Opts(), got.Callback());

  Reply("PATCH statefulsets/alice", NotFound());
  // Leftovers: the children and the pod, never the claim (kept).
  for (const char* what : {"GET services/alice-service", "GET ingresses/alice-app-ingress",
                           "GET ingresses/alice-ttyd-ingress", "GET pods/alice-0"}) {
    Reply(what, NotFound());
  }
  ASSERT_TRUE(got.value.has_value());
  EXPECT_TRUE(got.value->ok()) << *got.value;
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, DeleteOfAnAbsentSandboxRemovesOnlyLeftoversSandboxdMade) {
  MakeService(/*with_cache=*/true);
  Answer<absl::Status> got;
  service_->Delete(DeleteOf(), Opts(), got.Callback());

  // Not cached: the API server has the last word.
  Reply("GET statefulsets/alice", NotFound());
  Call service = Next("GET services/alice-service");
  Call app = Next("GET ingresses/alice-app-ingress");
  Call ttyd = Next("GET ingresses/alice-ttyd-ingress");
  Call pod = Next("GET pods/alice-0");
  Call claim = Next(std::string("GET persistentvolumeclaims/") + kClaim);
  Call legacy = Next(std::string("GET persistentvolumeclaims/") + kLegacyClaim);
  service.done(Meta("alice-service", /*managed=*/true));
  app.done(Meta("alice-app-ingress", /*managed=*/false));  // somebody else's
  ttyd.done(NotFound());
  pod.done(NotFound());
  claim.done(Meta(kClaim, /*managed=*/true, /*kept=*/true));  // kept: never deleted here
  legacy.done(NotFound());
  Call del = Next("DELETE services/alice-service");
  EXPECT_EQ(del.del.precondition_uid, "uid-alice-service");
  del.done("{}");
  ASSERT_TRUE(got.value.has_value());
  EXPECT_TRUE(got.value->ok()) << *got.value;
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

TEST_F(SandboxServiceTest, DeleteOfNothingIsNotFoundUnlessAllowedMissing) {
  MakeService(/*with_cache=*/false);
  for (bool allow_missing : {false, true}) {
    Answer<absl::Status> got;
    service_->Delete(DeleteOf(/*keep_storage=*/false, allow_missing), Opts(), got.Callback());
    Reply("GET statefulsets/alice", NotFound());
    while (kube_.PendingCalls() > 0) {
      Call c = kube_.PopCall();
      EXPECT_EQ(c.verb, "GET") << c.Describe();
      c.done(NotFound());
    }
    ASSERT_TRUE(got.value.has_value());
    if (allow_missing) {
      EXPECT_TRUE(got.value->ok()) << *got.value;
    } else {
      EXPECT_EQ(got.value->code(), absl::StatusCode::kNotFound);
      EXPECT_EQ(ReasonOf(*got.value), domain::reason::kSandboxNotFound);
    }
  }
}

// ---- reads and input -------------------------------------------------------------------

TEST_F(SandboxServiceTest, ReadsComeFromTheCacheUnlessConsistentReadIsAsked) {
  MakeService(/*with_cache=*/true);
  CacheSees(Stored("2"));
  Answer<absl::StatusOr<domain::Sandbox>> cached;
  service_->Get(kNs, kName, /*consistent_read=*/false, "", Opts(), cached.Callback());
  ASSERT_TRUE(cached.value.has_value());
  EXPECT_TRUE(cached.value->ok()) << cached.value->status();
  EXPECT_EQ(kube_.PendingCalls(), 0u);

  Answer<absl::StatusOr<domain::Sandbox>> fresh;
  service_->Get(kNs, kName, /*consistent_read=*/true, "", Opts(), fresh.Callback());
  ReplyLoad(Stored("3"));
  ASSERT_TRUE(fresh.value.has_value());
  ASSERT_TRUE(fresh.value->ok()) << fresh.value->status();
  EXPECT_EQ((*fresh.value)->version, "3");
}

TEST_F(SandboxServiceTest, InvalidInputIsRefusedBeforeAnyRequest) {
  MakeService(/*with_cache=*/false);
  Answer<absl::StatusOr<domain::Sandbox>> stop;
  service_->Stop(kNs, "Not_A_Name", Opts(), stop.Callback());
  ASSERT_TRUE(stop.value.has_value());
  EXPECT_EQ(stop.value->status().code(), absl::StatusCode::kInvalidArgument);

  Answer<absl::StatusOr<domain::Sandbox>> env;
  domain::EnvUpdate update;
  update.set = {{"BAD=KEY", "x"}};
  service_->UpdateEnv(kNs, kName, update, Opts(), env.Callback());
  ASSERT_TRUE(env.value.has_value());
  EXPECT_EQ(env.value->status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(env.value->status()), domain::reason::kInvalidField);

  Answer<absl::StatusOr<domain::Sandbox>> get;
  service_->Get(kNs, kName, false, "not-a-version", Opts(), get.Callback());
  ASSERT_TRUE(get.value.has_value());
  EXPECT_EQ(domain::GetErrorDetail(get.value->status()).metadata["field"], "min_resource_version");
  EXPECT_EQ(kube_.PendingCalls(), 0u);
}

}  // namespace
}  // namespace sandboxd::service
