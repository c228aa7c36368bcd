// LeaderElector: one leader among the processes that share a coordination.k8s.io/v1 Lease,
// for work that must run once per cluster. The semantics are client-go's leaderelection:
//
//   Record    Lease spec: holderIdentity, leaseDurationSeconds, acquireTime, renewTime,
//             leaseTransitions (+1 whenever the holder changes).
//   Expiry    judged by the local clock only: a Lease held by another is free once
//             leaseDurationSeconds (the record's; the options' if absent) have passed
//             since this process last saw the record change (a new resourceVersion).
//             renewTime is written but never trusted across clocks. An empty
//             holderIdentity (a released Lease) is free at once.
//   Acquire   GET; absent -> POST; free or ours -> PUT carrying the resourceVersion read
//             (optimistic concurrency: of two candidates, one gets 409 and stays a
//             candidate). Candidates try every retry_period * (1 + retry_jitter * U[0,1)),
//             and also just when the observed holder's lease would expire.
//   Renew     the leader PUTs its cached Lease every retry_period; a conflict re-reads it.
//             The leader stops leading (on_stopped_leading) as soon as it sees another
//             holder, and at the latest renew_deadline after the send time of its last
//             successful write, whether or not a request is still in flight (a timer).
//             Another candidate can take over no earlier than lease_duration after it
//             saw that write, which happened after it was sent: with clocks running at
//             the same rate there are never two leaders (margin lease_duration -
//             renew_deadline). After losing, the elector is a candidate again.
//             Not covered: deleting a held Lease. A candidate that finds none creates it
//             and leads at once; the old leader notices at its next renewal (404) and
//             stops then, so both lead for up to retry_period.
//   Release   with release_on_stop, Stop() by the leader writes holderIdentity "" (and
//             leaseDurationSeconds 1), after on_stopped_leading has returned, so another
//             candidate takes over at its next try instead of after the lease duration.
//
// Callbacks (on_started_leading, on_stopped_leading) alternate, starting with
// on_started_leading, and never overlap. They run on the client's I/O thread (or on the
// thread calling Stop) without any lock of the elector held: they must not block. They
// may call IsLeader, Leader and Stop.
//
// Calls sent: Get, Create and Replace of Kind::kLease, and RunAfter timers. RBAC: get,
// create and update on leases in the namespace.
//
// Thread-safe: every method may be called from any thread.
#ifndef SANDBOXD_KUBE_LEADER_ELECTION_H_
#define SANDBOXD_KUBE_LEADER_ELECTION_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/kube/kube_client.h"

namespace sandboxd::kube {

struct LeaderElectionOptions {
  std::string lease_namespace;  // the Lease's namespace (required)
  std::string lease_name;       // the Lease's name (required)
  std::string identity;         // this process, unique among candidates (required)
  // How long a candidate waits after the record last changed before taking it over.
  absl::Duration lease_duration = absl::Seconds(15);
  // The leader stops leading when no write has succeeded for this long (< lease_duration).
  absl::Duration renew_deadline = absl::Seconds(10);
  // Between attempts (the leader's renewals; candidates add jitter).
  absl::Duration retry_period = absl::Seconds(2);
  // Candidates wait retry_period * (1 + retry_jitter * U[0,1)) between attempts.
  double retry_jitter = 1.2;
  // Stop() by the leader clears holderIdentity so that another candidate takes over at once.
  bool release_on_stop = false;
  std::function<void()> on_started_leading;  // may be empty
  std::function<void()> on_stopped_leading;  // may be empty
  // Tests: the clock (null: absl::Now) and the uniform [0, 1) jitter source (null: a
  // seeded PRNG). Called with the elector's lock held.
  std::function<absl::Time()> clock;
  std::function<double()> uniform01;
};

class LeaderElector {
 public:
  // INVALID_ARGUMENT, naming the option, when a required string is empty, lease_duration
  // is not a whole number of seconds >= 1 (the Lease carries seconds), retry_period is
  // not positive, renew_deadline >= lease_duration, retry_jitter < 0, or renew_deadline <=
  // retry_period * (1 + retry_jitter) (a leader would get too few tries).
  // `client` is not owned; it must outlive the elector and every callback the elector has
  // pending in it (with CurlKubeClient: destroy the elector first).
  static absl::StatusOr<std::unique_ptr<LeaderElector>> Create(KubeClient* client,
                                                               LeaderElectionOptions options);
  // Calls Stop().
  ~LeaderElector();

  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Begins the first attempt (asynchronously). Idempotent; does nothing after Stop().
  void Start();

  // Ends the election; idempotent. If leading, on_stopped_leading has run when Stop
  // returns (called from inside a callback: right after that callback returns). With
  // release_on_stop, Stop then waits for the attempt in flight (cancelled) and, if the
  // Lease last seen names this process, releases it; it returns once that is answered
  // (at most renew_deadline; at once when called from a callback). No callback starts
  // after Stop returns, except as just said.
  void Stop();

  // True while leading: on_started_leading has been decided and renew_deadline has not
  // passed since the last successful write.
  bool IsLeader() const;
  // The holderIdentity last seen ("" before the first read or when released).
  std::string Leader() const;

 private:
  class Core;
  explicit LeaderElector(std::shared_ptr<Core> core);
  // Shared with the callbacks pending in the client, which may run after this object is
  // gone (they then do nothing).
  std::shared_ptr<Core> core_;
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_LEADER_ELECTION_H_
