// sandboxd_watch_bench: the watch cache under load, in one run on the local control plane
// ($KUBE_LOCAL_STATE_DIR):
//
//   1. Streams. N idle WatchSandboxes streams (--streams, default 1,000 then 10,000) on
//      one sandboxd; resident memory of the server process per stream. The streams are
//      opened by a child process (this binary with --client_target), so the server's
//      VmRSS holds no client state; the child reports its own VmRSS (the client's share).
//   2. Fan-out latency. With the N streams open, --changes UpdateSandboxEnv calls on one
//      (stopped) sandbox, one every --change_interval_ms; per (change, stream): the time
//      from the StatefulSet watch event carrying the change reaching sandboxd (stamped by
//      a pass-through KubeClient, StampingKubeClient, before the reflector sees it) to the
//      message carrying it being read by the client (CLOCK_MONOTONIC in both processes),
//      and (--stamp_writes) to sandboxd starting the gRPC write of that message (a server
//      interceptor, WriteStampInterceptor). Side by side, the same streams and changes on
//      the gRPC floor (FloorWatchService: a WatchSandboxes service on its own port that
//      only writes one pre-encoded message to every stream), which gives what the gRPC
//      callback API alone costs per message; the report gives server CPU per delivered
//      message for both.
//   3. Cache reads. --cached_sandboxes synthetic sandboxes (StatefulSet + pod + claim
//      built with the domain builders) fed straight into the server's SandboxCache under a
//      namespace of their own (done first, on a fresh heap, and kept for 1 and 2); cache
//      memory (RSS delta and stats().approx_bytes delta); last, GetSandbox throughput and latency
//      at --concurrency calls in flight through gRPC (callback client, in-process), side by side
//      (ABBA rounds) with GetSandbox consistent_read=true (straight to the API server) and cached
//      GetSandbox of the real sandboxes.
//   4. A table on stdout, CSV with --csv; deletes its namespace.
//
// sandboxd runs in-process as SandboxdServer, with a StampingKubeClient interposed on its
// Kubernetes client (SandboxdServer::Start's decorate_kube hook): it forwards every call
// and only records a timestamp for StatefulSet watch events carrying the benchmark's env
// key; the write stamps come from an interceptor added by the configure_grpc hook.
//
//   eval "$(tools/kube-local/kube-local env)"
//   sandboxd_watch_bench --csv=/tmp/watch.csv
//
// RSS is read after malloc_trim(0), so freed heap pages do not count. Not a test: it
// asserts nothing.
#include <curl/curl.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/client_callback.h"
#include "grpcpp/support/server_interceptor.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/sandboxd_server.h"
#include "server/server_config.h"
#include "spdlog/spdlog.h"
#include "src/domain/builders.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"
#include "src/kube/forwarding_kube_client.h"
#include "src/service/sandbox_cache.h"
#include "tools/bench/floor_client.h"
#include "tools/bench/latency_stats.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

ABSL_FLAG(std::string, streams, "1000,10000", "comma-separated numbers of idle streams");
ABSL_FLAG(int, channels, 8, "client channels (TCP connections) the streams are spread over");
ABSL_FLAG(int, changes, 50, "changes per stream count (UpdateSandboxEnv calls)");
ABSL_FLAG(int, change_interval_ms, 200, "time between two changes");
ABSL_FLAG(int, cached_sandboxes, 10000, "synthetic sandboxes fed into the cache");
ABSL_FLAG(int, real_sandboxes, 16, "real sandboxes created for the consistent_read side");
ABSL_FLAG(int, concurrency, 64, "GetSandbox calls in flight");
ABSL_FLAG(double, round_seconds, 3, "duration of one GetSandbox round (per side)");
ABSL_FLAG(int, rounds, 4, "GetSandbox rounds per side (ABBA order)");
ABSL_FLAG(std::string, csv, "", "write the results as CSV to this file");
ABSL_FLAG(bool, stamp_writes, false,
          "also stamp when the server starts each stream's write (a gRPC interceptor on "
          "WatchSandboxes; costs server CPU per message and ~1 KB per stream)");
ABSL_FLAG(std::string, sandboxd_log_level, "warn", "spdlog level while benchmarking");
// Child (stream client) mode; set by the parent.
ABSL_FLAG(std::string, client_target, "", "internal: run as the stream client of this address");
ABSL_FLAG(std::string, client_ns, "", "internal: namespace to watch");
ABSL_FLAG(std::string, client_run, "", "internal: env value prefix of this run's changes");
ABSL_FLAG(std::string, client_out, "", "internal: file for the arrival times");
ABSL_FLAG(std::string, client_token_file, "", "internal: file holding the caller's token");
ABSL_FLAG(int, client_streams, 0, "internal: streams to open");
ABSL_FLAG(int, client_timeout_s, 300, "internal: give up waiting after this long");

namespace sandboxd::bench {
namespace {

namespace pb = sandbox::v1;
using Clock = std::chrono::steady_clock;

constexpr char kImage[] = "registry.local/agent:1";
constexpr char kEnvKey[] = "BENCH_SEQ";
constexpr char kTarget[] = "watch-target";

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// VmRSS of a process in KiB (0 if unreadable); "self" for this one.
int64_t RssKiB(const std::string& pid = "self") {
  if (pid == "self") malloc_trim(0);  // free heap pages back to the OS: RSS ~ live memory
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kib = 0;
      std::istringstream(line.substr(6)) >> kib;
      return kib;
    }
  }
  return 0;
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The change number k of an env value "<run>-<k>", or 0 if it is not of this run.
int ChangeOf(const std::string& value, const std::string& run) {
  const std::string prefix = run + "-";
  int k = 0;
  if (value.rfind(prefix, 0) != 0 || !absl::SimpleAtoi(value.substr(prefix.size()), &k)) return 0;
  return k;
}

// Channels that do not share a connection (a local subchannel pool each), calling with
// `token`.
std::vector<std::shared_ptr<grpc::Channel>> Channels(const std::string& target,
                                                     const std::string& token, int count) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sandboxd.bench.channel", i);
    channels.push_back(testing::TokenChannel(target, token, args));
  }
  return channels;
}

// ---------------------------------------------------------------------------------------
// Child: N idle streams, arrival time of each change per stream.

