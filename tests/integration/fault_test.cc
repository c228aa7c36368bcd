// Fault injection between sandboxd and the API server, on the real local control plane
// (tools/kube-local) with the real sandboxd binary as a subprocess: etcd and kube-apiserver
// killed with SIGKILL, sandboxd killed with SIGKILL, and real 429s from API Priority and
// Fairness, each in the middle of a batch of creates, env updates and deletes.
//
// After every scenario one invariant check (CheckInvariants) holds:
//  - every call either succeeded or returned UNAVAILABLE / DEADLINE_EXCEEDED (the call's
//    deadline bounds it: nothing hangs);
//  - retrying the failed calls converges to the requested state (kubectl as the admin is
//    the oracle);
//  - sandboxd's view (ListSandboxes, from its watch cache) equals the API server's;
//  - no object is orphaned or duplicated: the StatefulSets, Services, Ingresses and claims
//    in the namespace are exactly those of the requested sandboxes (sandboxd runs its
//    claim janitor with a 2 s grace, so a claim a lagging StatefulSet controller created
//    after its sandbox was deleted goes within seconds: the check polls for up to 120 s);
//  - every open WatchSandboxes stream either continued or ended with UNAVAILABLE and
//    resumed from its last resume_token, and the state it built equals the oracle's.
// docs/reliability.md describes the scenarios and their figures.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

namespace sandboxd {
namespace {

namespace pb = sandbox::v1;
using Env = std::map<std::string, std::string>;
using State = std::map<std::string, Env>;  // sandbox name -> its FT_* variables

constexpr char kImage[] = "registry.local/agent:1";
constexpr auto kCallDeadline = std::chrono::seconds(15);
constexpr absl::Duration kConverge = absl::Seconds(150);
constexpr absl::Duration kWait = absl::Seconds(120);
constexpr char kEnvPrefix[] = "FT_";
// sandboxd's --orphan_claim_grace in these tests (src/service/claim_janitor.h).
constexpr char kShortJanitorGrace[] = "--orphan_claim_grace=2s";

std::string KubeLocal() { return SANDBOXD_SOURCE_DIR "/tools/kube-local/kube-local"; }

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));  // else getsockname: 0
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Starts `args` (argv[0] a path) with stdout and stderr appended to `log_path`.
pid_t Spawn(std::vector<std::string> args, const std::string& log_path) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Every call made and every fault injected by one scenario, and the invariant violations
// found. Thread-safe.
class Ledger {
 public:
  void Call(const std::string& what, const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    ++calls_;
    ++codes_[status.error_code()];
    if (!status.ok() && status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      violations_.push_back(
          absl::StrCat(what, ": code ", status.error_code(), ": ", status.error_message()));
    }
  }
  void Fault(const std::string& what) {
    absl::MutexLock lock(&mu_);
    ++faults_[what];
  }
  void Violation(const std::string& what) {
    absl::MutexLock lock(&mu_);
    violations_.push_back(what);
  }
  long calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::string> violations() const {
    absl::MutexLock lock(&mu_);
    return violations_;
  }
  std::string Summary() const {
    absl::MutexLock lock(&mu_);
    std::string codes;
    for (const auto& [code, n] : codes_) absl::StrAppend(&codes, " code", code, "=", n);
    long faults = 0;
    for (const auto& [what, n] : faults_) faults += n;
    return absl::StrCat(calls_, " calls (", codes, " ), ", faults, " faults [",
                        absl::StrJoin(faults_, ", ", absl::PairFormatter(" x")), "], ",
                        violations_.size(), " violations");
  }

 private:
  mutable absl::Mutex mu_;
  long calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, long> codes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, long> faults_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
};

// The sandboxd binary as a subprocess on fixed ports of 127.0.0.1 (so that a restarted
// process serves the same address and clients' channels reconnect). Thread-compatible.
// Memory AddressSanitizer holds on purpose in a sanitizer build (SANDBOXD_ASAN): freed
// blocks wait in its quarantine (256 MiB by default) so that a use after free is caught,
// plus their shadow (1/8). Leaks are LeakSanitizer's to find there, not the RSS bound's.
#ifdef SANDBOXD_ASAN
constexpr long kSanitizerHeldKib = (256L + 32L) * 1024;
#else
constexpr long kSanitizerHeldKib = 0;
#endif

