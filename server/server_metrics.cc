#include "server/server_metrics.h"

#include <array>
#include <exception>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/client_metric.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/status.h"

namespace sandboxd::server {
namespace {

constexpr char kGrpcService[] = "sandbox.v1.SandboxLifecycle";
constexpr int kGrpcCodes = 17;  // OK .. UNAUTHENTICATED

// go-grpc-prometheus's default buckets (Prometheus' DefBuckets).
const std::vector<double>& GrpcBuckets() {
  static const std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,    2.5,   5,    10};
  return buckets;
}
// client-go's buckets of rest_client_request_duration_seconds and the rate limiter.
const std::vector<double>& RestBuckets() {
  static const std::vector<double> buckets = {0.005, 0.025, 0.1, 0.25, 0.5, 1,
                                              2,     4,     8,   15,   30,  60};
  return buckets;
}

const char* TypeName(ServerMetrics::RpcType type) {
  return type == ServerMetrics::RpcType::kUnary ? "unary" : "server_stream";
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// Builds one family of the scrape-time state.
prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void AddSample(prometheus::MetricFamily* family, double value,
               std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (family->type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family->metric.push_back(std::move(metric));
}

// The metrics read from the server's state at each scrape.
class StateCollectable final : public prometheus::Collectable {
 public:
  void SetSource(std::function<ServerMetrics::State()> source) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    source_ = std::move(source);
  }

  std::vector<prometheus::MetricFamily> Collect() const ABSL_LOCKS_EXCLUDED(mu_) override {
    std::function<ServerMetrics::State()> source;
    {
      absl::MutexLock lock(&mu_);
      source = source_;
    }
    if (!source) return {};
    const ServerMetrics::State s = source();
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;

    prometheus::MetricFamily phases =
        Family("sandboxd_sandboxes", "Sandboxes in the watch cache by phase.", MetricType::Gauge);
    for (domain::Phase phase : {domain::Phase::kStarting, domain::Phase::kRunning,
                                domain::Phase::kStopping, domain::Phase::kStopped,
                                domain::Phase::kDeleting, domain::Phase::kError}) {
      auto it = s.sandboxes_by_phase.find(phase);
      AddSample(&phases, it == s.sandboxes_by_phase.end() ? 0 : static_cast<double>(it->second),
                {{"phase", domain::PhaseName(phase)}});
    }
    out.push_back(std::move(phases));

    prometheus::MetricFamily reasons =
        Family("sandboxd_sandboxes_in_error", "Sandboxes in phase ERROR by error reason.",
               MetricType::Gauge);
    for (domain::ErrorReason reason :
         {domain::ErrorReason::kImagePullFailure, domain::ErrorReason::kCrashLoop,
          domain::ErrorReason::kUnschedulable, domain::ErrorReason::kClaimNotBound,
          domain::ErrorReason::kContainerConfig}) {
      auto it = s.sandboxes_by_error_reason.find(reason);
      AddSample(&reasons,
                it == s.sandboxes_by_error_reason.end() ? 0 : static_cast<double>(it->second),
                {{"reason", domain::ErrorReasonName(reason)}});
    }
    out.push_back(std::move(reasons));

    auto single = [&out](const char* name, const char* help, MetricType type, double value) {
      prometheus::MetricFamily family = Family(name, help, type);
      AddSample(&family, value);
      out.push_back(std::move(family));
    };
    single("sandboxd_cache_synced",
           "1 once the watch cache has listed StatefulSets, pods and claims (health SERVING "
           "follows), else 0.",
           MetricType::Gauge, s.cache_synced ? 1 : 0);
    single("sandboxd_reflector_lists_total",
           "LISTs started by the watch cache's reflectors (the first list of each kind "
           "included).",
           MetricType::Counter, static_cast<double>(s.reflector_lists));
    single("sandboxd_reflector_relists_after_410_total",
           "Relists after a watch ended with 410 Gone (its resourceVersion too old).",
           MetricType::Counter, static_cast<double>(s.reflector_relists_after_410));
    single("sandboxd_reflector_watches_total", "Watches started by the cache's reflectors.",
           MetricType::Counter, static_cast<double>(s.reflector_watches));
    single("sandboxd_watch_events_applied_total",
           "Kubernetes watch events received by the watch cache (bookmarks included).",
           MetricType::Counter, static_cast<double>(s.watch_events_applied));
    single("sandboxd_cache_input_queue_depth",
           "Kubernetes objects received and not yet applied to the watch cache.",
           MetricType::Gauge, static_cast<double>(s.cache_input_queue));
    single("sandboxd_fanout_queue_depth", "Watch-stream wake-ups waiting for a fan-out thread.",
           MetricType::Gauge, static_cast<double>(s.fanout_queue));
    single("sandboxd_watch_stream_queued_events",
           "Events waiting in the queues of all watch streams.", MetricType::Gauge,
           static_cast<double>(s.stream_queued_events));
    single("sandboxd_watch_stream_merged_updates_total",
           "Queued updates of a slow stream replaced by a newer state of the same sandbox.",
           MetricType::Counter, static_cast<double>(s.stream_merged_updates));
    single("sandboxd_watch_stream_dropped_updates_total",
           "Queued updates dropped when a slow stream's queue collapsed (the stream then "
           "gets RESET and a fresh initial state).",
           MetricType::Counter, static_cast<double>(s.stream_dropped_updates));
    single("sandboxd_orphan_claims_deleted_total",
           "Claims of deleted sandboxes that were left without an owner, deleted by the "
           "claim janitor.",
           MetricType::Counter, static_cast<double>(s.orphan_claims_deleted));
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::function<ServerMetrics::State()> source_ ABSL_GUARDED_BY(mu_);
};

// client-go's rest_client_* metrics.
class PrometheusKubeObserver final : public kube::KubeClientObserver {
 public:
  explicit PrometheusKubeObserver(prometheus::Registry& registry)
      : requests_(prometheus::BuildCounter()
                      .Name("rest_client_requests_total")
                      .Help("Kubernetes API requests (attempts), by HTTP status code, method "
                            "and host; code \"<error>\" when no response arrived.")
                      .Register(registry)),
        latency_(prometheus::BuildHistogram()
                     .Name("rest_client_request_duration_seconds")
                     .Help("Kubernetes API request latency (watches excluded), by verb and "
                           "host.")
                     .Register(registry)),
        throttle_(prometheus::BuildHistogram()
                      .Name("rest_client_rate_limiter_duration_seconds")
                      .Help("Time Kubernetes API requests waited in the client-side rate "
                            "limiter, by verb and host.")
                      .Register(registry)) {}

  void AttemptDone(const std::string& method, const std::string& host, int code,
                   absl::Duration latency, bool watch) override {
    requests_.Add({{"code", code == 0 ? "<error>" : absl::StrCat(code)},
                   {"method", method},
                   {"host", host}})
        .Increment();
    if (!watch) latency_.Add({{"verb", method}, {"host", host}}, RestBuckets()).Observe(Seconds(latency));
  }

  void Throttled(const std::string& method, const std::string& host,
                 absl::Duration wait) override {
    throttle_.Add({{"verb", method}, {"host", host}}, RestBuckets()).Observe(Seconds(wait));
  }

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Histogram>& throttle_;
};

}  // namespace

const char* ServerMetrics::CodeName(grpc::StatusCode code) {
  static constexpr std::array<const char*, kGrpcCodes> kNames = {
      "OK",       "Canceled",          "Unknown",           "InvalidArgument",
      "DeadlineExceeded", "NotFound",   "AlreadyExists",     "PermissionDenied",
      "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
      "Unimplemented", "Internal",     "Unavailable",       "DataLoss",
      "Unauthenticated"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < kGrpcCodes ? kNames[index] : "Unknown";
}

class ServerMetrics::Impl {
 public:
  Impl(const std::string& version, const std::string& kube_version)
      : registry_(std::make_shared<prometheus::Registry>()),
        state_(std::make_shared<StateCollectable>()),
        started_(prometheus::BuildCounter()
                     .Name("grpc_server_started_total")
                     .Help("RPCs started on the server.")
                     .Register(*registry_)),
        handled_(prometheus::BuildCounter()
                     .Name("grpc_server_handled_total")
                     .Help("RPCs completed on the server, regardless of success or failure.")
                     .Register(*registry_)),
        handling_(prometheus::BuildHistogram()
                      .Name("grpc_server_handling_seconds")
                      .Help("Time from the start of an RPC to its status (streams included).")
                      .Register(*registry_)),
        received_(prometheus::BuildCounter()
                      .Name("grpc_server_msg_received_total")
                      .Help("Messages received by the server.")
                      .Register(*registry_)),
        sent_(prometheus::BuildCounter()
                  .Name("grpc_server_msg_sent_total")
                  .Help("Messages sent by the server.")
                  .Register(*registry_)),
        streams_(prometheus::BuildGauge()
                     .Name("sandboxd_watch_streams")
                     .Help("Watch streams receiving events now.")
                     .Register(*registry_)
                     .Add({})),
        resets_(prometheus::BuildCounter()
                    .Name("sandboxd_watch_resets_total")
                    .Help("RESET events sent: cause \"resume_token\" as a stream's first "
                          "message (a token too old, foreign or incomplete), \"overflow\" "
                          "later (the stream's queue collapsed).")
                    .Register(*registry_)),
        kube_observer_(std::make_shared<PrometheusKubeObserver>(*registry_)) {
    prometheus::BuildGauge()
        .Name("sandboxd_build_info")
        .Help("Always 1; labels: sandboxd's version and the Kubernetes API version it was "
              "tested against.")
        .Register(*registry_)
        .Add({{"version", version}, {"kube_version", kube_version}})
        .Set(1);
  }

  // The metrics of one (type, method), created on first use.
  struct Method {
    prometheus::Counter* started = nullptr;
    prometheus::Counter* received = nullptr;
    prometheus::Counter* sent = nullptr;
    prometheus::Histogram* handling = nullptr;
    std::array<prometheus::Counter*, kGrpcCodes> handled{};
  };

  Method& MethodOf(RpcType type, absl::string_view method) ABSL_LOCKS_EXCLUDED(mu_) {
    const std::string key = absl::StrCat(TypeName(type), "/", method);
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = methods_.try_emplace(key);
    if (inserted) {
      const prometheus::Labels labels = Labels(type, method);
      it->second.started = &started_.Add(labels);
      it->second.received = &received_.Add(labels);
      it->second.sent = &sent_.Add(labels);
      it->second.handling = &handling_.Add(labels, GrpcBuckets());
    }
    return it->second;
  }

  prometheus::Counter& Handled(RpcType type, absl::string_view method, grpc::StatusCode code)
      ABSL_LOCKS_EXCLUDED(mu_) {
    Method& m = MethodOf(type, method);
    int index = static_cast<int>(code);
    if (index < 0 || index >= kGrpcCodes) index = static_cast<int>(grpc::StatusCode::UNKNOWN);
    absl::MutexLock lock(&mu_);  // guards m.handled
    if (m.handled[index] == nullptr) {
      prometheus::Labels labels = Labels(type, method);
      labels["grpc_code"] = CodeName(static_cast<grpc::StatusCode>(index));
      m.handled[index] = &handled_.Add(labels);
    }
    return *m.handled[index];
  }

  static prometheus::Labels Labels(RpcType type, absl::string_view method) {
    return {{"grpc_type", TypeName(type)},
            {"grpc_service", kGrpcService},
            {"grpc_method", std::string(method)}};
  }

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<StateCollectable> state_;
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_;
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Family<prometheus::Counter>& sent_;
  prometheus::Gauge& streams_;
  prometheus::Family<prometheus::Counter>& resets_;
  std::shared_ptr<PrometheusKubeObserver> kube_observer_;

  absl::Mutex mu_;
  // Node-stable: callers keep references. A Method's `handled` is guarded by mu_ as well.
  std::unordered_map<std::string, Method> methods_ ABSL_GUARDED_BY(mu_);

  absl::Mutex exposer_mu_;
  std::unique_ptr<prometheus::Exposer> exposer_ ABSL_GUARDED_BY(exposer_mu_);
};

ServerMetrics::ServerMetrics(std::string version, std::string kube_version)
    : impl_(std::make_unique<Impl>(version, kube_version)) {}

ServerMetrics::~ServerMetrics() { StopServing(); }

void ServerMetrics::SetStateSource(std::function<State()> source) {
  impl_->state_->SetSource(std::move(source));
}

absl::StatusOr<int> ServerMetrics::Serve(const std::string& address) {
  auto listen_failed = [&address](const std::string& why) {
    return domain::MakeError(absl::StatusCode::kUnavailable, domain::reason::kListenFailed,
                             absl::StrCat("metrics: cannot listen on ", address, why),
                             {{"address", address}});
  };
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // One thread: scrapes are rare and each reads the state once.
    exposer = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    return listen_failed(absl::StrCat(": ", e.what()));
  }
  std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty() || ports.front() == 0) return listen_failed("");
  exposer->RegisterCollectable(impl_->registry_);
  exposer->RegisterCollectable(impl_->state_);
  absl::MutexLock lock(&impl_->exposer_mu_);
  impl_->exposer_ = std::move(exposer);
  return ports.front();
}

void ServerMetrics::StopServing() {
  std::unique_ptr<prometheus::Exposer> exposer;
  {
    absl::MutexLock lock(&impl_->exposer_mu_);
    exposer = std::move(impl_->exposer_);
  }
  exposer.reset();  // joins its threads
}

std::string ServerMetrics::TextExposition() const {
  std::vector<prometheus::MetricFamily> families = impl_->registry_->Collect();
  for (prometheus::MetricFamily& f : impl_->state_->Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

std::shared_ptr<kube::KubeClientObserver> ServerMetrics::kube_observer() const {
  return impl_->kube_observer_;
}

void ServerMetrics::RpcStarted(RpcType type, absl::string_view method) {
  Impl::Method& m = impl_->MethodOf(type, method);
  m.started->Increment();
  m.received->Increment();
}

void ServerMetrics::MessageSent(RpcType type, absl::string_view method) {
  impl_->MethodOf(type, method).sent->Increment();
}

void ServerMetrics::RpcHandled(RpcType type, absl::string_view method, grpc::StatusCode code,
                               absl::Duration latency) {
  impl_->Handled(type, method, code).Increment();
  impl_->MethodOf(type, method).handling->Observe(Seconds(latency));
}

void ServerMetrics::StreamSubscribed() { impl_->streams_.Increment(); }
void ServerMetrics::StreamEnded() { impl_->streams_.Decrement(); }

void ServerMetrics::ResetSent(bool first_message) {
  impl_->resets_.Add({{"cause", first_message ? "resume_token" : "overflow"}}).Increment();
}

}  // namespace sandboxd::server
