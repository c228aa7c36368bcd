#include "src/service/cache_feed.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "src/domain/naming.h"
#include "src/kube/objects_json.h"

namespace sandboxd::service {
namespace {

constexpr std::array<kube::Kind, 3> kFeedKinds = {kube::Kind::kStatefulSet, kube::Kind::kPod,
                                                  kube::Kind::kPersistentVolumeClaim};
constexpr std::array<SandboxCache::Source, 3> kSources = {SandboxCache::Source::kStatefulSets,
                                                          SandboxCache::Source::kPods,
                                                          SandboxCache::Source::kClaims};
constexpr unsigned kAllKinds = (1u << kFeedKinds.size()) - 1;

// A malformed object is logged and skipped: one bad object must not stop the feed.
template <typename T>
std::optional<T> DecodeOrLog(const kube::JsonObject& object) {
  absl::StatusOr<T> decoded = kube::Decode<T>(object);
  if (!decoded.ok()) {
    spdlog::error("cache feed: cannot decode {}: {}", T().kind, decoded.status().ToString());
    return std::nullopt;
  }
  return *std::move(decoded);
}

}  // namespace

// Receives the objects of one kind of one group from its reflector (on the kube client's
// I/O thread) and queues their decoding and application on the feed's input thread.
class CacheFeed::Sink final : public kube::ReflectorSink {
 public:
  Sink(CacheFeed* feed, Group* group, size_t kind_index)
      : feed_(feed), group_(group), kind_index_(kind_index) {}
  void set_reflector(const kube::Reflector* reflector) { reflector_ = reflector; }

  void OnUpsert(const kube::JsonObject& object) override {
    // The parsed object is shared, not copied; the input thread decodes it.
    feed_->queued_inputs_.fetch_add(1);
    feed_->input_->Post([feed = feed_, kind = Kind(), object]() {
      feed->Upsert(kind, object);
      feed->Applied();
    });
  }
  void OnDelete(const std::string& ns, const std::string& name,
                const std::string& resource_version) override {
    const uint64_t rv = VersionGate::Parse(resource_version).value_or(0);
    feed_->queued_inputs_.fetch_add(1);
    feed_->input_->Post([feed = feed_, kind = Kind(), ns, name, rv]() {
      feed->Delete(kind, ns, name, rv);
      feed->Applied();
    });
  }
  bool HasRoom() override { return feed_->HasRoom(); }
  void OnSynced() override {
    // The list just completed; no other can begin during this call (Reflector::Relist).
    const int64_t list_number = reflector_->Stats().lists;
    feed_->input_->Post([feed = feed_, group = group_, index = kind_index_, list_number]() {
      feed->Synced(group, index, list_number);
    });
  }
  // Every kind's progress: read-your-writes waits on StatefulSets, resumed watches on
  // all three (SandboxCache::MarkProgress).
  void OnProgress(const std::string& resource_version) override {
    std::optional<uint64_t> version = VersionGate::Parse(resource_version);
    if (!version.has_value()) return;
    feed_->input_->Post([cache = feed_->cache_, source = kSources[kind_index_], scope = group_->ns,
                         v = *version]() { cache->MarkProgress(source, v, scope); });
  }

 private:
  kube::Kind Kind() const { return kFeedKinds[kind_index_]; }

