// WatchSandbox / WatchSandboxes over real gRPC against the real local control plane:
// ordering of lifecycle transitions, ERROR reasons, kube-apiserver restarts and 410
// relists, resume tokens (on the same and on another replica), read-your-writes across
// replicas, slow consumers, and one API-server watch however many streams.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "server/sandboxd_server.h"
#include "tools/testing/plane.h"
#include "tools/testing/token_channel.h"

namespace sandboxd {
namespace {

namespace pb = sandbox::v1;

constexpr absl::Duration kWait = absl::Seconds(90);

// A WatchSandboxes stream read by a callback reactor into a queue the test takes from.
// Thread-safe.
class Stream final : public grpc::ClientReadReactor<pb::WatchSandboxesResponse> {
 public:
  Stream(pb::SandboxLifecycle::Stub* stub, pb::WatchSandboxesRequest request, bool read = true)
      : request_(std::move(request)) {
    stub->async()->WatchSandboxes(&context_, &request_, this);
    StartCall();
    if (read) Resume();
  }
  ~Stream() override {
    context_.TryCancel();
    WaitDone();
  }

  // Starts (or restarts, for a paused stream) reading.
  void Resume() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!reading_ && !done_) {
      reading_ = true;
      StartRead(&incoming_);
    }
  }

  // The next message, waiting up to kWait; nullopt on timeout or end of stream.
  std::optional<pb::WatchSandboxesResponse> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoSeconds(kWait), [&] { return !queue_.empty() || done_; });
    if (queue_.empty()) return std::nullopt;
    pb::WatchSandboxesResponse r = std::move(queue_.front());
    queue_.pop_front();
    return r;
  }

  // Reads until a message satisfies `pred`; returns it (nullopt: not within kWait).
  std::optional<pb::WatchSandboxesResponse> NextWhere(
      const std::function<bool(const pb::WatchSandboxesResponse&)>& pred,
      std::vector<pb::WatchSandboxesResponse>* seen = nullptr) {
    const absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      std::optional<pb::WatchSandboxesResponse> r = Next();
      if (!r.has_value()) return std::nullopt;
      if (seen != nullptr) seen->push_back(*r);
      if (pred(*r)) return r;
    }
    return std::nullopt;
  }

  void Cancel() { context_.TryCancel(); }
  grpc::Status WaitDone() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return finished_; });
    return status_;
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

  void OnReadDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    reading_ = false;
    if (!ok) {
      done_ = true;
      cv_.notify_all();
      return;
    }
    queue_.push_back(incoming_);
    cv_.notify_all();
    reading_ = true;
    StartRead(&incoming_);
  }
  void OnDone(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    finished_ = true;
    cv_.notify_all();
  }

 private:
  grpc::ClientContext context_;
  pb::WatchSandboxesRequest request_;
  pb::WatchSandboxesResponse incoming_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pb::WatchSandboxesResponse> queue_;
  bool reading_ = false;
  bool done_ = false;
  bool finished_ = false;
  grpc::Status status_;
};

// The ErrorInfo reason and the BadRequest field (if any) of a failed call.
std::pair<std::string, std::string> ReasonAndField(const grpc::Status& status) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return {"<no details>", ""};
  std::pair<std::string, std::string> out;
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&info)) out.first = info.reason();
    if (any.UnpackTo(&bad) && bad.field_violations_size() > 0) {
      out.second = bad.field_violations(0).field();
    }
  }
  return out;
}

bool IsMarker(const pb::WatchSandboxesResponse& r) {
  return r.type() == pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE;
}

// The position of a resume token, per kind (the test knows the format,
// "v1.<statefulsets>.<pods>.<claims>"; clients treat tokens as opaque).
std::vector<uint64_t> PositionOf(const std::string& token) {
  std::vector<uint64_t> out;
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  for (size_t i = 1; i < parts.size(); ++i) out.push_back(std::stoull(parts[i]));
  return out;
}
bool Covers(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.size() != 3 || b.size() != 3) return false;
  for (size_t k = 0; k < 3; ++k) {
    if (a[k] < b[k]) return false;
  }
  return true;
}

class WatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    plane_ = new testing::Plane();
    ns_ = new std::string(plane_->CreateNamespace("watch"));
    plane_->CreateCaller(*ns_, "watcher", "sandboxd-user", *ns_);
    token_ = new std::string(plane_->Token(*ns_, "watcher"));
    server_ = StartServer().release();
    stub_ = pb::SandboxLifecycle::NewStub(
                testing::TokenChannel(absl::StrCat("127.0.0.1:", server_->port()), *token_))
                .release();
  }
  static void TearDownTestSuite() {
    server_->Shutdown(absl::Seconds(5));
    delete server_;
    plane_->DeleteNamespace(*ns_);
  }

  static std::unique_ptr<server::SandboxdServer> StartServer(
      const server::SandboxdServer::Hooks& hooks = {}) {
    server::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.metrics_listen_address = "127.0.0.1:0";  // not 9090: processes run side by side
    config.tls.plaintext = true;
    config.fair_use.calls_per_second = 0;  // one caller opens a thousand streams
    config.fair_use.max_watch_streams = 0;
    config.kube.kubeconfig = plane_->sandboxd_kubeconfig();
    config.kube.qps = 500;
    config.kube.burst = 1000;
    config.sandbox_defaults.image = "registry.local/agent:1";
    auto server = server::SandboxdServer::Start(config, hooks);
    EXPECT_TRUE(server.ok()) << server.status();
    EXPECT_TRUE((*server)->WaitUntilServing(absl::Seconds(60)));
    return *std::move(server);
  }

  static pb::WatchSandboxesRequest WatchRequest(const std::string& project = "",
                                                const std::string& token = "") {
    pb::WatchSandboxesRequest req;
    req.set_namespace_(*ns_);
    req.set_project(project);
    req.set_resume_token(token);
    return req;
  }

  // Whether the watch cache behind stub_ reaches `position` in every kind within kWait (a
  // replica resumes a token only from there).
  static bool Reaches(const std::vector<uint64_t>& position) {
    return testing::Eventually(
        [&position] {
          Stream s(stub_, WatchRequest("p-none"));
          auto marker = s.NextWhere(IsMarker);
          return marker.has_value() && Covers(PositionOf(marker->resume_token()), position);
        },
        kWait);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  static void Create(const std::string& name, const std::string& project,
                     const std::string& image = "") {
    pb::CreateSandboxRequest req;
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_namespace_(*ns_);
    req.mutable_spec()->set_project(project);
    if (!image.empty()) req.mutable_spec()->set_image(image);
    pb::CreateSandboxResponse resp;
    grpc::Status s = stub_->CreateSandbox(Context().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  template <typename Request, typename Response>
  static void ByName(grpc::Status (pb::SandboxLifecycle::Stub::*method)(grpc::ClientContext*,
                                                                        const Request&, Response*),
                     const std::string& name) {
    Request req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    Response resp;
    grpc::Status s = (stub_->*method)(Context().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  static void Stop(const std::string& name) { ByName(&pb::SandboxLifecycle::Stub::StopSandbox, name); }
  static void Start(const std::string& name) { ByName(&pb::SandboxLifecycle::Stub::StartSandbox, name); }
  static void Delete(const std::string& name) { ByName(&pb::SandboxLifecycle::Stub::DeleteSandbox, name); }

  static void SetEnv(const std::string& name, const std::string& key, const std::string& value) {
    pb::UpdateSandboxEnvRequest req;
    req.set_namespace_(*ns_);
    req.set_name(name);
    (*req.mutable_env())[key] = value;
    pb::UpdateSandboxEnvResponse resp;
    grpc::Status s = stub_->UpdateSandboxEnv(Context().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static std::function<bool(const pb::WatchSandboxesResponse&)> PhaseOf(
      const std::string& name, pb::SandboxPhase phase) {
    return [name, phase](const pb::WatchSandboxesResponse& r) {
      return r.sandbox().spec().name() == name && r.sandbox().phase() == phase &&
             r.type() != pb::WATCH_EVENT_TYPE_DELETED;
    };
  }
  static std::function<bool(const pb::WatchSandboxesResponse&)> DeletedEvent(const std::string& name) {
    return [name](const pb::WatchSandboxesResponse& r) {
      return r.type() == pb::WATCH_EVENT_TYPE_DELETED && r.sandbox().spec().name() == name;
    };
  }

  static testing::Plane* plane_;
  static std::string* ns_;
  static std::string* token_;  // of a caller allowed every sandbox verb in ns_
  static server::SandboxdServer* server_;
  static pb::SandboxLifecycle::Stub* stub_;
};

testing::Plane* WatchTest::plane_ = nullptr;
std::string* WatchTest::ns_ = nullptr;
std::string* WatchTest::token_ = nullptr;
server::SandboxdServer* WatchTest::server_ = nullptr;
pb::SandboxLifecycle::Stub* WatchTest::stub_ = nullptr;

TEST_F(WatchTest, AWatcherSeesEveryTransitionInOrder) {
  Stream stream(stub_, WatchRequest("p-order"));
  ASSERT_TRUE(stream.NextWhere(IsMarker).has_value());

  Create("w-order", "p-order");
  std::vector<pb::WatchSandboxesResponse> seen;
  auto first = stream.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->type(), pb::WATCH_EVENT_TYPE_ADDED);
  ASSERT_TRUE(stream.NextWhere(PhaseOf("w-order", pb::SANDBOX_PHASE_RUNNING), &seen));
  Stop("w-order");
  ASSERT_TRUE(stream.NextWhere(PhaseOf("w-order", pb::SANDBOX_PHASE_STOPPED), &seen));
  Start("w-order");
  ASSERT_TRUE(stream.NextWhere(PhaseOf("w-order", pb::SANDBOX_PHASE_RUNNING), &seen));
  const uint64_t merged_before = server_->cache()->stats().merged_updates;
  Delete("w-order");
  ASSERT_TRUE(stream.NextWhere(DeletedEvent("w-order"), &seen));
  const uint64_t merged = server_->cache()->stats().merged_updates - merged_before;

  // Everything after ADDED was MODIFIED, each a new state, until the final DELETED. The
  // DELETED carries the last state delivered again, unless a newer state was still queued
  // for the stream when the sandbox went (its claim gone first, say): then the two merge
  // into a DELETED with the newer state (sandbox_cache.h, "Slow consumers").
  for (size_t i = 0; i + 1 < seen.size(); ++i) {
    EXPECT_EQ(seen[i].type(), pb::WATCH_EVENT_TYPE_MODIFIED) << i;
    EXPECT_FALSE(seen[i].resume_token().empty());
    if (i + 2 < seen.size()) {
      EXPECT_NE(seen[i].sandbox().SerializeAsString(), seen[i + 1].sandbox().SerializeAsString())
          << "duplicate state at " << i;
    }
  }
  const pb::Sandbox& last = seen[seen.size() - 2].sandbox();
  const pb::Sandbox& final_state = seen.back().sandbox();
  if (merged == 0) {
    EXPECT_EQ(final_state.SerializeAsString(), last.SerializeAsString());
  } else {
    EXPECT_EQ(final_state.phase(), pb::SANDBOX_PHASE_DELETING);
    EXPECT_EQ(final_state.spec().SerializeAsString(), last.spec().SerializeAsString());
  }
}

TEST_F(WatchTest, AFailingImageIsReportedAsErrorWithItsReason) {
  Stream stream(stub_, WatchRequest("p-fail"));
  ASSERT_TRUE(stream.NextWhere(IsMarker).has_value());
  Create("w-fail", "p-fail", "registry.local/sandboxd-fail-pull:1");
  auto error = stream.NextWhere(PhaseOf("w-fail", pb::SANDBOX_PHASE_ERROR));
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->sandbox().error_reason(), pb::SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE);
}

TEST_F(WatchTest, ResumingWithATokenDeliversWhatWasMissed) {
  Stream first(stub_, WatchRequest("p-resume"));
  ASSERT_TRUE(first.NextWhere(IsMarker).has_value());
  Create("w-resume", "p-resume");
  auto running = first.NextWhere(PhaseOf("w-resume", pb::SANDBOX_PHASE_RUNNING));
  ASSERT_TRUE(running.has_value());
  first.Cancel();
  first.WaitDone();

  Stop("w-resume");  // while disconnected
  Stream resumed(stub_, WatchRequest("p-resume", running->resume_token()));
  std::vector<pb::WatchSandboxesResponse> seen;
  ASSERT_TRUE(resumed.NextWhere(PhaseOf("w-resume", pb::SANDBOX_PHASE_STOPPED), &seen));
  // The missed changes, the marker, then live changes: no RESET and no initial ADDED.
  int markers = 0;
  for (const auto& r : seen) {
    markers += IsMarker(r);
    EXPECT_TRUE(r.type() == pb::WATCH_EVENT_TYPE_MODIFIED || IsMarker(r))
        << "unexpected " << pb::WatchEventType_Name(r.type()) << " on resume";
  }
  EXPECT_LE(markers, 1);
}

TEST_F(WatchTest, ATokenOfAnEarlierSandboxdIsAnExplicitReset) {
  Create("w-reset", "p-reset");
  // The per-process format of sandboxd before tokens were portable ("<epoch>.<seq>").
  Stream stream(stub_, WatchRequest("p-reset", "0123456789abcdef.42"));
  auto reset = stream.Next();
  ASSERT_TRUE(reset.has_value());
  EXPECT_EQ(reset->type(), pb::WATCH_EVENT_TYPE_RESET);
  auto added = stream.Next();
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->type(), pb::WATCH_EVENT_TYPE_ADDED);
  EXPECT_EQ(added->sandbox().spec().name(), "w-reset");
  auto marker = stream.Next();
  ASSERT_TRUE(marker.has_value());
  EXPECT_TRUE(IsMarker(*marker));
}

TEST_F(WatchTest, WatchSandboxStreamsOneSandbox) {
  Create("w-single", "p-single");
  Create("w-single-other", "p-single");
  pb::WatchSandboxRequest req;
  req.set_namespace_(*ns_);
  req.set_name("w-single");
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<pb::WatchSandboxResponse>> reader =
      stub_->WatchSandbox(&ctx, req);
  pb::WatchSandboxResponse added, marker;
  ASSERT_TRUE(reader->Read(&added));
  EXPECT_EQ(added.type(), pb::WATCH_EVENT_TYPE_ADDED);
  EXPECT_EQ(added.sandbox().spec().name(), "w-single");
  EXPECT_EQ(added.sandbox().spec().namespace_(), *ns_);
  EXPECT_EQ(added.sandbox().spec().project(), "p-single");
  ASSERT_TRUE(reader->Read(&marker));
  EXPECT_EQ(marker.type(), pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE);
  EXPECT_FALSE(marker.resume_token().empty());
  ctx.TryCancel();
  pb::WatchSandboxResponse rest;
  while (reader->Read(&rest)) EXPECT_EQ(rest.sandbox().spec().name(), "w-single");
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(WatchTest, InvalidWatchRequestsAreRejectedNamingTheProblem) {
  {  // an invalid sandbox name
    pb::WatchSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name("Not_A_Name");
    grpc::ClientContext ctx;
    auto reader = stub_->WatchSandbox(&ctx, req);
    pb::WatchSandboxResponse r;
    EXPECT_FALSE(reader->Read(&r));
    grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ReasonAndField(status).second, "name");
  }
  {  // a malformed resume token
    Stream stream(stub_, WatchRequest("", "not-a-token"));
    grpc::Status status = stream.WaitDone();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ReasonAndField(status).second, "resume_token");
  }
  {  // bytes that are not a WatchSandboxesRequest: field 1 announces 5 bytes, 1 follows
    grpc::GenericStub generic(
        testing::TokenChannel(absl::StrCat("127.0.0.1:", server_->port()), *token_));
    const char garbage[] = {0x0a, 0x05, 'a'};
    grpc::Slice slice(garbage, sizeof(garbage));
    grpc::ByteBuffer request(&slice, 1), response;
    std::unique_ptr<grpc::ClientContext> ctx = Context();
    std::promise<grpc::Status> done;
    generic.UnaryCall(ctx.get(), "/sandbox.v1.SandboxLifecycle/WatchSandboxes", {}, &request,
                      &response, [&done](grpc::Status s) { done.set_value(s); });
    grpc::Status status = done.get_future().get();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_EQ(ReasonAndField(status).first, "MALFORMED_REQUEST");
  }
}

TEST_F(WatchTest, ServerShutdownEndsStreamsWithUnavailableAndAResumeToken) {
  Create("w-shutdown", "p-shutdown");
  {  // Settled first: a pod still starting would change the sandbox after the token.
    Stream settled(stub_, WatchRequest("p-shutdown"));
    ASSERT_TRUE(settled.NextWhere(PhaseOf("w-shutdown", pb::SANDBOX_PHASE_RUNNING)));
  }
  std::unique_ptr<server::SandboxdServer> other = StartServer();
  auto other_stub = pb::SandboxLifecycle::NewStub(testing::TokenChannel(
      absl::StrCat("127.0.0.1:", other->port()), *token_));
  Stream stream(other_stub.get(), WatchRequest("p-shutdown"));
  auto marker = stream.NextWhere(IsMarker);
  ASSERT_TRUE(marker.has_value());
  other->Shutdown(absl::Seconds(5));
  grpc::Status status = stream.WaitDone();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details_size() > 0 && details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "SERVER_SHUTTING_DOWN");
  EXPECT_EQ(info.metadata().at("resumeToken"), marker->resume_token());

  // The token resumes on another replica once that one has reached the token's position in
  // every kind (else UNAVAILABLE "retry"): a sandbox created now gives it events of each
  // kind past the token. Nothing of w-shutdown changed since, so just the marker.
  const std::vector<uint64_t> token_position = PositionOf(marker->resume_token());
  Create("w-shutdown-nudge", "p-shutdown-nudge");
  ASSERT_TRUE(Reaches(token_position));
  Stream resumed(stub_, WatchRequest("p-shutdown", info.metadata().at("resumeToken")));
  auto first = resumed.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->type(), pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE);
}

