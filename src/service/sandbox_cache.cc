#include "src/service/sandbox_cache.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "src/domain/builders.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/status.h"
#include "src/domain/trim.h"
#include "src/domain/validation.h"
#include "src/service/cache_memory.h"
#include "src/service/kube_reads.h"
#include "src/service/sandbox_service.h"

namespace sandboxd::service {
namespace {

using internal::SandboxState;
using internal::StatePtr;
using Type = WatchEvent::Type;

constexpr char kPodSuffix[] = "-0";
constexpr char kLegacyClaimPrefix[] = "home-";

size_t Index(SandboxCache::Source source) { return static_cast<size_t>(source); }

// An object's resourceVersion as an integer; 0 if it is not one (never newer than a token).
uint64_t VersionOf(const std::string& resource_version) {
  return VersionGate::Parse(resource_version).value_or(0);
}

// A wait over the three gates of a scope, one kind after the other (WhenAt).
struct GateWait {
  absl::Mutex mu;
  size_t stage ABSL_GUARDED_BY(mu) = 0;                // the gate waited on
  VersionGate::Ticket ticket ABSL_GUARDED_BY(mu) = 0;  // its waiter; 0: none pending
  bool cancelled ABSL_GUARDED_BY(mu) = false;
};

void WaitForGates(const std::array<VersionGate*, 3>& gates, const Progress& target, size_t k,
                  VersionGate::Reached reached, std::shared_ptr<GateWait> wait) {
  if (k == gates.size()) return reached(true);
  const VersionGate::Ticket ticket =
      gates[k]->WhenReached(target.rv[k], [gates, target, k, reached, wait](bool ok) {
        {
          absl::MutexLock lock(&wait->mu);
          if (wait->cancelled) return;
          wait->stage = k + 1;
          wait->ticket = 0;
        }
        if (!ok) return reached(false);
        WaitForGates(gates, target, k + 1, reached, wait);
      });
  absl::MutexLock lock(&wait->mu);
  if (wait->stage == k) wait->ticket = ticket;  // else it already ran
}

// ---- helpers --------------------------------------------------------------------------

absl::Status SandboxNotFound(const std::string& ns, const std::string& name) {
  return domain::MakeError(absl::StatusCode::kNotFound, domain::reason::kSandboxNotFound,
                           absl::StrCat("sandbox ", ns, "/", name, " not found"),
                           {{"namespace", ns}, {"name", name}});
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The sandbox a pod "<name>-0" belongs to.
std::optional<std::string> SandboxOfPod(const std::string& pod) {
  if (pod.size() <= 2 || !EndsWith(pod, kPodSuffix)) return std::nullopt;
  return pod.substr(0, pod.size() - 2);
}

// The sandbox a claim belongs to (see "Ownership" in the header): its `app` label if the
// name is "<template>-<app>-0", else <name> of a legacy "home-<name>-0".
std::optional<std::string> SandboxOfClaim(const kube::ObjectMeta& claim) {
  auto app = claim.labels.find(domain::kLabelApp);
  if (app != claim.labels.end() && !app->second.empty()) {
    const std::string suffix = "-" + app->second + kPodSuffix;
    if (claim.name.size() > suffix.size() && EndsWith(claim.name, suffix)) return app->second;
  }
  const size_t prefix = sizeof(kLegacyClaimPrefix) - 1;
  const std::string& name = claim.name;
  if (name.size() <= prefix + 2 || name.compare(0, prefix, kLegacyClaimPrefix) != 0 ||
      !EndsWith(name, kPodSuffix)) {
    return std::nullopt;
  }
  return name.substr(prefix, name.size() - prefix - 2);
}

// A claim sandboxd made (managed-by), did not keep, that nothing owns: one StrayClaims
// returns once its sandbox has no StatefulSet.
bool Unowned(const kube::ObjectMeta& claim) {
  auto managed = claim.labels.find(domain::kLabelManagedBy);
  auto kept = claim.annotations.find(domain::kAnnotationKeptClaim);
  return managed != claim.labels.end() && managed->second == domain::kManagedByValue &&
         (kept == claim.annotations.end() || kept->second != "true") &&
         claim.owner_references.empty();
}

// The claim of the entry's StatefulSet, if present.
template <typename EntryT>
const kube::PersistentVolumeClaim* ClaimOf(const EntryT& e) {
  if (!e.sts.has_value()) return nullptr;
  auto it = e.claims.find(domain::ClaimNameOf(*e.sts));
  return it == e.claims.end() ? nullptr : &it->second;
}

// A phase that Tick() may change: a claim still Pending (bind timeout) or a pod reported
// Unschedulable (grace), on a sandbox that wants a replica.
bool TimeSensitive(const kube::StatefulSet& sts, const kube::Pod* pod,
                   const kube::PersistentVolumeClaim* claim) {
  if (sts.metadata.deletion_timestamp.has_value() || sts.spec.replicas.value_or(1) == 0) {
    return false;
  }
  if (claim != nullptr && (claim->status.phase == "Pending" || claim->status.phase.empty())) {
    return true;
  }
  if (pod != nullptr) {
    const kube::PodCondition* c = pod->FindCondition("PodScheduled");
    return c != nullptr && c->status == "False" && c->reason == "Unschedulable";
  }
  return false;
}

}  // namespace

// ---- SandboxCache -----------------------------------------------------------------------

SandboxCache::SandboxCache(Options options)
    : options_(std::move(options)), link_(std::make_shared<internal::CacheLink>()) {
  absl::MutexLock lock(&link_->mu);
  link_->cache = this;
}

SandboxCache::~SandboxCache() {
  Shutdown();
  absl::MutexLock lock(&link_->mu);  // waits for subscriptions inside Resnapshot/Unsubscribe
  link_->cache = nullptr;
}

void SandboxCache::Wake(const Notify& notify) {
  for (const auto& sub : notify) {
    if (sub->on_ready_) sub->on_ready_();
  }
}

void SandboxCache::ChangeEntry(const Key& key, bool create, Source source, uint64_t rv,
                               const std::function<void(Entry&)>& mutate) {
  const absl::Time now = options_.clock();
  Publications out;
  mu_.Lock();
  auto it = entries_.find(key);
  if (it == entries_.end() && create) it = entries_.emplace(key, Entry{}).first;
  if (it != entries_.end()) {  // else: deleting what was never seen
    mutate(it->second);
    uint64_t& input = it->second.inputs.rv[Index(source)];
    input = std::max(input, rv);
    Update(key, now, /*tick=*/false, &out);
  }
  PublishAndUnlock(std::move(out));
}

void SandboxCache::PublishAndUnlock(Publications out) {
  std::map<std::string, Progress> progress;
  for (const auto& [name, scope] : scopes_) progress.emplace(name, scope->progress);
  publish_mu_.Lock();
  mu_.Unlock();
  Notify notify;
  for (const Publication& p : out) {
    for (const auto& sub : p.subs) {
      if (OfferChange(*sub, p.change)) notify.push_back(sub);
    }
  }
  {
    absl::MutexLock lock(&link_->progress_mu);
    link_->published = std::move(progress);
  }
  publish_mu_.Unlock();
  Wake(notify);
}

SandboxCache::Scope& SandboxCache::ScopeLocked(const std::string& scope) {
  std::unique_ptr<Scope>& s = scopes_[scope];
  if (s == nullptr) s = std::make_unique<Scope>();
  return *s;
}

void SandboxCache::MarkProgress(Source source, uint64_t rv, const std::string& scope) {
  const size_t k = Index(source);
  mu_.Lock();
  Scope& s = ScopeLocked(scope);
  if (!s.floor_set[k]) {
    s.floor_set[k] = true;
    s.floor.rv[k] = std::max(s.floor.rv[k], rv);
  }
  s.progress.rv[k] = std::max(s.progress.rv[k], rv);
  VersionGate* gate = &s.gates[k];  // scopes are never erased
  PublishAndUnlock({});
  gate->Advance(rv);
}

Progress SandboxCache::progress(const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  auto it = scopes_.find(ScopeOfLocked(ns));
  return it == scopes_.end() ? Progress{} : it->second->progress;
}

std::function<void()> SandboxCache::WhenAt(const std::string& ns, const Progress& target,
                                           VersionGate::Reached reached) {
  std::array<VersionGate*, 3> gates;
  bool shut_down;
  {
    absl::MutexLock lock(&mu_);
    shut_down = shut_down_;  // a scope made after Shutdown() would have open gates
    Scope& scope = ScopeLocked(ScopeOfLocked(ns));
    for (size_t k = 0; k < gates.size(); ++k) gates[k] = &scope.gates[k];
  }
  if (shut_down) {
    reached(false);
    return [] {};
  }
  auto wait = std::make_shared<GateWait>();
  WaitForGates(gates, target, 0, std::move(reached), wait);
  return [gates, wait]() {
    VersionGate* gate = nullptr;
    VersionGate::Ticket ticket = 0;
    {
      absl::MutexLock lock(&wait->mu);
      if (wait->cancelled) return;
      wait->cancelled = true;
      if (wait->stage >= gates.size() || wait->ticket == 0) return;
      gate = gates[wait->stage];
      ticket = wait->ticket;
    }
    gate->Cancel(ticket);
  };
}

void SandboxCache::ApplyStatefulSet(kube::StatefulSet sts) {
  Key key{sts.metadata.ns, sts.metadata.name};
  const uint64_t rv = VersionOf(sts.metadata.resource_version);
  ChangeEntry(key, /*create=*/true, Source::kStatefulSets, rv,
              [&sts](Entry& e) { e.sts = domain::TrimStatefulSet(std::move(sts)); });
}

void SandboxCache::DeleteStatefulSet(const std::string& ns, const std::string& name, uint64_t rv) {
  ChangeEntry(Key{ns, name}, /*create=*/false, Source::kStatefulSets, rv,
              [](Entry& e) { e.sts.reset(); });
}

void SandboxCache::ApplyPod(kube::Pod pod) {
  std::optional<std::string> name = SandboxOfPod(pod.metadata.name);
  if (!name.has_value()) return;
  const uint64_t rv = VersionOf(pod.metadata.resource_version);
  ChangeEntry(Key{pod.metadata.ns, *name}, /*create=*/true, Source::kPods, rv,
              [&pod](Entry& e) { e.pod = domain::TrimPod(std::move(pod)); });
}

void SandboxCache::DeletePod(const std::string& ns, const std::string& pod_name, uint64_t rv) {
  std::optional<std::string> name = SandboxOfPod(pod_name);
  if (!name.has_value()) return;
  ChangeEntry(Key{ns, *name}, /*create=*/false, Source::kPods, rv, [](Entry& e) { e.pod.reset(); });
}

void SandboxCache::ApplyClaim(kube::PersistentVolumeClaim claim) {
  const Key claim_key{claim.metadata.ns, claim.metadata.name};
  if (!IsManaged(claim.metadata)) {
    // Not sandboxd's (or no longer): only its name is kept.
    DeleteClaim(claim_key.first, claim_key.second, VersionOf(claim.metadata.resource_version));
    absl::MutexLock lock(&mu_);
    foreign_claims_.insert(claim_key);
    return;
  }
  std::optional<std::string> name = SandboxOfClaim(claim.metadata);
  {
    absl::MutexLock lock(&mu_);
    foreign_claims_.erase(claim_key);
    if (name.has_value() && Unowned(claim.metadata)) {
      unowned_claims_[claim_key] = StrayClaim{claim.metadata.ns,
                                              *name,
                                              claim.metadata.name,
                                              claim.metadata.uid,
                                              claim.metadata.resource_version,
                                              claim.metadata.creation_timestamp};
    } else {
      unowned_claims_.erase(claim_key);
    }
  }
  if (!name.has_value()) return;
  claim_owners_[claim_key] = *name;
  const uint64_t rv = VersionOf(claim.metadata.resource_version);
  ChangeEntry(Key{claim.metadata.ns, *name}, /*create=*/true, Source::kClaims, rv,
              [&claim](Entry& e) {
                std::string claim_name = claim.metadata.name;
                e.claims[claim_name] = domain::TrimClaim(std::move(claim));
              });
}

void SandboxCache::DeleteClaim(const std::string& ns, const std::string& claim_name, uint64_t rv) {
  {
    absl::MutexLock lock(&mu_);
    foreign_claims_.erase(Key{ns, claim_name});
    unowned_claims_.erase(Key{ns, claim_name});
  }
  auto owner = claim_owners_.find(Key{ns, claim_name});
  if (owner == claim_owners_.end()) return;  // never seen, or not a sandbox's claim
  const std::string name = owner->second;
  claim_owners_.erase(owner);
  ChangeEntry(Key{ns, name}, /*create=*/false, Source::kClaims, rv,
              [&claim_name](Entry& e) { e.claims.erase(claim_name); });
}

void SandboxCache::MarkSynced(Source source) {
  absl::MutexLock lock(&mu_);
  switch (source) {
    case Source::kStatefulSets: synced_sts_ = true; break;
    case Source::kPods: synced_pods_ = true; break;
    case Source::kClaims: synced_claims_ = true; break;
  }
}

bool SandboxCache::synced() const {
  absl::MutexLock lock(&mu_);
  return synced_sts_ && synced_pods_ && synced_claims_;
}

bool SandboxCache::synced(const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  return CheckSynced(ns).ok();
}

void SandboxCache::SetNamespacePending(const std::string& ns, bool pending) {
  absl::MutexLock lock(&mu_);
  if (pending) {
    pending_namespaces_.insert(ns);
  } else {
    pending_namespaces_.erase(ns);
  }
}

absl::Status SandboxCache::CheckSynced(const std::string& ns) const {
  if (!(synced_sts_ && synced_pods_ && synced_claims_)) {
    return domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kCacheNotSynced,
                             "sandboxd is starting (its watch cache has not synced); retry "
                             "shortly");
  }
  if (pending_namespaces_.contains(ns)) {
    return domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kCacheNotSynced,
                             absl::StrCat("sandboxd has just begun serving namespace ", ns,
                                          " and is listing its sandboxes; retry shortly"),
                             {{"namespace", ns}});
  }
  return absl::OkStatus();
}

