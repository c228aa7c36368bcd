#include "tools/bench/floor_client.h"

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/service/sandbox_service.h"
#include "src/domain/builders.h"
#include "src/domain/naming.h"
#include "src/kube/objects.h"
#include "src/kube/objects_json.h"
#include "src/kube/patches.h"

namespace sandboxd::bench {
namespace {

// The claim template of sandboxes created with the default settings (mount path
// /home/agent, Sealos naming).
constexpr char kClaimTemplate[] = "vn-homevn-agent";

using kube::Kind;
using kube::ObjectRef;
using Body = absl::StatusOr<std::string>;

// Calls `done` with the first error recorded once `count` parts have arrived, on the
// thread of the last one. Thread-safe.
class Join {
 public:
  Join(int count, StatusCallback done) : remaining_(count), done_(std::move(done)) {}

  void Arrive(absl::Status status) {
    absl::Status first;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!status.ok() && error_.ok()) error_ = std::move(status);
      if (--remaining_ > 0) return;
      first = error_;
    }
    done_(std::move(first));
  }

 private:
  std::mutex mu_;
  int remaining_;       // guarded by mu_
  absl::Status error_;  // guarded by mu_
  StatusCallback done_;
};

// Each request of a floor call is bounded like the RPCs of the sandboxd side (their
// deadline), so that a stalled request becomes a counted error instead of a hang.
kube::CallOptions Opts() {
  kube::CallOptions opts;
  opts.deadline = absl::Now() + absl::Seconds(10);
  return opts;
}

absl::Status IgnoreNotFound(const Body& body) {
  return body.ok() || absl::IsNotFound(body.status()) ? absl::OkStatus() : body.status();
}

std::string ManagedLabelText() {
  return absl::StrCat("\"", domain::kLabelManagedBy, "\":\"", domain::kManagedByValue, "\"");
}

}  // namespace

std::string FirstStringField(const std::string& json, const std::string& field) {
  const std::string key = absl::StrCat("\"", field, "\":\"");
  size_t start = json.find(key);
  if (start == std::string::npos) return "";
  start += key.size();
  size_t end = json.find('"', start);
  return end == std::string::npos ? "" : json.substr(start, end - start);
}

FloorClient::FloorClient(kube::KubeClient* kube, domain::SandboxDefaults defaults)
    : kube_(kube), defaults_(std::move(defaults)) {}

void FloorClient::Get(const std::string& ns, const std::string& name, StatusCallback done) const {
  kube_->Get(ObjectRef{Kind::kStatefulSet, ns, name}, "", Opts(),
             [this, ns, name, done = std::move(done)](Body sts) {
               if (!sts.ok()) return done(sts.status());
               Children(ns, name, done);
             });
}

void FloorClient::Children(const std::string& ns, const std::string& name,
                           StatusCallback done) const {
  auto join = std::make_shared<Join>(2, std::move(done));
  kube_->Get(ObjectRef{Kind::kPod, ns, domain::PodName(name)}, "", Opts(),
             [join](Body b) { join->Arrive(IgnoreNotFound(b)); });
  kube_->Get(ObjectRef{Kind::kPersistentVolumeClaim, ns, domain::ClaimName(kClaimTemplate, name)}, "", Opts(),
             [join](Body b) { join->Arrive(IgnoreNotFound(b)); });
}

void FloorClient::List(const std::string& ns, int page_size, const std::string& children_selector,
                       StatusCallback done) const {
  kube::ListOptions list;
  list.label_selector = absl::StrCat(domain::kLabelManagedBy, "=", domain::kManagedByValue);
  list.limit = page_size;
  kube_->List(Kind::kStatefulSet, ns, list, Opts(),
              [this, ns, children_selector, done = std::move(done)](Body sets) {
                if (!sets.ok()) return done(sets.status());
                kube::ListOptions children;
                children.label_selector = children_selector;
                auto join = std::make_shared<Join>(2, done);
                kube_->List(Kind::kPod, ns, children, Opts(),
                            [join](Body b) { join->Arrive(b.status()); });
                kube_->List(Kind::kPersistentVolumeClaim, ns, children, Opts(),
                            [join](Body b) { join->Arrive(b.status()); });
              });
}

void FloorClient::Scale(const std::string& ns, const std::string& name, int replicas, bool patch,
                        StatusCallback done) const {
  kube_->Get(ObjectRef{Kind::kStatefulSet, ns, name}, "", Opts(),
             [this, ns, name, replicas, patch, done = std::move(done)](Body sts) {
               if (!sts.ok()) return done(sts.status());
               if (!patch) return Children(ns, name, done);
               kube_->Patch(ObjectRef{Kind::kStatefulSet, ns, name}, "",
                            kube::PatchType::kMerge, kube::ScalePatch(replicas), Opts(),
                            [this, ns, name, done](Body r) {
                              if (!r.ok()) return done(r.status());
                              Get(ns, name, done);
                            });
             });
}

void FloorClient::UpdateEnvNoChange(const std::string& ns, const std::string& name,
                                    StatusCallback done) const {
  kube_->Get(ObjectRef{Kind::kStatefulSet, ns, name}, "", Opts(),
             [this, ns, name, done = std::move(done)](Body sts) {
               if (!sts.ok()) return done(sts.status());
               Children(ns, name, done);
             });
}

