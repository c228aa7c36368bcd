#include "src/service/sandbox_service.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"
#include "src/domain/builders.h"
#include "src/domain/env.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/status.h"
#include "src/domain/validation.h"
#include "src/kube/objects.h"
#include "src/kube/objects_json.h"
#include "src/kube/patches.h"
#include "src/service/barrier.h"
#include "src/service/kube_reads.h"
#include "src/service/request_plan.h"

namespace sandboxd::service {
namespace {

using domain::Sandbox;
using kube::Kind;
using kube::ObjectRef;

absl::Status SandboxNotFound(const std::string& ns, const std::string& name) {
  return domain::MakeError(absl::StatusCode::kNotFound, domain::reason::kSandboxNotFound,
                           absl::StrCat("sandbox ", ns, "/", name, " not found"),
                           {{"namespace", ns}, {"name", name}});
}

absl::Status Deleting(const std::string& ns, const std::string& name) {
  return domain::MakeError(absl::StatusCode::kFailedPrecondition, domain::reason::kSandboxDeleting,
                           absl::StrCat("sandbox ", ns, "/", name, " is being deleted"),
                           {{"namespace", ns}, {"name", name}});
}

absl::Status ForeignClaim(const std::string& ns, const std::string& name,
                          const std::string& claim) {
  return domain::MakeError(absl::StatusCode::kFailedPrecondition, domain::reason::kForeignClaim,
                           absl::StrCat("claim ", ns, "/", claim, " exists and was not created by ",
                                        "sandboxd; sandbox ", name, " would mount it"),
                           {{"namespace", ns}, {"name", name}, {"claim", claim}});
}

bool IsKept(const kube::ObjectMeta& meta) {
  auto it = meta.annotations.find(domain::kAnnotationKeptClaim);
  return it != meta.annotations.end() && it->second == "true";
}

// Deletes claim `ns`/`claim` of a StatefulSet just deleted if no owner reference hands
// it to the garbage collector (the StatefulSet controller adds it asynchronously, so a
// sandbox deleted right after its claim was made would leave it behind) and sandboxd
// made it and did not keep it. OK if there is nothing to delete.
void DeleteUnownedClaim(kube::KubeClient* kube, const std::string& ns, const std::string& claim,
                        const kube::CallOptions& opts, std::function<void(absl::Status)> done) {
  const ObjectRef ref{Kind::kPersistentVolumeClaim, ns, claim};
  plan::Send(kube, plan::ClaimCheck(ns, claim), opts,
             [kube, ref, opts, done](absl::StatusOr<std::string> body) {
               if (absl::IsNotFound(body.status())) return done(absl::OkStatus());
               if (!body.ok()) return done(domain::WithContext(body.status(), "read claim"));
               absl::StatusOr<kube::ObjectMeta> meta = kube::Decode<kube::ObjectMeta>(*body);
               if (!meta.ok()) return done(meta.status());
               if (!meta->owner_references.empty() || !IsManaged(*meta) || IsKept(*meta)) {
                 return done(absl::OkStatus());
               }
               kube::DeleteOptions del;
               del.precondition_uid = meta->uid;
               kube->Delete(ref, del, opts, [done](absl::StatusOr<std::string> r) {
                 if (r.ok() || absl::IsNotFound(r.status())) return done(absl::OkStatus());
                 done(domain::WithContext(r.status(), "delete claim"));
               });
             });
}

// The first error of calls made in parallel. Thread-safe.
class FirstError {
 public:
  // Keeps `status` if it is the first error recorded.
  void Record(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (status_.ok()) status_ = std::move(status);
  }
  // The first error recorded, or OK.
  absl::Status Get() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

std::string ManagedSelector(const std::string& project, const std::string& extra) {
  std::vector<std::string> terms = {
      absl::StrCat(domain::kLabelManagedBy, "=", domain::kManagedByValue)};
  if (!project.empty()) terms.push_back(absl::StrCat(domain::kLabelProject, "=", project));
  if (!extra.empty()) terms.push_back(extra);
  return absl::StrJoin(terms, ",");
}

}  // namespace

SandboxService::SandboxService(kube::KubeClient* kube, SandboxCache* cache,
                               domain::SandboxDefaults defaults, IngressHosts* hosts,
                               std::function<absl::Time()> clock,
                               NamespaceIngressDomains namespace_domains)
    : kube_(kube), cache_(cache), hosts_(hosts), defaults_(std::move(defaults)),
      clock_(std::move(clock)), namespace_domains_(std::move(namespace_domains)) {}

kube::CallOptions SandboxService::IdempotentWrites(kube::CallOptions opts) {
  opts.idempotent_writes = true;
  return opts;
}

bool SandboxService::CacheReady(const std::string& ns) const {
  return cache_ != nullptr && cache_->synced(ns);
}

// ---- reads --------------------------------------------------------------------------

void SandboxService::LoadStatefulSet(const std::string& ns, const std::string& name,
                                     const kube::CallOptions& opts, Done<std::string> done) {
  kube_->Get(ObjectRef{Kind::kStatefulSet, ns, name}, "", opts,
             [ns, name, done = std::move(done)](absl::StatusOr<std::string> body) {
               if (absl::IsNotFound(body.status())) return done(SandboxNotFound(ns, name));
               done(std::move(body));
             });
}

void SandboxService::LoadManagedStatefulSet(const std::string& ns, const std::string& name,
                                            const kube::CallOptions& opts,
                                            Done<kube::StatefulSet> done) {
  LoadStatefulSet(ns, name, opts, [ns, name, done](absl::StatusOr<std::string> body) {
    if (!body.ok()) return done(body.status());
    absl::StatusOr<kube::StatefulSet> sts = kube::Decode<kube::StatefulSet>(*body);
    if (!sts.ok()) return done(domain::WithContext(sts.status(), "decode StatefulSet"));
    if (!IsManaged(sts->metadata)) return done(SandboxNotFound(ns, name));
    done(std::move(sts));
  });
}

void SandboxService::Complete(kube::StatefulSet sts, const kube::CallOptions& opts,
                              Done<Sandbox> done) {
  const std::string ns = sts.metadata.ns;
  const std::string name = sts.metadata.name;
  // The pod and the claim in parallel; either may be missing.
  struct Pending {
    kube::StatefulSet sts;
    MaybeBody pod, claim;
  };
  auto pending = std::make_shared<Pending>();
  pending->sts = std::move(sts);
  auto barrier = std::make_shared<Barrier>(2, [this, pending, done]() {
    auto pod = DecodeMaybe<kube::Pod>(pending->pod);
    auto claim = DecodeMaybe<kube::PersistentVolumeClaim>(pending->claim);
    if (!pod.ok()) return done(domain::WithContext(pod.status(), "read pod"));
    if (!claim.ok()) return done(domain::WithContext(claim.status(), "read claim"));
    done(domain::DeriveSandbox(pending->sts, pod->has_value() ? &**pod : nullptr,
                               claim->has_value() ? &**claim : nullptr, clock_(), defaults_));
  });
  kube_->Get(ObjectRef{Kind::kPod, ns, domain::PodName(name)}, "", opts,
             [pending, barrier](absl::StatusOr<std::string> b) {
               pending->pod = AllowNotFound(std::move(b));
               barrier->Arrive();
             });
  kube_->Get(ObjectRef{Kind::kPersistentVolumeClaim, ns, domain::ClaimNameOf(pending->sts)}, "",
             opts, [pending, barrier](absl::StatusOr<std::string> b) {
               pending->claim = AllowNotFound(std::move(b));
               barrier->Arrive();
             });
}

void SandboxService::Load(const std::string& ns, const std::string& name,
                          const kube::CallOptions& opts, Done<Sandbox> done) {
  LoadManagedStatefulSet(ns, name, opts,
                         [this, opts, done](absl::StatusOr<kube::StatefulSet> sts) {
                           if (!sts.ok()) return done(sts.status());
                           Complete(*std::move(sts), opts, done);
                         });
}

void SandboxService::Get(const std::string& ns, const std::string& name, bool consistent_read,
                         const std::string& min_resource_version, const kube::CallOptions& opts,
                         Done<Sandbox> done) {
  if (absl::Status s = domain::ValidateNamespace(ns); !s.ok()) return done(s);
  if (absl::Status s = domain::ValidateName(name); !s.ok()) return done(s);
  absl::StatusOr<Progress> target = MinProgress(min_resource_version);
  if (!target.ok()) return done(target.status());
  if (!consistent_read && CacheReady(ns)) {
    return AwaitProgress(ns, *target, opts, [this, ns, name, done](absl::Status s) {
      if (!s.ok()) return done(s);
      done(cache_->Get(ns, name));
    });
  }
  Load(ns, name, opts, std::move(done));
}

void SandboxService::List(domain::ListQuery query, bool consistent_read,
                          const std::string& min_resource_version, const kube::CallOptions& opts,
                          Done<domain::ListResult> done) {
  absl::StatusOr<Progress> target = MinProgress(min_resource_version);
  if (!target.ok()) return done(target.status());
  if (!consistent_read && CacheReady(query.ns)) {
    const std::string ns = query.ns;
    return AwaitProgress(ns, *target, opts, [this, query, done](absl::Status s) {
      if (!s.ok()) return done(s);
      done(cache_->List(query));
    });
  }
  if (absl::Status s = domain::ValidateNamespace(query.ns); !s.ok()) return done(s);
  if (query.page_size < 0) return done(domain::InvalidField("page_size", "must not be negative"));
  kube::ListOptions list;
  list.label_selector = ManagedSelector(query.project, query.label_selector);
  list.limit = query.page_size == 0 ? kDefaultPageSize : std::min(query.page_size, kMaxPageSize);
  list.continue_token = query.page_token;
  const std::string ns = query.ns;
  kube_->List(Kind::kStatefulSet, ns, list, opts, [this, ns, query, opts, done](
                                                      absl::StatusOr<std::string> body) {
    if (!body.ok()) {
      if (absl::IsOutOfRange(body.status()) && !query.page_token.empty()) {
        return done(domain::InvalidField("page_token", "expired; list again from the start"));
      }
      if (absl::IsInvalidArgument(body.status())) {
        return done(domain::InvalidField(query.page_token.empty() ? "label_selector" : "page_token",
                                         std::string(body.status().message())));
      }
      return done(body.status());
    }
    absl::StatusOr<kube::StatefulSetList> sets = kube::Decode<kube::StatefulSetList>(*body);
    if (!sets.ok()) return done(domain::WithContext(sets.status(), "decode StatefulSet list"));
    if (sets->items.empty()) {
      return done(domain::ListResult{{}, sets->metadata.continue_token});
    }
    // Pods and claims of exactly this page's sandboxes, by their `app` label.
    std::vector<std::string> names;
    for (const kube::StatefulSet& s : sets->items) names.push_back(s.metadata.name);
    kube::ListOptions children;
    children.label_selector = absl::StrCat(domain::kLabelApp, " in (", absl::StrJoin(names, ","), ")");
    struct Pending {
      kube::StatefulSetList sets;
      absl::StatusOr<std::string> pods, claims;
    };
    auto pending = std::make_shared<Pending>();
    pending->sets = std::move(*sets);
    auto barrier = std::make_shared<Barrier>(2, [this, pending, done]() {
      if (!pending->pods.ok()) return done(pending->pods.status());
      if (!pending->claims.ok()) return done(pending->claims.status());
      auto pods = kube::Decode<kube::PodList>(*pending->pods);
      auto claims = kube::Decode<kube::PersistentVolumeClaimList>(*pending->claims);
      if (!pods.ok()) return done(pods.status());
      if (!claims.ok()) return done(claims.status());
      std::map<std::string, const kube::Pod*> pod_by_name;
      for (const kube::Pod& p : pods->items) pod_by_name[p.metadata.name] = &p;
      std::map<std::string, const kube::PersistentVolumeClaim*> claim_by_name;
      for (const kube::PersistentVolumeClaim& c : claims->items) claim_by_name[c.metadata.name] = &c;
      domain::ListResult result;
      result.next_page_token = pending->sets.metadata.continue_token;
      const absl::Time now = clock_();
      for (const kube::StatefulSet& s : pending->sets.items) {
        auto pod = pod_by_name.find(domain::PodName(s.metadata.name));
        auto claim = claim_by_name.find(domain::ClaimNameOf(s));
        result.sandboxes.push_back(domain::DeriveSandbox(
            s, pod == pod_by_name.end() ? nullptr : pod->second,
            claim == claim_by_name.end() ? nullptr : claim->second, now, defaults_));
      }
      done(std::move(result));
    });
    kube_->List(Kind::kPod, ns, children, opts, [pending, barrier](absl::StatusOr<std::string> b) {
      pending->pods = std::move(b);
      barrier->Arrive();
    });
    kube_->List(Kind::kPersistentVolumeClaim, ns, children, opts,
                [pending, barrier](absl::StatusOr<std::string> b) {
                  pending->claims = std::move(b);
                  barrier->Arrive();
                });
  });
}

void SandboxService::ReadCurrent(const std::string& ns, const std::string& name,
                                 const kube::CallOptions& opts, Done<Current> done) {
  if (CacheReady(ns)) {
    absl::StatusOr<kube::StatefulSet> cached = cache_->GetStatefulSet(ns, name);
    if (cached.ok()) return done(Current{*std::move(cached), /*cached=*/true});
    // Not in the cache: it may have been created an instant ago (by another replica);
    // the API server has the last word.
    if (!absl::IsNotFound(cached.status())) return done(cached.status());
  }
  LoadManagedStatefulSet(ns, name, opts, [done](absl::StatusOr<kube::StatefulSet> sts) {
    if (!sts.ok()) return done(sts.status());
    done(Current{*std::move(sts), /*cached=*/false});
  });
}

void SandboxService::ReplyUnchanged(Current current, const kube::CallOptions& opts,
                                    Done<Sandbox> done) {
  if (current.cached) {
    return done(cache_->Get(current.sts.metadata.ns, current.sts.metadata.name));
  }
  Complete(std::move(current.sts), opts, std::move(done));
}

void SandboxService::AwaitCache(const std::string& ns, const std::string& resource_version,
                                const kube::CallOptions& opts,
                                std::function<void(bool reached)> then) {
  std::optional<uint64_t> version = VersionGate::Parse(resource_version);
  if (!version.has_value() || !CacheReady(ns)) return then(false);
  // The cache's input thread and the timer race; the first one answers.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto answer = [answered, then = std::move(then)](bool reached) {
    if (!answered->exchange(true)) then(reached);
  };
  cache_->WhenStatefulSetsAt(ns, *version, answer);
  if (answered->load()) return;
  const absl::Duration wait =
      std::min(kMaxCacheWait, (opts.deadline - absl::Now()) / 2);
  if (wait <= absl::ZeroDuration() ||
      !kube_->RunAfter(wait, [answer]() { answer(false); }).ok()) {
    answer(false);
  }
}

absl::StatusOr<Progress> SandboxService::MinProgress(const std::string& min_resource_version) {
  Progress target;
  if (min_resource_version.empty()) return target;
  std::optional<uint64_t> version = VersionGate::Parse(min_resource_version);
  if (!version.has_value()) {
    return domain::InvalidField("min_resource_version",
                                "not a resource version (pass Sandbox.resource_version)");
  }
  target.rv[static_cast<size_t>(SandboxCache::Source::kStatefulSets)] = *version;
  return target;
}

void SandboxService::AwaitProgress(const std::string& ns, const Progress& target,
                                   const kube::CallOptions& opts,
                                   std::function<void(absl::Status)> then) {
  if (target == Progress{} || !CacheReady(ns)) return then(absl::OkStatus());
  // The cache's input thread and the timer race; the first one answers.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto answer = [answered, then = std::move(then)](absl::Status s) {
    if (!answered->exchange(true)) then(std::move(s));
  };
  std::function<void()> give_up = cache_->WhenAt(ns, target, [answer](bool reached) {
    answer(reached ? absl::OkStatus()
                   : domain::MakeError(absl::StatusCode::kUnavailable,
                                       domain::reason::kServerShuttingDown,
                                       "sandboxd is shutting down"));
  });
  if (answered->load()) return;
  const absl::Duration left = opts.deadline - absl::Now();
  const bool deadline_first = left < kMaxCacheWait;
  absl::Status late =
      deadline_first
          ? domain::MakeError(absl::StatusCode::kDeadlineExceeded,
                              domain::reason::kDeadlineExceeded,
                              "the deadline passed before this replica's watch cache reached "
                              "the requested version")
          : domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kCacheBehind,
                              "this replica's watch cache has not reached the requested "
                              "version; retry (here or on another replica)");
  const absl::Duration wait = std::min(kMaxCacheWait, left);
  auto expire = [answer, late, give_up]() {
    give_up();  // the version may never come: drop the waiter
    answer(late);
  };
  if (wait <= absl::ZeroDuration() || !kube_->RunAfter(wait, expire).ok()) expire();
}

