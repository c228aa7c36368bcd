// SandboxCache: the in-memory view of every sandbox, fed by one list+watch per Kind
// (StatefulSets and pods labelled managed-by=sandboxd, every claim; the namespaces
// served), that serves Get, List and any number of streaming watches without further
// API-server requests. Of a claim sandboxd did not make (no managed-by=sandboxd label)
// only its name is kept (IsForeignClaim): a create must not adopt it.
//
// Per sandbox the cache keeps the three objects trimmed to what DeriveSandbox and
// SpecFromStatefulSet read (domain/trim.h), and the last derived domain::Sandbox (shared,
// immutable, by the store, the history and the subscriber queues). Measured with
// ApproxBytes() (cache_memory.h; tests/unit/service/sandbox_cache_test.cc,
// MemoryEstimate; 5 env vars, 2 caller
// labels): ~10.5 KB per sandbox with StatefulSet, pod and claim: ~6.9 KB trimmed objects
// (3.1 KB of it the fixed sizeof of the three kube types, mostly unused fields), ~2.2 KB
// derived view + labels, the rest map nodes. 10,000 sandboxes: ~105 MB. The history adds
// up to one more state (~2.2 KB) per entry it holds, and for a change delivered to streams
// its wire encoding (SharedSandbox, ~1 KB). A compact struct of only the
// derivation inputs would roughly halve this (not done yet).
//
// Changes. Every input that changes the derived view of a sandbox (Sandbox fields but
// resource_version, compared with domain::Sandbox's operator==, or StatefulSet labels; an
// input that leaves both equal records nothing) records one change
// with the next sequence number: ADDED (the StatefulSet appeared), MODIFIED, or DELETED
// (the StatefulSet is gone; carries the last known Sandbox). Changes are kept in a ring of
// `history_capacity` entries for resuming watches. Tick() re-derives the time-dependent
// phases (claim bind timeout, unschedulable grace) and records a change only when the
// phase or error reason changes: a message that merely counts elapsed time is not a change.
//
// Ownership of pods and claims: pod "<name>-0" belongs to the sandbox <name> in the same
// namespace (by name; other names are ignored). A claim belongs to the sandbox its `app`
// label names if its name is "<template>-<that name>-0" (every claim template sandboxd
// ever wrote carries the label, whatever its template name), else, unlabelled, to <name>
// if it is "home-<name>-0" (the legacy template). Claims are joined by label, not by the
// StatefulSet's template name, because they may arrive before their StatefulSet; of
// several claims of one sandbox, the StatefulSet's (ClaimNameOf) is the one used.
// Pods and claims are kept without a StatefulSet and join it when it arrives.
//
// Watches (Subscribe). A stream is a sequence of WatchEvents:
//   fresh (empty token):      ADDED per matching sandbox in name order, INITIAL_STATE_COMPLETE,
//                             then changes;
//   resumed (token covered by the history): the matching changes the token's holder has
//                             not seen, in sequence order, each on its own (never merged,
//                             not counted against the queue), then INITIAL_STATE_COMPLETE
//                             (always sent, so clients need one code path), then changes;
//   reset (token older than the history, incomplete, of the old format, or the queue
//                             overflowed): RESET, then as fresh.
//
// Positions and resume tokens (portable across replicas). Every input has a Kubernetes
// resourceVersion: a watch event its object's (a DELETED event: the deletion's), an
// object of a (re)list its own, a synthetic delete after a relist the list's. A
// position p holds one resourceVersion per kind (StatefulSets, Pods, Claims) and means
// "every input of kind k with resourceVersion <= p[k] is reflected in what the client
// received". Resource versions are opaque in the Kubernetes API but are etcd revisions
// in practice, increasing in the order a watch delivers them; like VersionGate, the
// cache compares them as integers. Since they are the cluster's, not the process's, a
// position taken on one sandboxd replica means the same on another.
//   Progress: per scope (the cluster, "", today; a namespace once per-namespace
//     reflectors exist), MarkProgress(kind, rv) says every input of that kind up to rv
//     has been applied (after each watch event and bookmark, after each complete list).
//     The first call per kind is the first list's version: the scope's floor.
//   Each change records the scope's progress when it was recorded and, per kind, the
//     highest resourceVersion of the inputs its sandbox reflects (`inputs`).
//   A token is "v1.<sts>.<pod>.<pvc>" (decimal). A change event carries the progress as of
//     just before the first change the client has not received yet (at-least-once:
//     resuming from the last token received never skips a change), never less than the
//     token the stream resumed from. The ADDED events of an initial state and RESET
//     carry "v1.i": the client's state is incomplete there, so any replica answers it
//     with RESET. Tokens of the per-process format "<epoch:16 hex>.<seq>" are answered
//     with RESET too (rolling upgrades).
//   Resuming from position T: the scope's progress must cover T (else UNAVAILABLE
//     CACHE_BEHIND; SandboxService waits for that first); T must be at or above the
//     scope's floor in every kind, else RESET. The floor starts at the first list's
//     version (a client older than that may have missed deletes this cache never saw)
//     and rises to the `inputs` (and, for Tick changes, the progress) of every change
//     evicted from the history. Replayed: every change whose `inputs` exceed T in some
//     kind (it reflects something the client has not seen), and every Tick change
//     recorded at a progress T does not cover; an ADDED whose StatefulSet version is
//     <= T is sent as MODIFIED (the client knows the sandbox). Inputs of several kinds
//     may reach two replicas in different orders, so the intermediate states they
//     record may differ; each replica's last state is a function of the same objects.
//     So the first replayed change of a sandbox may repeat the state the client already
//     has (it carries an input the first replica had not applied, which changed nothing
//     there); a cache cannot tell, holding no client state.
// With filters (project, label selector), a sandbox that stops matching is DELETED and one
// that starts matching is ADDED for that stream, carrying the new state.
//
// Ordering guarantee: for one sandbox, states are delivered in the order they were
// recorded (intermediate states may be merged away, the latest never is, and a DELETED is
// always delivered); across sandboxes, in the order of each sandbox's first undelivered
// change.
//
// Slow consumers. Each subscription has a queue of at most `queue_capacity` distinct
// sandboxes (the initial state is not counted: it is a list of shared pointers). A newer
// change for a queued sandbox replaces the queued state in place:
//   MODIFIED + MODIFIED -> MODIFIED (newer state)   ADDED + MODIFIED -> ADDED (newer state)
//   MODIFIED + DELETED  -> DELETED                  ADDED + DELETED  -> dropped (the
//                                                    client never knew the sandbox)
//   DELETED + ADDED     -> both kept, in order (a recreated sandbox is a new sandbox).
// When a change for another sandbox would exceed the capacity, the queue collapses: it is
// dropped, the subscription stops queueing, and when the consumer next calls Next() it
// gets RESET, a fresh initial state (taken then) and INITIAL_STATE_COMPLETE. The cache
// never blocks on a subscriber and one subscriber never delays another.
//
// Fan-out cost: subscriptions are indexed by namespace and, when the filter names a
// sandbox, by that name; a change is offered (WatchSubscription::offered) only to the
// streams of its namespace without a name and to those of its own sandbox.
//
// Thread safety: SandboxCache and WatchSubscription are thread-safe. Inputs may come from
// several threads (one per Kind). A change is recorded under the cache mutex and offered
// to the subscriptions after it is released (under a publication mutex that keeps the
// sequence order), so Get, List and Subscribe do not wait while a change reaches
// thousands of streams. Lock order: cache, then publication, then subscription;
// callbacks (on_ready) run with no lock held.
#ifndef SANDBOXD_SERVICE_SANDBOX_CACHE_H_
#define SANDBOXD_SERVICE_SANDBOX_CACHE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/domain/label_selector.h"
#include "src/domain/sandbox.h"
#include "src/kube/objects.h"
#include "src/service/resume_token.h"
#include "src/service/version_gate.h"
#include "src/service/watch_subscription.h"