void FloorClient::UpdateEnv(const std::string& ns, const std::string& name,
                            std::map<std::string, std::string> set, std::string spec_hash,
                            StatusCallback done) const {
  UpdateEnvAttempt(ns, name, std::move(set), std::move(spec_hash), 1, std::move(done));
}

void FloorClient::UpdateEnvAttempt(const std::string& ns, const std::string& name,
                                   std::map<std::string, std::string> set, std::string spec_hash,
                                   int attempt, StatusCallback done) const {
  kube_->Get(
      ObjectRef{Kind::kStatefulSet, ns, name}, "", Opts(),
      [this, ns, name, set, spec_hash, attempt, done = std::move(done)](Body sts) {
        if (!sts.ok()) return done(sts.status());
        const std::string patch =
            kube::EnvPatch(name, FirstStringField(*sts, "resourceVersion"),
                           {{domain::kAnnotationSpecHash, spec_hash}}, set, {});
        kube_->Patch(ObjectRef{Kind::kStatefulSet, ns, name}, "",
                     kube::PatchType::kStrategicMerge, patch, Opts(),
                     [this, ns, name, set, spec_hash, attempt, done](Body r) {
                       if (r.ok()) return Children(ns, name, done);
                       if (!absl::IsAborted(r.status()) ||
                           attempt >= service::SandboxService::kMaxConflictRetries) {
                         return done(r.status());
                       }
                       UpdateEnvAttempt(ns, name, set, spec_hash, attempt + 1, done);
                     });
      });
}

void FloorClient::Create(const domain::SandboxSpec& spec, std::string statefulset_json,
                         StatusCallback done) const {
  kube_->Create(
      Kind::kStatefulSet, spec.ns, std::move(statefulset_json), Opts(),
      [this, spec, done = std::move(done)](Body created) {
        if (!created.ok()) return done(created.status());
        const kube::OwnerReference owner =
            domain::StatefulSetOwnerReference(spec.name, FirstStringField(*created, "uid"));
        std::vector<std::pair<Kind, std::string>> children;
        kube::Service service = domain::BuildService(spec, defaults_);
        domain::SetOwnerReference(owner, &service.metadata);
        children.emplace_back(Kind::kService, kube::ToJson(service));
        for (kube::Ingress& ingress : domain::BuildIngresses(spec, defaults_)) {
          domain::SetOwnerReference(owner, &ingress.metadata);
          children.emplace_back(Kind::kIngress, kube::ToJson(ingress));
        }
        const std::string ns = spec.ns;
        const std::string name = spec.name;
        auto join = std::make_shared<Join>(static_cast<int>(children.size()),
                                           [this, ns, name, done](absl::Status s) {
                                             if (!s.ok()) return done(s);
                                             Get(ns, name, done);
                                           });
        for (auto& [kind, body] : children) {
          kube_->Create(kind, ns, std::move(body), Opts(), [join](Body r) {
            join->Arrive(r.ok() || absl::IsAlreadyExists(r.status()) ? absl::OkStatus()
                                                                     : r.status());
          });
        }
      });
}

void FloorClient::Delete(const std::string& ns, const std::string& name,
                         StatusCallback done) const {
  auto leftovers = [this, ns, name](StatusCallback finished) {
    const std::vector<ObjectRef> refs = {
        {Kind::kService, ns, domain::ServiceName(name)},
        {Kind::kIngress, ns, domain::AppIngressName(name)},
        {Kind::kIngress, ns, domain::TtydIngressName(name)},
        {Kind::kPod, ns, domain::PodName(name)},
        {Kind::kPersistentVolumeClaim, ns, domain::ClaimName(kClaimTemplate, name)},
    };
    auto join = std::make_shared<Join>(static_cast<int>(refs.size()), std::move(finished));
    for (const ObjectRef& ref : refs) {
      kube_->Get(ref, "", Opts(), [this, ref, join](Body body) {
        if (!body.ok()) return join->Arrive(IgnoreNotFound(body));
        if (body->find(ManagedLabelText()) == std::string::npos) {
          return join->Arrive(absl::OkStatus());
        }
        kube::DeleteOptions del;
        del.precondition_uid = FirstStringField(*body, "uid");
        kube_->Delete(ref, del, Opts(), [join](Body r) { join->Arrive(IgnoreNotFound(r)); });
      });
    }
  };
  kube_->Get(ObjectRef{Kind::kStatefulSet, ns, name}, "", Opts(),
             [this, ns, name, leftovers, done = std::move(done)](Body sts) {
               if (!sts.ok()) return done(sts.status());
               kube::DeleteOptions del;
               del.propagation = kube::Propagation::kForeground;
               del.precondition_uid = FirstStringField(*sts, "uid");
               kube_->Delete(ObjectRef{Kind::kStatefulSet, ns, name}, del, Opts(),
                             [leftovers, done](Body r) {
                               if (!r.ok() && !absl::IsNotFound(r.status())) {
                                 return done(r.status());
                               }
                               leftovers(done);
                             });
             });
}

}  // namespace sandboxd::bench
