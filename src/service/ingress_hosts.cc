#include "src/service/ingress_hosts.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/kube/objects.h"
#include "src/kube/objects_json.h"

namespace sandboxd::service {

class IngressHosts::Sink final : public kube::ReflectorSink {
 public:
  explicit Sink(IngressHosts* hosts) : hosts_(hosts) {}

  void OnUpsert(const kube::JsonObject& object) override {
    absl::StatusOr<kube::Ingress> ingress = kube::Decode<kube::Ingress>(object);
    if (!ingress.ok()) return;
    std::vector<std::string> hosts;
    for (const kube::IngressRule& rule : ingress->spec.rules) {
      if (!rule.host.empty()) hosts.push_back(rule.host);
    }
    hosts_->Set(absl::StrCat(ingress->metadata.ns, "/", ingress->metadata.name),
                std::move(hosts));
  }
  void OnDelete(const std::string& ns, const std::string& name,
                const std::string& /*resource_version*/) override {
    hosts_->Set(absl::StrCat(ns, "/", name), {});
  }
  void OnSynced() override {
    absl::MutexLock lock(&hosts_->mu_);
    hosts_->synced_ = true;
  }

 private:
  IngressHosts* const hosts_;
};

IngressHosts::IngressHosts(kube::KubeClient* kube) : sink_(std::make_unique<Sink>(this)) {
  kube::ReflectorOptions options;
  options.kind = kube::Kind::kIngress;
  reflector_ = std::make_unique<kube::Reflector>(kube, sink_.get(), options);
}

IngressHosts::~IngressHosts() { Stop(); }

void IngressHosts::Start() { reflector_->Start(); }
void IngressHosts::Stop() { reflector_->Stop(); }

bool IngressHosts::synced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

void IngressHosts::Set(const Key& key, std::vector<std::string> hosts) {
  absl::MutexLock lock(&mu_);
  auto old = hosts_by_ingress_.find(key);
  if (old != hosts_by_ingress_.end()) {
    for (const std::string& host : old->second) {
      auto it = ingresses_by_host_.find(host);
      if (it == ingresses_by_host_.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) ingresses_by_host_.erase(it);
    }
    hosts_by_ingress_.erase(old);
  }
  if (hosts.empty()) return;
  for (const std::string& host : hosts) ingresses_by_host_[host].insert(key);
  hosts_by_ingress_[key] = std::move(hosts);
}

void IngressHosts::Created(const std::string& ns, const std::string& ingress,
                           std::vector<std::string> hosts) {
  Set(absl::StrCat(ns, "/", ingress), std::move(hosts));
}

absl::Status IngressHosts::CheckFree(const std::string& ns, const std::string& ingress,
                                     const std::string& host) const {
  const Key mine = absl::StrCat(ns, "/", ingress);
  absl::MutexLock lock(&mu_);
  if (!synced_) {
    return domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kCacheNotSynced,
                             "sandboxd is starting; retry shortly");
  }
  auto it = ingresses_by_host_.find(host);
  if (it == ingresses_by_host_.end()) return absl::OkStatus();
  for (const Key& owner : it->second) {
    if (owner != mine) {
      return domain::MakeError(absl::StatusCode::kAlreadyExists,
                               domain::reason::kIngressHostTaken,
                               absl::StrCat("host ", host, " is already used by another Ingress"),
                               {{"host", host}});
    }
  }
  return absl::OkStatus();
}

}  // namespace sandboxd::service