namespace sandboxd::service {

class SandboxCache {
 public:
  struct Options {
    domain::SandboxDefaults defaults;  // claim_bind_timeout, unschedulable_grace
    size_t history_capacity = 4096;    // changes kept for resuming (>= 1)
    size_t queue_capacity = 256;       // distinct sandboxes queued per subscription (>= 1)
    std::function<absl::Time()> clock = absl::Now;  // for status derivation of inputs
  };
  enum class Source { kStatefulSets, kPods, kClaims };

  struct Stats {
    size_t sandboxes = 0;      // with a StatefulSet
    size_t entries = 0;        // incl. pods/claims waiting for their StatefulSet
    size_t subscriptions = 0;  // open
    size_t history = 0;        // changes in the ring
    uint64_t sequence = 0;     // last assigned sequence number
    size_t approx_bytes = 0;   // store + history (states, encodings; estimate, see ApproxBytes)
    std::map<domain::Phase, size_t> by_phase;               // sandboxes
    std::map<domain::ErrorReason, size_t> by_error_reason;  // sandboxes in ERROR
    size_t queued_events = 0;     // pending in open subscriptions (WatchSubscription::pending)
    uint64_t merged_updates = 0;  // queued states replaced by a newer one (slow streams)
    uint64_t dropped_updates = 0;  // queued states dropped by a collapse (then RESET)
  };