void SandboxCache::ForgetNamespace(const std::string& ns) {
  Notify notify;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.lower_bound(Key{ns, ""});
    while (it != entries_.end() && it->first.first == ns) {
      if (it->second.sts.has_value()) --sandboxes_;
      it = entries_.erase(it);
    }
    for (auto claim = foreign_claims_.lower_bound(Key{ns, ""});
         claim != foreign_claims_.end() && claim->first == ns;) {
      claim = foreign_claims_.erase(claim);
    }
    for (auto owner = claim_owners_.lower_bound(Key{ns, ""});
         owner != claim_owners_.end() && owner->first.first == ns;) {
      owner = claim_owners_.erase(owner);
    }
    for (auto unowned = unowned_claims_.lower_bound(Key{ns, ""});
         unowned != unowned_claims_.end() && unowned->first.first == ns;) {
      unowned = unowned_claims_.erase(unowned);
    }
    auto subs = subs_.find(ns);
    if (subs != subs_.end()) {
      const absl::Status not_served = domain::MakeError(
          absl::StatusCode::kPermissionDenied, domain::reason::kNamespaceNotServed,
          absl::StrCat("sandboxd does not serve namespace ", ns), {{"namespace", ns}});
      for (auto& sub : subs->second.Every()) {
        absl::MutexLock sub_lock(&sub->mu_);
        if (sub->CloseLocked(not_served)) notify.push_back(sub);
      }
      subs_.erase(subs);
    }
    forgotten_at_[ns] = ScopeLocked(ScopeOfLocked(ns)).progress;
  }
  Wake(notify);
}