// One WatchSandboxes stream that records, per change k of the run, when the first
// message carrying it arrived. Reactions are serialised by gRPC per stream; the counters
// it bumps are shared atomics. Thread-safe in that sense; deleted only after OnDone.
class IdleStream final : public grpc::ClientReadReactor<pb::WatchSandboxesResponse> {
 public:
  struct Shared {
    std::string run;
    int changes = 0;
    std::atomic<int> ready{0};     // streams that got INITIAL_STATE_COMPLETE
    std::atomic<int> complete{0};  // streams that got the last change
    std::atomic<int> done{0};      // streams ended (OnDone)
  };

  IdleStream(pb::SandboxLifecycle::Stub* stub, const std::string& ns, Shared* shared)
      : shared_(shared), arrivals_(static_cast<size_t>(shared->changes) + 1, 0) {
    request_.set_namespace_(ns);
    stub->async()->WatchSandboxes(&context_, &request_, this);
    StartRead(&incoming_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const int64_t now = NowNanos();
    if (incoming_.type() == pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE) {
      shared_->ready.fetch_add(1);
    } else if (incoming_.sandbox().spec().name() == kTarget) {
      const auto& env = incoming_.sandbox().spec().env();
      auto it = env.find(kEnvKey);
      const int k = it == env.end() ? 0 : ChangeOf(it->second, shared_->run);
      if (k > 0 && k <= shared_->changes && arrivals_[k] == 0) {
        arrivals_[k] = now;
        if (k == shared_->changes) shared_->complete.fetch_add(1);
      }
    }
    StartRead(&incoming_);
  }
  void OnDone(const grpc::Status&) override { shared_->done.fetch_add(1); }

  void Cancel() { context_.TryCancel(); }
  // Arrival (steady-clock ns) of change k, 0 if it never arrived. Read after the run.
  const std::vector<int64_t>& arrivals() const { return arrivals_; }

 private:
  Shared* const shared_;
  grpc::ClientContext context_;
  pb::WatchSandboxesRequest request_;
  pb::WatchSandboxesResponse incoming_;
  std::vector<int64_t> arrivals_;  // written only by this stream's reactions
};

// Prints "READY <rss before KiB> <rss after KiB>" once every stream has its initial
// state, then "DONE <streams complete>" after writing one line of arrival times per
// stream to --client_out.
int ClientMain() {
  const int n = absl::GetFlag(FLAGS_client_streams);
  // The parent passes its caller's token in a file (mode 0600), not on the command line.
  std::string token;
  std::getline(std::ifstream(absl::GetFlag(FLAGS_client_token_file)), token);
  const auto channels =
      Channels(absl::GetFlag(FLAGS_client_target), token, absl::GetFlag(FLAGS_channels));
  std::vector<std::unique_ptr<pb::SandboxLifecycle::Stub>> stubs;
  for (const auto& channel : channels) {
    channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stubs.push_back(pb::SandboxLifecycle::NewStub(channel));
  }
  IdleStream::Shared shared;
  shared.run = absl::GetFlag(FLAGS_client_run);
  shared.changes = absl::GetFlag(FLAGS_changes);
  const int64_t rss_before = RssKiB();
  std::vector<std::unique_ptr<IdleStream>> streams;
  streams.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    streams.push_back(std::make_unique<IdleStream>(stubs[static_cast<size_t>(i) % stubs.size()].get(),
                                                   absl::GetFlag(FLAGS_client_ns), &shared));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_client_timeout_s));
  while (shared.ready.load() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  absl::SleepFor(absl::Milliseconds(500));  // let the last reads settle before measuring
  std::printf("READY %lld %lld %d\n", static_cast<long long>(rss_before),
              static_cast<long long>(RssKiB()), shared.ready.load());
  std::fflush(stdout);
  while (shared.complete.load() < n && shared.done.load() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  {
    std::ofstream out(absl::GetFlag(FLAGS_client_out));
    for (const auto& stream : streams) {
      for (int k = 1; k <= shared.changes; ++k) out << stream->arrivals()[k] << (k < shared.changes ? ' ' : '\n');
    }
  }
  std::printf("DONE %d\n", shared.complete.load());
  std::fflush(stdout);
  // The server sees the connections close and ends every stream; no client teardown.
  std::_Exit(0);
}

// ---------------------------------------------------------------------------------------
// Server side.

// A KubeClient that forwards every call to another one and stamps StatefulSet watch
// events that carry env kEnvKey: the first arrival time (steady-clock ns, taken before the
// event is handed on) per env value. Thread-safe.
class StampingKubeClient final : public kube::ForwardingKubeClient {
 public:
  // `inner` must outlive this client.
  explicit StampingKubeClient(kube::KubeClient* inner) : ForwardingKubeClient(inner) {}

  std::unique_ptr<kube::WatchHandle> Watch(kube::Kind kind, const std::string& ns,
                                           const kube::WatchOptions& opts,
                                           const kube::CallOptions& call,
                                           std::function<void(kube::WatchEvent)> on_event,
                                           std::function<void(absl::Status)> on_done) override {
    if (kind != kube::Kind::kStatefulSet) {
      return inner()->Watch(kind, ns, opts, call, std::move(on_event), std::move(on_done));
    }
    return inner()->Watch(
        kind, ns, opts, call,
        [this, on_event = std::move(on_event)](kube::WatchEvent event) {
          Stamp(NowNanos(), event.object.Json());
          on_event(std::move(event));
        },
        std::move(on_done));
  }

  // The first stamp of env value `value`, 0 if none.
  int64_t StampOf(const std::string& value) const {
    absl::MutexLock lock(&mu_);
    auto it = stamps_.find(value);
    return it == stamps_.end() ? 0 : it->second;
  }

 private:
  void Stamp(int64_t now, const std::string& json) {
    const std::string key = absl::StrCat("\"", kEnvKey, "\"");
    const size_t at = json.find(key);
    if (at == std::string::npos) return;
    // The env entry is {"name":"BENCH_SEQ","value":"..."}: the next "value" is ours.
    const std::string value = FirstStringField(json.substr(at, 200), "value");
    absl::MutexLock lock(&mu_);
    stamps_.emplace(value, now);  // keeps the first
  }

  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> stamps_ ABSL_GUARDED_BY(mu_);
};

// sandboxd itself (SandboxdServer), with a StampingKubeClient between it and Kubernetes.
// Thread-safe: the accessors may be used from any thread while it lives.
// The server's side of the fan-out: per WatchSandboxes stream, when sandboxd started the
// gRPC write of the message carrying change k of the current run (the PRE_SEND_MESSAGE
// interception of that write, i.e. StartWrite; the first such write per k). gRPC 1.51
// offers no POST_SEND_MESSAGE interception for these writes, so the time the transport
// takes to put the bytes on the socket is not in it. Thread-safe; each stream's array is
// written only by that stream's interceptor, one write at a time, and read after the run.
class WriteStamps {
 public:
  using Times = std::vector<int64_t>;  // index k: steady-clock ns, 0 if not written

  // Starts a run: streams opened from now on stamp `run`'s changes 1..changes.
  void Begin(const std::string& run, int changes) {
    absl::MutexLock lock(&mu_);
    run_ = run;
    changes_ = changes;
    streams_.clear();
  }
  std::string run() const {
    absl::MutexLock lock(&mu_);
    return run_;
  }
  std::shared_ptr<Times> NewStream() {
    absl::MutexLock lock(&mu_);
    streams_.push_back(std::make_shared<Times>(static_cast<size_t>(changes_) + 1, 0));
    return streams_.back();
  }
  std::vector<std::shared_ptr<Times>> streams() const {
    absl::MutexLock lock(&mu_);
    return streams_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string run_ ABSL_GUARDED_BY(mu_);
  int changes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::shared_ptr<Times>> streams_ ABSL_GUARDED_BY(mu_);
};

// Stamps one WatchSandboxes stream into its WriteStamps array.
class WriteStampInterceptor final : public grpc::experimental::Interceptor {
 public:
  WriteStampInterceptor(std::string run, std::shared_ptr<WriteStamps::Times> times)
      : marker_(run + "-"), run_(std::move(run)), times_(std::move(times)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      const int64_t now = NowNanos();
      const size_t k = static_cast<size_t>(ChangeIn(*methods->GetSerializedSendMessage()));
      if (k > 0 && k < times_->size() && (*times_)[k] == 0) (*times_)[k] = now;
    }
    methods->Proceed();
  }

 private:
  // The change k whose env value "<run>-<k>" the message carries, else 0. The value is a
  // protobuf string: its one-byte length precedes it.
  int ChangeIn(const grpc::ByteBuffer& message) const {
    grpc::Slice flat;
    if (!message.DumpToSingleSlice(&flat).ok()) return 0;
    const std::string_view bytes(reinterpret_cast<const char*>(flat.begin()), flat.size());
    const size_t at = bytes.find(marker_);
    if (at == std::string_view::npos || at == 0) return 0;
    const size_t length = static_cast<unsigned char>(bytes[at - 1]);
    return ChangeOf(std::string(bytes.substr(at, length)), run_);
  }

  const std::string marker_;
  const std::string run_;
  const std::shared_ptr<WriteStamps::Times> times_;
};

class WriteStampFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit WriteStampFactory(WriteStamps* stamps) : stamps_(stamps) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (std::string_view(info->method()) != "/sandbox.v1.SandboxLifecycle/WatchSandboxes") {
      return nullptr;
    }
    return new WriteStampInterceptor(stamps_->run(), stamps_->NewStream());
  }

 private:
  WriteStamps* const stamps_;  // owned by the BenchServer
};

