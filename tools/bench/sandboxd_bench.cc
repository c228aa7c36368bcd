// sandboxd_bench: unary latency and throughput of sandboxd against its floor.
//
// Starts sandboxd in-process on the local control plane ($KUBE_LOCAL_STATE_DIR), creates
// a set of sandboxes in a namespace of its own, and for each operation and concurrency
// runs the RPC through gRPC and the same Kubernetes requests directly through a
// CurlKubeClient (FloorClient), alternating the two sides in rounds (ABBA) so that drift
// of the shared machine hits both alike. Prints one table row per (operation,
// concurrency) and optionally a CSV. Deletes its namespace at the end.
//
// With --bulk=N it runs a burst instead: N CreateSandbox and then N DeleteSandbox through
// sandboxd, against the floor posting and deleting the same objects (--floor_kube_qps,
// --floor_kube_burst), and prints each side's wall time and their ratio.
//
//   eval "$(tools/kube-local/kube-local env)"
//   sandboxd_bench --csv=/tmp/bench.csv
//   sandboxd_bench --bulk=1000          # both sides at sandboxd's defaults: no throttle
//
// Not a test: it asserts nothing, it reports ratios.
#include <curl/curl.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/sandboxd_server.h"
#include "spdlog/spdlog.h"
#include "src/domain/builders.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"
#include "src/kube/curl_kube_client.h"
#include "src/kube/kube_config.h"
#include "src/kube/objects_json.h"
#include "tools/bench/floor_client.h"
#include "tools/bench/latency_stats.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

ABSL_FLAG(int, calls, 1000, "calls per side for each read-only operation and concurrency");
ABSL_FLAG(int, write_calls, 192,
          "calls (pairs for Stop/Start and Create/Delete) per side for each writing "
          "operation and concurrency");
ABSL_FLAG(std::string, concurrency, "1,16,64", "comma-separated concurrency levels");
ABSL_FLAG(int, sandboxes, 64, "sandboxes created up front (one per worker)");
ABSL_FLAG(int, page_size, 50, "ListSandboxes page size");
ABSL_FLAG(int, rounds, 4, "rounds per (operation, concurrency); sides alternate ABBA");
ABSL_FLAG(std::string, ops, "", "comma-separated operation filter (workload names); empty: all");
ABSL_FLAG(std::string, csv, "", "write the results as CSV to this file");
ABSL_FLAG(double, kube_qps, 0,
          "sandboxd's client-side Kubernetes qps (its default: 0, no client-side throttle)");
ABSL_FLAG(int, kube_burst, 100, "sandboxd's client-side Kubernetes burst (its default: 100)");
ABSL_FLAG(std::optional<double>, floor_kube_qps, std::nullopt,
          "the floor's client-side Kubernetes qps (0: none); default: --kube_qps");
ABSL_FLAG(std::optional<int>, floor_kube_burst, std::nullopt,
          "the floor's client-side Kubernetes burst; default: --kube_burst");
ABSL_FLAG(int, bulk, 0,
          "if > 0: instead of the unary table, N creates and then N deletes per side "
          "(sandboxd, floor), with --bulk_concurrency callers");
ABSL_FLAG(int, bulk_concurrency, 16, "callers at once in --bulk mode, each side");
ABSL_FLAG(int, deadline_s, 10, "deadline of each call (RPC; each floor request), seconds");
ABSL_FLAG(std::string, sandboxd_log_level, "warn",
          "spdlog level while benchmarking (info adds sandboxd's per-RPC log line)");

namespace sandboxd::bench {
namespace {

namespace pb = sandbox::v1;
using Clock = std::chrono::steady_clock;

constexpr char kImage[] = "registry.local/agent:1";
constexpr char kProject[] = "bench";
constexpr char kIngressDomain[] = "bench.example.com";
constexpr char kEnvKey[] = "BENCH";

enum class Side { kSandboxd, kFloor };

std::string SandboxName(int index) { return absl::StrFormat("bench-%02d", index); }

// CPU time (user + system) of this process so far, all threads.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// Per-call results of one worker thread: one LatencySample per measured operation of
// the workload. Not thread-safe: one per worker.
class Recorder {
 public:
  explicit Recorder(size_t operations) : samples_(operations) {}

  // Runs `call` (blocking), and records its latency under operation `op` if it succeeds.
  void Time(size_t op, const std::function<absl::Status()>& call) {
    const Clock::time_point start = Clock::now();
    absl::Status status = call();
    const double ms = MillisSince(start);
    if (status.ok()) {
      samples_[op].latencies_ms.push_back(ms);
    } else {
      if (samples_[op].errors++ == 0) first_error_ = status;
    }
  }