bool SandboxCache::ForgottenSince(const std::string& ns, const Progress& at) const {
  auto it = forgotten_at_.find(ns);
  // Whatever happened in `ns` after it was forgotten came after this StatefulSet version.
  const size_t k = Index(Source::kStatefulSets);
  return it != forgotten_at_.end() && at.rv[k] <= it->second.rv[k];
}

void SandboxCache::AddProgressScope(const std::string& ns) {
  absl::MutexLock lock(&mu_);
  own_scopes_.insert(ns);
}

std::string SandboxCache::ScopeOfLocked(const std::string& ns) const {
  return own_scopes_.contains(ns) ? ns : std::string();
}

std::string SandboxCache::ScopeOf(const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  return ScopeOfLocked(ns);
}

void SandboxCache::Tick(absl::Time now) {
  Publications out;
  mu_.Lock();
  for (const auto& [key, entry] : entries_) {
    if (!entry.sts.has_value() ||
        !TimeSensitive(*entry.sts, entry.pod ? &*entry.pod : nullptr, ClaimOf(entry))) {
      continue;
    }
    Update(key, now, /*tick=*/true, &out);  // never erases: the entry has a StatefulSet
  }
  PublishAndUnlock(std::move(out));
}

void SandboxCache::Update(const Key& key, absl::Time now, bool tick, Publications* out) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (!e.sts.has_value()) {
    if (e.state != nullptr) {
      StatePtr last = std::move(e.state);
      e.state = nullptr;
      --sandboxes_;
      Record(Type::kDeleted, last, last, e.inputs, tick, out);
    }
    if (!e.pod.has_value() && e.claims.empty()) entries_.erase(it);
    return;
  }
  domain::Sandbox sb = domain::DeriveSandbox(*e.sts, e.pod ? &*e.pod : nullptr, ClaimOf(e),
                                             now, options_.defaults);
  if (e.state != nullptr) {
    const domain::Sandbox& old = e.state->sandbox;
    bool same;
    if (tick) {
      same = sb.phase == old.phase && sb.error_reason == old.error_reason;
    } else {
      // Everything but resource_version: a StatefulSet write that changes nothing visible
      // records no change (Sandbox::resource_version says "at least").
      std::string rv = std::exchange(sb.resource_version, old.resource_version);
      same = sb == old && e.sts->metadata.labels == e.state->labels;
      sb.resource_version = std::move(rv);
    }
    if (same) return;
  }
  auto next = std::make_shared<const SandboxState>(SandboxState{std::move(sb), e.sts->metadata.labels});
  StatePtr prev = std::move(e.state);
  if (prev == nullptr) ++sandboxes_;
  e.state = next;
  Record(prev == nullptr ? Type::kAdded : Type::kModified, std::move(prev), std::move(next),
         e.inputs, tick, out);
}