class SandboxdProcess {
 public:
  SandboxdProcess(std::string kubeconfig, std::string log_path, std::vector<std::string> flags)
      : kubeconfig_(std::move(kubeconfig)),
        log_path_(std::move(log_path)),
        flags_(std::move(flags)),
        port_(FreePort()),
        metrics_port_(FreePort()) {}
  ~SandboxdProcess() { Stop(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }

  void Start() {
    std::vector<std::string> args = {
        SANDBOXD_BINARY,
        absl::StrCat("--listen_address=127.0.0.1:", port_),
        absl::StrCat("--metrics_listen_address=127.0.0.1:", metrics_port_),
        "--plaintext",
        absl::StrCat("--kubeconfig=", kubeconfig_),
        absl::StrCat("--default_image=", kImage),
        "--shutdown_grace=2s"};
    args.insert(args.end(), flags_.begin(), flags_.end());
    pid_ = Spawn(std::move(args), log_path_);
  }
  // SIGKILL: no graceful shutdown, in-flight calls and writes are cut off.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Resident set size in KiB (/proc/<pid>/status VmRSS); -1 if unknown.
  long RssKib() const {
    std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
    for (std::string line; std::getline(status, line);) {
      absl::string_view rest = line;
      if (absl::ConsumePrefix(&rest, "VmRSS:")) {
        long kib = -1;
        if (absl::SimpleAtoi(absl::StripSuffix(absl::StripAsciiWhitespace(rest), " kB"), &kib))
          return kib;
      }
    }
    return -1;
  }
  // The last warnings and errors of its log.
  std::string LogTail() const {
    return testing::RunCommand(absl::StrCat("grep -aE ' (warning|error) ' ", log_path_,
                                            " | tail -n 30 | cut -c1-400"))
        .output;
  }

 private:
  const std::string kubeconfig_;
  const std::string log_path_;
  const std::vector<std::string> flags_;  // after the fixed ones
  const int port_;
  const int metrics_port_;
  pid_t pid_ = -1;
};

// A WatchSandboxes stream on a namespace, kept open on its own thread: it applies every
// message to a local state and, when the stream ends with UNAVAILABLE, resumes from the
// last resume_token. Any other end is a violation. Thread-safe.
class Watcher {
 public:
  Watcher(std::shared_ptr<grpc::Channel> channel, std::string ns, Ledger* ledger)
      : stub_(pb::SandboxLifecycle::NewStub(channel)), ns_(std::move(ns)), ledger_(ledger) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Watcher() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      if (ctx_ != nullptr) ctx_->TryCancel();
    }
    thread_.join();
  }
  State state() const {
    absl::MutexLock lock(&mu_);
    return state_;
  }
  int resumes() const {
    absl::MutexLock lock(&mu_);
    return resumes_;
  }

 private:
  void Run() {
    std::string token;
    while (true) {
      auto ctx = std::make_shared<grpc::ClientContext>();
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        ctx_ = ctx;
      }
      pb::WatchSandboxesRequest req;
      req.set_namespace_(ns_);
      req.set_resume_token(token);
      auto reader = stub_->WatchSandboxes(ctx.get(), req);
      pb::WatchSandboxesResponse msg;
      while (reader->Read(&msg)) {
        absl::MutexLock lock(&mu_);
        Apply(msg);
        token = msg.resume_token();
      }
      grpc::Status status = reader->Finish();
      absl::MutexLock lock(&mu_);
      ctx_ = nullptr;
      if (stopping_) return;
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
        ledger_->Violation(absl::StrCat("watch of ", ns_, " ended with code ", status.error_code(),
                                        ": ", status.error_message()));
        return;
      }
      ++resumes_;
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(250));
    }
  }
  void Apply(const pb::WatchSandboxesResponse& msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string& name = msg.sandbox().spec().name();
    switch (msg.type()) {
      case pb::WATCH_EVENT_TYPE_RESET: state_.clear(); break;
      case pb::WATCH_EVENT_TYPE_ADDED:
      case pb::WATCH_EVENT_TYPE_MODIFIED: {
        Env env;
        for (const auto& [k, v] : msg.sandbox().spec().env()) {
          if (absl::StartsWith(k, kEnvPrefix)) env[k] = v;
        }
        state_[name] = env;
        break;
      }
      case pb::WATCH_EVENT_TYPE_DELETED: state_.erase(name); break;
      default: break;
    }
  }

  const std::unique_ptr<pb::SandboxLifecycle::Stub> stub_;
  const std::string ns_;
  Ledger* const ledger_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<grpc::ClientContext> ctx_ ABSL_GUARDED_BY(mu_);
  State state_ ABSL_GUARDED_BY(mu_);
  int resumes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

std::string StateString(const State& state) {
  std::string out;
  for (const auto& [name, env] : state) {
    absl::StrAppend(&out, name, "{", absl::StrJoin(env, ",", absl::PairFormatter("=")), "} ");
  }
  return out;
}

class FaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { plane_ = new testing::Plane(); }

  void SetUp() override {
    ns_ = plane_->CreateNamespace("faults");
    plane_->CreateCaller(ns_, "tester", "sandboxd-user", ns_);
    token_ = plane_->Token(ns_, "tester");
    ASSERT_FALSE(token_.empty());
    char dir[] = "/tmp/fault-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    work_dir_ = dir;
  }
  void TearDown() override {
    watchers_.clear();
    if (sandboxd_ != nullptr) {
      if (HasFailure()) std::cerr << "sandboxd log:\n" << sandboxd_->LogTail();
      sandboxd_.reset();
    }
    std::cerr << "[fault_test] " << ::testing::UnitTest::GetInstance()->current_test_info()->name()
              << ": " << ledger_.Summary() << "\n";
    plane_->DeleteNamespace(ns_);
    testing::RunCommand(absl::StrCat("rm -rf ", work_dir_));
  }

  // Starts sandboxd with `kubeconfig` (default: the plane's sandboxd identity) and `flags`
  // and opens a WatchSandboxes stream on the namespace once it serves.
  void StartSandboxd(const std::string& kubeconfig = "",
                     std::vector<std::string> flags = {kShortJanitorGrace}) {
    sandboxd_ = std::make_unique<SandboxdProcess>(
        kubeconfig.empty() ? plane_->sandboxd_kubeconfig() : kubeconfig,
        work_dir_ + "/sandboxd.log", std::move(flags));
    sandboxd_->Start();
    channel_ = testing::TokenChannel(sandboxd_->address(), token_);
    stub_ = pb::SandboxLifecycle::NewStub(channel_);
    ASSERT_TRUE(WaitUntilServing()) << sandboxd_->LogTail();
    watchers_.push_back(std::make_unique<Watcher>(channel_, ns_, &ledger_));
  }

  bool WaitUntilServing() {
    return testing::Eventually(
        [&] {
          pb::ListSandboxesRequest req;
          req.set_namespace_(ns_);
          pb::ListSandboxesResponse resp;
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
          return stub_->ListSandboxes(&ctx, req, &resp).ok();
        },
        kWait);
  }

  // Repeats `call` (one attempt per deadline) until it succeeds; every attempt is checked
  // by the ledger (OK, UNAVAILABLE or DEADLINE_EXCEEDED). False if it never succeeded or
  // an attempt failed otherwise.
  bool Converge(const std::string& what,
                const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    absl::Time give_up = absl::Now() + kConverge;
    while (true) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
      grpc::Status status = call(&ctx);
      ledger_.Call(what, status);
      if (status.ok()) return true;
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
          status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        return false;
      }
      if (absl::Now() > give_up) {
        ledger_.Violation(absl::StrCat(what, ": did not converge; last code ", status.error_code(),
                                       ": ", status.error_message()));
        return false;
      }
      absl::SleepFor(absl::Milliseconds(250));
    }
  }

  bool Create(const std::string& name, const Env& env, pb::SandboxLifecycle::Stub* stub = nullptr) {
    if (stub == nullptr) stub = stub_.get();
    pb::CreateSandboxRequest req;
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_namespace_(ns_);
    req.mutable_spec()->set_project("faults");
    req.mutable_spec()->set_ingress_domain(absl::StrCat(ns_, ".example.test"));
    for (const auto& [k, v] : env) (*req.mutable_spec()->mutable_env())[k] = v;
    return Converge(absl::StrCat("create ", name), [&](grpc::ClientContext* ctx) {
      pb::CreateSandboxResponse resp;
      return stub->CreateSandbox(ctx, req, &resp);
    });
  }
  bool UpdateEnv(const std::string& name, const Env& set,
                 pb::SandboxLifecycle::Stub* stub = nullptr) {
    if (stub == nullptr) stub = stub_.get();
    pb::UpdateSandboxEnvRequest req;
    req.set_namespace_(ns_);
    req.set_name(name);
    for (const auto& [k, v] : set) (*req.mutable_env())[k] = v;
    return Converge(absl::StrCat("update env ", name), [&](grpc::ClientContext* ctx) {
      pb::UpdateSandboxEnvResponse resp;
      return stub->UpdateSandboxEnv(ctx, req, &resp);
    });
  }
  bool Delete(const std::string& name, pb::SandboxLifecycle::Stub* stub = nullptr) {
    if (stub == nullptr) stub = stub_.get();
    pb::DeleteSandboxRequest req;
    req.set_namespace_(ns_);
    req.set_name(name);
    req.set_allow_missing(true);  // a retry after a delete that was applied
    return Converge(absl::StrCat("delete ", name), [&](grpc::ClientContext* ctx) {
      pb::DeleteSandboxResponse resp;
      return stub->DeleteSandbox(ctx, req, &resp);
    });
  }

  // Creates `count` sandboxes pre-NN before the fault (no fault yet: they must succeed).
  State Prepare(int count) {
    State state;
    for (int i = 0; i < count; ++i) {
      std::string name = absl::StrCat("pre-", i);
      state[name] = {{"FT_A", "0"}};
      EXPECT_TRUE(Create(name, state[name]));
    }
    return state;
  }

  // The batch: `workers` threads, each creating three new sandboxes and updating their
  // environment twice, updating one prepared sandbox and deleting another, and deleting
  // one of its own. `fault` runs on its own thread once `fault_after_calls` calls have been
  // made. Returns the requested state.
  State RunBatch(State state, int workers, long fault_after_calls,
                 const std::function<void()>& fault) {
    std::vector<std::string> prepared;
    for (const auto& [name, env] : state) prepared.push_back(name);
    std::vector<State> results(workers);
    std::vector<std::set<std::string>> deleted(workers);
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        State& mine = results[w];
        for (int i = 0; i < 3; ++i) {
          std::string name = absl::StrCat("w", w, "-", i);
          mine[name] = {{"FT_A", "0"}};
          Create(name, mine[name]);
        }
        for (int i = 0; i < 3; ++i) {
          std::string name = absl::StrCat("w", w, "-", i);
          mine[name]["FT_A"] = "1";
          UpdateEnv(name, {{"FT_A", "1"}});
        }
        const size_t updated = 2 * static_cast<size_t>(w);  // then the one deleted
        if (updated < prepared.size()) {
          mine[prepared[updated]] = {{"FT_A", "0"}, {"FT_B", absl::StrCat(w)}};
          UpdateEnv(prepared[updated], {{"FT_B", absl::StrCat(w)}});
        }
        if (updated + 1 < prepared.size()) {
          deleted[w].insert(prepared[updated + 1]);
          Delete(prepared[updated + 1]);
        }
        for (int i = 0; i < 3; ++i) {
          std::string name = absl::StrCat("w", w, "-", i);
          mine[name]["FT_B"] = "x";
          UpdateEnv(name, {{"FT_B", "x"}});
        }
        deleted[w].insert(absl::StrCat("w", w, "-0"));
        Delete(absl::StrCat("w", w, "-0"));
      });
    }
    std::thread fault_thread([&] {
      testing::Eventually([&] { return ledger_.calls() >= fault_after_calls; }, kWait);
      fault();
    });
    for (auto& t : threads) t.join();
    fault_thread.join();
    for (int w = 0; w < workers; ++w) {
      for (const auto& [name, env] : results[w]) state[name] = env;
    }
    for (int w = 0; w < workers; ++w) {
      for (const auto& name : deleted[w]) state.erase(name);
    }
    return state;
  }

  // The API server's StatefulSets of the namespace, by kubectl as the admin.
  State OracleState() {
    testing::CommandResult r = plane_->Kubectl(absl::StrCat(
        "-n ", ns_,
        " get statefulsets -o jsonpath='{range .items[*]}{.metadata.name}{\" \"}"
        "{range .spec.template.spec.containers[0].env[*]}{.name}={.value}{\" \"}{end}{\"\\n\"}"
        "{end}'"));
    State state;
    if (r.exit_code != 0) return {{"<kubectl failed>", {{"output", r.output}}}};
    for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      Env& env = state[parts[0]];
      for (size_t i = 1; i < parts.size(); ++i) {
        std::pair<std::string, std::string> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
        if (absl::StartsWith(kv.first, kEnvPrefix)) env.insert(kv);
      }
    }
    return state;
  }

  // sandboxd's view: ListSandboxes (its watch cache), every page.
  State SandboxdState() {
    State state;
    pb::ListSandboxesRequest req;
    req.set_namespace_(ns_);
    do {
      pb::ListSandboxesResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
      grpc::Status status = stub_->ListSandboxes(&ctx, req, &resp);
      if (!status.ok()) return {{"<list failed>", {{"message", status.error_message()}}}};
      for (const auto& sandbox : resp.sandboxes()) {
        Env& env = state[sandbox.spec().name()];
        for (const auto& [k, v] : sandbox.spec().env()) {
          if (absl::StartsWith(k, kEnvPrefix)) env[k] = v;
        }
      }
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return state;
  }

  // The objects sandboxd made in the namespace ("kind/name"), and those the requested
  // sandboxes must have: StatefulSet, Service, two Ingresses, the claim of the home
  // volume. (The namespace's NetworkPolicy, shared by its sandboxes and never deleted, is
  // left out.)
  std::set<std::string> OracleObjects() {
    testing::CommandResult r = plane_->Kubectl(absl::StrCat(
        "-n ", ns_, " get statefulsets,services,ingresses,networkpolicies,persistentvolumeclaims",
        " -o name"));
    std::set<std::string> objects;
    for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
      if (line == "networkpolicy.networking.k8s.io/sandboxd-sandboxes") continue;
      objects.insert(std::string(line));
    }
    return objects;
  }
  std::set<std::string> ExpectedObjects(const State& state) {
    std::set<std::string> objects;
    for (const auto& [name, env] : state) {
      objects.insert(absl::StrCat("statefulset.apps/", name));
      objects.insert(absl::StrCat("service/", name, "-service"));
      objects.insert(absl::StrCat("ingress.networking.k8s.io/", name, "-app-ingress"));
      objects.insert(absl::StrCat("ingress.networking.k8s.io/", name, "-ttyd-ingress"));
      objects.insert(absl::StrCat("persistentvolumeclaim/vn-homevn-agent-", name, "-0"));
    }
    return objects;
  }

  // The invariant check of every scenario (see the top of this file).
  void CheckInvariants(const State& requested) {
    State oracle, view, watched;
    std::set<std::string> objects;
    const std::set<std::string> expected_objects = ExpectedObjects(requested);
    bool converged = testing::Eventually(
        [&] {
          oracle = OracleState();
          view = SandboxdState();
          watched = watchers_[0]->state();
          for (const auto& watcher : watchers_) {
            if (watcher->state() != watched) watched = {{"<watchers disagree>", {}}};
          }
          objects = OracleObjects();
          return oracle == requested && view == oracle && watched == oracle &&
                 objects == expected_objects;
        },
        kWait);
    EXPECT_TRUE(converged) << "requested: " << StateString(requested)
                           << "\noracle:    " << StateString(oracle)
                           << "\nsandboxd:  " << StateString(view)
                           << "\nwatched:   " << StateString(watched)
                           << "\nobjects:   " << absl::StrJoin(objects, " ")
                           << "\nexpected:  " << absl::StrJoin(expected_objects, " ");
    EXPECT_EQ(ledger_.violations(), std::vector<std::string>{});
  }

  static testing::Plane* plane_;
  std::string ns_;
  std::string token_;
  std::string work_dir_;
  Ledger ledger_;
  std::unique_ptr<SandboxdProcess> sandboxd_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::SandboxLifecycle::Stub> stub_;
  std::vector<std::unique_ptr<Watcher>> watchers_;  // the first on channel_
};

