// Reflector: keeps a sink in step with one kind of Kubernetes object (all namespaces or
// one, one label selector) by list + watch, the way client-go's reflector does.
//
// Loop:
//   LIST   pages of `page_size` at resourceVersion "" (a consistent read, see below),
//          following metadata.continue; every object goes to OnUpsert. A continue token
//          that expired (410) restarts the list from the first page at once. When the
//          last page has arrived, every key the sink held before but this list did not
//          contain gets a synthetic OnDelete, then OnSynced.
//   WATCH  from the list's resourceVersion, allowWatchBookmarks=true, timeoutSeconds
//          uniform in [min_watch_timeout, max_watch_timeout]. ADDED/MODIFIED -> OnUpsert,
//          DELETED -> OnDelete (at the event's RV); every event, BOOKMARK included, advances the
//          tracked RV. Ended OK (server timeout) -> watch again from the last RV. Ended
//          OUT_OF_RANGE (410: RV too old) -> LIST again (counted in relists_after_410), with
//          synthetic deletes as above. Any other end -> back off, then watch again from the last
//          RV.
//   FAILURES (list errors, watch errors, an undecodable event, and a watch that ends,
//          even OK or 410, in under `short_watch` without a single event) back off:
//          `backoff` (800 ms doubling, jitter 1.0, cap 30 s), the attempt counter reset
//          after `backoff_reset_after` (2 min) without a failure. After a backoff the
//          reflector lists again if the last list failed or the RV is unusable (410),
//          else it watches from the last RV. Timers run on the client's loop
//          (KubeClient::RunAfter); no thread ever sleeps.
//
// Why LIST at RV "" and not "0" first: sandboxd gates readiness on OnSynced and then
// answers reads from the sink. RV "0" may be served by a stale watch cache (older than
// writes sandboxd already made) and ignores `limit` there; a consistent read cannot be
// older, pages properly, and costs one etcd read per (re)list, which happens only at start
// and after a 410. Because the list is consistent there is no "RV too large" fallback.
// Not implemented: the streaming list (sendInitialEvents, KEP-3157).
//
// Objects handed to OnUpsert always carry "apiVersion" and "kind" (added to list items,
// which the API server sends without them). Each event's and each list page's JSON is
// parsed once: the reflector reads the metadata of the parsed object and hands that same
// object on (a list item shares its page's document). The reflector keeps only the set of
// "namespace/name" keys it has delivered, never the objects.
//
// Flow control. When the sink reports no room (ReflectorSink::HasRoom) the reflector
// stops reading: during a watch it ends the watch at once (events the client had already
// decoded are ignored, not delivered) and, on Resume(), watches again from the version of
// the last event delivered; during a list it requests the next page on Resume(); after a
// complete list it begins the watch on Resume(). So no event is dropped (a resume that is
// too late for the watch cache gets 410 and relists, as above) and no thread blocks. At
// most one watch event or one list page is delivered after HasRoom() first says false.
//
// Sink calls are serialised (never concurrent) and, with CurlKubeClient, run on its I/O
// thread: they must not block. They may call Stop() and Stats().
//
// Logging (spdlog): info for each list, watch, relist and backoff, with the plural of the
// kind and the RV; warn for failures.
//
// Thread-safe: Start, Stop, Stats and HasSynced may be called from any thread.
#ifndef SANDBOXD_KUBE_REFLECTOR_H_
#define SANDBOXD_KUBE_REFLECTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/kube/backoff.h"
#include "src/kube/json_object.h"
#include "src/kube/kube_client.h"

namespace sandboxd::kube {

// Receives the reflected state. Calls never overlap; see Reflector for the thread.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  // ADDED/MODIFIED events and every object of a (re)list, in arrival order. The object may
  // be unchanged since the last call (lists repeat everything). It is parsed already
  // (json_object.h): decode it with FromObject, and keep a copy (cheap, shared) to decode
  // it later on another thread.
  virtual void OnUpsert(const JsonObject& object) = 0;
  // DELETED events, and synthetic deletes after a relist for keys that are gone.
  // `ns` is "" for cluster-scoped objects. `resource_version`: the deletion's (a DELETED
  // event's object carries it), or the list's for a synthetic delete.
  virtual void OnDelete(const std::string& ns, const std::string& name,
                        const std::string& resource_version) = 0;
  // After each complete (re)list has been delivered (including its synthetic deletes).
  virtual void OnSynced() = 0;
  // Everything up to `resource_version` has been delivered: after each complete (re)list
  // (its list version, after OnSynced) and after each watch event, bookmarks included
  // (the event's version). Versions never decrease within one list + watch cycle; a
  // relist may report a lower one than the last event.
  virtual void OnProgress(const std::string& resource_version) {}
  // Flow control: asked after each watch event, after each list page that has a next
  // page, and after a complete list. False pauses the reflector before its next read
  // (see Reflector, "Flow control") until Reflector::Resume(). Must not block.
  virtual bool HasRoom() { return true; }
};