  explicit SandboxCache(Options options);
  // Closes every subscription (as Shutdown()).
  ~SandboxCache();
  SandboxCache(const SandboxCache&) = delete;
  SandboxCache& operator=(const SandboxCache&) = delete;

  // ---- Inputs (from the reflectors; objects already decoded, any order across kinds,
  // in resourceVersion order within a kind). An object's resourceVersion is its
  // metadata.resourceVersion; a delete's is `rv`, the deletion's (0: unknown, then a
  // resumed watch on another replica may miss it).
  void ApplyStatefulSet(kube::StatefulSet sts);
  void DeleteStatefulSet(const std::string& ns, const std::string& name, uint64_t rv = 0);
  void ApplyPod(kube::Pod pod);
  void DeletePod(const std::string& ns, const std::string& name, uint64_t rv = 0);
  void ApplyClaim(kube::PersistentVolumeClaim claim);
  void DeleteClaim(const std::string& ns, const std::string& name, uint64_t rv = 0);
  // The initial list of `source` is complete. Idempotent.
  void MarkSynced(Source source);
  // True once all three sources are synced.
  bool synced() const;
  // Namespace `ns` has just become served: its objects are being listed, so until
  // SetNamespacePending(ns, false) the cache is not synced for it (reads of it are
  // UNAVAILABLE CACHE_NOT_SYNCED; callers go to the API server).
  void SetNamespacePending(const std::string& ns, bool pending);
  // synced() and `ns` not pending.
  bool synced(const std::string& ns) const;
  // Namespace `ns` is no longer served: drops every object of it, closes its watch
  // subscriptions (end_status NAMESPACE_NOT_SERVED) and makes every resume token issued
  // before now RESET in `ns`. No change is recorded; whether `ns` is pending, and its
  // progress scope, are left as they are. Input thread only (it edits the claim index).
  void ForgetNamespace(const std::string& ns);
  // Re-derives sandboxes whose phase depends on time (a claim Pending, a pod
  // Unschedulable) at `now`.
  void Tick(absl::Time now);
  // Every input of `source` up to resource version `rv` has been applied (after a watch
  // event or bookmark, and after a complete list, at its version), in progress scope
  // `scope` ("": the cluster-wide reflectors; a namespace with reflectors of its own, see
  // AddProgressScope). The first call per source and scope sets its floor (see the header
  // comment). Lower versions than the current one are ignored. Runs the waiters it
  // satisfies (WhenAt).
  void MarkProgress(Source source, uint64_t rv, const std::string& scope = "");
  // Namespace `ns` is fed by reflectors of its own (CacheFeed::Scope::kPerNamespace),
  // which report progress in scope `ns`. Idempotent.
  void AddProgressScope(const std::string& ns);
  // The progress scope of namespace `ns`: `ns` after AddProgressScope(ns), else "".
  std::string ScopeOf(const std::string& ns) const ABSL_LOCKS_EXCLUDED(mu_);
  // The progress of the scope of `ns`.
  Progress progress(const std::string& ns) const;

