// CurlKubeClient against a loopback HTTP/1.1 server written here (port chosen by the OS).
#include "src/kube/curl_kube_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "src/kube/kube_errors.h"
#include "tests/unit/kube/loopback_listener.h"
#include "tests/unit/kube/test_files.h"

namespace sandboxd::kube {
namespace {

const auto* const kCurlEnv = testing::RegisterCurlEnvironment();

struct Recorded {
  std::string method, path, body, authorization, content_type;
};

struct Reply {
  Reply(int status = 200, std::string body = "{}", std::string extra_headers = "",
        absl::Duration delay = absl::ZeroDuration(), bool drop = false)
      : status(status),
        body(std::move(body)),
        extra_headers(std::move(extra_headers)),
        delay(delay),
        drop(drop) {}
  int status;
  std::string body;
  std::string extra_headers;  // "Name: value\r\n" lines
  absl::Duration delay;
  bool drop;  // close the connection without answering
};

// A minimal HTTP/1.1 server: keep-alive, Content-Length bodies only. Thread-safe.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::function<Reply(const Recorded&, int index)> handler)
      : handler_(std::move(handler)) {}

  ~LoopbackServer() {
    absl::MutexLock lock(&mu_);
    stopping_ = true;  // ends delayed replies; listener_ then closes the connections
  }

  std::string url() const { return listener_.url(); }

  std::vector<Recorded> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  void AwaitRequests(size_t n) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::pair<std::vector<Recorded>*, size_t>* p) { return p->first->size() >= p->second; },
        new_pair(n)));
  }

 private:
  std::pair<std::vector<Recorded>*, size_t>* new_pair(size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    await_arg_ = {&requests_, n};
    return &await_arg_;
  }

  void Serve(int fd) {
    std::string buf;
    char chunk[4096];
    while (true) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) return;
        buf.append(chunk, static_cast<size_t>(n));
      }
      Recorded req;
      size_t content_length = 0;
      std::vector<std::string> lines = absl::StrSplit(buf.substr(0, end), "\r\n");
      std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
      req.method = first[0];
      req.path = first.size() > 1 ? first[1] : "";
      for (size_t i = 1; i < lines.size(); ++i) {
        size_t colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
        std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
        if (name == "content-length") (void)absl::SimpleAtoi(value, &content_length);
        if (name == "authorization") req.authorization = value;
        if (name == "content-type") req.content_type = value;
      }
      buf.erase(0, end + 4);
      while (buf.size() < content_length) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) return;
        buf.append(chunk, static_cast<size_t>(n));
      }
      req.body = buf.substr(0, content_length);
      buf.erase(0, content_length);
      int index;
      {
        absl::MutexLock lock(&mu_);
        index = static_cast<int>(requests_.size());
        requests_.push_back(req);
      }
      Reply reply = handler_(req, index);
      if (reply.delay > absl::ZeroDuration()) {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), reply.delay);
        if (stopping_) return;
      }
      if (reply.drop) {
        shutdown(fd, SHUT_RDWR);
        return;
      }
      std::string out = absl::StrCat("HTTP/1.1 ", reply.status, " X\r\nContent-Type: application/json\r\n",
                                     "Content-Length: ", reply.body.size(), "\r\n",
                                     reply.extra_headers, "\r\n", reply.body);
      // MSG_NOSIGNAL: a client that hung up must not kill the test with SIGPIPE.
      if (send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) return;
      if (absl::StrContains(reply.extra_headers, "Connection: close")) {
        shutdown(fd, SHUT_RDWR);
        return;
      }
    }
  }

  const std::function<Reply(const Recorded&, int)> handler_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Recorded> requests_ ABSL_GUARDED_BY(mu_);
  std::pair<std::vector<Recorded>*, size_t> await_arg_ ABSL_GUARDED_BY(mu_);
  testing::LoopbackListener listener_{[this](int fd) { Serve(fd); }};  // last: goes first
};