testing::Plane* FaultTest::plane_ = nullptr;

// `kube-local kill <component>`: SIGKILL, restarted with the same flags and data.
std::function<void()> KillComponent(Ledger* ledger, const std::string& component) {
  return [ledger, component] {
    testing::CommandResult r = testing::RunCommand(absl::StrCat(KubeLocal(), " kill ", component));
    if (r.exit_code != 0) ledger->Violation(absl::StrCat("kube-local kill failed: ", r.output));
    ledger->Fault(absl::StrCat("SIGKILL ", component));
  };
}

TEST_F(FaultTest, EtcdKilledInTheMiddleOfABatch) {
  StartSandboxd();
  State state = Prepare(6);
  state = RunBatch(state, 3, ledger_.calls() + 8, KillComponent(&ledger_, "etcd"));
  CheckInvariants(state);
}

TEST_F(FaultTest, ApiServerKilledInTheMiddleOfABatch) {
  StartSandboxd();
  State state = Prepare(6);
  state = RunBatch(state, 3, ledger_.calls() + 8, KillComponent(&ledger_, "kube-apiserver"));
  CheckInvariants(state);
}

TEST_F(FaultTest, SandboxdKilledInTheMiddleOfABatch) {
  StartSandboxd();
  State state = Prepare(6);
  // Killed twice: once among the creates, once among the updates and deletes.
  state = RunBatch(state, 3, ledger_.calls() + 4, [&] {
    sandboxd_->Kill();
    ledger_.Fault("SIGKILL sandboxd");
    absl::SleepFor(absl::Seconds(1));
    sandboxd_->Start();
    testing::Eventually([&] { return ledger_.calls() >= 30; }, kWait);
    sandboxd_->Kill();
    ledger_.Fault("SIGKILL sandboxd");
    absl::SleepFor(absl::Seconds(1));
    sandboxd_->Start();
  });
  CheckInvariants(state);
  EXPECT_GE(watchers_[0]->resumes(), 2);
}