void SandboxService::AwaitWatchStart(const std::string& ns, const std::string& resume_token,
                                     const std::string& min_resource_version,
                                     const kube::CallOptions& opts,
                                     std::function<void(absl::Status)> then) {
  absl::StatusOr<Progress> target = MinProgress(min_resource_version);
  if (!target.ok()) return then(target.status());
  absl::StatusOr<ResumePosition> position = ParseResumeToken(resume_token);
  if (!position.ok()) return then(position.status());
  if (position->kind == ResumePosition::Kind::kAt) *target = Max(*target, position->at);
  AwaitProgress(ns, *target, opts, std::move(then));
}

void SandboxService::ReplyAfterWrite(const std::string& ns, const std::string& name,
                                     const std::string& resource_version,
                                     const kube::CallOptions& opts, Done<Sandbox> done) {
  AwaitCache(ns, resource_version, opts, [this, ns, name, opts, done](bool reached) {
    if (reached) return done(cache_->Get(ns, name));
    spdlog::warn("request_id={}: the watch cache did not apply the write to {}/{} in time; "
                 "answering from the API server",
                 opts.request_id, ns, name);
    Load(ns, name, opts, done);
  });
}

// ---- create -------------------------------------------------------------------------

void SandboxService::Create(domain::SandboxSpec spec, const kube::CallOptions& caller_opts,
                            Done<Sandbox> done) {
  const kube::CallOptions opts = IdempotentWrites(caller_opts);
  spec = domain::ApplyDefaults(std::move(spec), defaults_);
  if (absl::Status s = domain::ValidateSpec(spec, defaults_.limits); !s.ok()) return done(s);
  if (namespace_domains_ != nullptr && !spec.ingress_domain.empty()) {
    absl::Status s =
        domain::ValidateNamespaceIngressDomain(spec, namespace_domains_(spec.ns));
    if (!s.ok()) return done(s);
  }
  if (hosts_ != nullptr) {
    for (const kube::Ingress& ingress : domain::BuildIngresses(spec, defaults_)) {
      for (const kube::IngressRule& rule : ingress.spec.rules) {
        absl::Status free = hosts_->CheckFree(spec.ns, ingress.metadata.name, rule.host);
        if (!free.ok()) return done(free);
      }
    }
  }
  const std::string claim_template = domain::ClaimTemplateNameFor(spec, defaults_);
  if (absl::Status s = domain::ValidateClaimTemplate(
          claim_template, spec.name,
          defaults_.claim_template_name.empty() ? "storage.mount_path" : "name");
      !s.ok()) {
    return done(s);
  }
  ChooseClaimTemplate(spec, opts, [this, spec, opts, done](absl::StatusOr<std::string> chosen) {
    if (!chosen.ok()) return done(chosen.status());
    const std::string claim = domain::ClaimName(*chosen, spec.name);
    CheckClaimIsOurs(spec.ns, spec.name, claim, opts,
                     [this, spec, opts, done, chosen = *chosen](absl::Status ours) {
                       if (!ours.ok()) return done(ours);
                       EnsureNetworkPolicy(spec.ns, opts,
                                           [this, spec, opts, done, chosen](absl::Status policy) {
                                             if (!policy.ok()) return done(policy);
                                             CreateStatefulSet(spec, chosen, opts, done);
                                           });
                     });
  });
}