// Collects one callback result; Wait() blocks until it arrives.
struct Result {
  absl::Notification done;
  absl::StatusOr<std::string> value = absl::UnknownError("unset");
  std::thread::id thread;
  ResponseCallback Callback() {
    return [this](absl::StatusOr<std::string> v) {
      value = std::move(v);
      thread = std::this_thread::get_id();
      done.Notify();
    };
  }
  absl::StatusOr<std::string>& Wait() {
    done.WaitForNotification();
    return value;
  }
};

CurlKubeClientOptions FastOptions() {
  CurlKubeClientOptions o;
  o.qps = 0;  // unthrottled unless a test says otherwise
  o.allow_insecure_http = true;  // the loopback server speaks plain http
  o.backoff = {absl::Milliseconds(1), absl::Milliseconds(5), 2.0, 0.0};
  o.jitter = [] { return 0.0; };
  return o;
}

std::unique_ptr<CurlKubeClient> MakeClient(const LoopbackServer& server,
                                           CurlKubeClientOptions o = FastOptions(),
                                           KubeConfig cfg = {}) {
  cfg.server = server.url();
  if (cfg.token.empty() && cfg.token_file.empty()) cfg.token = "tok";
  auto client = CurlKubeClient::Create(std::move(cfg), std::move(o));
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

std::string StatusJson(int code, const std::string& reason) {
  return absl::StrCat(R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":)", code,
                      R"(,"reason":")", reason, R"(","message":"msg )", reason, R"("})");
}

const ObjectRef kSts{Kind::kStatefulSet, "u1", "sb"};

TEST(CurlKubeClientTest, GetSendsAuthAndReturnsBodyOnIoThread) {
  LoopbackServer server([](const Recorded&, int) { return Reply{200, R"({"kind":"StatefulSet"})"}; });
  auto client = MakeClient(server);
  Result r;
  client->Get(kSts, "", {}, r.Callback());
  ASSERT_TRUE(r.Wait().ok()) << r.value.status();
  EXPECT_EQ(*r.value, R"({"kind":"StatefulSet"})");
  EXPECT_NE(r.thread, std::this_thread::get_id());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].path, "/apis/apps/v1/namespaces/u1/statefulsets/sb");
  EXPECT_EQ(reqs[0].authorization, "Bearer tok");
}

TEST(CurlKubeClientTest, WritesCarryMethodBodyContentTypeAndFieldManager) {
  LoopbackServer server([](const Recorded&, int) { return Reply{201, "{}"}; });
  auto client = MakeClient(server);
  Result create, patch, del, put;
  client->Create(Kind::kService, "u1", R"({"a":1})", {}, create.Callback());
  ASSERT_TRUE(create.Wait().ok()) << create.value.status();
  client->Patch(kSts, "", PatchType::kStrategicMerge, R"({"b":2})", {}, patch.Callback());
  ASSERT_TRUE(patch.Wait().ok()) << patch.value.status();
  client->Delete(kSts, {Propagation::kForeground, "uid", ""}, {}, del.Callback());
  ASSERT_TRUE(del.Wait().ok()) << del.value.status();
  client->Replace(kSts, "", R"({"c":3})", {}, put.Callback());
  ASSERT_TRUE(put.Wait().ok()) << put.value.status();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/api/v1/namespaces/u1/services?fieldManager=sandboxd");
  EXPECT_EQ(reqs[0].body, R"({"a":1})");
  EXPECT_EQ(reqs[0].content_type, "application/json");
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(reqs[1].content_type, "application/strategic-merge-patch+json");
  EXPECT_EQ(reqs[1].body, R"({"b":2})");
  EXPECT_EQ(reqs[2].method, "DELETE");
  EXPECT_NE(reqs[2].body.find(R"("propagationPolicy":"Foreground")"), std::string::npos);
  EXPECT_EQ(reqs[3].method, "PUT");
  EXPECT_EQ(reqs[3].body, R"({"c":3})");
}