// The sum of sandboxd's metric `name` over the series whose labels contain `label_match`
// ("": every series, also one without labels), scraped from its metrics endpoint.
long SandboxdMetricSum(int metrics_port, const std::string& name, const std::string& label_match) {
  testing::CommandResult r =
      testing::RunCommand(absl::StrCat("curl -sf http://127.0.0.1:", metrics_port, "/metrics"));
  long sum = 0;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    if (!(absl::StartsWith(line, absl::StrCat(name, "{")) ||
          absl::StartsWith(line, absl::StrCat(name, " "))) ||
        !absl::StrContains(line, label_match))
      continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) sum += static_cast<long>(value);
  }
  return sum;
}

// A copy of the kubeconfig `from` (file) with its user's token replaced by `token`.
std::string KubeconfigWithToken(const std::string& from, const std::string& token,
                                const std::string& to) {
  std::ifstream in(from);
  std::ofstream out(to);
  for (std::string line; std::getline(in, line);) {
    if (absl::StrContains(line, "token:")) line = absl::StrCat("    token: ", token);
    out << line << "\n";
  }
  return to;
}

// The value of the first line of kubeconfig `path` that holds `key` ("server:", ...).
std::string KubeconfigValue(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    absl::string_view rest = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&rest, key)) return std::string(absl::StripAsciiWhitespace(rest));
  }
  return "";
}

// API Priority and Fairness: a FlowSchema that puts ServiceAccount `ns`/`sa` (every
// request) in a PriorityLevelConfiguration with the smallest share (1 nominal share: a
// couple of seats) and no queuing, so that a burst above its seats is rejected with 429.
std::string PriorityLevelYaml(const std::string& name, const std::string& ns,
                              const std::string& sa) {
  return absl::StrCat(R"(apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata:
  name: )",
                      name, R"(
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    lendablePercent: 0
    borrowingLimitPercent: 0
    limitResponse:
      type: Reject
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: )",
                      name, R"(
spec:
  priorityLevelConfiguration:
    name: )",
                      name, R"(
  matchingPrecedence: 100
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount:
        name: )",
                      sa, R"(
        namespace: )",
                      ns, R"(
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      namespaces: ["*"]
      clusterScope: true
    nonResourceRules:
    - verbs: ["*"]
      nonResourceURLs: ["*"]
)");
}