void SandboxService::ChooseClaimTemplate(const domain::SandboxSpec& spec,
                                         const kube::CallOptions& opts,
                                         std::function<void(absl::StatusOr<std::string>)> then) {
  const std::string configured = domain::ClaimTemplateNameFor(spec, defaults_);
  if (configured == domain::kLegacyClaimTemplateName) return then(configured);
  const std::string legacy = domain::ClaimName(domain::kLegacyClaimTemplateName, spec.name);
  // The cache holds every claim sandboxd's templates made, kept ones too: without a
  // legacy claim there, nothing to adopt and no request to send. (One kept an instant
  // ago, not yet cached, is not adopted: the sandbox gets a new claim.)
  if (CacheReady(spec.ns) && !cache_->HasClaim(spec.ns, spec.name, legacy)) return then(configured);
  kube_->Get(ObjectRef{Kind::kPersistentVolumeClaim, spec.ns, legacy}, "", opts,
             [configured, then](absl::StatusOr<std::string> body) {
               if (absl::IsNotFound(body.status())) return then(configured);
               if (!body.ok()) return then(domain::WithContext(body.status(), "read claim"));
               absl::StatusOr<kube::ObjectMeta> meta = kube::Decode<kube::ObjectMeta>(*body);
               if (!meta.ok()) return then(meta.status());
               if (IsManaged(*meta) && IsKept(*meta)) {
                 return then(std::string(domain::kLegacyClaimTemplateName));
               }
               then(configured);
             });
}