  std::vector<LatencySample>& samples() { return samples_; }
  const absl::Status& first_error() const { return first_error_; }

 private:
  std::vector<LatencySample> samples_;
  absl::Status first_error_;
};

// One benchmarked scenario: `unit(side, worker, seq, recorder)` runs one unit of work
// (one call, or a pair such as Stop then Start) for `worker` (who owns sandbox
// `worker`) and records one latency per entry of `operations`.
struct Workload {
  std::string name;
  std::vector<std::string> operations;  // report labels, one per recorded call of a unit
  int units = 0;
  std::function<void(Side, int worker, int64_t seq, Recorder*)> unit;
};

// Everything the workloads share: the gRPC stub, the floor, the sandboxes.
// Thread-safe after construction: every member is either immutable or thread-safe.
class Bench {
 public:
  Bench(std::string ns, std::unique_ptr<pb::SandboxLifecycle::Stub> stub, FloorClient* floor,
        kube::KubeClient* kube, domain::SandboxDefaults defaults)
      : ns_(std::move(ns)),
        stub_(std::move(stub)),
        floor_(floor),
        kube_(kube),
        defaults_(std::move(defaults)) {}

  const std::string& ns() const { return ns_; }
  pb::SandboxLifecycle::Stub* stub() const { return stub_.get(); }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(absl::GetFlag(FLAGS_deadline_s)));
    return ctx;
  }

