#include "tools/bench/floor_client.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "src/domain/builders.h"
#include "src/domain/naming.h"
#include "src/service/request_plan.h"
#include "src/service/sandbox_service.h"

namespace sandboxd::bench {
namespace {

namespace plan = service::plan;
using kube::Kind;
using kube::ObjectRef;
using Body = absl::StatusOr<std::string>;

// Calls `done` with the first error recorded once `count` parts have arrived, on the
// thread of the last one. Thread-safe.
class Join {
 public:
  Join(int count, StatusCallback done) : remaining_(count), done_(std::move(done)) {}

  void Arrive(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::Status first;
    {
      absl::MutexLock lock(&mu_);
      if (!status.ok() && error_.ok()) error_ = std::move(status);
      if (--remaining_ > 0) return;
      first = error_;
    }
    done_(std::move(first));
  }

 private:
  absl::Mutex mu_;
  int remaining_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  const StatusCallback done_;
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
  domain::SandboxSpec probe;
  probe.storage.mount_path = defaults_.mount_path;
  const std::string claim = domain::ClaimName(domain::ClaimTemplateNameFor(probe, defaults_), name);
  auto join = std::make_shared<Join>(2, std::move(done));
  kube_->Get(ObjectRef{Kind::kPod, ns, domain::PodName(name)}, "", Opts(),
             [join](Body b) { join->Arrive(IgnoreNotFound(b)); });
  kube_->Get(ObjectRef{Kind::kPersistentVolumeClaim, ns, claim}, "", Opts(),
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

void FloorClient::Create(const domain::SandboxSpec& spec, ValueCallback done) const {
  const std::string claim_template = domain::ClaimTemplateNameFor(spec, defaults_);
  plan::Send(kube_, plan::CreateStatefulSet(spec, defaults_, claim_template), Opts(),
             [this, spec, claim_template, done = std::move(done)](Body created) {
               if (!created.ok()) return done(created.status());
               kube::StatefulSet owner = domain::BuildStatefulSet(spec, defaults_, claim_template);
               owner.metadata.uid = FirstStringField(*created, "uid");
               std::vector<plan::Child> children = plan::CreateChildren(spec, defaults_, owner);
               auto join = std::make_shared<Join>(static_cast<int>(children.size()),
                                                  [done, uid = owner.metadata.uid](absl::Status s) {
                                                    if (!s.ok()) return done(s);
                                                    done(uid);
                                                  });
               for (plan::Child& child : children) {
                 plan::Send(kube_, std::move(child.request), Opts(), [join](Body r) {
                   join->Arrive(r.ok() || absl::IsAlreadyExists(r.status()) ? absl::OkStatus()
                                                                            : r.status());
                 });
               }
             });
}

void FloorClient::Scale(const std::string& ns, const std::string& name, int replicas,
                        StatusCallback done) const {
  plan::Send(kube_, plan::Scale(ns, name, replicas), Opts(),
             [done = std::move(done)](Body r) { done(r.status()); });
}

void FloorClient::UpdateEnv(kube::StatefulSet current, domain::EnvUpdate update,
                            StatusCallback done) const {
  UpdateEnvAttempt(std::move(current), std::move(update), 1, std::move(done));
}

void FloorClient::UpdateEnvAttempt(kube::StatefulSet current, domain::EnvUpdate update, int attempt,
                                   StatusCallback done) const {
  plan::Send(
      kube_, plan::UpdateEnv(current, update), Opts(),
      [this, current, update, attempt, done = std::move(done)](Body r) {
        if (r.ok() || !absl::IsAborted(r.status()) ||
            attempt >= service::SandboxService::kMaxConflictRetries) {
          return done(r.status());
        }
        const ObjectRef ref{Kind::kStatefulSet, current.metadata.ns, current.metadata.name};
        kube_->Get(ref, "", Opts(), [this, current, update, attempt, done](Body sts) mutable {
          if (!sts.ok()) return done(sts.status());
          current.metadata.resource_version = FirstStringField(*sts, "resourceVersion");
          UpdateEnvAttempt(std::move(current), std::move(update), attempt + 1, std::move(done));
        });
      });
}

void FloorClient::Delete(const std::string& ns, const std::string& name, const std::string& uid,
                         StatusCallback done) const {
  domain::SandboxSpec probe;
  probe.storage.mount_path = defaults_.mount_path;
  const std::string claim = domain::ClaimName(domain::ClaimTemplateNameFor(probe, defaults_), name);
  plan::Send(kube_, plan::DeleteStatefulSet(ns, name, uid), Opts(),
             [this, ns, claim, done = std::move(done)](Body r) {
               if (!r.ok()) return done(r.status());
               // The claim has its owner reference by now: read, not deleted.
               plan::Send(kube_, plan::ClaimCheck(ns, claim), Opts(), [done](Body c) {
                 done(absl::IsNotFound(c.status()) ? absl::OkStatus() : c.status());
               });
             });
}

}  // namespace sandboxd::bench