TEST(CurlKubeClientTest, ErrorStatusIsMapped) {
  LoopbackServer server([](const Recorded& req, int) {
    if (req.method == "POST") return Reply{409, StatusJson(409, "AlreadyExists")};
    return Reply{404, StatusJson(404, "NotFound")};
  });
  auto client = MakeClient(server);
  Result get, create;
  client->Get(kSts, "", {}, get.Callback());
  EXPECT_EQ(get.Wait().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(KubeReason(get.value.status()), "NotFound");
  EXPECT_EQ(get.value.status().message(), "msg NotFound");
  client->Create(Kind::kStatefulSet, "u1", "{}", {}, create.Callback());
  EXPECT_EQ(create.Wait().status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(server.requests().size(), 2u);  // 4xx are not retried
}

// Every failure the client reports is marked as from Kubernetes (its message stays in the
// server log): API responses, and failures that never reached the API server.
TEST(CurlKubeClientTest, FailuresCarryTheKubernetesOrigin) {
  LoopbackServer server([](const Recorded&, int) {
    return Reply{403, StatusJson(403, "Forbidden")};
  });
  auto client = MakeClient(server);
  Result denied;
  client->Get(kSts, "", {}, denied.Callback());
  EXPECT_EQ(denied.Wait().status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(OriginOf(denied.value.status()), KubeOrigin::kApi);

  testing::TempDir dir;
  KubeConfig cfg;
  cfg.token_file = dir.path() + "/missing-token";
  auto no_token = MakeClient(server, FastOptions(), cfg);
  Result unauthenticated;
  no_token->Get(kSts, "", {}, unauthenticated.Callback());
  EXPECT_EQ(unauthenticated.Wait().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(OriginOf(unauthenticated.value.status()), KubeOrigin::kApi);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(CurlKubeClientTest, Retries503ThenSucceeds) {
  LoopbackServer server([](const Recorded&, int i) {
    if (i < 2) return Reply{503, StatusJson(503, "ServiceUnavailable")};
    return Reply{200, "ok"};
  });
  auto client = MakeClient(server);
  Result r;
  client->List(Kind::kPod, "u1", {}, {}, r.Callback());
  ASSERT_TRUE(r.Wait().ok()) << r.value.status();
  EXPECT_EQ(*r.value, "ok");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(CurlKubeClientTest, HonoursRetryAfter) {
  LoopbackServer server([](const Recorded&, int i) {
    if (i == 0) return Reply{429, StatusJson(429, "TooManyRequests"), "Retry-After: 1\r\n"};
    return Reply{200, "ok"};
  });
  auto client = MakeClient(server);
  Result r;
  absl::Time start = absl::Now();
  client->Create(Kind::kPod, "u1", "{}", {}, r.Callback());  // 429 is retried for writes too
  ASSERT_TRUE(r.Wait().ok()) << r.value.status();
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(CurlKubeClientTest, GivesUpAfterMaxTries) {
  LoopbackServer server([](const Recorded&, int) { return Reply{429, StatusJson(429, "TooManyRequests")}; });
  CurlKubeClientOptions o = FastOptions();
  o.max_tries = 4;
  auto client = MakeClient(server, o);
  Result r;
  client->Get(kSts, "", {}, r.Callback());
  EXPECT_EQ(r.Wait().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(KubeReason(r.value.status()), "TooManyRequests");
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST(CurlKubeClientTest, RetryAfterPastDeadlineFailsFast) {
  LoopbackServer server([](const Recorded&, int) {
    return Reply{503, StatusJson(503, "ServiceUnavailable"), "Retry-After: 30\r\n"};
  });
  auto client = MakeClient(server);
  Result r;
  CallOptions opts;
  opts.deadline = absl::Now() + absl::Seconds(2);
  client->Get(kSts, "", opts, r.Callback());
  EXPECT_EQ(r.Wait().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now(), opts.deadline);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(CurlKubeClientTest, TransportErrorRetriedForGetOnly) {
  LoopbackServer server([](const Recorded&, int i) {
    if (i % 2 == 0) return Reply{200, "", "", absl::ZeroDuration(), /*drop=*/true};
    // A fresh connection per request: libcurl itself resends a request whose *reused*
    // connection died before any response byte, which this test is not about.
    return Reply{200, "ok", "Connection: close\r\n"};
  });
  auto client = MakeClient(server);
  Result get;
  client->Get(kSts, "", {}, get.Callback());  // request 0 dropped, request 1 ok
  ASSERT_TRUE(get.Wait().ok()) << get.value.status();
  EXPECT_EQ(server.requests().size(), 2u);
  Result create;
  client->Create(Kind::kPod, "u1", "{}", {}, create.Callback());  // request 2 dropped
  EXPECT_EQ(create.Wait().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(CurlKubeClientTest, IdempotentWritesAreSentAgainAfterATransportError) {
  // Requests: 0 POST dropped, 1 POST 201; 2 DELETE dropped (the server did delete), 3
  // DELETE 404 (nothing left: success); 4 DELETE 404 on a first attempt (an error).
  LoopbackServer server([](const Recorded&, int i) {
    if (i == 0 || i == 2) return Reply{200, "", "", absl::ZeroDuration(), /*drop=*/true};
    if (i == 1) return Reply{201, R"({"kind":"Pod"})", "Connection: close\r\n"};
    return Reply{404, R"({"kind":"Status","code":404,"reason":"NotFound"})",
                 "Connection: close\r\n"};
  });
  auto client = MakeClient(server);
  CallOptions idempotent;
  idempotent.idempotent_writes = true;
  Result create;
  client->Create(Kind::kPod, "u1", "{}", idempotent, create.Callback());
  ASSERT_TRUE(create.Wait().ok()) << create.value.status();
  EXPECT_EQ(*create.value, R"({"kind":"Pod"})");
  Result removed;
  client->Delete(kSts, {}, idempotent, removed.Callback());
  ASSERT_TRUE(removed.Wait().ok()) << removed.value.status();
  EXPECT_EQ(*removed.value, "");
  Result missing;
  client->Delete(kSts, {}, idempotent, missing.Callback());
  EXPECT_EQ(missing.Wait().status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(server.requests().size(), 5u);
  for (int i : {0, 1}) EXPECT_EQ(server.requests()[i].method, "POST") << i;
  for (int i : {2, 3, 4}) EXPECT_EQ(server.requests()[i].method, "DELETE") << i;
}

TEST(CurlKubeClientTest, A403RightAfterAnOutageIsRetried) {
  // 0 dropped (the outage), 1 403 (the restarted server's authorizer is not ready), 2 ok;
  // then, without a grace period after the outage, a 403 on a call that met no outage is
  // final.
  LoopbackServer server([](const Recorded&, int i) {
    if (i == 0) return Reply{200, "", "", absl::ZeroDuration(), /*drop=*/true};
    if (i == 2) return Reply{200, "ok", "Connection: close\r\n"};
    return Reply{403, R"({"kind":"Status","code":403,"reason":"Forbidden"})",
                 "Connection: close\r\n"};
  });
  CurlKubeClientOptions options = FastOptions();
  options.forbidden_grace_after_outage = absl::ZeroDuration();
  auto client = MakeClient(server, options);
  Result get;
  client->Get(kSts, "", {}, get.Callback());
  ASSERT_TRUE(get.Wait().ok()) << get.value.status();
  Result refused;
  client->Get(kSts, "", {}, refused.Callback());
  EXPECT_EQ(refused.Wait().status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(server.requests().size(), 4u);
}

// Found by tests/integration/fault_test.cc: after a SIGKILLed API server came back, its
// 403s (authorizer not synced) reached callers as PERMISSION_DENIED / INTERNAL. Within the
// grace period after an outage a 403 is retried by calls that never met the outage, and
// one that is still refused when its tries run out fails UNAVAILABLE.
TEST(CurlKubeClientTest, A403WithinTheGraceAfterAnOutageIsRetriedThenUnavailable) {
  // 0 dropped (the outage), 1 ok: the first call recovers; 2 403, 3 ok: the second call
  // (no outage of its own) retries; 4, 5, 6 403: the third runs out of its 3 tries.
  LoopbackServer server([](const Recorded&, int i) {
    if (i == 0) return Reply{200, "", "", absl::ZeroDuration(), /*drop=*/true};
    if (i == 1 || i == 3) return Reply{200, "ok", "Connection: close\r\n"};
    return Reply{403, R"({"kind":"Status","code":403,"reason":"Forbidden"})",
                 "Connection: close\r\n"};
  });
  CurlKubeClientOptions options = FastOptions();
  options.max_tries = 3;
  auto client = MakeClient(server, options);
  Result first;
  client->Get(kSts, "", {}, first.Callback());
  ASSERT_TRUE(first.Wait().ok()) << first.value.status();
  Result second;
  client->Create(Kind::kPod, "u1", "{}", {}, second.Callback());
  ASSERT_TRUE(second.Wait().ok()) << second.value.status();
  Result third;
  client->Create(Kind::kPod, "u1", "{}", {}, third.Callback());
  EXPECT_EQ(third.Wait().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(OriginOf(third.value.status()), KubeOrigin::kApi);
  EXPECT_EQ(server.requests().size(), 7u);
}

// A quota or admission refusal comes after authorization, so it is final even right
// after an outage. Found by tenant_test: a ResourceQuota's 403 within the grace period was
// retried until the call's deadline and failed UNAVAILABLE instead of QUOTA_EXCEEDED.
TEST(CurlKubeClientTest, QuotaAndAdmissionRefusalsAfterAnOutageAreFinal) {
  // 0 dropped (the outage), 1 the quota's 403 for the resent create, 2 an admission
  // policy's 403 for the next create (within the grace period).
  LoopbackServer server([](const Recorded&, int i) {
    if (i == 0) return Reply{200, "", "", absl::ZeroDuration(), /*drop=*/true};
    if (i == 1) {
      return Reply{403,
                   R"({"kind":"Status","code":403,"reason":"Forbidden","message":)"
                   R"("statefulsets.apps \"x\" is forbidden: exceeded quota: q, requested: )"
                   R"(count/statefulsets.apps=1"})",
                   "Connection: close\r\n"};
    }
    return Reply{403,
                 R"({"kind":"Status","code":403,"reason":"Forbidden","message":)"
                 R"("statefulsets.apps \"x\" is forbidden: ValidatingAdmissionPolicy 'p' )"
                 R"(with binding 'b' denied request: no"})",
                 "Connection: close\r\n"};
  });
  auto client = MakeClient(server);
  CallOptions idempotent;
  idempotent.idempotent_writes = true;
  Result quota;
  client->Create(Kind::kStatefulSet, "u1", "{}", idempotent, quota.Callback());
  EXPECT_EQ(quota.Wait().status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(OriginOf(quota.value.status()), KubeOrigin::kQuota);
  Result admission;
  client->Create(Kind::kStatefulSet, "u1", "{}", idempotent, admission.Callback());
  EXPECT_EQ(admission.Wait().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(OriginOf(admission.value.status()), KubeOrigin::kAdmission);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(CurlKubeClientTest, DeadlineExceeded) {
  LoopbackServer server([](const Recorded&, int) { return Reply{200, "late", "", absl::Seconds(10)}; });
  auto client = MakeClient(server);
  Result r;
  CallOptions opts;
  opts.deadline = absl::Now() + absl::Milliseconds(300);
  client->Get(kSts, "", opts, r.Callback());
  EXPECT_EQ(r.Wait().status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - opts.deadline, absl::Seconds(2));
}

TEST(CurlKubeClientTest, CancelInFlight) {
  LoopbackServer server([](const Recorded&, int) { return Reply{200, "late", "", absl::Seconds(10)}; });
  auto client = MakeClient(server);
  auto token = std::make_shared<CancellationToken>();
  CallOptions opts;
  opts.cancel = token;
  Result r;
  client->Get(kSts, "", opts, r.Callback());
  server.AwaitRequests(1);
  token->Cancel();
  EXPECT_EQ(r.Wait().status().code(), absl::StatusCode::kCancelled);
}

TEST(CurlKubeClientTest, RefreshesTokenOnceOn401) {
  testing::TempDir dir;
  std::string tf = dir.Write("token", "old");
  LoopbackServer server([&](const Recorded& req, int) {
    if (req.authorization != "Bearer new") return Reply{401, StatusJson(401, "Unauthorized")};
    return Reply{200, "ok"};
  });
  KubeConfig cfg;
  cfg.token_file = tf;
  auto client = MakeClient(server, FastOptions(), cfg);
  Result first;
  client->Get(kSts, "", {}, first.Callback());  // old -> 401 -> reread (still old) -> 401
  EXPECT_EQ(first.Wait().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server.requests().size(), 2u);
  dir.Write("token", "new");
  Result second;
  client->Get(kSts, "", {}, second.Callback());  // cached old -> 401 -> reread new -> 200
  ASSERT_TRUE(second.Wait().ok()) << second.value.status();
  EXPECT_EQ(server.requests().size(), 4u);
}

// The exec plugin runs off the I/O thread: here it waits for a file that only a timer on
// the I/O loop creates. Were the plugin run on the loop, the timer could not fire and the
// plugin would time out (UNAUTHENTICATED). Calls issued meanwhile share one plugin run.
TEST(CurlKubeClientTest, ExecPluginDoesNotBlockTheIoThread) {
  testing::TempDir dir;
  const std::string gate = dir.path() + "/gate";
  const std::string runs = dir.path() + "/runs";
  std::string plugin = dir.Write("plugin.sh", absl::StrCat(R"(#!/bin/sh
echo run >> )", runs, R"(
while [ ! -f )", gate, R"( ]; do sleep 0.02; done
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-tok"}}'
)"),
                                 /*executable=*/true);
  LoopbackServer server([](const Recorded&, int) { return Reply{200, "ok"}; });
  KubeConfig cfg;
  cfg.server = server.url();
  cfg.exec = ExecConfig{"client.authentication.k8s.io/v1", plugin, {}, {}, false};
  CurlKubeClientOptions o = FastOptions();
  auto client = CurlKubeClient::Create(cfg, o);
  ASSERT_TRUE(client.ok()) << client.status();
  Result a, b;
  (*client)->Get(kSts, "", {}, a.Callback());
  (*client)->Get(kSts, "", {}, b.Callback());
  absl::Notification timer_ran;
  ASSERT_TRUE((*client)
                  ->RunAfter(absl::Milliseconds(100),
                             [&] {
                               EXPECT_FALSE(a.done.HasBeenNotified());
                               dir.Write("gate", "open");
                               timer_ran.Notify();
                             })
                  .ok());
  ASSERT_TRUE(a.Wait().ok()) << a.value.status();
  ASSERT_TRUE(b.Wait().ok()) << b.value.status();
  EXPECT_TRUE(timer_ran.HasBeenNotified());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].authorization, "Bearer exec-tok");
  EXPECT_EQ(reqs[1].authorization, "Bearer exec-tok");
  absl::StatusOr<std::string> ran = ReadFileToString(runs);
  ASSERT_TRUE(ran.ok());
  EXPECT_EQ(*ran, "run\n");  // one run for both calls, cached after
  Result c;
  (*client)->Get(kSts, "", {}, c.Callback());
  ASSERT_TRUE(c.Wait().ok());
  EXPECT_EQ(*ReadFileToString(runs), "run\n");
}

TEST(CurlKubeClientTest, CallWaitingForCredentialsCanBeCancelled) {
  testing::TempDir dir;
  const std::string started = dir.path() + "/started";
  std::string plugin =
      dir.Write("plugin.sh", absl::StrCat("#!/bin/sh\ntouch ", started, "\nsleep 2\nexit 1\n"),
                /*executable=*/true);
  LoopbackServer server([](const Recorded&, int) { return Reply{200, "ok"}; });
  KubeConfig cfg;
  cfg.server = server.url();
  cfg.exec = ExecConfig{"client.authentication.k8s.io/v1", plugin, {}, {}, false};
  auto client = CurlKubeClient::Create(cfg, FastOptions());
  ASSERT_TRUE(client.ok()) << client.status();
  auto token = std::make_shared<CancellationToken>();
  CallOptions opts;
  opts.cancel = token;
  Result r;
  (*client)->Get(kSts, "", opts, r.Callback());
  while (!ReadFileToString(started).ok()) absl::SleepFor(absl::Milliseconds(5));
  token->Cancel();  // while the plugin runs: not UNAUTHENTICATED from its failure
  EXPECT_EQ(r.Wait().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(r.value.status().message(), "cancelled while waiting for credentials");
  EXPECT_EQ(server.requests().size(), 0u);
}

TEST(CurlKubeClientTest, ThrottlesWithTokenBucket) {
  LoopbackServer server([](const Recorded&, int) { return Reply{200, "ok"}; });
  CurlKubeClientOptions o = FastOptions();
  o.qps = 10;
  o.burst = 1;
  auto client = MakeClient(server, o);
  absl::Time start = absl::Now();
  Result a, b, c;
  client->Get(kSts, "", {}, a.Callback());
  client->Get(kSts, "", {}, b.Callback());
  client->Get(kSts, "", {}, c.Callback());
  ASSERT_TRUE(a.Wait().ok());
  ASSERT_TRUE(b.Wait().ok());
  ASSERT_TRUE(c.Wait().ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(195));  // 2 waits of 100 ms
}

// Calls refused by the throttle (their wait would end after their deadline) take no token:
// a later call gets a request slot as if they had never been made. Counted in requests
// served and in which calls succeed, not in time.
TEST(CurlKubeClientTest, ThrottleRefusesCallsThatWouldWaitPastTheirDeadline) {
  LoopbackServer server([](const Recorded&, int) { return Reply{200, "ok"}; });
  CurlKubeClientOptions o = FastOptions();
  o.qps = 1;
  o.burst = 1;
  auto client = MakeClient(server, o);
  Result first;
  client->Get(kSts, "", {}, first.Callback());
  ASSERT_TRUE(first.Wait().ok());
  constexpr int kShort = 20;
  std::vector<Result> refused(kShort);
  for (Result& r : refused) {
    CallOptions opts;
    opts.deadline = absl::Now() + absl::Milliseconds(200);  // the next slot is ~1 s away
    client->Get(kSts, "", opts, r.Callback());
  }
  for (Result& r : refused) {
    EXPECT_EQ(r.Wait().status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(r.value.status().message(), "client-side throttling: no request slot before the deadline");
  }
  EXPECT_EQ(server.requests().size(), 1u);
  // Had the refused calls kept their tokens, the next slot would be ~21 s away.
  Result normal;
  CallOptions opts;
  opts.deadline = absl::Now() + absl::Seconds(5);
  client->Get(kSts, "", opts, normal.Callback());
  ASSERT_TRUE(normal.Wait().ok()) << normal.value.status();
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(CurlKubeClientTest, CallsCancelledWhileThrottledGiveTheirTokensBack) {
  LoopbackServer server([](const Recorded&, int) { return Reply{200, "ok"}; });
  CurlKubeClientOptions o = FastOptions();
  o.qps = 1;
  o.burst = 1;
  auto client = MakeClient(server, o);
  Result first;
  client->Get(kSts, "", {}, first.Callback());
  ASSERT_TRUE(first.Wait().ok());
  constexpr int kCancelled = 5;
  auto token = std::make_shared<CancellationToken>();
  std::vector<Result> cancelled(kCancelled);
  for (Result& r : cancelled) {
    CallOptions opts;
    opts.deadline = absl::Now() + absl::Seconds(60);  // waits of 1..5 s: all reserve a token
    opts.cancel = token;
    client->Get(kSts, "", opts, r.Callback());
  }
  absl::SleepFor(absl::Milliseconds(100));  // lets the loop reserve their tokens
  token->Cancel();
  for (Result& r : cancelled) {
    EXPECT_EQ(r.Wait().status().code(), absl::StatusCode::kCancelled);
  }
  // Without the tokens back the next slot would be ~6 s away: past this deadline.
  Result normal;
  CallOptions opts;
  opts.deadline = absl::Now() + absl::Milliseconds(2500);
  client->Get(kSts, "", opts, normal.Callback());
  ASSERT_TRUE(normal.Wait().ok()) << normal.value.status();
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(CurlKubeClientTest, InvalidArgumentsFailAsynchronously) {
  LoopbackServer server([](const Recorded&, int) { return Reply{200, "ok"}; });
  auto client = MakeClient(server);
  Result r;
  client->Get({Kind::kPod, "u1", "a/b"}, "", {}, r.Callback());
  EXPECT_EQ(r.Wait().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.thread, std::this_thread::get_id());
  EXPECT_EQ(server.requests().size(), 0u);
}

TEST(CurlKubeClientTest, DestructionCancelsPendingCalls) {
  LoopbackServer server([](const Recorded&, int) { return Reply{200, "late", "", absl::Seconds(10)}; });
  auto client = MakeClient(server);
  CurlKubeClient* raw = client.get();
  Result in_flight, nested;
  client->Get(kSts, "", {}, [&](absl::StatusOr<std::string> v) {
    // Calls made from a callback during shutdown fail with CANCELLED too.
    raw->Get(kSts, "", {}, nested.Callback());
    in_flight.Callback()(std::move(v));
  });
  server.AwaitRequests(1);
  client.reset();
  EXPECT_EQ(in_flight.Wait().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(nested.Wait().status().code(), absl::StatusCode::kCancelled);
}

TEST(CurlKubeClientTest, CreateRefusesPlainHttpUnlessAllowed) {
  KubeConfig cfg;
  cfg.server = "http://10.0.0.1:8080";
  cfg.cluster = "prod";
  absl::Status refused = CurlKubeClient::Create(cfg).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.message(),
            "Kubernetes cluster \"prod\": the API server http://10.0.0.1:8080 is plain http: "
            "refused, credentials and sandbox data would cross the network unencrypted; use "
            "https, or allow it explicitly (kube.allow_http, --kube_allow_http)");
  cfg.cluster = "";  // in-cluster: named by its server
  EXPECT_TRUE(absl::StartsWith(CurlKubeClient::Create(cfg).status().message(),
                               "Kubernetes cluster \"http://10.0.0.1:8080\": the API server"));
  CurlKubeClientOptions allowed;
  allowed.allow_insecure_http = true;
  EXPECT_TRUE(CurlKubeClient::Create(cfg, allowed).ok());
  cfg.server = "https://10.0.0.1:6443";
  EXPECT_TRUE(CurlKubeClient::Create(cfg).ok());
}

TEST(CurlKubeClientTest, CreateRejectsEmptyServer) {
  EXPECT_EQ(CurlKubeClient::Create(KubeConfig{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sandboxd::kube
