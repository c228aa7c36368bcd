#include "src/service/cache_feed.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "src/domain/naming.h"
#include "src/kube/objects_json.h"

namespace sandboxd::service {

// Receives the objects of one kind from its reflector (on the kube client's I/O thread)
// and queues their decoding and application to the cache on the feed's input thread.
class CacheFeed::Sink final : public kube::ReflectorSink {
 public:
  Sink(kube::Kind kind, SandboxCache* cache, TaskPool* input)
      : kind_(kind), cache_(cache), input_(input) {}

  void OnUpsert(const std::string& object_json) override {
    input_->Post([this, json = object_json]() { Upsert(json); });
  }
  void OnDelete(const std::string& ns, const std::string& name,
                const std::string& resource_version) override {
    const uint64_t rv = VersionGate::Parse(resource_version).value_or(0);
    input_->Post([this, ns, name, rv]() { Delete(ns, name, rv); });
  }
  void OnSynced() override {
    input_->Post([this]() { Synced(); });
  }
  // Every kind's progress: read-your-writes waits on StatefulSets, resumed watches on
  // all three (SandboxCache::MarkProgress).
  void OnProgress(const std::string& resource_version) override {
    std::optional<uint64_t> version = VersionGate::Parse(resource_version);
    if (!version.has_value()) return;
    input_->Post([this, v = *version]() { cache_->MarkProgress(Source(), v); });
  }

 private:
  void Upsert(const std::string& object_json) {
    switch (kind_) {
      case kube::Kind::kStatefulSet:
        if (auto sts = Decode<kube::StatefulSet>(object_json)) cache_->ApplyStatefulSet(*std::move(sts));
        break;
      case kube::Kind::kPod:
        if (auto pod = Decode<kube::Pod>(object_json)) cache_->ApplyPod(*std::move(pod));
        break;
      default:
        if (auto claim = Decode<kube::PersistentVolumeClaim>(object_json)) {
          cache_->ApplyClaim(*std::move(claim));
        }
        break;
    }
  }

  void Delete(const std::string& ns, const std::string& name, uint64_t rv) {
    switch (kind_) {
      case kube::Kind::kStatefulSet: cache_->DeleteStatefulSet(ns, name, rv); break;
      case kube::Kind::kPod: cache_->DeletePod(ns, name, rv); break;
      default: cache_->DeleteClaim(ns, name, rv); break;
    }
  }

  SandboxCache::Source Source() const {
    return kind_ == kube::Kind::kStatefulSet ? SandboxCache::Source::kStatefulSets
           : kind_ == kube::Kind::kPod       ? SandboxCache::Source::kPods
                                             : SandboxCache::Source::kClaims;
  }

  void Synced() { cache_->MarkSynced(Source()); }

  // A malformed object is logged and skipped: one bad object must not stop the feed.
  template <typename T>
  std::optional<T> Decode(const std::string& json) {
    absl::StatusOr<T> decoded = kube::Decode<T>(json);
    if (!decoded.ok()) {
      spdlog::error("cache feed: cannot decode {}: {}", T().kind, decoded.status().ToString());
      return std::nullopt;
    }
    return *std::move(decoded);
  }

  const kube::Kind kind_;
  SandboxCache* const cache_;
  TaskPool* const input_;
};

CacheFeed::CacheFeed(kube::KubeClient* client, SandboxCache* cache)
    : input_(std::make_unique<TaskPool>(1)) {
  for (kube::Kind kind : {kube::Kind::kStatefulSet, kube::Kind::kPod,
                          kube::Kind::kPersistentVolumeClaim}) {
    sinks_.push_back(std::make_unique<Sink>(kind, cache, input_.get()));
    kube::ReflectorOptions options;
    options.kind = kind;
    options.label_selector =
        absl::StrCat(domain::kLabelManagedBy, "=", domain::kManagedByValue);
    reflectors_.push_back(std::make_unique<kube::Reflector>(client, sinks_.back().get(), options));
  }
}

CacheFeed::~CacheFeed() { Stop(); }

void CacheFeed::Start() {
  for (auto& reflector : reflectors_) reflector->Start();
}

void CacheFeed::Stop() {
  for (auto& reflector : reflectors_) reflector->Stop();  // no sink call runs after this
  input_.reset();  // applies what is queued, then joins
}

CacheFeed::Stats CacheFeed::stats() const {
  Stats total;
  for (const auto& reflector : reflectors_) {
    kube::ReflectorStats s = reflector->Stats();
    total.lists += s.lists;
    total.watches_started += s.watches_started;
    total.relists_after_410 += s.relists_after_410;
    total.events += s.events;
  }
  if (input_ != nullptr) total.queued = input_->queued();
  return total;
}

}  // namespace sandboxd::service