TEST_F(FaultTest, ApiPriorityAndFairnessRejectsABurst) {
  // sandboxd's permissions (deploy/rbac.yaml) under an identity of this test only, so that
  // the tiny priority level touches nothing else on the plane.
  const std::string sa = "sandboxd-apf";
  const std::string level = absl::StrCat("faults-", ns_);
  plane_->CreateCaller(ns_, sa, "sandboxd", "");
  plane_->CreateCaller(ns_, sa, "sandboxd-cluster", "");
  const std::string api_token =
      plane_->Token(ns_, sa, "https://kubernetes.default.svc.cluster.local");
  ASSERT_FALSE(api_token.empty());
  const std::string kubeconfig =
      KubeconfigWithToken(plane_->sandboxd_kubeconfig(), api_token, work_dir_ + "/apf.kubeconfig");
  const std::string yaml_path = work_dir_ + "/apf.yaml";
  std::ofstream(yaml_path) << PriorityLevelYaml(level, ns_, sa);
  testing::CommandResult applied = plane_->Kubectl("apply -f " + yaml_path);
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  // In effect once the API server's configuration controller has marked it not dangling.
  ASSERT_TRUE(testing::Eventually(
      [&] {
        return plane_->JsonPath("default", "flowschema/" + level,
                                "{.status.conditions[?(@.type==\"Dangling\")].status}") == "False";
      },
      kWait));
  auto cleanup = [&] {
    plane_->Kubectl(absl::StrCat("delete flowschema,prioritylevelconfiguration ", level,
                                 " --ignore-not-found"));
    plane_->Kubectl(absl::StrCat("delete clusterrolebinding ", sa, "-", ns_, "-sandboxd ", sa, "-",
                                 ns_, "-sandboxd-cluster --ignore-not-found"));
  };

  StartSandboxd(kubeconfig);
  State state = Prepare(6);
  const std::vector<std::string> by_level = {absl::StrCat("priority_level=\"", level, "\"")};
  const long rejected_before =
      plane_->MetricSum("apiserver_flowcontrol_rejected_requests_total", by_level);
  const long sandboxd_429_before =
      SandboxdMetricSum(sandboxd_->metrics_port(), "rest_client_requests_total", "code=\"429\"");
  // The burst: the same identity lists pods in parallel (HTTP/2, 64 streams at a time)
  // until the batch is done, so sandboxd's own requests find the level's seats taken.
  std::atomic<bool> batch_done{false};
  const std::string server = KubeconfigValue(kubeconfig, "server:");
  std::thread burst([&] {
    // Until sandboxd has met a few 429s (at most 20 bursts).
    for (int round = 0; round < 20 && !batch_done.load(); ++round) {
      if (SandboxdMetricSum(sandboxd_->metrics_port(), "rest_client_requests_total",
                            "code=\"429\"") >= sandboxd_429_before + 20) {
        break;
      }
      testing::RunCommand(absl::StrCat(
          "curl -sk --parallel --parallel-max 64 -o /dev/null -H 'Authorization: Bearer ",
          api_token, "' '", server, "/api/v1/namespaces/", ns_, "/pods?limit=[1-300]'"));
      ledger_.Fault("burst of 300 LISTs");
    }
  });
  state = RunBatch(state, 6, 0, [] {});
  batch_done = true;
  burst.join();
  const long rejected =
      plane_->MetricSum("apiserver_flowcontrol_rejected_requests_total", by_level) -
      rejected_before;
  const long sandboxd_429 =
      SandboxdMetricSum(sandboxd_->metrics_port(), "rest_client_requests_total", "code=\"429\"") -
      sandboxd_429_before;
  std::cerr << "[fault_test] API Priority and Fairness rejected " << rejected
            << " requests; sandboxd received " << sandboxd_429 << " 429s\n";
  EXPECT_GT(rejected, 0);
  EXPECT_GT(sandboxd_429, 0);
  CheckInvariants(state);
  cleanup();
}

// toxiproxy (installed by tools/lib.sh ensure_toxiproxy) as a TCP proxy from a port of
// 127.0.0.1 to the API server; TLS passes through unchanged (the server certificate's
// SANs hold IP 127.0.0.1). Faults are toxics added and removed over its HTTP API.
class FaultProxy {
 public:
  FaultProxy(const std::string& upstream_host_port, const std::string& log_path)
      : api_port_(FreePort()), listen_port_(FreePort()) {
    testing::CommandResult which = testing::RunCommand(
        "bash -c 'source " SANDBOXD_SOURCE_DIR
        "/tools/lib.sh >/dev/null && ensure_toxiproxy >&2 && echo \"$SANDBOXD_TOXIPROXY\"'");
    binary_ = std::string(absl::StripAsciiWhitespace(
        which.output.substr(which.output.rfind('\n', which.output.size() - 2) + 1)));
    pid_ = Spawn({binary_, "-host", "127.0.0.1", "-port", absl::StrCat(api_port_)}, log_path);
    ready_ = testing::Eventually(
        [&] {
          return Api("POST", "/proxies",
                     absl::StrCat(R"({"name":"apiserver","listen":"127.0.0.1:)", listen_port_,
                                  R"(","upstream":")", upstream_host_port, R"(","enabled":true})"))
                     .exit_code == 0;
        },
        absl::Seconds(30));
  }
  ~FaultProxy() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ready() const { return ready_; }
  std::string binary() const { return binary_; }
  int listen_port() const { return listen_port_; }

  // Adds toxic `name` of `type` with `attributes` (JSON) on the downstream direction
  // (API server to sandboxd); true on success.
  bool Add(const std::string& name, const std::string& type, const std::string& attributes) {
    return Api("POST", "/proxies/apiserver/toxics",
               absl::StrCat(R"({"name":")", name, R"(","type":")", type,
                            R"(","stream":"downstream","toxicity":1.0,"attributes":)", attributes,
                            "}"))
               .exit_code == 0;
  }
  bool Remove(const std::string& name) {
    return Api("DELETE", "/proxies/apiserver/toxics/" + name, "").exit_code == 0;
  }

 private:
  testing::CommandResult Api(const std::string& method, const std::string& path,
                             const std::string& body) {
    return testing::RunCommand(absl::StrCat("curl -sf -X ", method, " http://127.0.0.1:", api_port_,
                                            path, body.empty() ? "" : " -d '" + body + "'"));
  }

  const int api_port_;
  const int listen_port_;
  std::string binary_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