class BenchServer {
 public:
  static absl::StatusOr<std::unique_ptr<BenchServer>> Start(const std::string& kubeconfig,
                                                            const domain::SandboxDefaults& defaults) {
    server::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.metrics_listen_address = "127.0.0.1:0";  // not 9090: processes run side by side
    config.tls.plaintext = true;
    config.fair_use.calls_per_second = 0;  // one caller opens every stream
    config.fair_use.max_watch_streams = 0;
    config.kube.kubeconfig = kubeconfig;
    config.kube.qps = 1e6;
    config.kube.burst = 1000000;
    config.sandbox_defaults = defaults;
    std::unique_ptr<BenchServer> s(new BenchServer());
    server::SandboxdServer::Hooks hooks;
    hooks.decorate_kube = [raw = s.get()](kube::KubeClient* inner) {
      auto stamping = std::make_unique<StampingKubeClient>(inner);
      raw->stamping_ = stamping.get();
      return std::unique_ptr<kube::KubeClient>(std::move(stamping));
    };
    if (absl::GetFlag(FLAGS_stamp_writes)) {
      hooks.configure_grpc = [raw = s.get()](grpc::ServerBuilder& builder) {
        std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> f;
        f.push_back(std::make_unique<WriteStampFactory>(&raw->writes_));
        builder.experimental().SetInterceptorCreators(std::move(f));
      };
    }
    absl::StatusOr<std::unique_ptr<server::SandboxdServer>> started =
        server::SandboxdServer::Start(config, hooks);
    if (!started.ok()) return started.status();
    s->server_ = *std::move(started);
    return s;
  }

  ~BenchServer() { server_->Shutdown(absl::Seconds(5)); }

  int port() const { return server_->port(); }
  service::SandboxCache* cache() const { return server_->cache(); }
  const StampingKubeClient& stamps() const { return *stamping_; }
  WriteStamps& writes() { return writes_; }

 private:
  BenchServer() = default;

  WriteStamps writes_;                      // declared before server_: outlives it
  StampingKubeClient* stamping_ = nullptr;  // owned by server_
  std::unique_ptr<server::SandboxdServer> server_;
};

grpc::ByteBuffer Encode(const pb::WatchSandboxesResponse& message) {
  grpc::ByteBuffer encoded;
  bool own_buffer = false;
  (void)grpc::SerializationTraits<pb::WatchSandboxesResponse>::Serialize(message, &encoded,
                                                                         &own_buffer);
  return encoded;
}