void SandboxService::CheckClaimIsOurs(const std::string& ns, const std::string& name,
                                      const std::string& claim, const kube::CallOptions& opts,
                                      std::function<void(absl::Status)> then) {
  if (CacheReady(ns)) {
    absl::StatusOr<bool> foreign = cache_->IsForeignClaim(ns, claim);
    if (foreign.ok()) return then(*foreign ? ForeignClaim(ns, name, claim) : absl::OkStatus());
  }
  plan::Send(kube_, plan::ClaimCheck(ns, claim), opts,
             [ns, name, claim, then](absl::StatusOr<std::string> body) {
               if (absl::IsNotFound(body.status())) return then(absl::OkStatus());
               if (!body.ok()) return then(domain::WithContext(body.status(), "read claim"));
               absl::StatusOr<kube::ObjectMeta> meta = kube::Decode<kube::ObjectMeta>(*body);
               if (!meta.ok()) return then(meta.status());
               then(IsManaged(*meta) ? absl::OkStatus() : ForeignClaim(ns, name, claim));
             });
}

void SandboxService::EnsureNetworkPolicy(const std::string& ns, const kube::CallOptions& opts,
                                         std::function<void(absl::Status)> then) {
  {
    absl::MutexLock lock(&policies_mu_);
    if (policies_.contains(ns)) return then(absl::OkStatus());
  }
  std::optional<plan::Request> request = plan::CreateNetworkPolicy(ns, defaults_);
  if (!request.has_value()) return then(absl::OkStatus());
  plan::Send(kube_, *std::move(request), opts, [this, ns, then](absl::StatusOr<std::string> r) {
    if (!r.ok() && !absl::IsAlreadyExists(r.status())) {
      return then(domain::WithContext(r.status(), "create NetworkPolicy"));
    }
    {
      absl::MutexLock lock(&policies_mu_);
      policies_.insert(ns);
    }
    then(absl::OkStatus());
  });
}