  CacheFeed* const feed_;
  Group* const group_;
  const size_t kind_index_;
  const kube::Reflector* reflector_ = nullptr;
};

CacheFeed::CacheFeed(kube::KubeClient* client, SandboxCache* cache, Scope scope,
                     size_t queue_capacity)
    : cache_(cache),
      client_(client),
      scope_(scope),
      queue_capacity_(std::max<size_t>(queue_capacity, 1)),
      input_owner_(std::make_unique<TaskPool>(1)),
      input_(input_owner_.get()) {
  if (scope_ == Scope::kCluster) cluster_ = MakeGroup("");
}

CacheFeed::~CacheFeed() { Stop(); }

std::unique_ptr<CacheFeed::Group> CacheFeed::MakeGroup(const std::string& ns) {
  auto group = std::make_unique<Group>();
  group->ns = ns;
  for (size_t i = 0; i < kFeedKinds.size(); ++i) {
    group->sinks.push_back(std::make_unique<Sink>(this, group.get(), i));
    kube::ReflectorOptions options;
    options.kind = kFeedKinds[i];
    options.ns = ns;
    // Every claim: the cache must know the foreign ones too (SandboxCache::IsForeignClaim).
    if (kFeedKinds[i] != kube::Kind::kPersistentVolumeClaim) {
      options.label_selector = absl::StrCat(domain::kLabelManagedBy, "=", domain::kManagedByValue);
    }
    group->reflectors.push_back(
        std::make_unique<kube::Reflector>(client_, group->sinks.back().get(), options));
    group->sinks.back()->set_reflector(group->reflectors.back().get());
  }
  return group;
}

void CacheFeed::StopGroup(Group& group) {
  for (auto& reflector : group.reflectors) reflector->Stop();  // no sink call after this
}

void CacheFeed::NamespaceServed(const std::string& ns) {
  absl::MutexLock lock(&mu_);
  if (stopped_ || !served_.insert(ns).second) return;
  cache_->SetNamespacePending(ns, true);
  if (scope_ == Scope::kPerNamespace) cache_->AddProgressScope(ns);
  input_->Post([this, ns]() {
    applying_.insert(ns);
    if (scope_ != Scope::kCluster) return;
    waiting_.insert(ns);
    if (listing_ && !relist_posted_) {  // one relist for every namespace served meanwhile
      relist_posted_ = true;
      input_->Post([this]() { RelistWaiting(); });
    }
  });
  if (scope_ == Scope::kPerNamespace && started_) {
    std::shared_ptr<Group> group = MakeGroup(ns);
    for (auto& reflector : group->reflectors) reflector->Start();
    namespaces_[ns] = std::move(group);
  }
}

void CacheFeed::NamespaceUnserved(const std::string& ns) {
  absl::MutexLock lock(&mu_);
  if (stopped_ || served_.erase(ns) == 0) return;
  std::shared_ptr<Group> group;  // kept until its queued input has been applied
  if (auto it = namespaces_.find(ns); it != namespaces_.end()) {
    group = std::move(it->second);
    namespaces_.erase(it);
    StopGroup(*group);
  }
  input_->Post([this, ns, group]() { Forget(ns); });
}

void CacheFeed::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopped_) return;
  started_ = true;
  if (scope_ == Scope::kCluster) {
    input_->Post([this]() {
      listing_ = true;
      Relist first;  // each reflector's list number 1
      first.namespaces = std::move(waiting_);
      waiting_.clear();
      first.first_list.fill(1);
      relists_.push_back(std::move(first));
      for (auto& reflector : cluster_->reflectors) reflector->Start();
    });
    return;
  }
  for (const std::string& ns : served_) {
    std::shared_ptr<Group> group = MakeGroup(ns);
    for (auto& reflector : group->reflectors) reflector->Start();
    namespaces_[ns] = std::move(group);
  }
  // Nothing cluster-wide to list: each namespace is pending until its own lists are in.
  for (SandboxCache::Source source : kSources) cache_->MarkSynced(source);
}

void CacheFeed::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    if (cluster_ != nullptr) StopGroup(*cluster_);
    for (auto& [ns, group] : namespaces_) StopGroup(*group);
  }
  input_owner_.reset();  // applies what is queued, then joins
}

void CacheFeed::Upsert(kube::Kind kind, const kube::JsonObject& object) {
  switch (kind) {
    case kube::Kind::kStatefulSet:
      if (auto sts = DecodeOrLog<kube::StatefulSet>(object)) {
        if (applying_.contains(sts->metadata.ns)) cache_->ApplyStatefulSet(*std::move(sts));
      }
      break;
    case kube::Kind::kPod:
      if (auto pod = DecodeOrLog<kube::Pod>(object)) {
        if (applying_.contains(pod->metadata.ns)) cache_->ApplyPod(*std::move(pod));
      }
      break;
    default:
      if (auto claim = DecodeOrLog<kube::PersistentVolumeClaim>(object)) {
        if (applying_.contains(claim->metadata.ns)) cache_->ApplyClaim(*std::move(claim));
      }
      break;
  }
}

