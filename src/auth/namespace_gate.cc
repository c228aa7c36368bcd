#include "src/auth/namespace_gate.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"
#include "src/kube/objects_json.h"

namespace sandboxd::auth {

class NamespaceGate::Sink final : public kube::ReflectorSink {
 public:
  explicit Sink(NamespaceGate* gate) : gate_(gate) {}

  void OnUpsert(const kube::JsonObject& object) override {
    absl::StatusOr<kube::ObjectMeta> meta = kube::Decode<kube::ObjectMeta>(object);
    if (!meta.ok() || meta->name.empty()) return;
    std::optional<std::vector<std::string>> domains;
    auto annotation = meta->annotations.find(domain::kAnnotationAllowedIngressDomains);
    if (annotation != meta->annotations.end()) {
      domains = domain::ParseDomainList(annotation->second);
    }
    const bool reserved = gate_->Reserved(meta->name);
    bool known;
    {
      absl::MutexLock lock(&gate_->mu_);
      known = gate_->served_.contains(meta->name);
    }
    // Only this thread changes the set, so `known` stays true until the insert below.
    if (!known && !reserved && gate_->observer_.served) gate_->observer_.served(meta->name);
    absl::MutexLock lock(&gate_->mu_);
    gate_->served_[meta->name] = std::move(domains);
  }
  void OnDelete(const std::string& /*ns*/, const std::string& name,
                const std::string& /*resource_version*/) override {
    bool erased;
    {
      absl::MutexLock lock(&gate_->mu_);
      erased = gate_->served_.erase(name) > 0;
    }
    if (erased && !gate_->Reserved(name) && gate_->observer_.unserved) {
      gate_->observer_.unserved(name);
    }
  }
  void OnSynced() override {
    bool first;
    {
      absl::MutexLock lock(&gate_->mu_);
      first = !gate_->synced_;
      gate_->synced_ = true;
    }
    if (first && gate_->observer_.synced) gate_->observer_.synced();
  }

 private:
  NamespaceGate* const gate_;
};

NamespaceGate::NamespaceGate(kube::KubeClient* kube, Options options, Observer observer)
    : options_(std::move(options)),
      observer_(std::move(observer)),
      sink_(std::make_unique<Sink>(this)) {
  kube::ReflectorOptions reflector;
  reflector.kind = kube::Kind::kNamespace;
  reflector.label_selector = options_.label_selector;
  reflector_ = std::make_unique<kube::Reflector>(kube, sink_.get(), reflector);
}

NamespaceGate::~NamespaceGate() { Stop(); }

void NamespaceGate::Start() { reflector_->Start(); }
void NamespaceGate::Stop() { reflector_->Stop(); }

bool NamespaceGate::synced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

absl::Status NamespaceGate::Check(const std::string& ns) const {
  auto not_served = [&ns]() {
    return domain::MakeError(absl::StatusCode::kPermissionDenied,
                             domain::reason::kNamespaceNotServed,
                             absl::StrCat("sandboxd does not serve namespace ", ns),
                             {{"namespace", ns}});
  };
  if (Reserved(ns)) return not_served();
  absl::MutexLock lock(&mu_);
  if (!synced_) {
    return domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kCacheNotSynced,
                             "sandboxd is starting; retry shortly");
  }
  return served_.contains(ns) ? absl::OkStatus() : not_served();
}

bool NamespaceGate::Reserved(const std::string& ns) const {
  return absl::StartsWith(ns, "kube-") || ns == options_.own_namespace;
}

std::optional<std::vector<std::string>> NamespaceGate::AllowedIngressDomains(
    const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  auto it = served_.find(ns);
  if (it == served_.end()) return std::nullopt;
  return it->second;
}

}  // namespace sandboxd::auth