void SandboxCache::Record(Type type, StatePtr prev, StatePtr state, const Progress& inputs,
                          bool tick, Publications* out) {
  Scope& scope = ScopeLocked(ScopeOfLocked(state->sandbox.spec.ns));
  auto next = std::make_shared<const SharedSandbox>(std::move(state));
  history_.push_back(
      Change{++seq_, type, std::move(prev), std::move(next), inputs, scope.progress, tick});
  while (history_.size() > std::max<size_t>(options_.history_capacity, 1)) {
    // A client that has not seen the evicted change can no longer resume.
    const Change& evicted = history_.front();
    Scope& of = ScopeLocked(ScopeOfLocked(evicted.next->sandbox().spec.ns));
    of.floor = Max(of.floor, evicted.inputs);
    if (evicted.tick) of.floor = Max(of.floor, evicted.progress);
    history_.pop_front();
  }
  Publication publication{history_.back(), {}};
  const domain::SandboxSpec& spec = publication.change.next->sandbox().spec;
  auto subs = subs_.find(spec.ns);
  if (subs != subs_.end()) subs->second.Matching(spec.name, &publication.subs);
  out->push_back(std::move(publication));
}

bool SandboxCache::Unseen(const Change& change, const Progress& at) {
  return !at.Covers(change.inputs) || (change.tick && !at.Covers(change.progress));
}