void SandboxService::CreateStatefulSet(const domain::SandboxSpec& spec,
                                       const std::string& claim_template,
                                       const kube::CallOptions& opts, Done<Sandbox> done) {
  const std::string ns = spec.ns;
  const std::string name = spec.name;
  plan::Send(
      kube_, plan::CreateStatefulSet(spec, defaults_, claim_template), opts,
      [this, spec, ns, name, opts, done](absl::StatusOr<std::string> created) {
        if (created.ok()) return EnsureChildren(*created, spec, /*fresh=*/true, opts, done);
        if (!absl::IsAlreadyExists(created.status())) {
          return done(domain::WithContext(created.status(), "create StatefulSet"));
        }
        // The name is taken: the same spec is a retry (repair children, no write to the
        // StatefulSet); anything else is a conflict with another sandbox.
        LoadStatefulSet(
            ns, name, opts, [this, spec, ns, name, opts, done](absl::StatusOr<std::string> body) {
              if (absl::IsNotFound(body.status())) {
                return done(domain::MakeError(absl::StatusCode::kAborted,
                                              domain::reason::kConcurrentModification,
                                              "sandbox was deleted while being created; retry",
                                              {{"namespace", ns}, {"name", name}}));
              }
              if (!body.ok()) return done(body.status());
              absl::StatusOr<kube::StatefulSet> existing = kube::Decode<kube::StatefulSet>(*body);
              if (!existing.ok()) return done(existing.status());
              const auto& annotations = existing->metadata.annotations;
              auto hash = annotations.find(domain::kAnnotationSpecHash);
              const bool same = IsManaged(existing->metadata) && hash != annotations.end() &&
                                hash->second == domain::SpecHash(spec);
              if (!same) {
                return done(domain::MakeError(absl::StatusCode::kAlreadyExists,
                                              domain::reason::kSandboxAlreadyExists,
                                              absl::StrCat("sandbox ", ns, "/", name,
                                                           " already exists with a different spec"),
                                              {{"namespace", ns}, {"name", name}}));
              }
              if (existing->metadata.deletion_timestamp.has_value()) {
                return done(domain::MakeError(
                    absl::StatusCode::kFailedPrecondition, domain::reason::kSandboxDeleting,
                    absl::StrCat("sandbox ", ns, "/", name,
                                 " is being deleted; create it again once it is gone"),
                    {{"namespace", ns}, {"name", name}}));
              }
              EnsureChildren(*body, spec, /*fresh=*/false, opts, done);
            });
      });
}

// Creates the Service and Ingresses owned by the StatefulSet in `sts_json`. When the
// StatefulSet already existed (`fresh` false) each child is read first and created only
// if missing, so that a retry writes nothing that is already there.
void SandboxService::EnsureChildren(const std::string& sts_json, const domain::SandboxSpec& spec,
                                    bool fresh, const kube::CallOptions& opts,
                                    Done<Sandbox> done) {
  absl::StatusOr<kube::StatefulSet> sts = kube::Decode<kube::StatefulSet>(sts_json);
  if (!sts.ok()) return done(sts.status());
  // An Ingress's hosts are recorded in hosts_ once it is created.
  std::vector<plan::Child> children = plan::CreateChildren(spec, defaults_, *sts);

  auto first_error = std::make_shared<FirstError>();
  auto record = [first_error](absl::Status s) { first_error->Record(std::move(s)); };
  const std::string ns = spec.ns;
  const std::string name = spec.name;
  auto barrier = std::make_shared<Barrier>(
      static_cast<int>(children.size()),
      [this, ns, name, rv = sts->metadata.resource_version, opts, done, first_error]() {
        if (absl::Status error = first_error->Get(); !error.ok()) return done(error);
        ReplyAfterWrite(ns, name, rv, opts, done);
      });
  for (plan::Child& child : children) {
    const ObjectRef ref = child.request.ref;
    auto create = [this, ns, opts, record, barrier, request = std::move(child.request),
                   what = ref.name, hosts = std::move(child.hosts)]() {
      plan::Send(kube_, request, opts,
                 [this, ns, record, barrier, what, hosts](absl::StatusOr<std::string> r) {
                   if (r.ok() && !hosts.empty() && hosts_ != nullptr) {
                     hosts_->Created(ns, what, hosts);
                   }
                   // Already there (a concurrent create of the same sandbox): fine.
                   if (!r.ok() && !absl::IsAlreadyExists(r.status())) {
                     record(domain::WithContext(r.status(), absl::StrCat("create ", what)));
                   }
                   barrier->Arrive();
                 });
    };
    if (fresh) {
      create();
      continue;
    }
    kube_->Get(ref, "", opts,
               [record, barrier, create, what = ref.name](absl::StatusOr<std::string> r) {
                 if (absl::IsNotFound(r.status())) return create();
                 if (!r.ok()) record(domain::WithContext(r.status(), absl::StrCat("read ", what)));
                 barrier->Arrive();
               });
  }
}