struct ReflectorOptions {
  Kind kind = Kind::kStatefulSet;
  std::string ns;              // "" = all namespaces (and cluster-scoped kinds)
  std::string label_selector;  // "" = everything
  int64_t page_size = 500;
  absl::Duration list_page_timeout = absl::Seconds(60);  // deadline of each LIST page
  absl::Duration min_watch_timeout = absl::Minutes(5);
  absl::Duration max_watch_timeout = absl::Minutes(10);
  Backoff::Options backoff{absl::Milliseconds(800), absl::Seconds(30), 2.0, 1.0};
  absl::Duration backoff_reset_after = absl::Minutes(2);
  absl::Duration short_watch = absl::Seconds(1);
  // Uniform [0, 1) source for backoff jitter and watch timeouts; null: a seeded PRNG.
  // Called with the reflector's lock held, from client threads.
  std::function<double()> uniform01;
  // Clock for backoff reset and short-watch detection; null: absl::Now.
  std::function<absl::Time()> clock;
};

// Counters for tests and metrics; a consistent snapshot.
struct ReflectorStats {
  int64_t lists = 0;              // lists started from the first page (any reason)
  int64_t list_pages = 0;         // LIST responses delivered to the sink
  int64_t watches_started = 0;
  int64_t relists_after_410 = 0;  // watches ended by 410 that led to a relist
  int64_t backoffs = 0;           // failures that scheduled a backoff
  int64_t events = 0;             // watch events received, bookmarks included
  int64_t pauses = 0;             // times the sink had no room (flow control)
  bool paused = false;            // waiting for Resume()
  std::string last_resource_version;  // of the last list or event
  absl::Duration last_backoff;    // the most recent backoff delay
  absl::Status last_error;        // the most recent failure (OK if none)
  bool synced = false;            // a complete list has been delivered (stays true)
};

class Reflector {
 public:
  // `client` and `sink` are not owned. `sink` must outlive Stop() (or the destructor).
  // `client` must outlive the Reflector and every callback the Reflector has pending in
  // it: with CurlKubeClient, destroy (or Stop) the Reflector before the client; the
  // client's shutdown then drops or cancels what is left.
  Reflector(KubeClient* client, ReflectorSink* sink, ReflectorOptions options);
  // Calls Stop(). Must not run inside a sink call.
  ~Reflector();

  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Begins the first LIST (asynchronously). Idempotent; does nothing after Stop().
  void Start();

  // Abandons what is in flight (a list, a watch, a backoff) and lists again from the
  // first page at once, with synthetic deletes as after a 410. Returns the number (as
  // ReflectorStats::lists counts them) of the list it began: a sink that reads
  // Stats().lists in OnSynced knows the list it is told about began after this call when
  // that number is >= the one returned. Returns 0 (and does nothing) before Start() or
  // after Stop(). Must not be called from inside a sink call of this reflector.
  int64_t Relist();

  // Continues a reflector paused by flow control (see the header comment); nothing
  // happens if it is not paused, or after Stop(). Any thread, but not from inside a sink
  // call of this reflector (it takes the lock held across sink calls).
  void Resume();

  // Ends the loop: cancels the pending LIST, stops the watch, ignores pending timers.
  // Guarantee: no sink call starts after Stop() returns, and, when called from another
  // thread, none is running either (Stop waits for a running sink call to return, so it
  // must not be called while holding a lock the sink takes). When called from inside a
  // sink call, that call is the last one. Idempotent; never blocks on I/O.
  void Stop();

  ReflectorStats Stats() const;
  bool HasSynced() const { return Stats().synced; }

 private:
  class Core;
  // Shared with the callbacks pending in the client, which may run after this object is
  // gone (they then do nothing).
  std::shared_ptr<Core> core_;
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_REFLECTOR_H_