  // ---- Read-your-writes. Runs `reached(true)` once every StatefulSet change of `ns` up
  // to `version` (the resourceVersion a write answered with) has been applied, so that
  // every read after it reflects that write or something newer; `reached(false)` if the
  // cache shuts down first. See VersionGate for the thread it runs on.
  void WhenStatefulSetsAt(const std::string& ns, uint64_t version, VersionGate::Reached reached) {
    WhenAt(ns, Progress{{version, 0, 0}}, std::move(reached));
  }
  // As WhenStatefulSetsAt, for every kind of `target` in the scope of `ns`. Returns a
  // function that drops the wait if it has not been answered yet (`reached` then never
  // runs); call it when giving up, so that a version that never comes holds nothing.
  // The function must not be called after the cache is destroyed.
  std::function<void()> WhenAt(const std::string& ns, const Progress& target,
                               VersionGate::Reached reached);

  // ---- Reads. UNAVAILABLE (reason CACHE_NOT_SYNCED: retry shortly) until synced();
  // INVALID_ARGUMENT for an invalid namespace or name.
  // NOT_FOUND (SANDBOX_NOT_FOUND) if there is no StatefulSet `name` in `ns`.
  absl::StatusOr<domain::Sandbox> Get(const std::string& ns, const std::string& name) const;
  // The cached StatefulSet of sandbox `name`, trimmed (TrimStatefulSet), with the
  // resourceVersion it was cached at: the base of a write that depends on it (the
  // write carries that version as a precondition). Errors as Get.
  absl::StatusOr<kube::StatefulSet> GetStatefulSet(const std::string& ns,
                                                   const std::string& name) const;
  // Whether the cache holds claim `claim` of sandbox `name` (with or without its
  // StatefulSet). Only claims labelled managed-by=sandboxd are cached. False while not
  // synced.
  bool HasClaim(const std::string& ns, const std::string& name, const std::string& claim) const;
  // A claim of a sandbox that has no StatefulSet in the cache (StrayClaims).
  struct StrayClaim {
    std::string ns;
    std::string sandbox;  // the sandbox it belongs to (see "Ownership" above)
    std::string name;
    std::string uid;
    std::string resource_version;       // as cached
    std::optional<absl::Time> created;  // metadata.creationTimestamp
  };
  // The claims labelled managed-by=sandboxd, not kept (annotation sandboxd.dev/kept is not
  // "true") and without owner references, of sandboxes without a StatefulSet in the
  // cache, in the namespaces the cache is synced for (synced(ns)); sorted by namespace
  // and name. Claims without the managed-by label are never returned, whatever the claim
  // reflector watches. Costs the number of such claims, not of the cache's sandboxes.
  std::vector<StrayClaim> StrayClaims() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether claim `claim` of namespace `ns` exists and sandboxd did not make it (it lacks
  // the managed-by=sandboxd label), as of the cache. Errors as Get while not synced.
  absl::StatusOr<bool> IsForeignClaim(const std::string& ns, const std::string& claim) const;
  // Sandboxes of query.ns sorted by name, filtered by project and label selector (on the
  // StatefulSet labels), one page at a time. page_size 0: 50; capped at 500. page_token:
  // opaque (the last name returned); INVALID_ARGUMENT if malformed, or for a bad selector.
  absl::StatusOr<domain::ListResult> List(const domain::ListQuery& query) const;

  // ---- Watches.
  // Opens a stream (see the header comment). `on_ready` is invoked, with no lock held and
  // never from inside Next(), when Next() has an event after it last returned nullopt; it
  // may be invoked from any input thread, concurrently with itself and spuriously (Next()
  // then returns nullopt), and must not block. The events present when Subscribe returns
  // are not announced: call Next() once after subscribing.
  // Errors: INVALID_ARGUMENT (namespace, name, label_selector, malformed resume_token);
  // UNAVAILABLE CACHE_NOT_SYNCED; UNAVAILABLE CACHE_BEHIND if the token's position is
  // ahead of this cache (wait with WhenAt first); UNAVAILABLE after Shutdown().
  absl::StatusOr<std::shared_ptr<WatchSubscription>> Subscribe(
      const WatchFilter& filter, const std::string& resume_token,
      std::function<void()> on_ready);

  // Closes every subscription (pending events dropped; Next() returns nullopt, closed()
  // is true, last_token() is where the client resumes) and invokes on_ready of each
  // subscription waiting for events, and runs the read-your-writes waiters with false.
  // Later Subscribe calls are UNAVAILABLE; inputs and reads still work. Idempotent.
  void Shutdown();

  Stats stats() const;

 private:
  friend class WatchSubscription;
  struct Entry {
    std::optional<kube::StatefulSet> sts;  // trimmed
    std::optional<kube::Pod> pod;          // trimmed
    // Trimmed, by claim name: a sandbox may have a kept claim of another template too.
    std::map<std::string, kube::PersistentVolumeClaim> claims;
    internal::StatePtr state;              // last recorded; non-null iff sts
    Progress inputs;  // per kind, the highest resourceVersion applied to this entry
  };
  struct Change {
    uint64_t seq;
    WatchEvent::Type type;     // kAdded, kModified or kDeleted
    internal::StatePtr prev;   // before (null for kAdded)
    SharedSandboxPtr next;     // after (for kDeleted: the last known state)
    Progress inputs;           // the entry's inputs when recorded
    Progress progress;         // the scope's progress when recorded (before MarkProgress
                               // of the input that caused it)
    bool tick = false;         // recorded by Tick()
  };
  // The progress of one scope (see the header comment).
  struct Scope {
    Progress progress;
    Progress floor;
    std::array<bool, 3> floor_set{};
    std::array<VersionGate, 3> gates;  // progress per kind, for WhenAt
  };
  using Key = std::pair<std::string, std::string>;  // namespace, sandbox name
  using Notify = std::vector<std::shared_ptr<WatchSubscription>>;
  // The open subscriptions of one namespace.
  struct NamespaceSubs {
    Notify all;                                        // filters without a name
    absl::flat_hash_map<std::string, Notify> by_name;  // by WatchFilter::name
    // Those a change of sandbox `name` concerns, appended to `out`.
    void Matching(const std::string& name, Notify* out) const;
    // Every one of them (in no particular order).
    Notify Every() const;
    // Forgets `sub`; returns true when none is left.
    bool Remove(const WatchSubscription* sub);
  };
  // A recorded change with the subscriptions of its namespace at that moment, to be
  // offered to them once the cache mutex is released.
  struct Publication {
    Change change;
    Notify subs;
  };
  using Publications = std::vector<Publication>;

  // Applies `mutate` to the entry of `key` (created first if `create`; nothing happens
  // for a missing key otherwise), re-derives it and publishes the change, if any.
  // `source` and `rv`: the input's kind and resourceVersion (Entry::inputs).
  void ChangeEntry(const Key& key, bool create, Source source, uint64_t rv,
                   const std::function<void(Entry&)>& mutate) ABSL_LOCKS_EXCLUDED(mu_);
  // Re-derives `key` at `now` and records a change if its view changed (`tick`: only a
  // changed phase or error reason counts), appending it to `out`.
  void Update(const Key& key, absl::Time now, bool tick, Publications* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Record(WatchEvent::Type type, internal::StatePtr prev, internal::StatePtr state,
              const Progress& inputs, bool tick, Publications* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Scope& ScopeLocked(const std::string& scope) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a client at `at` has not seen (everything) `change` records.
  static bool Unseen(const Change& change, const Progress& at);
  // Releases mu_, then offers `out` in sequence order and wakes the subscriptions that
  // got an event. publish_mu_ is taken before mu_ is released, so publications never
  // overtake each other; readers (Get, List, Subscribe) do not wait for the offers.
  void PublishAndUnlock(Publications out) ABSL_UNLOCK_FUNCTION(mu_)
      ABSL_LOCKS_EXCLUDED(publish_mu_);
  // Offers one change to `sub`, translated for its filter.
  static bool OfferChange(WatchSubscription& sub, const Change& change);
  // The event `change` is for `sub`'s filter (nullopt: none). `known`: the client knows
  // the sandbox although the change is an ADDED (a resumed client that saw its
  // StatefulSet).
  static std::optional<WatchEvent::Type> Translate(const WatchSubscription& sub,
                                                   const Change& change, bool known);
  // Fills `sub` with a fresh initial state at the current sequence.
  void SnapshotInto(WatchSubscription& sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Called by WatchSubscription::Next() after a collapse (no subscription lock held).
  void Resnapshot(WatchSubscription& sub) ABSL_LOCKS_EXCLUDED(mu_);
  void Unsubscribe(WatchSubscription* sub) ABSL_LOCKS_EXCLUDED(mu_);
  static void Wake(const Notify& notify);
  // OK if the cache is synced for namespace `ns`.
  absl::Status CheckSynced(const std::string& ns) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a client at `at` in `ns` may have missed that `ns` was forgotten.
  bool ForgottenSince(const std::string& ns, const Progress& at) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string ScopeOfLocked(const std::string& ns) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The entry of sandbox `name` if it has a StatefulSet (then also a state), else null.
  const Entry* FindSandboxLocked(const std::string& ns, const std::string& name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const std::shared_ptr<internal::CacheLink> link_;

  mutable absl::Mutex mu_;
  absl::Mutex publish_mu_ ABSL_ACQUIRED_AFTER(mu_);  // held while offering a publication
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  size_t sandboxes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Change> history_ ABSL_GUARDED_BY(mu_);  // contiguous sequence numbers
  bool synced_sts_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_pods_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_claims_ ABSL_GUARDED_BY(mu_) = false;
  // (namespace, claim name) -> sandbox name, for DeleteClaim (which gets no labels).
  // Only the input thread uses it.
  std::map<Key, std::string> claim_owners_;
  // The claims StrayClaims may return (managed, not kept, no owner reference), by
  // (namespace, claim name), as StrayClaims returns them.
  std::map<Key, StrayClaim> unowned_claims_ ABSL_GUARDED_BY(mu_);
  // (namespace, claim name) of every claim without the managed-by=sandboxd label.
  std::set<Key> foreign_claims_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Namespaces served but not listed yet (SetNamespacePending).
  absl::flat_hash_set<std::string> pending_namespaces_ ABSL_GUARDED_BY(mu_);
  // Namespace -> its scope's progress when it was last forgotten: a token that does not
  // go beyond it in StatefulSets (issued before) RESETs.
  absl::flat_hash_map<std::string, Progress> forgotten_at_ ABSL_GUARDED_BY(mu_);
  // Namespaces with a progress scope of their own (AddProgressScope).
  absl::flat_hash_set<std::string> own_scopes_ ABSL_GUARDED_BY(mu_);
  // By scope name; never erased (WhenAt uses a gate after releasing mu_).
  std::map<std::string, std::unique_ptr<Scope>> scopes_ ABSL_GUARDED_BY(mu_);
  // Open subscriptions by namespace, and within it by the sandbox name of the filter: a
  // change is offered to the namespace's streams without a name and to those of its
  // sandbox, never scanning the others.
  absl::flat_hash_map<std::string, NamespaceSubs> subs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_SANDBOX_CACHE_H_