  // Runs a FloorClient call that yields a value and blocks until its callback.
  static absl::StatusOr<std::string> WaitValue(const std::function<void(ValueCallback)>& start) {
    absl::Notification done;
    absl::StatusOr<std::string> result;
    start([&](absl::StatusOr<std::string> v) {
      result = std::move(v);
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  // What the service's watch cache holds of sandbox `name`: its StatefulSet as stored
  // (read and decoded here, outside any timing, for the floor's env update).
  absl::StatusOr<kube::StatefulSet> Current(const std::string& name) const {
    absl::StatusOr<std::string> body = WaitValue([&](ValueCallback cb) {
      kube_->Get(kube::ObjectRef{kube::Kind::kStatefulSet, ns_, name}, "", {}, cb);
    });
    if (!body.ok()) return body.status();
    return kube::Decode<kube::StatefulSet>(*body);
  }

  // Runs a FloorClient call and blocks until its callback.
  static absl::Status Wait(const std::function<void(StatusCallback)>& start) {
    absl::Notification done;
    absl::Status result;
    start([&](absl::Status s) {
      result = std::move(s);
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  // Per namespace: the Ingresses of an earlier run, still being garbage-collected, keep
  // their hosts, and sandboxd refuses a host another namespace's Ingress has.
  std::string IngressDomain() const { return absl::StrCat(ns_, ".", kIngressDomain); }

  pb::CreateSandboxRequest CreateRequest(const std::string& name) const {
    pb::CreateSandboxRequest req;
    pb::SandboxSpec* spec = req.mutable_spec();
    spec->set_name(name);
    spec->set_namespace_(ns_);
    spec->set_project(kProject);
    spec->set_ingress_domain(IngressDomain());
    (*spec->mutable_env())[kEnvKey] = "0";
    return req;
  }

  // The domain spec sandboxd derives from CreateRequest(name), defaults applied.
  domain::SandboxSpec DomainSpec(const std::string& name) const {
    domain::SandboxSpec spec;
    spec.name = name;
    spec.ns = ns_;
    spec.project = kProject;
    spec.ingress_domain = IngressDomain();
    spec.env[kEnvKey] = "0";
    return domain::ApplyDefaults(std::move(spec), defaults_);
  }

  // --bulk: CreateSandbox of `name` through sandboxd, or the floor's requests for it (the
  // uid for the floor's delete goes to `uid`).
  absl::Status BulkCreate(Side side, const std::string& name, std::string* uid) const {
    if (side == Side::kFloor) {
      absl::StatusOr<std::string> created =
          WaitValue([&](ValueCallback cb) { floor_->Create(DomainSpec(name), cb); });
      if (created.ok()) *uid = *created;
      return created.status();
    }
    pb::CreateSandboxResponse resp;
    return FromGrpc(stub_->CreateSandbox(Context().get(), CreateRequest(name), &resp));
  }
  absl::Status BulkDelete(Side side, const std::string& name, const std::string& uid) const {
    if (side == Side::kFloor) {
      return Wait([&](StatusCallback cb) { floor_->Delete(ns_, name, uid, cb); });
    }
    pb::DeleteSandboxRequest req;
    req.set_namespace_(ns_);
    req.set_name(name);
    pb::DeleteSandboxResponse resp;
    return FromGrpc(stub_->DeleteSandbox(Context().get(), req, &resp));
  }

  std::vector<Workload> Workloads(const std::string& children_selector, int page_size) const {
    const int reads = absl::GetFlag(FLAGS_calls);
    const int writes = absl::GetFlag(FLAGS_write_calls);
    std::vector<Workload> w;
    w.push_back({"get", {"GetSandbox"}, reads, [this](Side side, int worker, int64_t, Recorder* r) {
                   const std::string name = SandboxName(worker);
                   r->Time(0, [&]() {
                     if (side == Side::kFloor) {
                       return Wait([&](StatusCallback cb) { floor_->Get(ns_, name, cb); });
                     }
                     pb::GetSandboxRequest req;
                     req.set_namespace_(ns_);
                     req.set_name(name);
                     pb::GetSandboxResponse resp;
                     return FromGrpc(stub_->GetSandbox(Context().get(), req, &resp));
                   });
                 }});
    // The same call with consistent_read=true: sandboxd reads straight from the API
    // server (the requests of the floor) instead of its watch cache. This is the
    // like-for-like comparison with the floor; "get" above is the cached read.
    w.push_back({"get-direct", {"GetSandbox (consistent_read)"}, reads,
                 [this](Side side, int worker, int64_t, Recorder* r) {
                   const std::string name = SandboxName(worker);
                   r->Time(0, [&]() {
                     if (side == Side::kFloor) {
                       return Wait([&](StatusCallback cb) { floor_->Get(ns_, name, cb); });
                     }
                     pb::GetSandboxRequest req;
                     req.set_namespace_(ns_);
                     req.set_name(name);
                     req.set_consistent_read(true);
                     pb::GetSandboxResponse resp;
                     return FromGrpc(stub_->GetSandbox(Context().get(), req, &resp));
                   });
                 }});
    w.push_back({"list", {absl::StrCat("ListSandboxes (page ", page_size, ")")}, reads,
                 [this, children_selector, page_size](Side side, int, int64_t, Recorder* r) {
                   r->Time(0, [&]() {
                     if (side == Side::kFloor) {
                       return Wait([&](StatusCallback cb) {
                         floor_->List(ns_, page_size, children_selector, cb);
                       });
                     }
                     pb::ListSandboxesRequest req;
                     req.set_namespace_(ns_);
                     req.set_page_size(page_size);
                     pb::ListSandboxesResponse resp;
                     return FromGrpc(stub_->ListSandboxes(Context().get(), req, &resp));
                   });
                 }});
    w.push_back({"list-direct",
                 {absl::StrCat("ListSandboxes (page ", page_size, ", consistent_read)")}, reads,
                 [this, children_selector, page_size](Side side, int, int64_t, Recorder* r) {
                   r->Time(0, [&]() {
                     if (side == Side::kFloor) {
                       return Wait([&](StatusCallback cb) {
                         floor_->List(ns_, page_size, children_selector, cb);
                       });
                     }
                     pb::ListSandboxesRequest req;
                     req.set_namespace_(ns_);
                     req.set_page_size(page_size);
                     req.set_consistent_read(true);
                     pb::ListSandboxesResponse resp;
                     return FromGrpc(stub_->ListSandboxes(Context().get(), req, &resp));
                   });
                 }});
    w.push_back({"start-noop", {"StartSandbox (already running)"}, reads,
                 [this](Side side, int worker, int64_t, Recorder* r) {
                   r->Time(0, [&]() { return Scale(side, worker, true, /*patch=*/false); });
                 }});
    w.push_back({"env-noop", {"UpdateSandboxEnv (no change)"}, reads,
                 [this](Side side, int worker, int64_t, Recorder* r) {
                   const std::string name = SandboxName(worker);
                   r->Time(0, [&]() {
                     // Nothing to send: the service decides from its cache.
                     if (side == Side::kFloor) return absl::OkStatus();
                     pb::UpdateSandboxEnvRequest req;
                     req.set_namespace_(ns_);
                     req.set_name(name);
                     req.add_remove_keys("BENCH_ABSENT");  // not there: no change
                     pb::UpdateSandboxEnvResponse resp;
                     return FromGrpc(stub_->UpdateSandboxEnv(Context().get(), req, &resp));
                   });
                 }});
    w.push_back({"env-change",
                 {"UpdateSandboxEnv (change)"},
                 writes,
                 [this](Side side, int worker, int64_t seq, Recorder* r) {
                   const std::string name = SandboxName(worker);
                   const std::string value =
                       absl::StrCat(side == Side::kFloor ? "f" : "s", seq);
                   if (side == Side::kFloor) {
                     // The StatefulSet the service has in its cache: read before the clock
                     // starts.
                     absl::StatusOr<kube::StatefulSet> current = Current(name);
                     domain::EnvUpdate update;
                     update.set[kEnvKey] = value;
                     r->Time(0, [&]() {
                       if (!current.ok()) return current.status();
                       return Wait(
                           [&](StatusCallback cb) { floor_->UpdateEnv(*current, update, cb); });
                     });
                     return;
                   }
                   r->Time(0, [&]() {
                     pb::UpdateSandboxEnvRequest req;
                     req.set_namespace_(ns_);
                     req.set_name(name);
                     (*req.mutable_env())[kEnvKey] = value;
                     pb::UpdateSandboxEnvResponse resp;
                     return FromGrpc(stub_->UpdateSandboxEnv(Context().get(), req, &resp));
                   });
                 }});
    w.push_back({"stop-start", {"StopSandbox (toggle)", "StartSandbox (toggle)"}, writes,
                 [this](Side side, int worker, int64_t, Recorder* r) {
                   r->Time(0, [&]() { return Scale(side, worker, false, /*patch=*/true); });
                   r->Time(1, [&]() { return Scale(side, worker, true, /*patch=*/true); });
                 }});
    w.push_back({"create-delete", {"CreateSandbox (fresh name)", "DeleteSandbox"}, writes,
                 [this](Side side, int worker, int64_t seq, Recorder* r) {
                   const std::string name =
                       absl::StrCat(side == Side::kFloor ? "bf-" : "bs-", seq);
                   if (side == Side::kFloor) {
                     const domain::SandboxSpec spec = DomainSpec(name);
                     std::string uid;  // the service has it from its cache
                     r->Time(0, [&]() {
                       absl::StatusOr<std::string> created =
                           WaitValue([&](ValueCallback cb) { floor_->Create(spec, cb); });
                       if (created.ok()) uid = *created;
                       return created.status();
                     });
                     r->Time(1, [&]() {
                       return Wait([&](StatusCallback cb) { floor_->Delete(ns_, name, uid, cb); });
                     });
                     return;
                   }
                   r->Time(0, [&]() {
                     pb::CreateSandboxResponse resp;
                     return FromGrpc(
                         stub_->CreateSandbox(Context().get(), CreateRequest(name), &resp));
                   });
                   r->Time(1, [&]() {
                     pb::DeleteSandboxRequest req;
                     req.set_namespace_(ns_);
                     req.set_name(name);
                     pb::DeleteSandboxResponse resp;
                     return FromGrpc(stub_->DeleteSandbox(Context().get(), req, &resp));
                   });
                 }});
    return w;
  }

 private:
  absl::Status Scale(Side side, int worker, bool start, bool patch) const {
    const std::string name = SandboxName(worker);
    if (side == Side::kFloor) {
      // Without a change the service sends nothing (it knows from its cache).
      if (!patch) return absl::OkStatus();
      return Wait([&](StatusCallback cb) { floor_->Scale(ns_, name, start ? 1 : 0, cb); });
    }
    if (start) {
      pb::StartSandboxRequest req;
      req.set_namespace_(ns_);
      req.set_name(name);
      pb::StartSandboxResponse resp;
      return FromGrpc(stub_->StartSandbox(Context().get(), req, &resp));
    }
    pb::StopSandboxRequest req;
    req.set_namespace_(ns_);
    req.set_name(name);
    pb::StopSandboxResponse resp;
    return FromGrpc(stub_->StopSandbox(Context().get(), req, &resp));
  }

  const std::string ns_;
  const std::unique_ptr<pb::SandboxLifecycle::Stub> stub_;
  FloorClient* const floor_;      // not owned; outlives the Bench
  kube::KubeClient* const kube_;  // the floor's; not owned; outlives the Bench
  const domain::SandboxDefaults defaults_;
};

// Runs units [first, first + count) of `w` on `concurrency` threads (worker k runs the
// units u with u % concurrency == k) and adds the results and the wall time to `out`.
void RunRound(const Workload& w, Side side, int concurrency, int64_t first, int count,
              std::vector<LatencySample>* out) {
  std::vector<std::unique_ptr<Recorder>> recorders;
  recorders.reserve(concurrency);
  for (int k = 0; k < concurrency; ++k) {
    recorders.push_back(std::make_unique<Recorder>(w.operations.size()));
  }
  absl::Notification go;
  std::vector<std::thread> threads;
  threads.reserve(concurrency);
  for (int k = 0; k < concurrency; ++k) {
    threads.emplace_back([&, k]() {
      go.WaitForNotification();
      for (int64_t u = first + k; u < first + count; u += concurrency) {
        w.unit(side, k, u, recorders[k].get());
      }
    });
  }
  const double cpu_start = ProcessCpuSeconds();
  const Clock::time_point start = Clock::now();
  go.Notify();
  for (std::thread& t : threads) t.join();
  const double wall = MillisSince(start) / 1000.0;
  const double cpu = ProcessCpuSeconds() - cpu_start;
  for (size_t op = 0; op < w.operations.size(); ++op) {
    LatencySample round;
    round.wall_seconds = wall;
    round.cpu_seconds = cpu;
    for (auto& r : recorders) round.Merge(r->samples()[op]);
    (*out)[op].Merge(round);
  }
  for (auto& r : recorders) {
    if (!r->first_error().ok()) {
      std::cerr << "  " << w.name << " " << (side == Side::kFloor ? "floor" : "sandboxd")
                << " error: " << r->first_error() << "\n";
      break;
    }
  }
}

struct Row {
  std::string operation;
  int concurrency = 0;
  LatencySample sandboxd, floor;
};

void PrintRow(const Row& row, std::ostream& os) {
  const double s50 = Percentile(row.sandboxd.latencies_ms, 50);
  const double s99 = Percentile(row.sandboxd.latencies_ms, 99);
  const double f50 = Percentile(row.floor.latencies_ms, 50);
  const double f99 = Percentile(row.floor.latencies_ms, 99);
  const double ratio = f50 > 0 ? s50 / f50 : 0;
  const bool met = ratio <= 1.10 && s99 - f99 <= 2.0;
  os << absl::StrFormat(
      "| %-30s | %3d | %4d/%-4d | %3d/%-3d | %8.2f | %8.2f | %7.1f | %8.2f | %8.2f | %7.1f | %5.2f "
      "| %+7.2f | %-3s | %5.2f/%-5.2f |\n",
      row.operation, row.concurrency, row.sandboxd.latencies_ms.size(),
      row.floor.latencies_ms.size(), row.sandboxd.errors, row.floor.errors, s50, s99,
      Throughput(row.sandboxd), f50, f99, Throughput(row.floor), ratio, s99 - f99,
      met ? "yes" : "no", CpuMsPerCall(row.sandboxd), CpuMsPerCall(row.floor));
}

void PrintHeader(std::ostream& os) {
  os << "| operation                      |   c | ok s/f    | err s/f | sd p50ms | sd p99ms |  sd /s "
        "| fl p50ms | fl p99ms |  fl /s | p50 x | p99 +ms | met | cpu ms s/f  |\n"
        "|--------------------------------|----:|-----------|---------|---------:|---------:|"
        "--------:|---------:|---------:|--------:|------:|--------:|-----|-------------|\n";
}

void WriteCsv(const std::vector<Row>& rows, const std::string& path) {
  std::ofstream out(path);
  out << "operation,concurrency,sandboxd_calls,sandboxd_errors,sandboxd_p50_ms,sandboxd_p99_ms,"
         "sandboxd_calls_per_s,floor_calls,floor_errors,floor_p50_ms,floor_p99_ms,"
         "floor_calls_per_s,p50_ratio,p99_diff_ms,sandboxd_cpu_ms_per_call,floor_cpu_ms_per_call\n";
  for (const Row& row : rows) {
    const double s50 = Percentile(row.sandboxd.latencies_ms, 50);
    const double s99 = Percentile(row.sandboxd.latencies_ms, 99);
    const double f50 = Percentile(row.floor.latencies_ms, 50);
    const double f99 = Percentile(row.floor.latencies_ms, 99);
    out << absl::StrFormat("\"%s\",%d,%d,%d,%.3f,%.3f,%.1f,%d,%d,%.3f,%.3f,%.1f,%.3f,%.3f,%.3f,%.3f\n",
                           row.operation, row.concurrency, row.sandboxd.latencies_ms.size(),
                           row.sandboxd.errors, s50, s99, Throughput(row.sandboxd),
                           row.floor.latencies_ms.size(), row.floor.errors, f50, f99,
                           Throughput(row.floor), f50 > 0 ? s50 / f50 : 0, s99 - f99,
                           CpuMsPerCall(row.sandboxd), CpuMsPerCall(row.floor));
  }
}

// --bulk: one phase (creates or deletes of `count` sandboxes of one side) on `concurrency`
// threads; returns its wall time in seconds and prints it with the errors.
double BulkPhase(const Bench& bench, Side side, bool create, int count, int concurrency,
                 std::vector<std::string>* uids) {
  std::vector<int> errors(concurrency, 0);
  std::vector<absl::Status> first(concurrency);
  absl::Notification go;
  std::vector<std::thread> threads;
  threads.reserve(concurrency);
  for (int k = 0; k < concurrency; ++k) {
    threads.emplace_back([&, k]() {
      go.WaitForNotification();
      for (int i = k; i < count; i += concurrency) {
        const std::string name = absl::StrFormat("%s-%04d", side == Side::kFloor ? "bf" : "bs", i);
        absl::Status s = create ? bench.BulkCreate(side, name, &(*uids)[i])
                                : bench.BulkDelete(side, name, (*uids)[i]);
        if (!s.ok() && errors[k]++ == 0) first[k] = s;
      }
    });
  }
  const double cpu_start = ProcessCpuSeconds();
  const Clock::time_point start = Clock::now();
  go.Notify();
  for (std::thread& t : threads) t.join();
  const double wall = MillisSince(start) / 1000.0;
  const double cpu = ProcessCpuSeconds() - cpu_start;
  int total_errors = 0;
  absl::Status first_error;
  for (int k = 0; k < concurrency; ++k) {
    total_errors += errors[k];
    if (first_error.ok() && !first[k].ok()) first_error = first[k];
  }
  std::cout << absl::StrFormat("| %-8s | %-6s | %5d | %4d | %8.2f | %7.1f | %8.2f |\n",
                               side == Side::kFloor ? "floor" : "sandboxd",
                               create ? "create" : "delete", count, total_errors, wall,
                               count / wall, cpu);
  std::cout.flush();
  if (!first_error.ok()) std::cerr << "  first error: " << first_error << "\n";
  return wall;
}

// --bulk: `count` creates then `count` deletes per side, phases in the order sandboxd
// create, floor create, floor delete, sandboxd delete (ABBA), and the ratios.
int RunBulk(const Bench& bench, int count, int concurrency) {
  std::vector<std::string> sd_uids(count), fl_uids(count);
  std::cout << "| side     | phase  | calls | err  | wall s   | calls/s | cpu s    |\n"
               "|----------|--------|------:|-----:|---------:|--------:|---------:|\n";
  const double sd_create = BulkPhase(bench, Side::kSandboxd, true, count, concurrency, &sd_uids);
  const double fl_create = BulkPhase(bench, Side::kFloor, true, count, concurrency, &fl_uids);
  const double fl_delete = BulkPhase(bench, Side::kFloor, false, count, concurrency, &fl_uids);
  const double sd_delete = BulkPhase(bench, Side::kSandboxd, false, count, concurrency, &sd_uids);
  std::cout << absl::StrFormat(
      "\ncreate: sandboxd %.2f s, floor %.2f s, ratio %.2fx\n"
      "delete: sandboxd %.2f s, floor %.2f s, ratio %.2fx\n"
      "total:  sandboxd %.2f s, floor %.2f s, ratio %.2fx\n",
      sd_create, fl_create, sd_create / fl_create, sd_delete, fl_delete, sd_delete / fl_delete,
      sd_create + sd_delete, fl_create + fl_delete,
      (sd_create + sd_delete) / (fl_create + fl_delete));
  return 0;
}

// Polls ListSandboxes until sandboxd serves (its watch cache has synced; UNAVAILABLE
// before) or `timeout` passes.
bool WaitServing(const Bench& bench, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    pb::ListSandboxesRequest req;
    req.set_namespace_(bench.ns());
    pb::ListSandboxesResponse resp;
    grpc::Status s = bench.stub()->ListSandboxes(Bench::Context().get(), req, &resp);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return true;
    absl::SleepFor(absl::Milliseconds(500));
  }
  return false;
}

// Polls GetSandbox until every sandbox is RUNNING or `timeout` passes.
bool WaitRunning(const Bench& bench, int count, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<bool> running(count, false);
  while (absl::Now() < deadline) {
    int left = 0;
    for (int i = 0; i < count; ++i) {
      if (running[i]) continue;
      pb::GetSandboxRequest req;
      req.set_namespace_(bench.ns());
      req.set_name(SandboxName(i));
      pb::GetSandboxResponse resp;
      grpc::Status s = bench.stub()->GetSandbox(Bench::Context().get(), req, &resp);
      running[i] = s.ok() && resp.sandbox().phase() == pb::SANDBOX_PHASE_RUNNING;
      if (!running[i]) ++left;
    }
    if (left == 0) return true;
    std::cerr << "waiting for " << left << " sandboxes to be RUNNING\n";
    absl::SleepFor(absl::Seconds(2));
  }
  return false;
}

int Main() {
  testing::Plane plane;
  const std::string ns = plane.CreateNamespace("bench");
  std::cerr << "namespace " << ns << "\n";
  int rc = 0;
  {
    server::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.metrics_listen_address = "127.0.0.1:0";  // not 9090: processes run side by side
    config.tls.plaintext = true;
    config.fair_use.calls_per_second = 0;  // the benchmark is one caller at full speed
    config.kube.kubeconfig = plane.sandboxd_kubeconfig();
    config.kube.qps = absl::GetFlag(FLAGS_kube_qps);
    config.kube.burst = absl::GetFlag(FLAGS_kube_burst);
    config.sandbox_defaults.image = kImage;
    config.sandbox_defaults.tls_secret = "wildcard-tls";
    absl::StatusOr<std::unique_ptr<server::SandboxdServer>> server =
        server::SandboxdServer::Start(config);
    if (!server.ok()) {
      std::cerr << "start sandboxd: " << server.status() << "\n";
      plane.DeleteNamespace(ns);
      return 1;
    }

    kube::KubeConfigLoadOptions load;
    load.kubeconfig_env = plane.sandboxd_kubeconfig();
    absl::StatusOr<kube::KubeConfig> kube_config = kube::LoadKubeConfig(load);
    kube::CurlKubeClientOptions kube_options;
    kube_options.qps = absl::GetFlag(FLAGS_floor_kube_qps).value_or(config.kube.qps);
    kube_options.burst = absl::GetFlag(FLAGS_floor_kube_burst).value_or(config.kube.burst);
    std::cerr << absl::StrFormat("kube qps/burst: sandboxd %g/%d, floor %g/%d\n", config.kube.qps,
                                 config.kube.burst, kube_options.qps, kube_options.burst);
    absl::StatusOr<std::unique_ptr<kube::CurlKubeClient>> kube =
        kube_config.ok() ? kube::CurlKubeClient::Create(*kube_config, kube_options)
                         : absl::StatusOr<std::unique_ptr<kube::CurlKubeClient>>(
                               kube_config.status());
    if (!kube.ok()) {
      std::cerr << "floor client: " << kube.status() << "\n";
      plane.DeleteNamespace(ns);
      return 1;
    }
    FloorClient floor(kube->get(), config.sandbox_defaults);
    plane.CreateCaller(ns, "bench", "sandboxd-user", ns);
    auto channel = testing::TokenChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                                         plane.Token(ns, "bench"));
    Bench bench(ns, pb::SandboxLifecycle::NewStub(channel), &floor, kube->get(),
                config.sandbox_defaults);
    if (!WaitServing(bench, absl::Minutes(2))) std::cerr << "sandboxd is not serving\n";
    if (const int bulk = absl::GetFlag(FLAGS_bulk); bulk > 0) {
      spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_sandboxd_log_level)));
      rc = RunBulk(bench, bulk, absl::GetFlag(FLAGS_bulk_concurrency));
      spdlog::set_level(spdlog::level::info);
      (*server)->Shutdown(absl::Seconds(5));
      plane.DeleteNamespace(ns);
      std::cerr << "deleted namespace " << ns << "\n";
      return rc;
    }

    // Sandboxes up front, one per worker.
    const int sandboxes = absl::GetFlag(FLAGS_sandboxes);
    std::vector<int> levels;
    for (absl::string_view c : absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',')) {
      int level = 0;
      if (absl::SimpleAtoi(c, &level) && level > 0) levels.push_back(std::min(level, sandboxes));
    }
    for (int i = 0; i < sandboxes; ++i) {
      pb::CreateSandboxResponse resp;
      grpc::Status s = bench.stub()->CreateSandbox(Bench::Context().get(),
                                                   bench.CreateRequest(SandboxName(i)), &resp);
      if (!s.ok()) std::cerr << "create " << SandboxName(i) << ": " << s.error_message() << "\n";
    }
    if (!WaitRunning(bench, sandboxes, absl::Minutes(5))) {
      std::cerr << "sandboxes did not reach RUNNING\n";
      rc = 1;
    }

    // What the floor needs to know: each sandbox's spec as stored (for the spec hash of
    // an env update) and the children selector of the first list page.
    std::map<int, domain::SandboxSpec> specs;
    for (int i = 0; i < sandboxes && rc == 0; ++i) {
      absl::Notification got;
      kube->get()->Get(kube::ObjectRef{kube::Kind::kStatefulSet, ns, SandboxName(i)}, "", {},
                       [&](absl::StatusOr<std::string> body) {
                         if (body.ok()) {
                           auto sts = kube::Decode<kube::StatefulSet>(*body);
                           if (sts.ok()) specs[i] = domain::SpecFromStatefulSet(*sts);
                         }
                         got.Notify();
                       });
      got.WaitForNotification();
    }
    const int page_size = absl::GetFlag(FLAGS_page_size);
    std::string children_selector;
    {
      absl::Notification got;
      kube::ListOptions list;
      list.label_selector = absl::StrCat(domain::kLabelManagedBy, "=", domain::kManagedByValue);
      list.limit = page_size;
      kube->get()->List(kube::Kind::kStatefulSet, ns, list, {},
                        [&](absl::StatusOr<std::string> body) {
                          if (body.ok()) {
                            auto sets = kube::Decode<kube::StatefulSetList>(*body);
                            std::vector<std::string> names;
                            if (sets.ok()) {
                              for (const auto& s : sets->items) names.push_back(s.metadata.name);
                            }
                            children_selector = absl::StrCat(domain::kLabelApp, " in (",
                                                             absl::StrJoin(names, ","), ")");
                          }
                          got.Notify();
                        });
      got.WaitForNotification();
    }
    if (static_cast<int>(specs.size()) != sandboxes) rc = 1;

    spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_sandboxd_log_level)));
    std::vector<Row> rows;
    const std::vector<std::string> filter =
        absl::StrSplit(absl::GetFlag(FLAGS_ops), ',', absl::SkipEmpty());
    const int max_rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
    int64_t seq = 0;  // unit numbers: unique names and env values across the whole run
    if (rc == 0) {
      std::vector<Workload> workloads = bench.Workloads(children_selector, page_size);
      // Warm-up (discarded): connections, thread pools, caches on both sides.
      for (Side side : {Side::kSandboxd, Side::kFloor}) {
        std::vector<LatencySample> discard(1);
        RunRound(workloads[0], side, std::min(16, sandboxes), seq, 64, &discard);
        seq += 64;
      }
      PrintHeader(std::cout);
      for (const Workload& w : workloads) {
        if (!filter.empty() && std::find(filter.begin(), filter.end(), w.name) == filter.end()) {
          continue;
        }
        for (int c : levels) {
          std::vector<LatencySample> sd(w.operations.size()), fl(w.operations.size());
          // Every round keeps all `c` workers busy: at least c units per round.
          const int rounds = std::max(1, std::min(max_rounds, w.units / c));
          for (int r = 0; r < rounds; ++r) {
            const int count = w.units / rounds + (r < w.units % rounds ? 1 : 0);
            const bool sandboxd_first = r % 4 == 0 || r % 4 == 3;  // ABBA
            for (Side side : sandboxd_first ? std::vector<Side>{Side::kSandboxd, Side::kFloor}
                                            : std::vector<Side>{Side::kFloor, Side::kSandboxd}) {
              RunRound(w, side, c, seq, count, side == Side::kSandboxd ? &sd : &fl);
              seq += count;
            }
          }
          for (size_t op = 0; op < w.operations.size(); ++op) {
            rows.push_back(Row{w.operations[op], c, sd[op], fl[op]});
            PrintRow(rows.back(), std::cout);
          }
          std::cout.flush();
        }
      }
    }
    spdlog::set_level(spdlog::level::info);
    if (const std::string csv = absl::GetFlag(FLAGS_csv); !csv.empty() && !rows.empty()) {
      WriteCsv(rows, csv);
      std::cerr << "wrote " << csv << "\n";
    }
    (*server)->Shutdown(absl::Seconds(5));
  }
  plane.DeleteNamespace(ns);
  std::cerr << "deleted namespace " << ns << "\n";
  return rc;
}

}  // namespace
}  // namespace sandboxd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as server/main.cc
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const int rc = sandboxd::bench::Main();
  curl_global_cleanup();
  return rc;
}
