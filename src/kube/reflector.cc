#include "src/kube/reflector.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rapidjson/document.h"
#include "spdlog/spdlog.h"
#include "src/kube/json_object_rapidjson.h"
#include "src/kube/kube_request.h"

namespace sandboxd::kube {
namespace {

std::string StringAt(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

const rapidjson::Value& Metadata(const rapidjson::Value& obj) {
  static const rapidjson::Value kNull;
  if (!obj.IsObject()) return kNull;
  auto it = obj.FindMember("metadata");
  return it == obj.MemberEnd() ? kNull : it->value;
}

std::string Key(const std::string& ns, const std::string& name) {
  return absl::StrCat(ns, "/", name);
}

}  // namespace

// The loop. Every transition runs with mu_ held and returns the one client operation to
// issue next, which is issued after mu_ is released (a client may run callbacks inline or
// on another thread at once). Each operation carries a generation; callbacks of an older
// generation, and every callback after Stop, are ignored.
// Thread-safe.
class Reflector::Core : public std::enable_shared_from_this<Core> {
 public:
  Core(KubeClient* client, ReflectorSink* sink, ReflectorOptions options)
      : client_(client),
        sink_(sink),
        options_(std::move(options)),
        plural_(options_.ns.empty()
                    ? std::string(ResourceFor(options_.kind).plural)
                    : absl::StrCat(options_.ns, "/", ResourceFor(options_.kind).plural)),
        api_version_(ResourceFor(options_.kind).group.empty()
                         ? std::string(ResourceFor(options_.kind).version)
                         : absl::StrCat(ResourceFor(options_.kind).group, "/",
                                        ResourceFor(options_.kind).version)),
        uniform01_(options_.uniform01),
        clock_(options_.clock ? options_.clock : [] { return absl::Now(); }),
        backoff_(options_.backoff, nullptr) {
    if (!uniform01_) {
      // shared_ptr: std::function requires a copyable callable.
      auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
      uniform01_ = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
    }
    backoff_ = Backoff(options_.backoff, uniform01_);
  }

  void Start() {
    Next next;
    {
      absl::MutexLock lock(&mu_);
      if (started_ || stopped_.load()) return;
      started_ = true;
      next = BeginList("initial");
    }
    Issue(std::move(next));
  }

  void Stop() {
    if (delivering_.load() == std::this_thread::get_id()) {
      // Inside a sink call: this thread holds mu_ in a callback frame, which sees the
      // flag after the sink returns and tears down before releasing mu_.
      stopped_.store(true);
      return;
    }
    std::unique_ptr<WatchHandle> watch;
    {
      absl::MutexLock lock(&mu_);  // waits for a running sink call
      if (stopped_.load()) return;
      stopped_.store(true);
      watch = TearDownLocked();
    }
    if (watch) watch->Stop();
    spdlog::info("reflector {}: stopped", plural_);
  }

  int64_t Relist() {
    Next next;
    std::unique_ptr<WatchHandle> watch;
    int64_t number = 0;
    {
      absl::MutexLock lock(&mu_);
      if (!started_ || stopped_.load()) return 0;
      watch = TearDownLocked();
      next = BeginList("requested");
      absl::MutexLock stats_lock(&stats_mu_);
      number = stats_.lists;
    }
    if (watch) watch->Stop();
    Issue(std::move(next));
    return number;
  }

  void Resume() {
    Next next;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_.load() || paused_ == Paused::kNo) return;
      spdlog::info("reflector {}: resumed at RV '{}'", plural_, rv_);
      next = paused_ == Paused::kWatch ? BeginWatch() : ListPage(continue_);
      Unpause();
    }
    Issue(std::move(next));
  }

  ReflectorStats Stats() const {
    absl::MutexLock lock(&stats_mu_);
    return stats_;
  }

 private:
  enum class Op { kNone, kList, kWatch, kTimer, kPause };
  // What a paused reflector reads when resumed.
  enum class Paused { kNo, kWatch, kListPage };
  // The client operation a transition asks for.
  struct Next {
    Op op = Op::kNone;
    uint64_t gen = 0;
    ListOptions list;
    WatchOptions watch;
    absl::Duration delay;
    std::shared_ptr<CancellationToken> cancel;
  };