// ---- start / stop -------------------------------------------------------------------

void SandboxService::Start(const std::string& ns, const std::string& name,
                           const kube::CallOptions& opts, Done<Sandbox> done) {
  Scale(ns, name, 1, IdempotentWrites(opts), std::move(done));
}

void SandboxService::Stop(const std::string& ns, const std::string& name,
                          const kube::CallOptions& opts, Done<Sandbox> done) {
  Scale(ns, name, 0, IdempotentWrites(opts), std::move(done));
}

void SandboxService::Scale(const std::string& ns, const std::string& name, int32_t replicas,
                           const kube::CallOptions& opts, Done<Sandbox> done) {
  if (absl::Status s = domain::ValidateNamespace(ns); !s.ok()) return done(s);
  if (absl::Status s = domain::ValidateName(name); !s.ok()) return done(s);
  ReadCurrent(ns, name, opts, [this, ns, name, replicas, opts, done](
                                  absl::StatusOr<Current> current) {
    if (!current.ok()) return done(current.status());
    if (current->sts.metadata.deletion_timestamp.has_value()) return done(Deleting(ns, name));
    if (current->sts.spec.replicas.value_or(1) == replicas) {
      return ReplyUnchanged(*std::move(current), opts, done);
    }
    // An absolute replica count: correct whatever changed since the read, so it needs no
    // resourceVersion precondition (status writes by the controller would fail it). The
    // StatefulSet itself, not its scale subresource: a Scale carries no labels, so only a
    // patch of the object lets the admission policy check that it is a sandbox.
    plan::Send(kube_, plan::Scale(ns, name, replicas), opts,
               [this, ns, name, opts, done](absl::StatusOr<std::string> r) {
                 if (absl::IsNotFound(r.status())) return done(SandboxNotFound(ns, name));
                 if (!r.ok()) return done(domain::WithContext(r.status(), "scale StatefulSet"));
                 absl::StatusOr<kube::ObjectMeta> scale = kube::Decode<kube::ObjectMeta>(*r);
                 if (!scale.ok()) return done(scale.status());
                 ReplyAfterWrite(ns, name, scale->resource_version, opts, done);
               });
  });
}

// ---- update env ---------------------------------------------------------------------

void SandboxService::UpdateEnv(const std::string& ns, const std::string& name,
                               domain::EnvUpdate update, const kube::CallOptions& opts,
                               Done<Sandbox> done) {
  if (absl::Status s = domain::ValidateNamespace(ns); !s.ok()) return done(s);
  if (absl::Status s = domain::ValidateName(name); !s.ok()) return done(s);
  if (absl::Status s = domain::ValidateEnvUpdate(update, defaults_.limits); !s.ok()) return done(s);
  UpdateEnvAttempt(ns, name, std::move(update), 1, IdempotentWrites(opts), std::move(done));
}

void SandboxService::UpdateEnvAttempt(const std::string& ns, const std::string& name,
                                      domain::EnvUpdate update, int attempt,
                                      const kube::CallOptions& opts, Done<Sandbox> done) {
  auto then = [this, ns, name, update, attempt, opts, done](absl::StatusOr<Current> current) {
    if (!current.ok()) return done(current.status());
    UpdateEnvFrom(*std::move(current), ns, name, update, attempt, opts, done);
  };
  if (attempt == 1) return ReadCurrent(ns, name, opts, then);
  LoadManagedStatefulSet(ns, name, opts, [then](absl::StatusOr<kube::StatefulSet> sts) {
    if (!sts.ok()) return then(sts.status());
    then(Current{*std::move(sts), /*cached=*/false});
  });
}

void SandboxService::UpdateEnvFrom(Current current, const std::string& ns,
                                   const std::string& name, domain::EnvUpdate update,
                                   int attempt, const kube::CallOptions& opts,
                                   Done<Sandbox> done) {
  const kube::StatefulSet& sts = current.sts;
  const std::string version = std::to_string(sts.metadata.generation);  // Sandbox.version
  if (!update.expected_version.empty() && update.expected_version != version) {
    // The cache may lag behind a write the caller saw: only the API server's answer
    // counts as a mismatch.
    if (current.cached) return UpdateEnvAttempt(ns, name, update, attempt + 1, opts, done);
    return done(domain::MakeError(
        absl::StatusCode::kFailedPrecondition, domain::reason::kVersionMismatch,
        absl::StrCat("sandbox ", ns, "/", name, " is at version ", version, ", not ",
                     update.expected_version),
        {{"namespace", ns}, {"name", name}, {"expectedVersion", update.expected_version},
         {"currentVersion", version}}));
  }
  const domain::SandboxSpec spec = domain::SpecFromStatefulSet(sts);
  domain::EnvUpdateResult result = domain::ApplyEnvUpdate(spec.env, update);
  if (!result.changed) return ReplyUnchanged(std::move(current), opts, done);  // no write
  if (absl::Status s = domain::ValidateUpdatedEnv(result.env, defaults_.limits); !s.ok()) {
    return done(s);
  }
  // Carries the resourceVersion of the state the merge was computed on: if anything
  // changed since (a cached state may be behind), the API server answers 409.
  plan::Send(
      kube_, plan::UpdateEnv(sts, update), opts,
      [this, ns, name, update, attempt, opts, done](absl::StatusOr<std::string> r) {
        if (r.ok()) {
          absl::StatusOr<kube::ObjectMeta> patched = kube::Decode<kube::ObjectMeta>(*r);
          if (!patched.ok()) return done(patched.status());
          return ReplyAfterWrite(ns, name, patched->resource_version, opts, done);
        }
        if (absl::IsNotFound(r.status())) return done(SandboxNotFound(ns, name));
        if (!absl::IsAborted(r.status())) {
          return done(domain::WithContext(r.status(), "patch StatefulSet env"));
        }
        // 409 Conflict: the StatefulSet changed since it was read (perhaps only
        // its status); the next attempt reads it from the API server and
        // re-checks expected_version.
        if (attempt >= kMaxConflictRetries) {
          return done(domain::MakeError(
              absl::StatusCode::kAborted, domain::reason::kConcurrentModification,
              absl::StrCat("sandbox ", ns, "/", name, " kept changing during the update; retry"),
              {{"namespace", ns}, {"name", name}}));
        }
        UpdateEnvAttempt(ns, name, update, attempt + 1, opts, done);
      });
}