bool SandboxCache::OfferChange(WatchSubscription& sub, const Change& change) {
  sub.offered_.fetch_add(1, std::memory_order_relaxed);
  std::optional<Type> type = Translate(sub, change, /*known=*/false);
  return type.has_value() && sub.Offer(*type, change.next, change.progress);
}

std::optional<WatchEvent::Type> SandboxCache::Translate(const WatchSubscription& sub,
                                                        const Change& change, bool known) {
  const bool was = known ? sub.Matches(change.next->state())
                         : change.prev != nullptr && sub.Matches(*change.prev);
  const bool is = change.type != Type::kDeleted && sub.Matches(change.next->state());
  Type type;
  if (change.type == Type::kDeleted) {
    if (!was) return std::nullopt;
    type = Type::kDeleted;
  } else if (was && is) {
    type = Type::kModified;
  } else if (is) {
    type = Type::kAdded;  // new, or now matches the filter
  } else if (was) {
    type = Type::kDeleted;  // no longer matches the filter
  } else {
    return std::nullopt;
  }
  return type;
}

void SandboxCache::SnapshotInto(WatchSubscription& sub) {
  sub.mu_.AssertHeld();
  sub.DropSnapshotLocked();
  const WatchFilter& f = sub.filter_;
  for (auto it = entries_.lower_bound(Key{f.ns, f.name});
       it != entries_.end() && it->first.first == f.ns; ++it) {
    if (!f.name.empty() && it->first.second != f.name) break;
    if (it->second.state != nullptr && sub.Matches(*it->second.state)) {
      sub.snapshot_.push_back(it->second.state);
    }
  }
  sub.queue_.push_back(WatchSubscription::Item{Type::kInitialStateComplete, nullptr,
                                               ScopeLocked(sub.scope_).progress});
  sub.needs_snapshot_ = false;
}