TEST_F(WatchTest, ASlowClientGetsTheFinalStateAndDoesNotHoldBackAFastOne) {
  Create("w-slow", "p-slow");
  Stream fast(stub_, WatchRequest("p-slow"));
  Stream slow(stub_, WatchRequest("p-slow"), /*read=*/false);
  ASSERT_TRUE(fast.NextWhere(IsMarker).has_value());
  constexpr int kUpdates = 40;
  for (int i = 1; i <= kUpdates; ++i) SetEnv("w-slow", "N", std::to_string(i));
  auto last = [](const pb::WatchSandboxesResponse& r) {
    auto it = r.sandbox().spec().env().find("N");
    return it != r.sandbox().spec().env().end() && it->second == std::to_string(kUpdates);
  };
  std::vector<pb::WatchSandboxesResponse> fast_seen;
  ASSERT_TRUE(fast.NextWhere(last, &fast_seen).has_value()) << "fast stream held back";

  slow.Resume();
  std::vector<pb::WatchSandboxesResponse> slow_seen;
  ASSERT_TRUE(slow.NextWhere(last, &slow_seen).has_value()) << "slow stream lost the final state";
  // Per sandbox, in order: N never goes backwards on either stream.
  for (const auto* seen : {&fast_seen, &slow_seen}) {
    int previous = 0;
    for (const auto& r : *seen) {
      auto it = r.sandbox().spec().env().find("N");
      if (it == r.sandbox().spec().env().end()) continue;
      int n = std::stoi(it->second);
      EXPECT_GE(n, previous);
      previous = n;
    }
  }
}