// ---- delete -------------------------------------------------------------------------

void SandboxService::Delete(domain::DeleteRequest request, const kube::CallOptions& caller_opts,
                            std::function<void(absl::Status)> done) {
  const kube::CallOptions opts = IdempotentWrites(caller_opts);
  if (absl::Status s = domain::ValidateNamespace(request.ns); !s.ok()) return done(s);
  if (absl::Status s = domain::ValidateName(request.name); !s.ok()) return done(s);
  ReadCurrent(request.ns, request.name, opts, [this, request, opts, done](
                                                  absl::StatusOr<Current> current) {
    if (absl::IsNotFound(current.status())) {
      return DeleteLeftovers(request, /*found_statefulset=*/false, opts, done);
    }
    if (!current.ok()) return done(current.status());
    // The children carry owner references and the claim follows the retention policy,
    // once the StatefulSet controller has given it its owner reference: a claim without
    // one is deleted here.
    const std::string claim = domain::ClaimNameOf(current->sts);
    auto delete_sts =
        [this, request, opts, done, claim, cached = current->cached,
         del = plan::DeleteStatefulSet(request.ns, request.name, current->sts.metadata.uid)]() {
          plan::Send(kube_, del, opts, [this, request, opts, done, claim,
                                        cached](absl::StatusOr<std::string> r) {
            // Gone already: whatever it left behind goes too. Read from the API server, it
            // existed when the call began (success); from the cache, it may have been gone
            // before (NOT_FOUND unless there are leftovers).
            if (absl::IsNotFound(r.status())) {
              return DeleteLeftovers(request, /*found_statefulset=*/!cached, opts, done);
            }
            if (!r.ok()) return done(domain::WithContext(r.status(), "delete StatefulSet"));
            // The answer is the StatefulSet marked for deletion (or a Status if it is gone).
            absl::StatusOr<kube::ObjectMeta> deleted = kube::Decode<kube::ObjectMeta>(*r);
            const std::string version = deleted.ok() ? deleted->resource_version : "";
            auto await = [this, request, opts, done, version](absl::Status claim_deleted) {
              if (!claim_deleted.ok()) return done(claim_deleted);
              AwaitCache(request.ns, version, opts, [done](bool) { done(absl::OkStatus()); });
            };
            if (request.keep_storage) return await(absl::OkStatus());
            DeleteUnownedClaim(kube_, request.ns, claim, opts, await);
          });
        };
    if (!request.keep_storage) return delete_sts();
    // Keep the claim: stop the StatefulSet controller from handing it to the garbage
    // collector (retention policy), then release it from the StatefulSet's ownership
    // and mark it kept, so that only a new sandbox of the same name adopts it and no
    // later delete of an absent sandbox removes it. A StatefulSet that goes meanwhile (a
    // delete already under way) is handled as the DELETE's 404 is.
    auto gone = [this, request, opts, done, cached = current->cached]() {
      DeleteLeftovers(request, /*found_statefulset=*/!cached, opts, done);
    };
    plan::Send(kube_, plan::KeepStorage(request.ns, request.name), opts,
               [this, request, claim, opts, done, delete_sts, gone](absl::StatusOr<std::string> r) {
                 if (absl::IsNotFound(r.status())) return gone();
                 if (!r.ok()) return done(domain::WithContext(r.status(), "keep claim"));
                 absl::StatusOr<kube::ObjectMeta> patched = kube::Decode<kube::ObjectMeta>(*r);
                 if (!patched.ok()) return done(patched.status());
                 // Until the StatefulSet controller has seen Retain it may give the
                 // claim its owner reference back, and the delete would take it along.
                 WaitUntilObserved(
                     request.ns, request.name, patched->generation, opts,
                     [this, request, claim, opts, done, delete_sts, gone](absl::Status seen) {
                       if (absl::IsNotFound(seen)) return gone();
                       if (!seen.ok()) return done(domain::WithContext(seen, "keep claim"));
                       plan::Send(kube_, plan::KeepClaim(request.ns, claim), opts,
                                  [done, delete_sts](absl::StatusOr<std::string> r2) {
                                    if (!r2.ok() && !absl::IsNotFound(r2.status())) {
                                      return done(domain::WithContext(r2.status(), "keep claim"));
                                    }
                                    delete_sts();
                                  });
                     });
               });
  });
}