void SandboxCache::Resnapshot(WatchSubscription& sub) {
  absl::MutexLock lock(&mu_);
  absl::MutexLock sub_lock(&sub.mu_);
  if (sub.closed_ || !sub.needs_snapshot_) return;
  SnapshotInto(sub);
}

void SandboxCache::NamespaceSubs::Matching(const std::string& name, Notify* out) const {
  out->insert(out->end(), all.begin(), all.end());
  auto named = by_name.find(name);
  if (named != by_name.end()) out->insert(out->end(), named->second.begin(), named->second.end());
}

SandboxCache::Notify SandboxCache::NamespaceSubs::Every() const {
  Notify out = all;
  for (const auto& [name, list] : by_name) out.insert(out.end(), list.begin(), list.end());
  return out;
}

bool SandboxCache::NamespaceSubs::Remove(const WatchSubscription* sub) {
  auto erase = [sub](Notify& list) {
    list.erase(std::remove_if(
                   list.begin(), list.end(),
                   [sub](const std::shared_ptr<WatchSubscription>& s) { return s.get() == sub; }),
               list.end());
  };
  const std::string& name = sub->filter().name;
  if (name.empty()) {
    erase(all);
  } else if (auto named = by_name.find(name); named != by_name.end()) {
    erase(named->second);
    if (named->second.empty()) by_name.erase(named);
  }
  return all.empty() && by_name.empty();
}

void SandboxCache::Unsubscribe(WatchSubscription* sub) {
  absl::MutexLock lock(&mu_);
  auto it = subs_.find(sub->filter_.ns);
  if (it != subs_.end() && it->second.Remove(sub)) subs_.erase(it);
}

absl::StatusOr<std::shared_ptr<WatchSubscription>> SandboxCache::Subscribe(
    const WatchFilter& filter, const std::string& resume_token, std::function<void()> on_ready) {
  SANDBOXD_RETURN_IF_ERROR(domain::ValidateNamespace(filter.ns));
  if (!filter.name.empty()) SANDBOXD_RETURN_IF_ERROR(domain::ValidateName(filter.name));
  absl::StatusOr<domain::LabelSelector> selector =
      domain::LabelSelector::Parse(filter.label_selector);
  if (!selector.ok()) return selector.status();
  absl::StatusOr<ResumePosition> position = ParseResumeToken(resume_token);
  if (!position.ok()) return position.status();
  const std::string scope_name = ScopeOf(filter.ns);
  auto sub = std::shared_ptr<WatchSubscription>(
      new WatchSubscription(link_, scope_name, filter, std::move(*selector),
                            std::max<size_t>(options_.queue_capacity, 1), std::move(on_ready)));

  absl::MutexLock lock(&mu_);
  if (shut_down_) {
    return domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kServerShuttingDown,
                             "sandboxd is shutting down");
  }
  SANDBOXD_RETURN_IF_ERROR(CheckSynced(filter.ns));
  Scope& scope = ScopeLocked(scope_name);
  const bool at = position->kind == ResumePosition::Kind::kAt;
  if (at && !scope.progress.Covers(position->at)) {
    return domain::MakeError(
        absl::StatusCode::kUnavailable, domain::reason::kCacheBehind,
        "this sandboxd replica has not yet caught up with resume_token; retry shortly");
  }
  // Resumable: every change the client may not have seen is still in the history.
  if (at && position->at.Covers(scope.floor) && !ForgottenSince(filter.ns, position->at)) {
    const Progress& t = position->at;
    absl::MutexLock sub_lock(&sub->mu_);
    sub->last_token_ = resume_token;
    sub->delivered_ = t;
    // Every unseen change, each on its own (not merged, not counted against the queue's
    // capacity: the history bounds it).
    for (const Change& change : history_) {
      if (change.next->sandbox().spec.ns != filter.ns || !Unseen(change, t)) continue;
      const bool known =
          change.type == Type::kAdded &&
          change.inputs.rv[Index(Source::kStatefulSets)] <= t.rv[Index(Source::kStatefulSets)];
      std::optional<Type> type = Translate(*sub, change, known);
      if (type.has_value()) {
        sub->replay_.push_back(WatchSubscription::Item{*type, change.next, change.progress});
      }
    }
    sub->queue_.push_back(
        WatchSubscription::Item{Type::kInitialStateComplete, nullptr, scope.progress});
  } else {
    absl::MutexLock sub_lock(&sub->mu_);
    sub->reset_pending_ = position->kind != ResumePosition::Kind::kNone;
    SnapshotInto(*sub);
  }
  NamespaceSubs& in_ns = subs_[filter.ns];
  (filter.name.empty() ? in_ns.all : in_ns.by_name[filter.name]).push_back(sub);
  return sub;
}