TEST_F(WatchTest, ApiServerWatchesDoNotGrowWithStreams) {
  auto watches = [] {
    return plane_->GaugeSum("apiserver_longrunning_requests", {"verb=\"WATCH\""});
  };
  std::vector<std::unique_ptr<Stream>> streams;
  streams.push_back(std::make_unique<Stream>(stub_, WatchRequest("p-many")));
  ASSERT_TRUE(streams.back()->NextWhere(IsMarker).has_value());
  // The baseline once it holds still: after an API-server restart (an earlier test of a
  // repeated run) every client re-opens its watches over some seconds, with backoff.
  long with_one = watches();
  ASSERT_TRUE(testing::Eventually(
      [&] {
        const long before = with_one;
        absl::SleepFor(absl::Seconds(1));
        return (with_one = watches()) == before;
      },
      absl::Seconds(60)));
  for (int i = 1; i < 1000; ++i) streams.push_back(std::make_unique<Stream>(stub_, WatchRequest("p-many")));
  for (int i = 1; i < 1000; i += 111) ASSERT_TRUE(streams[i]->NextWhere(IsMarker).has_value()) << i;
  // Exactly as many as with one stream. Other clients (controller-manager, scheduler,
  // kwok) re-open their watches now and then; such a reconnect lasts milliseconds, so the
  // count is sampled until it settles rather than once.
  long with_thousand = 0;
  EXPECT_TRUE(testing::Eventually([&] { return (with_thousand = watches()) == with_one; },
                                  absl::Seconds(30)))
      << "API-server watches: " << with_one << " with 1 stream, " << with_thousand
      << " with 1,000";
}

