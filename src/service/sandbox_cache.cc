#include "src/service/sandbox_cache.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "src/domain/builders.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/status.h"
#include "src/domain/validation.h"
#include "src/service/sandbox_service.h"

namespace sandboxd::service {
namespace {

using internal::SandboxState;
using internal::StatePtr;
using Type = WatchEvent::Type;

constexpr char kPodSuffix[] = "-0";
constexpr char kLegacyClaimPrefix[] = "home-";

// ---- tokens ---------------------------------------------------------------------------

constexpr char kTokenVersion[] = "v1";
// The token of a message before INITIAL_STATE_COMPLETE (an initial-state ADDED, RESET):
// the client's state is incomplete there, so resuming from it starts over with RESET.
constexpr char kIncompleteToken[] = "v1.i";

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "<epoch:16 hex>.<seq>" or "<epoch>.i": the tokens of sandboxd before positions were
// portable.
bool IsProcessToken(absl::string_view token) {
  if (token.size() < 18 || token[16] != '.') return false;
  for (size_t i = 0; i < 16; ++i) {
    const char c = token[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  absl::string_view seq = token.substr(17);
  uint64_t ignored;
  return seq == "i" || (AllDigits(seq) && absl::SimpleAtoi(seq, &ignored));
}

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

// The claim of the entry's StatefulSet, if present.
template <typename EntryT>
const kube::PersistentVolumeClaim* ClaimOf(const EntryT& e) {
  if (!e.sts.has_value()) return nullptr;
  auto it = e.claims.find(domain::ClaimNameOf(*e.sts));
  return it == e.claims.end() ? nullptr : &it->second;
}

bool SameSpec(const domain::SandboxSpec& a, const domain::SandboxSpec& b) {
  return a.name == b.name && a.ns == b.ns && a.project == b.project && a.image == b.image &&
         a.env == b.env && a.resources.requests.cpu == b.resources.requests.cpu &&
         a.resources.requests.memory == b.resources.requests.memory &&
         a.resources.limits.cpu == b.resources.limits.cpu &&
         a.resources.limits.memory == b.resources.limits.memory &&
         a.storage.size == b.storage.size && a.storage.storage_class == b.storage.storage_class &&
         a.storage.mount_path == b.storage.mount_path && a.ports.app == b.ports.app &&
         a.ports.terminal == b.ports.terminal && a.ingress_domain == b.ingress_domain &&
         a.labels == b.labels;
}

bool SameSandbox(const domain::Sandbox& a, const domain::Sandbox& b) {
  return SameSpec(a.spec, b.spec) && a.phase == b.phase && a.error_reason == b.error_reason &&
         a.message == b.message && a.desired_replicas == b.desired_replicas &&
         a.ready_replicas == b.ready_replicas && a.endpoints.pod_dns == b.endpoints.pod_dns &&
         a.endpoints.app_url == b.endpoints.app_url &&
         a.endpoints.terminal_url == b.endpoints.terminal_url &&
         a.storage.claim_name == b.storage.claim_name && a.storage.phase == b.storage.phase &&
         a.storage.capacity == b.storage.capacity && a.storage.uid == b.storage.uid &&
         a.created == b.created && a.version == b.version && a.uid == b.uid;
}

kube::StringMap Only(const kube::StringMap& m, std::initializer_list<const char*> keys) {
  kube::StringMap out;
  for (const char* key : keys) {
    auto it = m.find(key);
    if (it != m.end()) out.emplace(it->first, it->second);
  }
  return out;
}

kube::ContainerStatus TrimContainerStatus(const kube::ContainerStatus& cs) {
  kube::ContainerStatus out;
  out.name = cs.name;
  out.restart_count = cs.restart_count;
  out.state.waiting = cs.state.waiting;
  if (cs.last_state.terminated.has_value()) {
    kube::ContainerStateTerminated t;
    t.exit_code = cs.last_state.terminated->exit_code;
    t.reason = cs.last_state.terminated->reason;
    out.last_state.terminated = std::move(t);
  }
  return out;
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

// ---- size estimate (libstdc++: 15-character small-string buffer, 32-byte tree nodes) --

size_t Heap(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

size_t Heap(const kube::StringMap& m) {
  size_t n = 0;
  for (const auto& [k, v] : m) {
    n += 32 + sizeof(std::pair<const std::string, std::string>) + Heap(k) + Heap(v);
  }
  return n;
}

size_t Heap(const std::vector<std::string>& v) {
  size_t n = v.capacity() * sizeof(std::string);
  for (const std::string& s : v) n += Heap(s);
  return n;
}

template <typename T, typename F>
size_t HeapVec(const std::vector<T>& v, F f) {
  size_t n = v.capacity() * sizeof(T);
  for (const T& e : v) n += f(e);
  return n;
}

size_t Heap(const kube::ObjectMeta& m) {
  return Heap(m.name) + Heap(m.generate_name) + Heap(m.ns) + Heap(m.uid) +
         Heap(m.resource_version) + Heap(m.labels) + Heap(m.annotations) +
         HeapVec(m.owner_references,
                 [](const kube::OwnerReference& r) {
                   return Heap(r.api_version) + Heap(r.kind) + Heap(r.name) + Heap(r.uid);
                 }) +
         Heap(m.finalizers);
}

size_t Heap(const kube::Container& c) {
  return Heap(c.name) + Heap(c.image) + Heap(c.image_pull_policy) + Heap(c.command) +
         Heap(c.args) + Heap(c.working_dir) +
         HeapVec(c.env, [](const kube::EnvVar& e) { return Heap(e.name) + Heap(e.value); }) +
         HeapVec(c.ports,
                 [](const kube::ContainerPort& p) { return Heap(p.name) + Heap(p.protocol); }) +
         Heap(c.resources.requests) + Heap(c.resources.limits) +
         HeapVec(c.volume_mounts, [](const kube::VolumeMount& m) {
           return Heap(m.name) + Heap(m.mount_path) + Heap(m.sub_path);
         });
}

size_t Heap(const kube::PodSpec& s) {
  auto container = [](const kube::Container& c) { return Heap(c); };
  return HeapVec(s.init_containers, container) + HeapVec(s.containers, container) +
         Heap(s.service_account_name) + Heap(s.node_name);
}

size_t Heap(const kube::PersistentVolumeClaim& c) {
  return Heap(c.api_version) + Heap(c.kind) + Heap(c.metadata) + Heap(c.spec.access_modes) +
         Heap(c.spec.resources.requests) + Heap(c.spec.resources.limits) +
         Heap(c.spec.volume_name) + Heap(c.spec.volume_mode) + Heap(c.status.phase) +
         Heap(c.status.access_modes) + Heap(c.status.capacity);
}

size_t Heap(const kube::ContainerStatus& cs) {
  size_t n = Heap(cs.name) + Heap(cs.image) + Heap(cs.image_id) + Heap(cs.container_id);
  for (const kube::ContainerState* s : {&cs.state, &cs.last_state}) {
    if (s->waiting) n += Heap(s->waiting->reason) + Heap(s->waiting->message);
    if (s->terminated) n += Heap(s->terminated->reason) + Heap(s->terminated->message);
  }
  return n;
}

}  // namespace

bool Progress::Covers(const Progress& other) const {
  for (size_t k = 0; k < rv.size(); ++k) {
    if (rv[k] < other.rv[k]) return false;
  }
  return true;
}

Progress Max(const Progress& a, const Progress& b) {
  Progress out;
  for (size_t k = 0; k < out.rv.size(); ++k) out.rv[k] = std::max(a.rv[k], b.rv[k]);
  return out;
}

std::string EncodeResumeToken(const Progress& p) {
  return absl::StrCat(kTokenVersion, ".", p.rv[0], ".", p.rv[1], ".", p.rv[2]);
}

absl::StatusOr<ResumePosition> ParseResumeToken(const std::string& token) {
  ResumePosition out;
  if (token.empty()) return out;
  if (token == kIncompleteToken || IsProcessToken(token)) {
    out.kind = ResumePosition::Kind::kRestart;
    return out;
  }
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 4 || parts[0] != kTokenVersion) {
    return domain::InvalidField("resume_token", "malformed");
  }
  for (size_t k = 0; k < 3; ++k) {
    if (!AllDigits(parts[k + 1]) || !absl::SimpleAtoi(parts[k + 1], &out.at.rv[k])) {
      return domain::InvalidField("resume_token", "malformed");
    }
  }
  out.kind = ResumePosition::Kind::kAt;
  return out;
}

const char* WatchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case Type::kAdded: return "ADDED";
    case Type::kModified: return "MODIFIED";
    case Type::kDeleted: return "DELETED";
    case Type::kInitialStateComplete: return "INITIAL_STATE_COMPLETE";
    case Type::kReset: return "RESET";
  }
  return "UNKNOWN";
}

// ---- trimming and sizes -----------------------------------------------------------------

kube::StatefulSet TrimStatefulSet(kube::StatefulSet sts) {
  kube::StatefulSet out;
  kube::ObjectMeta& m = out.metadata;
  m.name = std::move(sts.metadata.name);
  m.ns = std::move(sts.metadata.ns);
  m.uid = std::move(sts.metadata.uid);
  m.resource_version = std::move(sts.metadata.resource_version);
  m.generation = sts.metadata.generation;
  m.creation_timestamp = sts.metadata.creation_timestamp;
  m.deletion_timestamp = sts.metadata.deletion_timestamp;
  m.labels = std::move(sts.metadata.labels);
  m.annotations = Only(sts.metadata.annotations,
                       {domain::kAnnotationIngressDomain, domain::kAnnotationAppUrl,
                        domain::kAnnotationTerminalUrl, domain::kAnnotationNoPodDns});
  out.spec.replicas = sts.spec.replicas;

  // The container SpecFromStatefulSet reads: the one named like the sandbox, else the first.
  std::vector<kube::Container>& containers = sts.spec.template_.spec.containers;
  auto main = std::find_if(containers.begin(), containers.end(),
                           [&](const kube::Container& c) { return c.name == m.name; });
  if (main == containers.end() && !containers.empty()) main = containers.begin();
  if (main != containers.end()) {
    kube::Container c;
    c.name = std::move(main->name);
    c.image = std::move(main->image);
    // Entries with valueFrom stay as names (no value): UpdateEnv keeps their places.
    c.env = std::move(main->env);
    c.resources.requests = Only(main->resources.requests, {"cpu", "memory"});
    c.resources.limits = Only(main->resources.limits, {"cpu", "memory"});
    for (const kube::ContainerPort& p : main->ports) {
      if (p.name == domain::kAppPortName || p.name == domain::kTerminalPortName) {
        c.ports.push_back(kube::ContainerPort{p.name, p.container_port, ""});
      }
    }
    const std::string claim_template = domain::ClaimTemplateName(sts);
    for (const kube::VolumeMount& v : main->volume_mounts) {
      if (v.name == claim_template) {
        kube::VolumeMount mount;
        mount.name = v.name;
        mount.mount_path = v.mount_path;
        c.volume_mounts.push_back(std::move(mount));
      }
    }
    out.spec.template_.spec.containers.push_back(std::move(c));
  }
  // The first template only: it names the claim (ClaimTemplateName).
  for (const kube::PersistentVolumeClaim& t : sts.spec.volume_claim_templates) {
    if (!out.spec.volume_claim_templates.empty()) break;
    kube::PersistentVolumeClaim claim;
    claim.metadata.name = t.metadata.name;
    claim.spec.resources.requests = Only(t.spec.resources.requests, {"storage"});
    claim.spec.storage_class_name = t.spec.storage_class_name;
    out.spec.volume_claim_templates.push_back(std::move(claim));
  }
  out.status.observed_generation = sts.status.observed_generation;
  out.status.replicas = sts.status.replicas;
  out.status.ready_replicas = sts.status.ready_replicas;
  return out;
}

kube::Pod TrimPod(kube::Pod pod) {
  kube::Pod out;
  out.metadata.name = std::move(pod.metadata.name);
  out.metadata.ns = std::move(pod.metadata.ns);
  out.metadata.creation_timestamp = pod.metadata.creation_timestamp;
  out.status.phase = std::move(pod.status.phase);
  if (const kube::PodCondition* c = pod.FindCondition("PodScheduled")) {
    out.status.conditions.push_back(*c);
  }
  for (const kube::ContainerStatus& cs : pod.status.init_container_statuses) {
    out.status.init_container_statuses.push_back(TrimContainerStatus(cs));
  }
  for (const kube::ContainerStatus& cs : pod.status.container_statuses) {
    out.status.container_statuses.push_back(TrimContainerStatus(cs));
  }
  return out;
}

kube::PersistentVolumeClaim TrimClaim(kube::PersistentVolumeClaim claim) {
  kube::PersistentVolumeClaim out;
  out.metadata.name = std::move(claim.metadata.name);
  out.metadata.ns = std::move(claim.metadata.ns);
  out.metadata.uid = std::move(claim.metadata.uid);
  out.metadata.creation_timestamp = claim.metadata.creation_timestamp;
  out.status.phase = std::move(claim.status.phase);
  out.status.capacity = Only(claim.status.capacity, {"storage"});
  return out;
}

size_t ApproxBytes(const kube::StatefulSet& sts) {
  const kube::StatefulSetSpec& s = sts.spec;
  return sizeof(sts) + Heap(sts.api_version) + Heap(sts.kind) + Heap(sts.metadata) +
         Heap(s.service_name) + Heap(s.selector.match_labels) + Heap(s.template_.metadata) +
         Heap(s.template_.spec) + Heap(s.pod_management_policy) +
         HeapVec(s.volume_claim_templates,
                 [](const kube::PersistentVolumeClaim& c) { return Heap(c); }) +
         Heap(sts.status.current_revision) + Heap(sts.status.update_revision);
}

size_t ApproxBytes(const kube::Pod& pod) {
  const kube::PodStatus& s = pod.status;
  auto status = [](const kube::ContainerStatus& cs) { return Heap(cs); };
  return sizeof(pod) + Heap(pod.api_version) + Heap(pod.kind) + Heap(pod.metadata) +
         Heap(pod.spec) + Heap(s.phase) + Heap(s.reason) + Heap(s.message) + Heap(s.pod_ip) +
         Heap(s.host_ip) +
         HeapVec(s.conditions,
                 [](const kube::PodCondition& c) {
                   return Heap(c.type) + Heap(c.status) + Heap(c.reason) + Heap(c.message);
                 }) +
         HeapVec(s.init_container_statuses, status) + HeapVec(s.container_statuses, status);
}

size_t ApproxBytes(const kube::PersistentVolumeClaim& claim) {
  return sizeof(claim) + Heap(claim);
}

size_t ApproxBytes(const domain::Sandbox& sb) {
  const domain::SandboxSpec& s = sb.spec;
  return sizeof(sb) + Heap(s.name) + Heap(s.ns) + Heap(s.project) + Heap(s.image) + Heap(s.env) +
         Heap(s.resources.requests.cpu) + Heap(s.resources.requests.memory) +
         Heap(s.resources.limits.cpu) + Heap(s.resources.limits.memory) + Heap(s.storage.size) +
         Heap(s.storage.storage_class) + Heap(s.storage.mount_path) + Heap(s.ingress_domain) +
         Heap(s.labels) + Heap(sb.message) + Heap(sb.endpoints.pod_dns) +
         Heap(sb.endpoints.app_url) + Heap(sb.endpoints.terminal_url) +
         Heap(sb.storage.claim_name) + Heap(sb.storage.phase) + Heap(sb.storage.capacity) +
         Heap(sb.storage.uid) + Heap(sb.version) + Heap(sb.uid) + Heap(sb.resource_version);
}

// ---- WatchSubscription ------------------------------------------------------------------

Progress internal::CacheLink::Published(const std::string& scope) {
  absl::MutexLock lock(&progress_mu);
  auto it = published.find(scope);
  return it == published.end() ? Progress{} : it->second;
}

WatchSubscription::WatchSubscription(std::shared_ptr<internal::CacheLink> link, std::string scope,
                                     WatchFilter filter, domain::LabelSelector selector,
                                     size_t capacity, std::function<void()> on_ready)
    : link_(std::move(link)),
      scope_(std::move(scope)),
      filter_(std::move(filter)),
      selector_(std::move(selector)),
      capacity_(capacity),
      on_ready_(std::move(on_ready)) {}

WatchSubscription::~WatchSubscription() = default;

bool WatchSubscription::Matches(const SandboxState& state) const {
  const domain::SandboxSpec& spec = state.sandbox.spec;
  return spec.ns == filter_.ns && (filter_.name.empty() || spec.name == filter_.name) &&
         (filter_.project.empty() || spec.project == filter_.project) &&
         selector_.Matches(state.labels);
}

bool WatchSubscription::Offer(Type type, SharedSandboxPtr sandbox, const Progress& before) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  if (!needs_snapshot_) {
    const std::string& name = sandbox->sandbox().spec.name;
    auto it = index_.find(name);
    if (it != index_.end() && it->second->type != Type::kDeleted) {
      Item& item = *it->second;
      link_->merged_updates.fetch_add(1, std::memory_order_relaxed);
      if (type == Type::kDeleted && item.type == Type::kAdded) {
        queue_.erase(it->second);  // the client never saw it
        index_.erase(it);
      } else {
        if (type == Type::kDeleted) item.type = Type::kDeleted;
        item.sandbox = std::move(sandbox);  // ADDED stays ADDED, MODIFIED stays MODIFIED
      }
    } else if (queue_.size() >= capacity_) {
      // Collapse: the consumer gets RESET and a fresh initial state when it catches up.
      link_->dropped_updates.fetch_add(queue_.size() + 1, std::memory_order_relaxed);
      DropPendingLocked();
      needs_snapshot_ = true;
      reset_pending_ = true;
    } else {
      queue_.push_back(Item{type, std::move(sandbox), before});
      index_[name] = std::prev(queue_.end());
    }
  }
  const bool available = needs_snapshot_ || reset_pending_ || snapshot_next_ < snapshot_.size() ||
                         !replay_.empty() || !queue_.empty();
  if (armed_ && available) {
    armed_ = false;
    return true;
  }
  return false;
}

void WatchSubscription::DropSnapshotLocked() {
  std::vector<StatePtr>().swap(snapshot_);  // clear() would keep the capacity per stream
  snapshot_next_ = 0;
}

void WatchSubscription::DropPendingLocked() {
  std::deque<Item>().swap(replay_);
  queue_.clear();
  index_.clear();
  DropSnapshotLocked();
}

std::string WatchSubscription::TokenLocked() {
  // Everything recorded before the first undelivered change has been delivered; with an
  // empty queue, everything published.
  const Progress at = !replay_.empty()  ? replay_.front().before
                      : !queue_.empty() ? queue_.front().before
                                        : link_->Published(scope_);
  delivered_ = Max(delivered_, at);
  return EncodeResumeToken(delivered_);
}

std::optional<WatchEvent> WatchSubscription::PopLocked() {
  if (closed_) return std::nullopt;
  if (!needs_snapshot_) {
    if (reset_pending_) {
      reset_pending_ = false;
      last_token_ = kIncompleteToken;
      return WatchEvent{Type::kReset, nullptr, last_token_};
    }
    if (snapshot_next_ < snapshot_.size()) {
      StatePtr state = std::move(snapshot_[snapshot_next_++]);
      last_token_ = kIncompleteToken;
      return WatchEvent{Type::kAdded, std::make_shared<const SharedSandbox>(std::move(state)),
                        last_token_};
    }
    if (!replay_.empty()) {
      Item item = std::move(replay_.front());
      replay_.pop_front();
      last_token_ = TokenLocked();
      return WatchEvent{item.type, std::move(item.sandbox), last_token_};
    }
    if (!queue_.empty()) {
      Item item = std::move(queue_.front());
      if (item.sandbox != nullptr) {
        auto it = index_.find(item.sandbox->sandbox().spec.name);
        if (it != index_.end() && it->second == queue_.begin()) index_.erase(it);
      } else {
        DropSnapshotLocked();  // the marker: the initial state is delivered
      }
      queue_.pop_front();
      last_token_ = TokenLocked();
      return WatchEvent{item.type, std::move(item.sandbox), last_token_};
    }
  }
  armed_ = true;
  return std::nullopt;
}

std::optional<WatchEvent> WatchSubscription::Next() {
  // A collapsed queue takes its fresh initial state now (cache lock, then ours). Another
  // collapse can come in between; after a few rounds give up until on_ready.
  for (int round = 0; round < 3; ++round) {
    {
      absl::MutexLock lock(&mu_);
      if (closed_ || !needs_snapshot_) return PopLocked();
    }
    absl::ReaderMutexLock link_lock(&link_->mu);
    if (link_->cache == nullptr) {
      absl::MutexLock lock(&mu_);
      closed_ = true;
      return std::nullopt;
    }
    link_->cache->Resnapshot(*this);
  }
  absl::MutexLock lock(&mu_);
  return PopLocked();
}

void WatchSubscription::Cancel() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    DropPendingLocked();
  }
  absl::ReaderMutexLock link_lock(&link_->mu);
  if (link_->cache != nullptr) link_->cache->Unsubscribe(this);
}