  // Marks the current thread as running a callback frame (for re-entrant Stop).
  class Frame {
   public:
    explicit Frame(Core* core) : core_(core) { core_->delivering_.store(std::this_thread::get_id()); }
    ~Frame() { core_->delivering_.store(std::thread::id()); }

   private:
    Core* const core_;
  };

  // --- callbacks (any thread; client-issued) ---

  void OnListPage(uint64_t gen, absl::StatusOr<std::string> body) {
    Next next;
    std::unique_ptr<WatchHandle> dead;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_.load() || gen != gen_) return;
      Frame frame(this);
      next = ListPageLocked(std::move(body));
      if (stopped_.load()) {
        dead = TearDownLocked();
        next = Next();
      }
    }
    if (dead) dead->Stop();
    Issue(std::move(next));
  }

  void OnWatchEvent(uint64_t gen, WatchEvent event) {
    Next next;
    std::unique_ptr<WatchHandle> dead;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_.load() || gen != gen_) return;
      Frame frame(this);
      next = WatchEventLocked(std::move(event));
      if (stopped_.load()) {
        dead = TearDownLocked();
        next = Next();
      } else if (next.op != Op::kNone) {
        dead = std::move(watch_);  // the event ended this watch (its on_done is now stale)
      }
    }
    if (dead) dead->Stop();
    Issue(std::move(next));
  }

  void OnWatchDone(uint64_t gen, absl::Status status) {
    Next next;
    std::unique_ptr<WatchHandle> dead;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_.load() || gen != gen_) return;
      dead = std::move(watch_);
      next = WatchDoneLocked(std::move(status));
    }
    Issue(std::move(next));
  }

  void OnTimer(uint64_t gen) {
    Next next;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_.load() || gen != gen_) return;
      if (need_relist_ || rv_.empty()) {
        next = BeginList("after backoff");
      } else {
        next = BeginWatch();
      }
    }
    Issue(std::move(next));
  }

  // --- transitions (mu_ held) ---

  Next BeginList(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Unpause();
    need_relist_ = false;
    listed_.clear();
    list_cancel_ = std::make_shared<CancellationToken>();
    {
      absl::MutexLock lock(&stats_mu_);
      ++stats_.lists;
    }
    spdlog::info("reflector {}: list ({}), last RV '{}', selector '{}'", plural_, std::string(why), rv_,
                 options_.label_selector);
    return ListPage("");
  }

  Next ListPage(std::string continue_token) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    continue_ = std::move(continue_token);
    Next next;
    next.op = Op::kList;
    next.gen = ++gen_;
    next.list.label_selector = options_.label_selector;
    next.list.limit = options_.page_size;
    next.list.continue_token = continue_;
    next.cancel = list_cancel_;
    return next;
  }

  Next ListPageLocked(absl::StatusOr<std::string> body) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!body.ok()) {
      if (body.status().code() == absl::StatusCode::kOutOfRange && !continue_.empty()) {
        spdlog::info("reflector {}: continue token expired (410), listing again from the start",
                     plural_);
        return BeginList("continue token expired");
      }
      return Failure(body.status(), /*relist=*/true, "list");
    }
    // The one parse of this page: its items are handed on as parts of this document.
    auto page = std::make_shared<rapidjson::Document>();
    rapidjson::Document& doc = *page;
    doc.Parse(body->data(), body->size());
    auto items = doc.IsObject() ? doc.FindMember("items") : doc.MemberEnd();
    std::string rv = StringAt(Metadata(doc), "resourceVersion");
    if (doc.HasParseError() || !doc.IsObject() || rv.empty() ||
        (items != doc.MemberEnd() && !items->value.IsArray())) {
      return Failure(absl::InternalError(absl::StrCat("list ", plural_,
                                                       ": undecodable response")),
                     /*relist=*/true, "list");
    }
    {
      absl::MutexLock lock(&stats_mu_);
      ++stats_.list_pages;
    }
    std::vector<JsonObject> objects;
    if (items != doc.MemberEnd()) {
      for (auto& item : items->value.GetArray()) {
        if (!item.IsObject()) continue;
        std::string ns = StringAt(Metadata(item), "namespace");
        std::string name = StringAt(Metadata(item), "name");
        if (name.empty()) {
          spdlog::warn("reflector {}: list item without metadata.name skipped", plural_);
          continue;
        }
        if (!item.HasMember("kind")) {
          const absl::string_view kind = ResourceFor(options_.kind).kind;
          item.AddMember("kind",
                         rapidjson::Value(kind.data(), static_cast<rapidjson::SizeType>(kind.size()),
                                          doc.GetAllocator()),
                         doc.GetAllocator());
        }
        if (!item.HasMember("apiVersion")) {
          item.AddMember("apiVersion", rapidjson::Value(api_version_.c_str(), doc.GetAllocator()),
                         doc.GetAllocator());
        }
        std::string key = Key(ns, name);
        known_.insert(key);
        listed_.insert(std::move(key));
        objects.push_back(internal::JsonObjectAccess::Make(page, &item));
      }
    }
    // The page is complete (no more changes to its document) before anything is shared.
    for (const JsonObject& object : objects) {
      sink_->OnUpsert(object);
      if (stopped_.load()) return Next();
    }
    std::string next_token = StringAt(Metadata(doc), "continue");
    if (!next_token.empty()) {
      if (!sink_->HasRoom()) {
        continue_ = std::move(next_token);
        return Pause(Paused::kListPage);
      }
      return ListPage(std::move(next_token));
    }

    // Complete: synthetic deletes for keys that are gone, then synced.
    size_t deleted = 0;
    std::vector<std::string> gone;
    for (const std::string& key : known_) {
      if (listed_.count(key) == 0) gone.push_back(key);
    }
    std::sort(gone.begin(), gone.end());  // deterministic order
    known_.swap(listed_);
    listed_.clear();
    for (const std::string& key : gone) {
      size_t slash = key.find('/');
      ++deleted;
      sink_->OnDelete(key.substr(0, slash), key.substr(slash + 1), rv);
      if (stopped_.load()) return Next();
    }
    rv_ = rv;
    list_cancel_.reset();
    {
      absl::MutexLock lock(&stats_mu_);
      stats_.synced = true;
      stats_.last_resource_version = rv;
    }
    spdlog::info("reflector {}: listed {} objects at RV {} ({} synthetic deletes)", plural_,
                 known_.size(), rv, deleted);
    sink_->OnSynced();
    if (stopped_.load()) return Next();
    sink_->OnProgress(rv);
    if (stopped_.load()) return Next();
    if (!sink_->HasRoom()) return Pause(Paused::kWatch);
    return BeginWatch();
  }

  Next BeginWatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Unpause();
    double u = std::clamp(uniform01_(), 0.0, 1.0);
    absl::Duration timeout =
        options_.min_watch_timeout + (options_.max_watch_timeout - options_.min_watch_timeout) * u;
    Next next;
    next.op = Op::kWatch;
    next.gen = ++gen_;
    next.watch.label_selector = options_.label_selector;
    next.watch.resource_version = rv_;
    next.watch.allow_bookmarks = true;
    next.watch.timeout_seconds = std::max<int64_t>(1, absl::ToInt64Seconds(timeout));
    watch_started_at_ = clock_();
    watch_events_ = 0;
    {
      absl::MutexLock lock(&stats_mu_);
      ++stats_.watches_started;
    }
    spdlog::info("reflector {}: watch from RV {} (timeoutSeconds {})", plural_, rv_,
                 next.watch.timeout_seconds);
    return next;
  }

  Next WatchEventLocked(WatchEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++watch_events_;
    // Parsed by the decoder: only its metadata is read here.
    std::string rv(event.object.resource_version());
    std::string ns(event.object.ns());
    std::string name(event.object.name());
    if (event.object.null() || rv.empty() ||
        (event.type != WatchEvent::Type::kBookmark && name.empty())) {
      // Not applied and the RV not advanced: the re-watch delivers it again.
      return Failure(absl::InternalError(absl::StrCat("watch ", plural_,
                                                      ": event without metadata")),
                     /*relist=*/false, "watch event");
    }
    switch (event.type) {
      case WatchEvent::Type::kAdded:
      case WatchEvent::Type::kModified:
        known_.insert(Key(ns, name));
        sink_->OnUpsert(event.object);
        break;
      case WatchEvent::Type::kDeleted:
        known_.erase(Key(ns, name));
        sink_->OnDelete(ns, name, rv);
        break;
      case WatchEvent::Type::kBookmark:
        break;
    }
    if (!stopped_.load()) sink_->OnProgress(rv);
    rv_ = rv;
    {
      absl::MutexLock lock(&stats_mu_);
      ++stats_.events;
      stats_.last_resource_version = rv;
    }
    // Stop reading: end this watch (its later events are ignored) and watch again from
    // rv_ on Resume(), so nothing is dropped.
    if (!stopped_.load() && !sink_->HasRoom()) return Pause(Paused::kWatch);
    return Next();
  }

  // The sink is full: nothing more is read until Resume(). The caller ends the watch (the
  // returned op is not kNone) and issues nothing.
  Next Pause(Paused what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    paused_ = what;
    ++gen_;  // callbacks of the watch or list that was current are stale now
    {
      absl::MutexLock lock(&stats_mu_);
      ++stats_.pauses;
      stats_.paused = true;
    }
    spdlog::info("reflector {}: the sink is full; paused at RV '{}' before the next {}", plural_,
                 rv_, what == Paused::kWatch ? "watch" : "list page");
    Next next;
    next.op = Op::kPause;
    return next;
  }

  Next WatchDoneLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::Duration lived = clock_() - watch_started_at_;
    bool very_short = lived < options_.short_watch && watch_events_ == 0;
    if (status.code() == absl::StatusCode::kOutOfRange) {
      {
        absl::MutexLock lock(&stats_mu_);
        ++stats_.relists_after_410;
      }
      spdlog::info("reflector {}: watch from RV {} expired (410): {}; relisting", plural_, rv_,
                   std::string(status.message()));
      if (very_short) return Failure(status, /*relist=*/true, "very short watch");
      return BeginList("RV expired (410)");
    }
    if (status.ok()) {
      if (very_short) {
        return Failure(absl::UnavailableError(absl::StrCat(
                           "very short watch: ended after ", absl::FormatDuration(lived),
                           " without events")),
                       /*relist=*/false, "watch");
      }
      spdlog::debug("reflector {}: watch ended normally after {} events at RV {}", plural_,
                    watch_events_, rv_);
      return BeginWatch();
    }
    return Failure(status, /*relist=*/false, "watch");
  }

  // Schedules a backoff; the timer then lists (relist or RV unusable) or watches.
  Next Failure(absl::Status status, bool relist, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::Time now = clock_();
    if (now - last_failure_at_ >= options_.backoff_reset_after) failures_ = 0;
    absl::Duration delay = backoff_.Delay(failures_);
    ++failures_;
    last_failure_at_ = now;
    need_relist_ = need_relist_ || relist;
    list_cancel_.reset();
    {
      absl::MutexLock lock(&stats_mu_);
      ++stats_.backoffs;
      stats_.last_backoff = delay;
      stats_.last_error = status;
    }
    spdlog::warn("reflector {}: {} failed: {}; backing off {} (attempt {}), then {} at RV '{}'",
                 plural_, std::string(what), status.ToString(), absl::FormatDuration(delay), failures_,
                 (need_relist_ || rv_.empty()) ? "list" : "watch", rv_);
    Next next;
    next.op = Op::kTimer;
    next.gen = ++gen_;
    next.delay = delay;
    return next;
  }

  void Unpause() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (paused_ == Paused::kNo) return;
    paused_ = Paused::kNo;
    absl::MutexLock lock(&stats_mu_);
    stats_.paused = false;
  }

  // Cancels what is in flight; the caller stops the returned watch after unlocking.
  std::unique_ptr<WatchHandle> TearDownLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++gen_;
    if (list_cancel_) list_cancel_->Cancel();
    list_cancel_.reset();
    return std::move(watch_);
  }

  // --- issuing (mu_ not held) ---

  void Issue(Next next) ABSL_LOCKS_EXCLUDED(mu_) {
    std::shared_ptr<Core> self = shared_from_this();
    uint64_t gen = next.gen;
    CallOptions call;
    call.request_id = absl::StrCat("reflector/", plural_);
    switch (next.op) {
      case Op::kNone:
      case Op::kPause: return;
      case Op::kList:
        call.deadline = absl::Now() + options_.list_page_timeout;
        call.cancel = next.cancel;
        client_->List(options_.kind, options_.ns, next.list, call,
                      [self, gen](absl::StatusOr<std::string> body) {
                        self->OnListPage(gen, std::move(body));
                      });
        return;
      case Op::kWatch: {
        std::unique_ptr<WatchHandle> handle = client_->Watch(
            options_.kind, options_.ns, next.watch, call,
            [self, gen](WatchEvent event) { self->OnWatchEvent(gen, std::move(event)); },
            [self, gen](absl::Status status) { self->OnWatchDone(gen, std::move(status)); });
        {
          absl::MutexLock lock(&mu_);
          // Still current unless it already ended or Stop() ran meanwhile.
          if (!stopped_.load() && gen == gen_) {
            watch_ = std::move(handle);
            return;
          }
        }
        handle->Stop();
        return;
      }
      case Op::kTimer: {
        absl::Status scheduled =
            client_->RunAfter(next.delay, [self, gen] { self->OnTimer(gen); });
        if (!scheduled.ok()) {
          spdlog::error("reflector {}: cannot schedule the backoff timer, stalled: {}", plural_,
                        scheduled.ToString());
          absl::MutexLock lock(&stats_mu_);
          stats_.last_error = scheduled;
        }
        return;
      }
    }
  }

  KubeClient* const client_;  // not owned
  ReflectorSink* const sink_;  // not owned
  const ReflectorOptions options_;
  const std::string plural_;  // for logs: "<plural>" or "<namespace>/<plural>"
  const std::string api_version_;

  // Set under mu_, or by the thread inside a callback frame (which holds mu_); read
  // anywhere.
  std::atomic<bool> stopped_{false};
  // The thread running a callback frame (holding mu_), if any.
  std::atomic<std::thread::id> delivering_{std::thread::id()};

  absl::Mutex mu_;  // held across sink calls
  std::function<double()> uniform01_ ABSL_GUARDED_BY(mu_);
  const std::function<absl::Time()> clock_;
  Backoff backoff_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t gen_ ABSL_GUARDED_BY(mu_) = 0;
  std::string rv_ ABSL_GUARDED_BY(mu_);  // last known RV ("" before the first list)
  bool need_relist_ ABSL_GUARDED_BY(mu_) = false;
  Paused paused_ ABSL_GUARDED_BY(mu_) = Paused::kNo;
  std::string continue_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<CancellationToken> list_cancel_ ABSL_GUARDED_BY(mu_);
  std::unordered_set<std::string> known_ ABSL_GUARDED_BY(mu_);   // keys the sink holds
  std::unordered_set<std::string> listed_ ABSL_GUARDED_BY(mu_);  // keys of the current list
  std::unique_ptr<WatchHandle> watch_ ABSL_GUARDED_BY(mu_);
  absl::Time watch_started_at_ ABSL_GUARDED_BY(mu_);
  int64_t watch_events_ ABSL_GUARDED_BY(mu_) = 0;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_failure_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  mutable absl::Mutex stats_mu_;  // after mu_ when both are held; never across sink calls
  ReflectorStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

Reflector::Reflector(KubeClient* client, ReflectorSink* sink, ReflectorOptions options)
    : core_(std::make_shared<Core>(client, sink, std::move(options))) {}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() { core_->Start(); }

void Reflector::Stop() { core_->Stop(); }

int64_t Reflector::Relist() { return core_->Relist(); }

void Reflector::Resume() { core_->Resume(); }

ReflectorStats Reflector::Stats() const { return core_->Stats(); }

}  // namespace sandboxd::kube