void SandboxService::WaitUntilObserved(const std::string& ns, const std::string& name,
                                       int64_t generation, const kube::CallOptions& opts,
                                       std::function<void(absl::Status)> then) {
  const absl::Time give_up =
      absl::Now() + std::min(2 * kMaxCacheWait, (opts.deadline - absl::Now()) / 2);
  PollObserved(ns, name, generation, give_up, opts, std::move(then));
}

void SandboxService::PollObserved(const std::string& ns, const std::string& name,
                                  int64_t generation, absl::Time give_up,
                                  const kube::CallOptions& opts,
                                  std::function<void(absl::Status)> then) {
  auto observed = [generation](const kube::StatefulSet& sts) {
    return sts.status.observed_generation.value_or(0) >= generation;
  };
  auto again = [this, ns, name, generation, give_up, opts, then]() {
    if (absl::Now() >= give_up) {
      return then(absl::DeadlineExceededError(
          "the StatefulSet controller did not observe the change in time; retry"));
    }
    absl::Status scheduled = kube_->RunAfter(kObservePollInterval, [=]() {
      PollObserved(ns, name, generation, give_up, opts, then);
    });
    if (!scheduled.ok()) then(scheduled);
  };
  if (CacheReady(ns)) {
    absl::StatusOr<kube::StatefulSet> cached = cache_->GetStatefulSet(ns, name);
    if (cached.ok()) return observed(*cached) ? then(absl::OkStatus()) : again();
  }
  LoadManagedStatefulSet(ns, name, opts,
                         [then, observed, again](absl::StatusOr<kube::StatefulSet> sts) {
                           if (!sts.ok()) return then(sts.status());
                           if (observed(*sts)) return then(absl::OkStatus());
                           again();
                         });
}

// Deletes what may remain of a sandbox besides its StatefulSet: the Service, Ingresses and
// pod (normally garbage-collected with it, but a StatefulSet deleted by hand with
// orphaning leaves them) and, unless keep_storage, the claim (never one marked kept:
// only a new sandbox of the same name adopts it). NOT_FOUND if neither the StatefulSet
// nor anything else existed, unless allow_missing.
void SandboxService::DeleteLeftovers(const domain::DeleteRequest& request, bool found_statefulset,
                                     const kube::CallOptions& opts,
                                     std::function<void(absl::Status)> done) {
  std::vector<ObjectRef> refs = {
      {Kind::kService, request.ns, domain::ServiceName(request.name)},
      {Kind::kIngress, request.ns, domain::AppIngressName(request.name)},
      {Kind::kIngress, request.ns, domain::TtydIngressName(request.name)},
      // An orphaned pod would hold the claim (pvc-protection) forever.
      {Kind::kPod, request.ns, domain::PodName(request.name)},
  };
  if (!request.keep_storage) {
    // Without the StatefulSet its template name is unknown: the claims of the configured
    // template (for the default mount path) and of the legacy one.
    domain::SandboxSpec probe;
    probe.storage.mount_path = defaults_.mount_path;
    for (const std::string& claim_template :
         {domain::ClaimTemplateNameFor(probe, defaults_),
          std::string(domain::kLegacyClaimTemplateName)}) {
      const std::string claim = domain::ClaimName(claim_template, request.name);
      if (refs.back().name == claim) continue;
      refs.push_back({Kind::kPersistentVolumeClaim, request.ns, claim});
    }
  }
  struct State {
    absl::Mutex mu;
    absl::Status error ABSL_GUARDED_BY(mu);
    bool deleted_any ABSL_GUARDED_BY(mu) = false;
  };
  auto state = std::make_shared<State>();
  auto barrier = std::make_shared<Barrier>(
      static_cast<int>(refs.size()), [request, found_statefulset, state, done]() {
        absl::Status error;
        bool deleted_any;
        {
          absl::MutexLock lock(&state->mu);
          error = state->error;
          deleted_any = state->deleted_any;
        }
        if (!error.ok()) return done(error);
        if (!found_statefulset && !deleted_any && !request.allow_missing) {
          return done(SandboxNotFound(request.ns, request.name));
        }
        done(absl::OkStatus());
      });
  auto finish = [state, barrier](absl::Status error, bool deleted) {
    {
      absl::MutexLock lock(&state->mu);
      state->deleted_any = state->deleted_any || deleted;
      if (!error.ok() && state->error.ok()) state->error = std::move(error);
    }
    barrier->Arrive();
  };
  // Each object is read first and deleted only if sandboxd made it (managed-by label),
  // with its UID as precondition: never somebody else's object of the same name.
  for (const ObjectRef& ref : refs) {
    kube_->Get(ref, "", opts, [this, ref, opts, finish](absl::StatusOr<std::string> body) {
      if (absl::IsNotFound(body.status())) return finish(absl::OkStatus(), false);
      if (!body.ok()) return finish(domain::WithContext(body.status(), "read " + ref.name), false);
      absl::StatusOr<kube::ObjectMeta> meta = kube::Decode<kube::ObjectMeta>(*body);
      if (!meta.ok()) return finish(meta.status(), false);
      if (!IsManaged(*meta) || IsKept(*meta)) return finish(absl::OkStatus(), false);
      kube::DeleteOptions del;
      del.precondition_uid = meta->uid;
      kube_->Delete(ref, del, opts, [ref, finish](absl::StatusOr<std::string> r) {
        if (r.ok()) return finish(absl::OkStatus(), true);
        if (absl::IsNotFound(r.status())) return finish(absl::OkStatus(), false);
        finish(domain::WithContext(r.status(), "delete " + ref.name), false);
      });
    });
  }
}

}  // namespace sandboxd::service