// A copy of the kubeconfig `from` with its server's URL replaced by `server`.
std::string KubeconfigWithServer(const std::string& from, const std::string& server,
                                 const std::string& to) {
  std::ifstream in(from);
  std::ofstream out(to);
  for (std::string line; std::getline(in, line);) {
    if (absl::StrContains(line, "server:")) line = absl::StrCat("    server: ", server);
    out << line << "\n";
  }
  return to;
}

TEST_F(FaultTest, TcpFaultsBetweenSandboxdAndTheApiServer) {
  const std::string server = KubeconfigValue(plane_->sandboxd_kubeconfig(), "server:");
  absl::string_view upstream = server;
  ASSERT_TRUE(absl::ConsumePrefix(&upstream, "https://")) << server;
  FaultProxy proxy{std::string(upstream), work_dir_ + "/toxiproxy.log"};
  ASSERT_TRUE(proxy.ready()) << "toxiproxy (" << proxy.binary() << ") did not start";
  StartSandboxd(KubeconfigWithServer(plane_->sandboxd_kubeconfig(),
                                     absl::StrCat("https://127.0.0.1:", proxy.listen_port()),
                                     work_dir_ + "/proxied.kubeconfig"));
  State state = Prepare(6);
  // One toxic at a time, each for a few seconds, while the batch runs.
  struct Toxic {
    std::string type, attributes;
    absl::Duration duration;
  };
  const std::vector<Toxic> schedule = {
      {"latency", R"({"latency":400,"jitter":200})", absl::Seconds(4)},
      {"bandwidth", R"({"rate":16})", absl::Seconds(4)},  // KB/s
      // Connections closed after 3 kB of response: cut in the middle of a response.
      {"limit_data", R"({"bytes":3000})", absl::Seconds(3)},
      // TCP RST 100 ms after data arrives: resets mid-response and mid-watch.
      {"reset_peer", R"({"timeout":100})", absl::Seconds(3)},
      // A black hole: no byte gets through, connections stay open.
      {"timeout", R"({"timeout":0})", absl::Seconds(8)},
  };
  state = RunBatch(state, 3, ledger_.calls() + 3, [&] {
    for (const Toxic& toxic : schedule) {
      if (!proxy.Add(toxic.type, toxic.type, toxic.attributes)) {
        ledger_.Violation("toxiproxy refused toxic " + toxic.type);
        continue;
      }
      ledger_.Fault(toxic.type);
      absl::SleepFor(toxic.duration);
      if (!proxy.Remove(toxic.type)) ledger_.Violation("toxiproxy kept toxic " + toxic.type);
    }
  });
  CheckInvariants(state);
}

// The bounded soak (tools/soak/soak.sh runs it for longer): mixed lifecycle load from
// several callers (ServiceAccounts of their own, each with a WatchSandboxes stream open)
// for SANDBOXD_SOAK_SECONDS (default 45), etcd and kube-apiserver killed with SIGKILL in
// turn every 15 s, then the invariant check and sandboxd's memory before and after. A
// claim orphaned by a lagging StatefulSet controller is the claim janitor's (2 s grace):
// the invariant check waits for it (polling, up to 120 s), and the soak prints how many
// claims the janitor deleted.
TEST_F(FaultTest, Soak) {
  const char* seconds_env = std::getenv("SANDBOXD_SOAK_SECONDS");
  int seconds = 45;
  if (seconds_env != nullptr) {
    ASSERT_TRUE(absl::SimpleAtoi(seconds_env, &seconds));
  }
  constexpr int kCallers = 4;
  StartSandboxd();
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<pb::SandboxLifecycle::Stub>> stubs;
  for (int c = 0; c < kCallers; ++c) {
    const std::string caller = absl::StrCat("caller-", c);
    plane_->CreateCaller(ns_, caller, "sandboxd-user", ns_);
    const std::string token = plane_->Token(ns_, caller);
    ASSERT_FALSE(token.empty());
    channels.push_back(testing::TokenChannel(sandboxd_->address(), token));
    stubs.push_back(pb::SandboxLifecycle::NewStub(channels.back()));
    watchers_.push_back(std::make_unique<Watcher>(channels.back(), ns_, &ledger_));
  }
  const long rss_before = sandboxd_->RssKib();
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  std::vector<State> results(kCallers);
  std::vector<std::thread> threads;
  threads.reserve(kCallers);
  std::atomic<long> rounds{0};
  for (int c = 0; c < kCallers; ++c) {
    threads.emplace_back([&, c] {
      State& mine = results[c];
      for (int round = 0; absl::Now() < end; ++round, ++rounds) {
        // Round r: create s<c>-<r>, update it, update the previous one, delete the one
        // before that.
        const std::string name = absl::StrCat("s", c, "-", round);
        mine[name] = {{"FT_A", "0"}};
        Create(name, mine[name], stubs[c].get());
        mine[name]["FT_A"] = absl::StrCat(round);
        UpdateEnv(name, {{"FT_A", absl::StrCat(round)}}, stubs[c].get());
        if (round >= 1) {
          const std::string previous = absl::StrCat("s", c, "-", round - 1);
          mine[previous]["FT_B"] = "x";
          UpdateEnv(previous, {{"FT_B", "x"}}, stubs[c].get());
        }
        if (round >= 2) {
          const std::string old = absl::StrCat("s", c, "-", round - 2);
          mine.erase(old);
          Delete(old, stubs[c].get());
        }
      }
    });
  }
  std::thread faults([&] {
    const std::vector<std::string> components = {"etcd", "kube-apiserver"};
    for (int i = 0; absl::Now() + absl::Seconds(15) < end; ++i) {
      absl::SleepFor(absl::Seconds(15));
      KillComponent(&ledger_, components[i % components.size()])();
    }
  });
  for (auto& t : threads) t.join();
  faults.join();
  State state;
  for (const State& mine : results) state.insert(mine.begin(), mine.end());
  CheckInvariants(state);
  const long rss_after = sandboxd_->RssKib();
  const long janitor_deleted =
      SandboxdMetricSum(sandboxd_->metrics_port(), "sandboxd_orphan_claims_deleted_total", "");
  std::cerr << "[fault_test] soak: " << seconds << " s, " << kCallers << " callers, "
            << rounds.load() << " rounds; sandboxd RSS " << rss_before << " KiB before, "
            << rss_after
            << " KiB after; orphaned claims deleted by the janitor: " << janitor_deleted << "\n";
  // Memory: bounded growth across the soak (caches hold a few dozen sandboxes).
  EXPECT_LT(rss_after, rss_before + 64L * 1024 + kSanitizerHeldKib);
}