void SandboxCache::Shutdown() {
  Notify notify;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto& [ns, in_ns] : subs_) {
      for (auto& sub : in_ns.Every()) {
        absl::MutexLock sub_lock(&sub->mu_);
        const absl::Status shutting_down =
            domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kServerShuttingDown,
                              "sandboxd is shutting down; resume the watch with resumeToken",
                              {{"resumeToken", sub->last_token_}});
        if (sub->CloseLocked(shutting_down)) notify.push_back(sub);
      }
    }
    subs_.clear();
  }
  Wake(notify);
  std::vector<VersionGate*> gates;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, scope] : scopes_) {
      for (VersionGate& gate : scope->gates) gates.push_back(&gate);
    }
  }
  for (VersionGate* gate : gates) gate->Close();
}

absl::StatusOr<domain::Sandbox> SandboxCache::Get(const std::string& ns,
                                                  const std::string& name) const {
  SANDBOXD_RETURN_IF_ERROR(domain::ValidateNamespace(ns));
  SANDBOXD_RETURN_IF_ERROR(domain::ValidateName(name));
  absl::MutexLock lock(&mu_);
  SANDBOXD_RETURN_IF_ERROR(CheckSynced(ns));
  const Entry* entry = FindSandboxLocked(ns, name);
  if (entry == nullptr) return SandboxNotFound(ns, name);
  domain::Sandbox sandbox = entry->state->sandbox;
  sandbox.resource_version = entry->sts->metadata.resource_version;  // the latest applied
  return sandbox;
}

absl::StatusOr<kube::StatefulSet> SandboxCache::GetStatefulSet(const std::string& ns,
                                                               const std::string& name) const {
  SANDBOXD_RETURN_IF_ERROR(domain::ValidateNamespace(ns));
  SANDBOXD_RETURN_IF_ERROR(domain::ValidateName(name));
  absl::MutexLock lock(&mu_);
  SANDBOXD_RETURN_IF_ERROR(CheckSynced(ns));
  const Entry* entry = FindSandboxLocked(ns, name);
  if (entry == nullptr) return SandboxNotFound(ns, name);
  return *entry->sts;
}

bool SandboxCache::HasClaim(const std::string& ns, const std::string& name,
                            const std::string& claim) const {
  absl::MutexLock lock(&mu_);
  if (!CheckSynced(ns).ok()) return false;
  auto it = entries_.find(Key{ns, name});
  return it != entries_.end() && it->second.claims.count(claim) > 0;
}

std::vector<SandboxCache::StrayClaim> SandboxCache::StrayClaims() const {
  std::vector<StrayClaim> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [key, claim] : unowned_claims_) {
    if (!CheckSynced(claim.ns).ok()) continue;
    auto it = entries_.find(Key{claim.ns, claim.sandbox});
    // No entry yet: ApplyClaim has not reached ChangeEntry.
    if (it == entries_.end() || it->second.sts.has_value()) continue;
    out.push_back(claim);
  }
  return out;
}

absl::StatusOr<bool> SandboxCache::IsForeignClaim(const std::string& ns,
                                                  const std::string& claim) const {
  absl::MutexLock lock(&mu_);
  SANDBOXD_RETURN_IF_ERROR(CheckSynced(ns));
  return foreign_claims_.count(Key{ns, claim}) > 0;
}