// The floor of the fan-out: a WatchSandboxes service that only writes. A stream gets
// INITIAL_STATE_COMPLETE when it opens; Broadcast() starts the write of one encoded
// message on every open stream (a stream still writing keeps the newest message for when
// its write completes, as sandboxd collapses). No cache, subscriptions, per-stream
// encoding or task pool: what the gRPC callback API itself costs per message (StartWrite,
// OnWriteDone) on the same kind of connections. Thread-safe.
class FloorWatchService final : public pb::SandboxLifecycle::WithRawCallbackMethod_WatchSandboxes<
                                    pb::SandboxLifecycle::CallbackService> {
 public:
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchSandboxes(grpc::CallbackServerContext*,
                                                             const grpc::ByteBuffer*) override {
    return new Stream(this);
  }

  void Broadcast(const grpc::ByteBuffer& message) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    for (Stream* stream : streams_) stream->Send(message);
  }
  size_t streams() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return streams_.size();
  }

 private:
  class Stream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
   public:
    explicit Stream(FloorWatchService* service) : service_(service) {
      pb::WatchSandboxesResponse initial;
      initial.set_type(pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE);
      Send(Encode(initial));  // first, so that no broadcast replaces it
      absl::MutexLock lock(&service_->mu_);
      service_->streams_.insert(this);
    }
    void Send(const grpc::ByteBuffer& message) ABSL_LOCKS_EXCLUDED(mu_) {
      absl::MutexLock lock(&mu_);
      pending_ = message;  // shares the slices
      has_pending_ = true;
      ProceedLocked();
    }
    void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) cancelled_ = true;  // the client is gone
      ProceedLocked();
    }
    void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      ProceedLocked();
    }
    void OnDone() override {
      {
        absl::MutexLock lock(&service_->mu_);
        service_->streams_.erase(this);
      }
      delete this;
    }

   private:
    // Starts the pending write, or finishes a cancelled stream, once no write is in flight.
    void ProceedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (writing_ || finished_) return;
      if (cancelled_) {
        finished_ = true;
        Finish(grpc::Status::CANCELLED);
      } else if (has_pending_) {
        has_pending_ = false;
        writing_ = true;
        current_.Swap(&pending_);
        StartWrite(&current_);
      }
    }

    FloorWatchService* const service_;
    absl::Mutex mu_;
    bool writing_ ABSL_GUARDED_BY(mu_) = false;
    bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
    bool finished_ ABSL_GUARDED_BY(mu_) = false;
    bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
    grpc::ByteBuffer current_ ABSL_GUARDED_BY(mu_);
    grpc::ByteBuffer pending_ ABSL_GUARDED_BY(mu_);
  };

  mutable absl::Mutex mu_;
  std::set<Stream*> streams_ ABSL_GUARDED_BY(mu_);
};

// The floor's server: FloorWatchService on 127.0.0.1, its own port, default settings,
// plaintext (the bench's sandboxd is plaintext too).
class FloorServer {
 public:
  FloorServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FloorServer() { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5)); }

  int port() const { return port_; }
  FloorWatchService& service() { return service_; }

 private:
  FloorWatchService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

absl::StatusOr<pb::Sandbox> GetSandbox(pb::SandboxLifecycle::Stub* stub, const std::string& ns,
                                       const std::string& name) {
  pb::GetSandboxRequest req;
  req.set_namespace_(ns);
  req.set_name(name);
  pb::GetSandboxResponse resp;
  grpc::Status s = stub->GetSandbox(Context().get(), req, &resp);
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return resp.sandbox();
}

// Polls (cached) GetSandbox until `name` is in `phase`.
bool WaitPhase(pb::SandboxLifecycle::Stub* stub, const std::string& ns, const std::string& name,
               pb::SandboxPhase phase, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<pb::Sandbox> sandbox = GetSandbox(stub, ns, name);
    if (sandbox.ok() && sandbox->phase() == phase) return true;
    absl::SleepFor(absl::Milliseconds(250));
  }
  return false;
}

// ---- Synthetic sandboxes: the objects a running sandbox has, built as sandboxd builds
// them (StatefulSet) and as the controllers report them (pod, claim), in namespace `ns`
// (served and empty on the API server, so that only the cache holds them).
constexpr absl::Time kSyntheticEpoch = absl::FromUnixSeconds(1790000000);

kube::StatefulSet SyntheticStatefulSet(const std::string& ns, const std::string& name,
                                       const domain::SandboxDefaults& d) {
  domain::SandboxSpec spec;
  spec.name = name;
  spec.ns = ns;
  spec.project = "bench";
  spec.env = {{"A", "1"}, {"B", "2"}, {"C", "3"}, {"D", "4"}, {"E", "5"}};
  spec.labels = {{"team", "bench"}, {"tier", "synthetic"}};
  kube::StatefulSet sts = domain::BuildStatefulSet(domain::ApplyDefaults(spec, d), d);
  sts.metadata.uid = absl::StrCat("uid-", name);
  sts.metadata.resource_version = "1";
  sts.metadata.generation = 1;
  sts.metadata.creation_timestamp = kSyntheticEpoch;
  sts.status.observed_generation = 1;
  sts.status.replicas = 1;
  sts.status.ready_replicas = 1;
  return sts;
}

// The pod and claim of `sts`, labelled as the StatefulSet controller labels them.
kube::Pod SyntheticPod(const kube::StatefulSet& sts) {
  const std::string& name = sts.metadata.name;
  kube::Pod pod;
  pod.metadata.name = domain::PodName(name);
  pod.metadata.ns = sts.metadata.ns;
  pod.metadata.uid = absl::StrCat("pod-", name);
  pod.metadata.labels = sts.spec.template_.metadata.labels;
  pod.metadata.creation_timestamp = kSyntheticEpoch;
  pod.status.phase = "Running";
  pod.status.pod_ip = "10.0.0.7";
  kube::ContainerStatus container;
  container.name = name;
  container.image = kImage;
  container.container_id = "containerd://00112233445566778899aabbccddeeff";
  container.ready = true;
  container.started = true;
  container.state.running = kube::ContainerStateRunning{kSyntheticEpoch};
  pod.status.container_statuses = {container};
  for (const char* type : {"PodScheduled", "Initialized", "ContainersReady", "Ready"}) {
    kube::PodCondition condition;
    condition.type = type;
    condition.status = "True";
    condition.last_transition_time = kSyntheticEpoch;
    pod.status.conditions.push_back(condition);
  }
  return pod;
}

kube::PersistentVolumeClaim SyntheticClaim(const kube::StatefulSet& sts) {
  const std::string& name = sts.metadata.name;
  kube::PersistentVolumeClaim claim;
  claim.metadata.name = domain::ClaimNameOf(sts);
  claim.metadata.ns = sts.metadata.ns;
  claim.metadata.labels = sts.spec.volume_claim_templates.front().metadata.labels;
  claim.metadata.uid = absl::StrCat("pvc-", name);
  claim.metadata.creation_timestamp = kSyntheticEpoch;
  claim.spec.access_modes = {"ReadWriteOnce"};
  claim.spec.resources.requests = {{"storage", "5Gi"}};
  claim.status.phase = "Bound";
  claim.status.capacity = {{"storage", "5Gi"}};
  return claim;
}