// Found by the soak: a sandbox deleted before the StatefulSet controller had given its
// claim the owner reference of the retention policy left the claim behind. Here the
// reference is removed by hand (as that controller had not yet set it) just before the
// delete; the claim must still go, by the delete itself (the janitor is off).
TEST_F(FaultTest, DeleteRemovesAClaimTheStatefulSetDoesNotOwn) {
  StartSandboxd("", {"--orphan_claim_grace=0"});
  ASSERT_TRUE(Create("lone", {{"FT_A", "0"}}));
  const std::string claim = "persistentvolumeclaim/vn-homevn-agent-lone-0";
  ASSERT_TRUE(testing::Eventually(
      [&] { return !plane_->JsonPath(ns_, claim, "{.metadata.ownerReferences}").empty(); }, kWait));
  testing::CommandResult patched = plane_->Kubectl(absl::StrCat(
      "-n ", ns_, " patch ", claim,
      " --type=json -p '[{\"op\":\"remove\",\"path\":\"/metadata/ownerReferences\"}]'"));
  ASSERT_EQ(patched.exit_code, 0) << patched.output;
  ASSERT_TRUE(Delete("lone"));
  CheckInvariants({});
}

// Found by the soak too: a StatefulSet controller that lags (after an API-server restart)
// can create a sandbox's claim after DeleteSandbox has checked for it; without a
// StatefulSet it never gets an owner reference. Such a claim is made here by hand, as
// the claim template makes it (managed-by, app label, no owner), next to a kept claim and
// a claim sandboxd did not make: the claim janitor (2 s grace) deletes the first only.
TEST_F(FaultTest, TheClaimJanitorDeletesAnOrphanedClaimOnly) {
  StartSandboxd();
  // Claim vn-homevn-agent-<sandbox>-0 as the claim template makes it, plus `extra`.
  auto claim = [](const std::string& sandbox, const std::string& extra) {
    return absl::StrCat(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n", "  name: vn-homevn-agent-",
        sandbox, "-0\n", extra,
        "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n");
  };
  const std::string managed = "app.kubernetes.io/managed-by: sandboxd";
  const std::string yaml_path = work_dir_ + "/claims.yaml";
  std::ofstream(yaml_path)
      << claim("kept", absl::StrCat("  labels: {app: kept, ", managed,
                                    "}\n  annotations: {sandboxd.dev/kept: \"true\"}\n"))
      << "---\n"
      << claim("foreign", "  labels: {app: foreign}\n") << "---\n"
      << claim("orphan", absl::StrCat("  labels: {app: orphan, ", managed, "}\n"));
  testing::CommandResult applied =
      plane_->Kubectl(absl::StrCat("-n ", ns_, " apply -f ", yaml_path));
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  auto deleted = [&] {
    return SandboxdMetricSum(sandboxd_->metrics_port(), "sandboxd_orphan_claims_deleted_total", "");
  };
  EXPECT_TRUE(testing::Eventually(
      [&] { return !plane_->Exists(ns_, "persistentvolumeclaim/vn-homevn-agent-orphan-0"); },
      kWait))
      << "the orphaned claim is still there";
  EXPECT_TRUE(testing::Eventually([&] { return deleted() == 1; }, kWait))
      << "sandboxd counted " << deleted() << " deletions";
  EXPECT_TRUE(plane_->Exists(ns_, "persistentvolumeclaim/vn-homevn-agent-kept-0"));
  EXPECT_TRUE(plane_->Exists(ns_, "persistentvolumeclaim/vn-homevn-agent-foreign-0"));
  EXPECT_EQ(deleted(), 1);
}

}  // namespace
}  // namespace sandboxd