void CacheFeed::Delete(kube::Kind kind, const std::string& ns, const std::string& name,
                       uint64_t rv) {
  if (!applying_.contains(ns)) return;
  switch (kind) {
    case kube::Kind::kStatefulSet: cache_->DeleteStatefulSet(ns, name, rv); break;
    case kube::Kind::kPod: cache_->DeletePod(ns, name, rv); break;
    default: cache_->DeleteClaim(ns, name, rv); break;
  }
}

void CacheFeed::Synced(Group* group, size_t kind_index, int64_t list_number) {
  const unsigned bit = 1u << kind_index;
  if (group->ns.empty()) {
    cache_->MarkSynced(kSources[kind_index]);
    for (auto it = relists_.begin(); it != relists_.end();) {
      if (list_number >= it->first_list[kind_index]) it->synced_kinds |= bit;
      if (it->synced_kinds != kAllKinds) {
        ++it;
        continue;
      }
      for (const std::string& ns : it->namespaces) {
        if (applying_.contains(ns)) cache_->SetNamespacePending(ns, false);
      }
      it = relists_.erase(it);
    }
    return;
  }
  group->synced_kinds |= bit;
  if (group->synced_kinds == kAllKinds && applying_.contains(group->ns)) {
    cache_->SetNamespacePending(group->ns, false);
  }
}

void CacheFeed::RelistWaiting() {
  relist_posted_ = false;
  if (waiting_.empty()) return;
  Relist relist;
  relist.namespaces = std::move(waiting_);
  waiting_.clear();
  for (size_t i = 0; i < kFeedKinds.size(); ++i) {
    relist.first_list[i] = cluster_->reflectors[i]->Relist();
  }
  spdlog::info("cache feed: listing again for {} newly served namespace(s)",
               relist.namespaces.size());
  relists_.push_back(std::move(relist));
}

void CacheFeed::Forget(const std::string& ns) {
  applying_.erase(ns);
  waiting_.erase(ns);
  for (Relist& relist : relists_) relist.namespaces.erase(ns);
  cache_->ForgetNamespace(ns);
  spdlog::info("cache feed: namespace {} is no longer served; its sandboxes are forgotten", ns);
  absl::MutexLock lock(&mu_);
  if (served_.count(ns) == 0) cache_->SetNamespacePending(ns, false);  // else served again
}

bool CacheFeed::HasRoom() {
  if (queued_inputs_.load() < queue_capacity_) return true;
  paused_any_.store(true);
  // The input thread may have drained to the resume mark before it saw the flag: then
  // there is room after all (the flag only causes one needless ResumeAll).
  return queued_inputs_.load() <= queue_capacity_ / 2;
}

void CacheFeed::Applied() {
  const size_t left = queued_inputs_.fetch_sub(1) - 1;
  if (left <= queue_capacity_ / 2 && paused_any_.exchange(false)) ResumeAll();
}

void CacheFeed::ResumeAll() {
  absl::MutexLock lock(&mu_);  // before each reflector's lock; no sink call takes mu_
  if (stopped_) return;
  if (cluster_ != nullptr) {
    for (auto& reflector : cluster_->reflectors) reflector->Resume();
  }
  for (auto& [ns, group] : namespaces_) {
    for (auto& reflector : group->reflectors) reflector->Resume();
  }
}

CacheFeed::Stats CacheFeed::stats() const {
  Stats total;
  auto add = [&total](const Group& group) {
    for (const auto& reflector : group.reflectors) {
      kube::ReflectorStats s = reflector->Stats();
      total.lists += s.lists;
      total.watches_started += s.watches_started;
      total.relists_after_410 += s.relists_after_410;
      total.events += s.events;
      total.pauses += s.pauses;
      ++total.reflectors;
    }
  };
  absl::MutexLock lock(&mu_);
  if (stopped_) return total;
  if (cluster_ != nullptr) add(*cluster_);
  for (const auto& [ns, group] : namespaces_) add(*group);
  total.queued = input_->queued();
  return total;
}

}  // namespace sandboxd::service
