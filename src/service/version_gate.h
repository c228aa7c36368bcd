// VersionGate: "has the watch cache caught up with resource version N yet?" — the wait
// behind read-your-writes. A Kubernetes write answers with the object's new
// resourceVersion; the watch that feeds the cache delivers events in resourceVersion
// order, so once the cache has applied an event (or bookmark, or list) at or past that
// version, every read of the cache reflects the write or something newer.
//
// Resource versions are compared as unsigned integers: the API server derives them from
// etcd revisions, and Kubernetes 1.35+ documents them as comparable integers.
//
// Thread-safe. Callbacks run with no lock held, on the thread that calls Advance() or
// Close(), or inline in WhenReached(); they must not block.
#ifndef SANDBOXD_SERVICE_VERSION_GATE_H_
#define SANDBOXD_SERVICE_VERSION_GATE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sandboxd::service {

class VersionGate {
 public:
  // Called with true once the gate has reached the awaited version, or with false when
  // the gate closes first. Exactly once either way.
  using Reached = std::function<void(bool reached)>;
  // Names a waiter for Cancel; 0 names none.
  using Ticket = uint64_t;

  VersionGate() = default;
  ~VersionGate();  // Close()
  VersionGate(const VersionGate&) = delete;
  VersionGate& operator=(const VersionGate&) = delete;

  // Everything up to `version` has been applied. Versions lower than the current one are
  // ignored (a relist may report an older list version than the last event). Runs the
  // waiters whose version is now reached.
  void Advance(uint64_t version);

  // Runs `reached(true)` once Advance() has reached `version` (inline if it already has),
  // or `reached(false)` if the gate is closed first (inline if it already is). Returns
  // the waiter's ticket, 0 if `reached` ran inline.
  Ticket WhenReached(uint64_t version, Reached reached);

  // Drops the waiter `ticket` unless its callback already started (then it runs as
  // usual): a waiter for a version that may never come must not stay forever.
  void Cancel(Ticket ticket);

  // Runs every waiter with false; later WhenReached calls get false at once. Idempotent.
  void Close();

  uint64_t version() const;

  // A resourceVersion as an integer; nullopt if it is not one (then nothing can be
  // awaited).
  static std::optional<uint64_t> Parse(std::string_view resource_version);

 private:
  mutable absl::Mutex mu_;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  Ticket last_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  struct Waiter {
    Ticket ticket;
    Reached reached;
  };
  std::multimap<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);  // by version
  std::map<Ticket, uint64_t> versions_ ABSL_GUARDED_BY(mu_);      // of each waiter
};

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_VERSION_GATE_H_