// ---- GetSandbox load: `concurrency` calls in flight (callback API), each completion
// issuing the next until `duration` has passed.

// One closed-loop caller. Its completions are serialised (one call in flight), so its
// sample needs no lock. Thread-compatible; owned by RunGets.
struct Caller {
  pb::SandboxLifecycle::Stub* stub = nullptr;
  std::function<pb::GetSandboxRequest(int64_t)> request;
  Clock::time_point end;
  int64_t seq = 0;
  LatencySample sample;
  std::unique_ptr<grpc::ClientContext> ctx;
  pb::GetSandboxRequest req;
  pb::GetSandboxResponse resp;
  Clock::time_point start;
  absl::Notification* finished = nullptr;
  std::atomic<int>* running = nullptr;

  void Next() {
    if (Clock::now() >= end) {
      if (running->fetch_sub(1) == 1) finished->Notify();
      return;
    }
    ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    req = request(seq++);
    resp.Clear();
    start = Clock::now();
    stub->async()->GetSandbox(ctx.get(), &req, &resp, [this](grpc::Status status) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (status.ok()) {
        sample.latencies_ms.push_back(ms);
      } else {
        ++sample.errors;
      }
      Next();
    });
  }
};

void RunGets(pb::SandboxLifecycle::Stub* stub, int concurrency, double seconds,
             const std::function<pb::GetSandboxRequest(int worker, int64_t seq)>& request,
             LatencySample* out) {
  absl::Notification finished;
  std::atomic<int> running{concurrency};
  std::vector<std::unique_ptr<Caller>> callers;
  const double cpu_start = ProcessCpuSeconds();
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int w = 0; w < concurrency; ++w) {
    auto caller = std::make_unique<Caller>();
    caller->stub = stub;
    caller->request = [&request, w](int64_t seq) { return request(w, seq); };
    caller->end = end;
    caller->finished = &finished;
    caller->running = &running;
    callers.push_back(std::move(caller));
  }
  for (auto& caller : callers) caller->Next();
  finished.WaitForNotification();
  LatencySample round;
  round.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  round.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  for (auto& caller : callers) round.Merge(caller->sample);
  out->Merge(round);
}

// ---------------------------------------------------------------------------------------
// Results.

struct StreamResult {
  std::string side;
  int streams = 0;
  int ready = 0;
  int64_t server_rss_before_kib = 0, server_rss_after_kib = 0;
  int64_t client_rss_before_kib = 0, client_rss_after_kib = 0;
  int changes_stamped = 0;
  int64_t pairs = 0, missing = 0;
  std::vector<double> latencies_ms;     // event reached sandboxd -> client read the message
  std::vector<double> written_ms;       // event reached sandboxd -> server started the write
  std::vector<double> last_stream_ms;   // per change: the slowest stream
  std::vector<double> first_stream_ms;  // per change: the fastest stream
  double server_cpu_s = 0;             // CPU of the server process during the changes
};

// Server process CPU during the changes per (change, stream) message delivered.
double CpuMicrosPerMessage(const StreamResult& r) {
  return r.pairs > 0 ? r.server_cpu_s * 1e6 / static_cast<double>(r.pairs) : 0;
}

struct GetRow {
  std::string side;
  LatencySample sample;
};

// One side of the fan-out comparison: the server the child's streams go to, how change k
// (env value `value`) is made, and when the change reached that server (latencies start
// there).
struct FanoutSide {
  std::string name;
  int port = 0;
  std::function<void(const std::string& value)> change;
  std::function<int64_t(const std::string& value)> stamp_of;
  std::function<size_t()> open_streams;
  WriteStamps* writes = nullptr;  // sandboxd's, stamped with --stamp_writes
};