const SandboxCache::Entry* SandboxCache::FindSandboxLocked(const std::string& ns,
                                                           const std::string& name) const {
  auto it = entries_.find(Key{ns, name});
  return it == entries_.end() || !it->second.sts.has_value() ? nullptr : &it->second;
}

absl::StatusOr<domain::ListResult> SandboxCache::List(const domain::ListQuery& query) const {
  SANDBOXD_RETURN_IF_ERROR(domain::ValidateNamespace(query.ns));
  if (query.page_size < 0) return domain::InvalidField("page_size", "must not be negative");
  absl::StatusOr<domain::LabelSelector> selector =
      domain::LabelSelector::Parse(query.label_selector);
  if (!selector.ok()) return selector.status();
  std::string after;
  if (!query.page_token.empty() &&
      (!absl::WebSafeBase64Unescape(query.page_token, &after) || after.empty())) {
    return domain::InvalidField("page_token", "malformed");
  }
  const size_t limit = query.page_size == 0
                           ? SandboxService::kDefaultPageSize
                           : std::min(query.page_size, SandboxService::kMaxPageSize);

  absl::MutexLock lock(&mu_);
  SANDBOXD_RETURN_IF_ERROR(CheckSynced(query.ns));
  domain::ListResult result;
  auto it = query.page_token.empty() ? entries_.lower_bound(Key{query.ns, ""})
                                     : entries_.upper_bound(Key{query.ns, after});
  for (; it != entries_.end() && it->first.first == query.ns; ++it) {
    const StatePtr& state = it->second.state;
    if (state == nullptr) continue;
    if (!query.project.empty() && state->sandbox.spec.project != query.project) continue;
    if (!selector->Matches(state->labels)) continue;
    if (result.sandboxes.size() == limit) {  // one more exists: there is a next page
      result.next_page_token = absl::WebSafeBase64Escape(result.sandboxes.back().spec.name);
      break;
    }
    result.sandboxes.push_back(state->sandbox);
    result.sandboxes.back().resource_version = it->second.sts->metadata.resource_version;
  }
  return result;
}

SandboxCache::Stats SandboxCache::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s;
  s.sandboxes = sandboxes_;
  s.entries = entries_.size();
  for (const auto& [ns, in_ns] : subs_) {
    const Notify list = in_ns.Every();
    s.subscriptions += list.size();
    for (const auto& sub : list) s.queued_events += sub->pending();
  }
  s.merged_updates = link_->merged_updates.load(std::memory_order_relaxed);
  s.dropped_updates = link_->dropped_updates.load(std::memory_order_relaxed);
  s.history = history_.size();
  s.sequence = seq_;
  absl::flat_hash_set<const SandboxState*> seen;
  auto state_bytes = [&seen](const SandboxState* p) -> size_t {
    if (p == nullptr || !seen.insert(p).second) return 0;
    return kControlBlockBytes + ApproxBytes(p->sandbox) + HeapBytes(p->labels) -
           sizeof(domain::Sandbox) + sizeof(SandboxState);
  };
  for (const auto& [key, e] : entries_) {
    s.approx_bytes += kMapNodeBytes + sizeof(std::pair<const Key, Entry>) + HeapBytes(key.first) +
                      HeapBytes(key.second) + state_bytes(e.state.get());
    if (e.state != nullptr) {
      ++s.by_phase[e.state->sandbox.phase];
      if (e.state->sandbox.phase == domain::Phase::kError) {
        ++s.by_error_reason[e.state->sandbox.error_reason];
      }
    }
    if (e.sts) s.approx_bytes += ApproxBytes(*e.sts) - sizeof(kube::StatefulSet);
    if (e.pod) s.approx_bytes += ApproxBytes(*e.pod) - sizeof(kube::Pod);
    for (const auto& [claim_name, claim] : e.claims) {
      s.approx_bytes += kMapNodeBytes + HeapBytes(claim_name) + ApproxBytes(claim);
    }
  }
  for (const Change& c : history_) {
    s.approx_bytes += sizeof(Change) + sizeof(SharedSandbox) + kControlBlockBytes +
                      c.next->encoded_bytes() + state_bytes(c.prev.get()) +
                      state_bytes(&c.next->state());
  }
  return s;
}

}  // namespace sandboxd::service