bool WatchSubscription::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

absl::Status WatchSubscription::end_status() const {
  absl::MutexLock lock(&mu_);
  return end_status_;
}

bool WatchSubscription::CloseLocked(absl::Status why) {
  if (closed_) return false;
  closed_ = true;
  end_status_ = std::move(why);
  DropPendingLocked();
  const bool wake = armed_;
  armed_ = false;
  return wake;
}

std::string WatchSubscription::last_token() const {
  absl::MutexLock lock(&mu_);
  return last_token_;
}

size_t WatchSubscription::pending() const {
  absl::MutexLock lock(&mu_);
  if (closed_) return 0;
  if (needs_snapshot_) return 1;
  return (reset_pending_ ? 1 : 0) + (snapshot_.size() - snapshot_next_) + replay_.size() +
         queue_.size();
}

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
              [&sts](Entry& e) { e.sts = TrimStatefulSet(std::move(sts)); });
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
              [&pod](Entry& e) { e.pod = TrimPod(std::move(pod)); });
}

void SandboxCache::DeletePod(const std::string& ns, const std::string& pod_name, uint64_t rv) {
  std::optional<std::string> name = SandboxOfPod(pod_name);
  if (!name.has_value()) return;
  ChangeEntry(Key{ns, *name}, /*create=*/false, Source::kPods, rv, [](Entry& e) { e.pod.reset(); });
}