TEST_F(WatchTest, StreamsSurviveAnApiServerRestartWithoutDuplicateFinalStates) {
  Stream stream(stub_, WatchRequest("p-restart"));
  ASSERT_TRUE(stream.NextWhere(IsMarker).has_value());
  Create("w-restart", "p-restart");
  ASSERT_TRUE(stream.NextWhere(PhaseOf("w-restart", pb::SANDBOX_PHASE_RUNNING)).has_value());

  const int64_t relists = server_->watch_stats().relists_after_410;
  testing::CommandResult r = testing::RunCommand(
      absl::StrCat(SANDBOXD_SOURCE_DIR, "/tools/kube-local/kube-local restart-apiserver --compact-etcd"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  ASSERT_TRUE(testing::Eventually([&] { return server_->watch_stats().relists_after_410 > relists; },
                                  kWait))
      << "no relist after a 410";
  Stop("w-restart");
  std::vector<pb::WatchSandboxesResponse> seen;
  ASSERT_TRUE(stream.NextWhere(PhaseOf("w-restart", pb::SANDBOX_PHASE_STOPPED), &seen).has_value());
  EXPECT_FALSE(stream.done()) << "the gRPC stream must stay open across the restart";
  // No state is delivered twice.
  for (size_t i = 0; i + 1 < seen.size(); ++i) {
    EXPECT_NE(seen[i].sandbox().SerializeAsString(), seen[i + 1].sandbox().SerializeAsString());
  }
  absl::SleepFor(absl::Seconds(2));
  Start("w-restart");
  auto running = stream.NextWhere(PhaseOf("w-restart", pb::SANDBOX_PHASE_RUNNING), &seen);
  ASSERT_TRUE(running.has_value());
  int stopped_events = 0;
  for (const auto& e : seen) stopped_events += e.sandbox().phase() == pb::SANDBOX_PHASE_STOPPED;
  EXPECT_EQ(stopped_events, 1);
}

// Every RPC is idempotent, so a mutating call whose Kubernetes request fails in transport
// (the API server is restarting) sends it again within the call's deadline: callers see
// a slower call, not UNAVAILABLE, and the result is exactly what they asked for.
TEST_F(WatchTest, MutatingCallsRideOutAnApiServerRestart) {
  Create("w-outage-live", "p-outage");
  Create("w-outage-gone", "p-outage");
  std::thread restart([] {
    testing::CommandResult r = testing::RunCommand(
        absl::StrCat(SANDBOXD_SOURCE_DIR, "/tools/kube-local/kube-local restart-apiserver"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
  });
  // Wait until the API server is down, then call while it is.
  ASSERT_TRUE(testing::Eventually(
      [] { return plane_->Kubectl("get --raw /readyz --request-timeout=1s").exit_code != 0; },
      absl::Seconds(30)));
  auto long_context = [] {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
    return ctx;
  };
  std::vector<std::pair<std::string, grpc::Status>> results(4);
  std::vector<std::thread> calls;
  calls.emplace_back([&] {
    pb::CreateSandboxRequest req;
    req.mutable_spec()->set_name("w-outage-new");
    req.mutable_spec()->set_namespace_(*ns_);
    req.mutable_spec()->set_project("p-outage");
    pb::CreateSandboxResponse resp;
    results[0] = {"create", stub_->CreateSandbox(long_context().get(), req, &resp)};
  });
  calls.emplace_back([&] {
    pb::StopSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name("w-outage-live");
    pb::StopSandboxResponse resp;
    results[1] = {"stop", stub_->StopSandbox(long_context().get(), req, &resp)};
  });
  calls.emplace_back([&] {
    pb::UpdateSandboxEnvRequest req;
    req.set_namespace_(*ns_);
    req.set_name("w-outage-live");
    (*req.mutable_env())["OUTAGE"] = "survived";
    pb::UpdateSandboxEnvResponse resp;
    results[2] = {"update env", stub_->UpdateSandboxEnv(long_context().get(), req, &resp)};
  });
  calls.emplace_back([&] {
    pb::DeleteSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name("w-outage-gone");
    pb::DeleteSandboxResponse resp;
    results[3] = {"delete", stub_->DeleteSandbox(long_context().get(), req, &resp)};
  });
  for (std::thread& t : calls) t.join();
  restart.join();
  for (const auto& [what, status] : results) {
    EXPECT_TRUE(status.ok()) << what << ": " << status.error_code() << " "
                             << status.error_message();
  }
  // Exactly what was asked, checked with kubectl.
  EXPECT_EQ(plane_->JsonPath(*ns_, "statefulset/w-outage-new", "{.spec.replicas}"), "1");
  EXPECT_EQ(plane_->JsonPath(*ns_, "statefulset/w-outage-live", "{.spec.replicas}"), "0");
  EXPECT_EQ(plane_->JsonPath(*ns_, "statefulset/w-outage-live",
                             "{.spec.template.spec.containers[0].env[?(@.name==\"OUTAGE\")].value}"),
            "survived");
  EXPECT_TRUE(testing::Eventually(
      [] { return !plane_->Exists(*ns_, "statefulset/w-outage-gone"); }, kWait));
  Delete("w-outage-new");
  Delete("w-outage-live");
}

// ---- several replicas ------------------------------------------------------------------

// (type, phase) of each message for `name`, with consecutive repeats collapsed: what a
// replica's cache records in between depends on how its three watches interleave, the
// sequence of phases does not.
std::vector<std::string> Phases(const std::vector<pb::WatchSandboxesResponse>& seen,
                                const std::string& name) {
  std::vector<std::string> out;
  for (const auto& r : seen) {
    if (r.sandbox().spec().name() != name) continue;
    std::string e = absl::StrCat(pb::WatchEventType_Name(r.type()), " ",
                                 pb::SandboxPhase_Name(r.sandbox().phase()));
    if (out.empty() || out.back() != e) out.push_back(std::move(e));
  }
  return out;
}

// A client's stream on replica A is cut mid-lifecycle and resumed on replica B with the
// last token: B replays what the client missed (no RESET, nothing the client had seen)
// and continues live. A reference stream on A, never cut, sees the same phases.
TEST_F(WatchTest, AStreamMovedToAnotherReplicaGetsEveryChangeOnceWithoutReset) {
  std::unique_ptr<server::SandboxdServer> b = StartServer();
  auto stub_b = pb::SandboxLifecycle::NewStub(
      testing::TokenChannel(absl::StrCat("127.0.0.1:", b->port()), *token_));
  Stream reference(stub_, WatchRequest("p-move"));
  ASSERT_TRUE(reference.NextWhere(IsMarker).has_value());
  std::vector<pb::WatchSandboxesResponse> ref;  // everything the reference received
  auto on_a = std::make_unique<Stream>(stub_, WatchRequest("p-move"));
  ASSERT_TRUE(on_a->NextWhere(IsMarker).has_value());

  std::vector<pb::WatchSandboxesResponse> client;  // what the client received, in order
  Create("w-move", "p-move");
  ASSERT_TRUE(on_a->NextWhere(PhaseOf("w-move", pb::SANDBOX_PHASE_RUNNING), &client));
  // B resumes only tokens at or after its first lists. A's tokens reach that in every
  // kind once A has seen an event (or list, or bookmark) of each kind after B listed:
  // here the sandbox's own, unless an earlier test's API-server restart left a reflector
  // of A backing off before its relist. Wait for that.
  std::vector<uint64_t> b_start;
  {
    Stream s(stub_b.get(), WatchRequest("p-move-none"));
    auto marker = s.NextWhere(IsMarker);
    ASSERT_TRUE(marker.has_value());
    b_start = PositionOf(marker->resume_token());
  }
  ASSERT_TRUE(Reaches(b_start));
  Stop("w-move");
  ASSERT_TRUE(on_a->NextWhere(PhaseOf("w-move", pb::SANDBOX_PHASE_STOPPED), &client));
  on_a->Cancel();
  on_a->WaitDone();
  on_a.reset();
  const pb::WatchSandboxesResponse last = client.back();
  ASSERT_TRUE(reference.NextWhere(PhaseOf("w-move", pb::SANDBOX_PHASE_STOPPED), &ref));

  // While the client is away: started (through B) until running, its env changed (A).
  {
    pb::StartSandboxRequest req;
    req.set_namespace_(*ns_);
    req.set_name("w-move");
    pb::StartSandboxResponse resp;
    grpc::Status s = stub_b->StartSandbox(Context().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(reference.NextWhere(PhaseOf("w-move", pb::SANDBOX_PHASE_RUNNING), &ref));
  SetEnv("w-move", "MOVED", "yes");
  auto moved = [](const pb::WatchSandboxesResponse& r) {
    return r.sandbox().spec().env().count("MOVED") > 0 &&
           r.sandbox().phase() == pb::SANDBOX_PHASE_RUNNING;
  };
  ASSERT_TRUE(reference.NextWhere(moved, &ref));

  Stream on_b(stub_b.get(), WatchRequest("p-move", last.resume_token()));
  std::vector<pb::WatchSandboxesResponse> resumed;
  ASSERT_TRUE(on_b.NextWhere(IsMarker, &resumed).has_value());
  Delete("w-move");
  ASSERT_TRUE(on_b.NextWhere(DeletedEvent("w-move"), &resumed));
  ASSERT_TRUE(reference.NextWhere(DeletedEvent("w-move"), &ref));

  ASSERT_GE(resumed.size(), 2u);
  EXPECT_FALSE(IsMarker(resumed.front())) << "B replayed nothing";
  // At the seam B may send the state the client already has, once: when the replicas
  // applied inputs of different kinds in a different order, B's change carries an input
  // A had not applied when it sent the same state (say the pod's deletion after the stop),
  // and B cannot know that input changed nothing for this client. Any other repeat fails
  // the check below.
  const bool seam_repeat =
      resumed.front().sandbox().SerializeAsString() == last.sandbox().SerializeAsString();
  if (seam_repeat) resumed.erase(resumed.begin());
  int markers = 0;
  bool env_seen = false;
  for (const auto& r : resumed) {
    markers += IsMarker(r);
    EXPECT_NE(r.type(), pb::WATCH_EVENT_TYPE_RESET);
    EXPECT_NE(r.type(), pb::WATCH_EVENT_TYPE_ADDED) << "the client knows w-move";
    EXPECT_FALSE(r.resume_token().empty());
    env_seen = env_seen || r.sandbox().spec().env().count("MOVED") > 0;
    if (!IsMarker(r)) client.push_back(r);
  }
  EXPECT_EQ(markers, 1);
  EXPECT_TRUE(env_seen);
  // Across both replicas: every step of the lifecycle, in order, as on the reference
  // (a stream may merge intermediate states of one sandbox while a write is in flight,
  // so the milestones are compared, not every intermediate state) ...
  // The replay is never merged, so the client sees the restart's STARTING as well.
  const std::vector<std::string> milestones = {"_ADDED",    "_RUNNING", "_STOPPED",
                                               "_STARTING", "_RUNNING", "_DELETED"};
  for (const auto* seen : {&client, &ref}) {
    std::vector<std::string> phases = Phases(*seen, "w-move");
    auto at = phases.begin();  // one message may be two milestones (ADDED and RUNNING)
    for (const std::string& m : milestones) {
      at = std::find_if(at, phases.end(),
                        [&m](const std::string& p) { return p.find(m) != std::string::npos; });
      ASSERT_NE(at, phases.end()) << m << " missing from " << ::testing::PrintToString(phases);
    }
  }
  // ... and no state twice in a row (the final DELETED carries the last state again).
  for (size_t i = 1; i + 1 < client.size(); ++i) {
    EXPECT_NE(client[i].sandbox().SerializeAsString(), client[i - 1].sandbox().SerializeAsString())
        << "repeated at " << i << ": " << client[i].DebugString();
  }
  b->Shutdown(absl::Seconds(5));
}

// A replica whose history no longer covers a token answers it with RESET and a fresh
// initial state; one whose history does resumes it.
TEST_F(WatchTest, ATokenOlderThanTheReplicasHistoryIsReset) {
  server::SandboxdServer::Hooks tiny;
  tiny.watch_history_capacity = 1;
  std::unique_ptr<server::SandboxdServer> c = StartServer(tiny);
  auto stub_c = pb::SandboxLifecycle::NewStub(
      testing::TokenChannel(absl::StrCat("127.0.0.1:", c->port()), *token_));
  Stream on_a(stub_, WatchRequest("p-old"));
  ASSERT_TRUE(on_a.NextWhere(IsMarker).has_value());
  Create("w-old", "p-old");
  auto running = on_a.NextWhere(PhaseOf("w-old", pb::SANDBOX_PHASE_RUNNING));
  ASSERT_TRUE(running.has_value());
  Stop("w-old");  // several changes: C's history of one loses the first of them

  auto stopped = on_a.NextWhere(PhaseOf("w-old", pb::SANDBOX_PHASE_STOPPED));
  ASSERT_TRUE(stopped.has_value());
  pb::WatchSandboxesRequest old_token = WatchRequest("p-old", running->resume_token());
  old_token.set_min_resource_version(stopped->sandbox().resource_version());
  Stream on_c(stub_c.get(), old_token);
  auto reset = on_c.Next();
  ASSERT_TRUE(reset.has_value());
  EXPECT_EQ(reset->type(), pb::WATCH_EVENT_TYPE_RESET);
  auto added = on_c.Next();
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->type(), pb::WATCH_EVENT_TYPE_ADDED);
  EXPECT_EQ(added->sandbox().spec().name(), "w-old");
  EXPECT_EQ(added->sandbox().desired_replicas(), 0);  // min_resource_version: the stop
  auto marker = on_c.Next();
  ASSERT_TRUE(marker.has_value());
  EXPECT_TRUE(IsMarker(*marker));

  // The main server's history (4096 changes) still covers it: the missed changes.
  Stream on_main(stub_, WatchRequest("p-old", running->resume_token()));
  auto first = on_main.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->type(), pb::WATCH_EVENT_TYPE_MODIFIED);
  ASSERT_TRUE(on_main.NextWhere(IsMarker).has_value());
  c->Shutdown(absl::Seconds(5));
  Delete("w-old");
}

// Read-your-writes across replicas: a write through A returns the StatefulSet's
// resourceVersion; a read or watch through B that passes it as min_resource_version
// reflects the write.
TEST_F(WatchTest, AReadOnAnotherReplicaWithMinResourceVersionSeesTheWrite) {
  std::unique_ptr<server::SandboxdServer> b = StartServer();
  auto stub_b = pb::SandboxLifecycle::NewStub(
      testing::TokenChannel(absl::StrCat("127.0.0.1:", b->port()), *token_));
  Create("w-ryw", "p-ryw");
  for (int round = 0; round < 3; ++round) {
    pb::UpdateSandboxEnvRequest update;
    update.set_namespace_(*ns_);
    update.set_name("w-ryw");
    (*update.mutable_env())["ROUND"] = std::to_string(round);
    pb::UpdateSandboxEnvResponse written;
    grpc::Status s = stub_->UpdateSandboxEnv(Context().get(), update, &written);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const std::string rv = written.sandbox().resource_version();
    ASSERT_FALSE(rv.empty());

    pb::GetSandboxRequest get;
    get.set_namespace_(*ns_);
    get.set_name("w-ryw");
    get.set_min_resource_version(rv);
    pb::GetSandboxResponse read;
    s = stub_b->GetSandbox(Context().get(), get, &read);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(read.sandbox().spec().env().at("ROUND"), std::to_string(round));
    EXPECT_GE(std::stoull(read.sandbox().resource_version()), std::stoull(rv));

    pb::ListSandboxesRequest list;
    list.set_namespace_(*ns_);
    list.set_project("p-ryw");
    list.set_min_resource_version(rv);
    pb::ListSandboxesResponse listed;
    s = stub_b->ListSandboxes(Context().get(), list, &listed);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(listed.sandboxes_size(), 1);
    EXPECT_EQ(listed.sandboxes(0).spec().env().at("ROUND"), std::to_string(round));

    pb::WatchSandboxesRequest watch = WatchRequest("p-ryw");
    watch.set_min_resource_version(rv);
    Stream stream(stub_b.get(), watch);
    auto added = stream.Next();
    ASSERT_TRUE(added.has_value());
    EXPECT_EQ(added->type(), pb::WATCH_EVENT_TYPE_ADDED);
    EXPECT_EQ(added->sandbox().spec().env().at("ROUND"), std::to_string(round));
  }
  {  // not a resource version
    pb::GetSandboxRequest get;
    get.set_namespace_(*ns_);
    get.set_name("w-ryw");
    get.set_min_resource_version("latest");
    pb::GetSandboxResponse read;
    grpc::Status s = stub_b->GetSandbox(Context().get(), get, &read);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ReasonAndField(s).second, "min_resource_version");
  }
  {  // a version the cluster has not reached: the wait is bounded
    pb::GetSandboxRequest get;
    get.set_namespace_(*ns_);
    get.set_name("w-ryw");
    get.set_min_resource_version("999999999999");
    pb::GetSandboxResponse read;
    grpc::Status s = stub_b->GetSandbox(Context().get(), get, &read);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(ReasonAndField(s).first, "CACHE_BEHIND");
    grpc::ClientContext short_ctx;
    short_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    s = stub_b->GetSandbox(&short_ctx, get, &read);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  b->Shutdown(absl::Seconds(5));
  Delete("w-ryw");
}

}  // namespace
}  // namespace sandboxd