// Runs the child process for `n` streams on `side`, the changes, and collects the
// latencies.
StreamResult RunStreams(const FanoutSide& side, const std::string& ns, const std::string& token,
                        int n, const std::string& run) {
  StreamResult result;
  result.side = side.name;
  result.streams = n;
  const int changes = absl::GetFlag(FLAGS_changes);
  char exe[4096] = {};
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (len <= 0) return result;
  const std::string out_path = absl::StrCat("/tmp/sandboxd_watch_bench.", getpid(), ".", run);
  const std::string token_path = out_path + ".token";
  const int token_fd = open(token_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (token_fd < 0) return result;
  absl::Cleanup remove_token = [&token_path] { std::remove(token_path.c_str()); };
  const bool token_written =
      write(token_fd, token.data(), token.size()) == static_cast<ssize_t>(token.size());
  close(token_fd);
  if (!token_written) return result;
  const std::string command = absl::StrCat(
      exe, " --client_target=127.0.0.1:", side.port, " --client_ns=", ns, " --client_run=", run,
      " --client_out=", out_path, " --client_token_file=", token_path, " --client_streams=", n,
      " --changes=", changes, " --channels=", absl::GetFlag(FLAGS_channels));
  if (side.writes != nullptr) side.writes->Begin(run, changes);
  result.server_rss_before_kib = RssKiB();
  FILE* child = popen(command.c_str(), "r");
  if (child == nullptr) return result;
  char line[256];
  if (std::fgets(line, sizeof(line), child) != nullptr) {
    long long before = 0, after = 0;
    int ready = 0;
    if (std::sscanf(line, "READY %lld %lld %d", &before, &after, &ready) == 3) {
      result.client_rss_before_kib = before;
      result.client_rss_after_kib = after;
      result.ready = ready;
    }
  }
  absl::SleepFor(absl::Seconds(1));
  result.server_rss_after_kib = RssKiB();
  std::cerr << absl::StrFormat("  %s, %d streams: %d ready, %d open; server RSS %d -> %d KiB\n",
                               side.name, n, result.ready, side.open_streams(),
                               result.server_rss_before_kib, result.server_rss_after_kib);

  // The changes, on a fixed cadence.
  const double cpu_start = ProcessCpuSeconds();
  const absl::Time first = absl::Now();
  for (int k = 1; k <= changes; ++k) {
    absl::SleepFor(first + absl::Milliseconds(absl::GetFlag(FLAGS_change_interval_ms)) * (k - 1) -
                   absl::Now());
    side.change(absl::StrCat(run, "-", k));
  }
  while (std::fgets(line, sizeof(line), child) != nullptr) {
    if (std::string(line).rfind("DONE", 0) == 0) break;
  }
  pclose(child);
  result.server_cpu_s = ProcessCpuSeconds() - cpu_start;

  std::vector<int64_t> stamps(static_cast<size_t>(changes) + 1, 0);
  for (int k = 1; k <= changes; ++k) {
    stamps[k] = side.stamp_of(absl::StrCat(run, "-", k));
    if (stamps[k] != 0) ++result.changes_stamped;
  }
  result.last_stream_ms.assign(static_cast<size_t>(changes) + 1, 0);
  result.first_stream_ms.assign(static_cast<size_t>(changes) + 1, 1e9);
  std::ifstream in(out_path);
  std::string row;
  while (std::getline(in, row)) {
    std::istringstream fields(row);
    for (int k = 1; k <= changes; ++k) {
      int64_t arrival = 0;
      fields >> arrival;
      if (arrival == 0 || stamps[k] == 0) {
        ++result.missing;
        continue;
      }
      const double ms = static_cast<double>(arrival - stamps[k]) / 1e6;
      result.latencies_ms.push_back(ms);
      result.last_stream_ms[k] = std::max(result.last_stream_ms[k], ms);
      result.first_stream_ms[k] = std::min(result.first_stream_ms[k], ms);
      ++result.pairs;
    }
  }
  std::remove(out_path.c_str());
  const auto written = side.writes != nullptr ? side.writes->streams()
                                              : std::vector<std::shared_ptr<WriteStamps::Times>>{};
  for (const auto& stream : written) {
    for (int k = 1; k <= changes; ++k) {
      const int64_t written = (*stream)[static_cast<size_t>(k)];
      if (written != 0 && stamps[k] != 0) {
        result.written_ms.push_back(static_cast<double>(written - stamps[k]) / 1e6);
      }
    }
  }
  // The child is gone: wait for the server to end every stream.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (side.open_streams() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  return result;
}

int ServerMain() {
  testing::Plane plane;
  const std::string ns = plane.CreateNamespace("wbench");
  // The synthetic sandboxes' namespace: served and readable by the caller, so that
  // GetSandbox reaches the cache, but no stream watches it.
  const std::string synthetic_ns = plane.CreateNamespace("wsyn");
  std::cerr << "namespaces " << ns << ", " << synthetic_ns << "\n";
  domain::SandboxDefaults defaults;
  defaults.image = kImage;
  int rc = 0;
  std::vector<StreamResult> stream_results;
  std::vector<GetRow> get_rows;
  size_t approx_before = 0, approx_after = 0, cached = 0;
  int64_t cache_rss_before = 0, cache_rss_after = 0;
  {
    absl::StatusOr<std::unique_ptr<BenchServer>> server =
        BenchServer::Start(plane.sandboxd_kubeconfig(), defaults);
    if (!server.ok()) {
      std::cerr << "start sandboxd: " << server.status() << "\n";
      plane.DeleteNamespace(ns);
      plane.DeleteNamespace(synthetic_ns);
      return 1;
    }
    BenchServer* s = server->get();
    const absl::Time sync_deadline = absl::Now() + absl::Seconds(60);
    while (!s->cache()->synced() && absl::Now() < sync_deadline) absl::SleepFor(absl::Milliseconds(50));
    plane.CreateCaller(ns, "bench", "sandboxd-user", ns);
    plane.CreateCaller(ns, "bench", "sandboxd-user", synthetic_ns);
    const std::string token = plane.Token(ns, "bench");
    auto channel = testing::TokenChannel(absl::StrCat("127.0.0.1:", s->port()), token);
    auto stub = pb::SandboxLifecycle::NewStub(channel);

    // Real sandboxes: `real` running ones (reads) and the stopped target (changes).
    const int real = absl::GetFlag(FLAGS_real_sandboxes);
    auto real_name = [](int i) { return absl::StrFormat("real-%02d", i); };
    auto synthetic_name = [](int64_t i) { return absl::StrFormat("syn-%05d", i); };
    std::vector<std::string> names;
    names.reserve(real + 1);
    for (int i = 0; i < real; ++i) names.push_back(real_name(i));
    names.emplace_back(kTarget);
    for (const std::string& name : names) {
      pb::CreateSandboxRequest req;
      req.mutable_spec()->set_name(name);
      req.mutable_spec()->set_namespace_(ns);
      req.mutable_spec()->set_project("bench");
      pb::CreateSandboxResponse resp;
      grpc::Status st = stub->CreateSandbox(Context().get(), req, &resp);
      if (!st.ok()) std::cerr << "create " << name << ": " << st.error_message() << "\n";
    }
    for (const std::string& name : names) {
      if (!WaitPhase(stub.get(), ns, name, pb::SANDBOX_PHASE_RUNNING, absl::Minutes(3))) {
        std::cerr << name << " did not reach RUNNING\n";
        rc = 1;
      }
    }
    {
      pb::StopSandboxRequest req;
      req.set_namespace_(ns);
      req.set_name(kTarget);
      pb::StopSandboxResponse resp;
      grpc::Status st = stub->StopSandbox(Context().get(), req, &resp);
      if (!st.ok() || !WaitPhase(stub.get(), ns, kTarget, pb::SANDBOX_PHASE_STOPPED, absl::Minutes(2))) {
        std::cerr << "target did not stop: " << st.error_message() << "\n";
        rc = 1;
      }
    }
    spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_sandboxd_log_level)));

    // 3 (first, on a fresh heap): the cache with `cached` synthetic sandboxes, each built
    // and applied in turn so that the RSS delta is what the cache keeps.
    cached = static_cast<size_t>(absl::GetFlag(FLAGS_cached_sandboxes));
    approx_before = s->cache()->stats().approx_bytes;
    cache_rss_before = RssKiB();
    for (size_t i = 0; i < cached; ++i) {
      const std::string name = synthetic_name(static_cast<int64_t>(i));
      const kube::StatefulSet sts = SyntheticStatefulSet(synthetic_ns, name, defaults);
      s->cache()->ApplyClaim(SyntheticClaim(sts));
      s->cache()->ApplyPod(SyntheticPod(sts));
      s->cache()->ApplyStatefulSet(sts);
    }
    cache_rss_after = RssKiB();
    approx_after = s->cache()->stats().approx_bytes;
    std::cerr << absl::StrFormat("cache: %d sandboxes; RSS %d -> %d KiB; approx_bytes %d -> %d\n",
                                 s->cache()->stats().sandboxes, cache_rss_before, cache_rss_after,
                                 approx_before, approx_after);
    {
      absl::StatusOr<pb::Sandbox> probe = GetSandbox(stub.get(), synthetic_ns, synthetic_name(0));
      std::cerr << "synthetic probe: "
                << (probe.ok() ? pb::SandboxPhase_Name(probe->phase()) : probe.status().ToString())
                << "\n";
    }

    // 1 + 2: streams and fan-out, sandboxd and the gRPC floor side by side (the order
    // alternates between stream counts).
    if (rc == 0) {
      FanoutSide sandboxd_side{
          "sandboxd",
          s->port(),
          [&](const std::string& value) {
            pb::UpdateSandboxEnvRequest req;
            req.set_namespace_(ns);
            req.set_name(kTarget);
            (*req.mutable_env())[kEnvKey] = value;
            pb::UpdateSandboxEnvResponse resp;
            grpc::Status st = stub->UpdateSandboxEnv(Context().get(), req, &resp);
            if (!st.ok()) std::cerr << "  change " << value << ": " << st.error_message() << "\n";
          },
          [s](const std::string& value) { return s->stamps().StampOf(value); },
          [s]() { return s->cache()->stats().subscriptions; },
          &s->writes()};
      // The floor sends the target as sandboxd does, with the env value changed.
      FloorServer floor;
      pb::WatchSandboxesResponse floor_message;
      floor_message.set_type(pb::WATCH_EVENT_TYPE_MODIFIED);
      floor_message.set_resume_token(std::string(48, 't'));
      if (absl::StatusOr<pb::Sandbox> target = GetSandbox(stub.get(), ns, kTarget); target.ok()) {
        *floor_message.mutable_sandbox() = *std::move(target);
      }
      std::map<std::string, int64_t> floor_stamps;  // used by this thread only
      FanoutSide floor_side{
          "gRPC floor", floor.port(),
          [&](const std::string& value) {
            (*floor_message.mutable_sandbox()->mutable_spec()->mutable_env())[kEnvKey] = value;
            const grpc::ByteBuffer encoded = Encode(floor_message);
            floor_stamps.emplace(value, NowNanos());
            floor.service().Broadcast(encoded);
          },
          [&](const std::string& value) {
            auto it = floor_stamps.find(value);
            return it == floor_stamps.end() ? int64_t{0} : it->second;
          },
          [&]() { return floor.service().streams(); }};
      char run = 'a';
      bool sandboxd_first = true;
      for (absl::string_view field : absl::StrSplit(absl::GetFlag(FLAGS_streams), ',', absl::SkipEmpty())) {
        int n = 0;
        if (!absl::SimpleAtoi(field, &n) || n <= 0) continue;
        for (const FanoutSide* side : sandboxd_first ? std::vector{&sandboxd_side, &floor_side}
                                                     : std::vector{&floor_side, &sandboxd_side}) {
          std::cerr << side->name << ", streams: " << n << "\n";
          // The run id is unique to this process (the namespace) as well as to the stream
          // count and side: a terminating namespace of an earlier invocation can still
          // send watch events whose env carries that invocation's values.
          const std::string run_id = absl::StrCat(ns, ".", std::string(1, run++));
          stream_results.push_back(RunStreams(*side, ns, token, n, run_id));
        }
        sandboxd_first = !sandboxd_first;
      }
    }

    // GetSandbox: three sides, ABBA-style rotation of the order per round.
    const int concurrency = absl::GetFlag(FLAGS_concurrency);
    const double seconds = absl::GetFlag(FLAGS_round_seconds);
    const int64_t cached_count = static_cast<int64_t>(cached);
    std::vector<std::pair<std::string, std::function<pb::GetSandboxRequest(int, int64_t)>>> sides = {
        {absl::StrCat("cache, ", cached, " synthetic"),
         [&](int w, int64_t seq) {
           pb::GetSandboxRequest r;
           r.set_namespace_(synthetic_ns);
           r.set_name(synthetic_name((int64_t{w} * 7919 + seq * 104729) % cached_count));
           return r;
         }},
        {absl::StrCat("cache, ", real, " real"),
         [&](int w, int64_t seq) {
           pb::GetSandboxRequest r;
           r.set_namespace_(ns);
           r.set_name(real_name(static_cast<int>((w + seq) % real)));
           return r;
         }},
        {absl::StrCat("consistent_read, ", real, " real"),
         [&](int w, int64_t seq) {
           pb::GetSandboxRequest r;
           r.set_namespace_(ns);
           r.set_name(real_name(static_cast<int>((w + seq) % real)));
           r.set_consistent_read(true);
           return r;
         }},
    };
    std::vector<LatencySample> samples(sides.size());
    if (rc == 0 && cached > 0 && real > 0) {
      for (auto& side : sides) {  // warm-up, discarded
        LatencySample discard;
        RunGets(stub.get(), concurrency, 0.5, side.second, &discard);
      }
      for (int r = 0; r < absl::GetFlag(FLAGS_rounds); ++r) {
        std::vector<size_t> order(sides.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        if (r % 4 == 1 || r % 4 == 2) std::reverse(order.begin(), order.end());
        for (size_t i : order) RunGets(stub.get(), concurrency, seconds, sides[i].second, &samples[i]);
      }
      for (size_t i = 0; i < sides.size(); ++i) get_rows.push_back({sides[i].first, samples[i]});
    }
    spdlog::set_level(spdlog::level::info);
    // sandboxd shuts down here (BenchServer's destructor).
  }
  plane.DeleteNamespace(ns);
  plane.DeleteNamespace(synthetic_ns);
  std::cerr << "deleted namespaces " << ns << ", " << synthetic_ns << "\n";

  // ---- Report.
  std::cout << "\n### Idle streams and fan-out\n\n"
               "| side | streams | ready | server RSS Δ MiB | server B/stream | client RSS Δ MiB | "
               "client B/stream | changes | pairs | missing | p50 ms | p90 ms | p99 ms | max ms | "
               "first-stream p50 ms | last-stream p50 ms | server CPU s | server CPU µs/message | "
               "write-started pairs | write-started p50 ms | write-started p99 ms |\n"
               "|------|--------:|------:|-----------------:|----------------:|-----------------:|"
               "----------------:|--------:|------:|--------:|-------:|-------:|-------:|-------:|"
               "--------------------:|-------------------:|-------------:|----------------------:|"
               "--------------------:|---------------------:|---------------------:|\n";
  for (const StreamResult& r : stream_results) {
    const double server_delta = static_cast<double>(r.server_rss_after_kib - r.server_rss_before_kib) * 1024;
    const double client_delta = static_cast<double>(r.client_rss_after_kib - r.client_rss_before_kib) * 1024;
    std::vector<double> last(r.last_stream_ms.begin() + 1, r.last_stream_ms.end());
    std::vector<double> first(r.first_stream_ms.begin() + 1, r.first_stream_ms.end());
    std::cout << absl::StrFormat(
        "| %s | %7d | %5d | %16.1f | %15.0f | %16.1f | %15.0f | %7d | %5d | %7d | %6.2f | %6.2f "
        "| %6.2f | %6.2f | %20.2f | %19.2f | %12.2f | %21.2f | %19d | %20.2f | %20.2f |\n",
        r.side, r.streams, r.ready, server_delta / 1048576, server_delta / r.streams,
        client_delta / 1048576, client_delta / r.streams, r.changes_stamped, r.pairs, r.missing,
        Percentile(r.latencies_ms, 50), Percentile(r.latencies_ms, 90),
        Percentile(r.latencies_ms, 99), Percentile(r.latencies_ms, 100), Percentile(first, 50),
        Percentile(last, 50), r.server_cpu_s, CpuMicrosPerMessage(r), r.written_ms.size(),
        Percentile(r.written_ms, 50), Percentile(r.written_ms, 99));
  }
  std::cout << absl::StrFormat(
      "\n### Cache memory (%d synthetic sandboxes)\n\n"
      "| RSS Δ MiB | RSS B/sandbox | approx_bytes Δ MiB | approx B/sandbox |\n"
      "|----------:|--------------:|-------------------:|-----------------:|\n"
      "| %9.1f | %13.0f | %18.1f | %16.0f |\n",
      cached, static_cast<double>(cache_rss_after - cache_rss_before) / 1024,
      cached ? static_cast<double>(cache_rss_after - cache_rss_before) * 1024 /
                   static_cast<double>(cached)
             : 0,
      static_cast<double>(approx_after - approx_before) / 1048576,
      cached ? static_cast<double>(approx_after - approx_before) / static_cast<double>(cached) : 0);
  std::cout << "\n### GetSandbox at concurrency " << absl::GetFlag(FLAGS_concurrency)
            << "\n\n| side | ok | err | p50 ms | p99 ms | calls/s | cpu ms/call |\n"
               "|------|---:|----:|-------:|-------:|--------:|------------:|\n";
  for (const GetRow& row : get_rows) {
    std::cout << absl::StrFormat("| %s | %d | %d | %.3f | %.3f | %.0f | %.3f |\n", row.side,
                                 row.sample.latencies_ms.size(), row.sample.errors,
                                 Percentile(row.sample.latencies_ms, 50),
                                 Percentile(row.sample.latencies_ms, 99), Throughput(row.sample),
                                 CpuMsPerCall(row.sample));
  }
  if (const std::string csv = absl::GetFlag(FLAGS_csv); !csv.empty()) {
    std::ofstream out(csv);
    out << "section,name,value\n";
    for (const StreamResult& r : stream_results) {
      const std::string p =
          absl::StrCat(r.side == "sandboxd" ? "" : "floor_", "streams_", r.streams);
      out << absl::StrFormat(
          "%s,ready,%d\n%s,server_rss_before_kib,%d\n%s,server_rss_after_kib,%d\n"
          "%s,client_rss_before_kib,%d\n%s,client_rss_after_kib,%d\n%s,changes_stamped,%d\n"
          "%s,pairs,%d\n%s,missing,%d\n%s,p50_ms,%.3f\n%s,p90_ms,%.3f\n%s,p99_ms,%.3f\n"
          "%s,max_ms,%.3f\n%s,write_started_pairs,%d\n%s,write_started_p50_ms,%.3f\n"
          "%s,write_started_p99_ms,%.3f\n%s,server_cpu_s,%.3f\n%s,server_cpu_us_per_message,%.3f\n",
          p, r.ready, p, r.server_rss_before_kib, p, r.server_rss_after_kib, p,
          r.client_rss_before_kib, p, r.client_rss_after_kib, p, r.changes_stamped, p, r.pairs, p,
          r.missing, p, Percentile(r.latencies_ms, 50), p, Percentile(r.latencies_ms, 90), p,
          Percentile(r.latencies_ms, 99), p, Percentile(r.latencies_ms, 100), p,
          r.written_ms.size(), p, Percentile(r.written_ms, 50), p, Percentile(r.written_ms, 99), p,
          r.server_cpu_s, p, CpuMicrosPerMessage(r));
    }
    out << absl::StrFormat("cache,sandboxes,%d\ncache,rss_before_kib,%d\ncache,rss_after_kib,%d\n"
                           "cache,approx_bytes_before,%d\ncache,approx_bytes_after,%d\n",
                           cached, cache_rss_before, cache_rss_after, approx_before, approx_after);
    for (const GetRow& row : get_rows) {
      out << absl::StrFormat("\"get %s\",calls,%d\n\"get %s\",errors,%d\n\"get %s\",p50_ms,%.3f\n"
                             "\"get %s\",p99_ms,%.3f\n\"get %s\",calls_per_s,%.1f\n"
                             "\"get %s\",cpu_ms_per_call,%.4f\n",
                             row.side, row.sample.latencies_ms.size(), row.side, row.sample.errors,
                             row.side, Percentile(row.sample.latencies_ms, 50), row.side,
                             Percentile(row.sample.latencies_ms, 99), row.side,
                             Throughput(row.sample), row.side, CpuMsPerCall(row.sample));
    }
    std::cerr << "wrote " << csv << "\n";
  }
  return rc;
}

}  // namespace
}  // namespace sandboxd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as server/main.cc
  if (!absl::GetFlag(FLAGS_client_target).empty()) return sandboxd::bench::ClientMain();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const int rc = sandboxd::bench::ServerMain();
  curl_global_cleanup();
  return rc;
}