void SandboxCache::ApplyClaim(kube::PersistentVolumeClaim claim) {
  std::optional<std::string> name = SandboxOfClaim(claim.metadata);
  if (!name.has_value()) return;
  claim_owners_[Key{claim.metadata.ns, claim.metadata.name}] = *name;
  const uint64_t rv = VersionOf(claim.metadata.resource_version);
  ChangeEntry(Key{claim.metadata.ns, *name}, /*create=*/true, Source::kClaims, rv,
              [&claim](Entry& e) {
                std::string claim_name = claim.metadata.name;
                e.claims[claim_name] = TrimClaim(std::move(claim));
              });
}

void SandboxCache::DeleteClaim(const std::string& ns, const std::string& claim_name, uint64_t rv) {
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
    for (auto owner = claim_owners_.lower_bound(Key{ns, ""});
         owner != claim_owners_.end() && owner->first.first == ns;) {
      owner = claim_owners_.erase(owner);
    }
    auto subs = subs_.find(ns);
    if (subs != subs_.end()) {
      const absl::Status not_served = domain::MakeError(
          absl::StatusCode::kPermissionDenied, domain::reason::kNamespaceNotServed,
          absl::StrCat("sandboxd does not serve namespace ", ns), {{"namespace", ns}});
      for (auto& sub : subs->second) {
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
    const bool same = tick ? (sb.phase == old.phase && sb.error_reason == old.error_reason)
                           : (SameSandbox(sb, old) && e.sts->metadata.labels == e.state->labels);
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
  auto subs = subs_.find(publication.change.next->sandbox().spec.ns);
  if (subs != subs_.end()) publication.subs = subs->second;
  out->push_back(std::move(publication));
}

bool SandboxCache::Unseen(const Change& change, const Progress& at) {
  return !at.Covers(change.inputs) || (change.tick && !at.Covers(change.progress));
}

bool SandboxCache::OfferChange(WatchSubscription& sub, const Change& change) {
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

void SandboxCache::Unsubscribe(WatchSubscription* sub) {
  absl::MutexLock lock(&mu_);
  auto it = subs_.find(sub->filter_.ns);
  if (it == subs_.end()) return;
  auto& list = it->second;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [sub](const std::shared_ptr<WatchSubscription>& s) {
                              return s.get() == sub;
                            }),
             list.end());
  if (list.empty()) subs_.erase(it);
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
  subs_[filter.ns].push_back(sub);
  return sub;
}

void SandboxCache::Shutdown() {
  Notify notify;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto& [ns, list] : subs_) {
      for (auto& sub : list) {
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
  for (const auto& [ns, list] : subs_) {
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
    return 16 /* control block */ + ApproxBytes(p->sandbox) + Heap(p->labels) -
           sizeof(domain::Sandbox) + sizeof(SandboxState);
  };
  for (const auto& [key, e] : entries_) {
    s.approx_bytes += 32 + sizeof(std::pair<const Key, Entry>) + Heap(key.first) +
                      Heap(key.second) + state_bytes(e.state.get());
    if (e.state != nullptr) {
      ++s.by_phase[e.state->sandbox.phase];
      if (e.state->sandbox.phase == domain::Phase::kError) {
        ++s.by_error_reason[e.state->sandbox.error_reason];
      }
    }
    if (e.sts) s.approx_bytes += ApproxBytes(*e.sts) - sizeof(kube::StatefulSet);
    if (e.pod) s.approx_bytes += ApproxBytes(*e.pod) - sizeof(kube::Pod);
    for (const auto& [claim_name, claim] : e.claims) {
      s.approx_bytes += 32 + Heap(claim_name) + ApproxBytes(claim);
    }
  }
  for (const Change& c : history_) {
    s.approx_bytes += sizeof(Change) + sizeof(SharedSandbox) + 16 /* control block */ +
                      c.next->encoded_bytes() + state_bytes(c.prev.get()) +
                      state_bytes(&c.next->state());
  }
  return s;
}

}  // namespace sandboxd::service
