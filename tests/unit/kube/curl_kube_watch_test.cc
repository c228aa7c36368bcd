// CurlKubeClient::Watch and RunAfter against a loopback HTTP/1.1 server that streams
// chunked responses under the test's control (port chosen by the OS).
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "src/kube/curl_kube_client.h"
#include "src/kube/kube_errors.h"
#include "src/kube/reflector.h"
#include "tests/unit/kube/loopback_listener.h"

namespace sandboxd::kube {
namespace {

const auto* const kCurlEnv = testing::RegisterCurlEnvironment();

// One accepted connection, handed to the test's script. Each request is answered by the
// script; Send* write chunked-encoding pieces immediately (TCP_NODELAY).
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  void Headers(int status) {
    Write(absl::StrCat("HTTP/1.1 ", status,
                       " X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  }
  void Chunk(const std::string& data) {
    Write(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"));
  }
  void End() { Write("0\r\n\r\n"); }
  // Blocks until the peer closes the connection (or the server shuts down).
  void AwaitPeerClose() {
    char buf[256];
    while (read(fd_, buf, sizeof buf) > 0) {
    }
  }

 private:
  // MSG_NOSIGNAL: a client that hung up must not kill the test with SIGPIPE.
  void Write(const std::string& s) { (void)!send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  int fd_;
};

// Serves one request per connection: records the path, runs `script`, closes.
class StreamServer {
 public:
  using Script = std::function<void(const std::string& path, Conn& conn)>;
  explicit StreamServer(Script script) : script_(std::move(script)) {}
  std::string url() const { return listener_.url(); }
  std::vector<std::string> paths() {
    absl::MutexLock lock(&mu_);
    return paths_;
  }

 private:
  void Serve(int fd) {
    std::string buf;
    char chunk[4096];
    while (buf.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = read(fd, chunk, sizeof chunk);
      if (n <= 0) return;
      buf.append(chunk, static_cast<size_t>(n));
    }
    size_t sp1 = buf.find(' ');
    size_t sp2 = buf.find(' ', sp1 + 1);
    std::string path = buf.substr(sp1 + 1, sp2 - sp1 - 1);
    {
      absl::MutexLock lock(&mu_);
      paths_.push_back(path);
    }
    Conn conn(fd);
    script_(path, conn);
    shutdown(fd, SHUT_RDWR);
  }

  const Script script_;
  absl::Mutex mu_;
  std::vector<std::string> paths_ ABSL_GUARDED_BY(mu_);
  testing::LoopbackListener listener_{[this](int fd) { Serve(fd); }};  // last: goes first
};

// Collects a watch's callbacks. Thread-safe.
struct WatchResult {
  absl::Mutex mu;
  std::vector<WatchEvent> events ABSL_GUARDED_BY(mu);
  int done_calls ABSL_GUARDED_BY(mu) = 0;
  absl::Status status ABSL_GUARDED_BY(mu);
  absl::Notification done;
  std::function<void(WatchEvent)> OnEvent() {
    return [this](WatchEvent e) {
      absl::MutexLock lock(&mu);
      events.push_back(std::move(e));
    };
  }
  std::function<void(absl::Status)> OnDone() {
    return [this](absl::Status s) {
      {
        absl::MutexLock lock(&mu);
        ++done_calls;
        status = std::move(s);
      }
      done.Notify();
    };
  }
  void AwaitEvents(size_t n) {
    absl::MutexLock lock(&mu);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return events.size() >= n; };
    mu.Await(absl::Condition(&enough));
  }
  absl::Status Wait() {
    done.WaitForNotification();
    absl::MutexLock lock(&mu);
    return status;
  }
};

std::unique_ptr<CurlKubeClient> MakeClient(const StreamServer& server) {
  KubeConfig cfg;
  cfg.server = server.url();
  cfg.token = "tok";
  CurlKubeClientOptions o;
  o.qps = 0;
  o.allow_insecure_http = true;  // the loopback server speaks plain http
  auto client = CurlKubeClient::Create(std::move(cfg), std::move(o));
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

std::string Event(const std::string& type, const std::string& name, const std::string& rv) {
  return absl::StrCat(R"({"type":")", type, R"(","object":{"kind":"StatefulSet","metadata":{"name":")",
                      name, R"(","namespace":"u1","resourceVersion":")", rv, R"("}}})", "\n");
}

std::string Obj(const std::string& name, const std::string& rv) {
  return absl::StrCat(R"({"kind":"StatefulSet","metadata":{"name":")", name,
                      R"(","namespace":"u1","resourceVersion":")", rv, R"("}})");
}

TEST(CurlKubeWatchTest, StreamsEventsSplitAndBatchedThenServerCloseIsOk) {
  absl::Notification first_seen;
  StreamServer server([&](const std::string&, Conn& c) {
    c.Headers(200);
    std::string a = Event("ADDED", "a", "11");
    // One event split across three chunks.
    c.Chunk(a.substr(0, 10));
    absl::SleepFor(absl::Milliseconds(20));
    c.Chunk(a.substr(10, 25));
    absl::SleepFor(absl::Milliseconds(20));
    c.Chunk(a.substr(35));
    first_seen.WaitForNotificationWithTimeout(absl::Seconds(10));
    // Three events in one chunk, the last one split into the next chunk.
    std::string batch = absl::StrCat(Event("MODIFIED", "a", "12"), Event("BOOKMARK", "", "15"),
                                     Event("DELETED", "a", "16"));
    c.Chunk(batch.substr(0, batch.size() - 5));
    c.Chunk(batch.substr(batch.size() - 5));
    c.End();  // server-side close at timeoutSeconds
  });
  auto client = MakeClient(server);
  WatchResult r;
  WatchOptions opts;
  opts.label_selector = "a=b";
  opts.resource_version = "10";
  opts.timeout_seconds = 300;
  auto handle = client->Watch(Kind::kStatefulSet, "", opts, {}, r.OnEvent(), r.OnDone());
  r.AwaitEvents(1);
  first_seen.Notify();
  EXPECT_TRUE(r.Wait().ok()) << r.Wait();
  absl::MutexLock lock(&r.mu);
  ASSERT_EQ(r.events.size(), 4u);
  EXPECT_EQ(r.events[0].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(r.events[0].object.Json(), Obj("a", "11"));
  EXPECT_EQ(r.events[1].type, WatchEvent::Type::kModified);
  EXPECT_EQ(r.events[1].object.Json(), Obj("a", "12"));
  EXPECT_EQ(r.events[2].type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(r.events[3].type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(r.done_calls, 1);
  ASSERT_EQ(server.paths().size(), 1u);
  EXPECT_EQ(server.paths()[0],
            "/apis/apps/v1/statefulsets?watch=1&allowWatchBookmarks=true&resourceVersion=10"
            "&timeoutSeconds=300&labelSelector=a%3Db");
}

TEST(CurlKubeWatchTest, ErrorEventInside200IsOutOfRange) {
  StreamServer server([&](const std::string&, Conn& c) {
    c.Headers(200);
    c.Chunk(Event("ADDED", "a", "11"));
    c.Chunk(R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)j"
            R"j("message":"too old resource version: 1 (11)","reason":"Expired","code":410}})j"
            "\n");
    c.AwaitPeerClose();  // the client must end the stream itself
  });
  auto client = MakeClient(server);
  WatchResult r;
  auto handle = client->Watch(Kind::kPod, "u1", {}, {}, r.OnEvent(), r.OnDone());
  absl::Status s = r.Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(KubeReason(s), "Expired");
  absl::MutexLock lock(&r.mu);
  EXPECT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.done_calls, 1);
}

// A watch that this client ends itself (here: an ERROR event) is not an outage of the
// API server: a 403 that follows a later success is the server's answer and is not
// retried as if its authorizer had not synced.
TEST(CurlKubeWatchTest, AWatchTheClientEndsIsNoOutage) {
  StreamServer server([&](const std::string& path, Conn& c) {
    if (absl::StrContains(path, "watch=1")) {
      c.Headers(200);
      c.Chunk(R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1",)j"
              R"j("status":"Failure","message":"too old","reason":"Expired","code":410}})j"
              "\n");
      c.AwaitPeerClose();
      return;
    }
    if (absl::StrContains(path, "/ok")) {
      c.Headers(200);
      c.Chunk("{}");
    } else {
      c.Headers(403);
      c.Chunk(
          R"({"kind":"Status","status":"Failure","reason":"Forbidden","message":"no","code":403})");
    }
    c.End();
  });
  auto client = MakeClient(server);
  WatchResult r;
  auto handle = client->Watch(Kind::kPod, "u1", {}, {}, r.OnEvent(), r.OnDone());
  EXPECT_EQ(r.Wait().code(), absl::StatusCode::kOutOfRange);
  absl::Notification got, refused;
  client->Get(ObjectRef{Kind::kPod, "u1", "ok"}, "", {},
              [&](absl::StatusOr<std::string>) { got.Notify(); });
  got.WaitForNotification();
  absl::Status status;
  client->Get(ObjectRef{Kind::kPod, "u1", "no"}, "", {}, [&](absl::StatusOr<std::string> s) {
    status = s.status();
    refused.Notify();
  });
  refused.WaitForNotification();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_EQ(server.paths().size(), 3u);
}

TEST(CurlKubeWatchTest, StopEndsWithCancelledOnce) {
  StreamServer server([&](const std::string&, Conn& c) {
    c.Headers(200);
    c.Chunk(Event("ADDED", "a", "11"));
    c.AwaitPeerClose();
  });
  auto client = MakeClient(server);
  WatchResult r;
  auto handle = client->Watch(Kind::kPod, "", {}, {}, r.OnEvent(), r.OnDone());
  r.AwaitEvents(1);
  handle->Stop();
  handle->Stop();  // idempotent
  EXPECT_EQ(r.Wait().code(), absl::StatusCode::kCancelled);
  handle.reset();
  client.reset();  // joins the I/O thread: no callback can follow
  absl::MutexLock lock(&r.mu);
  EXPECT_EQ(r.done_calls, 1);
}

TEST(CurlKubeWatchTest, StopFromInsideOnEventDeliversNoFurtherEvent) {
  StreamServer server([&](const std::string&, Conn& c) {
    c.Headers(200);
    c.Chunk(absl::StrCat(Event("ADDED", "a", "11"), Event("ADDED", "b", "12")));
    c.AwaitPeerClose();
  });
  auto client = MakeClient(server);
  WatchResult r;
  std::unique_ptr<WatchHandle> handle;
  absl::Notification handle_set;
  auto on_event = r.OnEvent();
  handle = client->Watch(Kind::kPod, "", {}, {},
                         [&](WatchEvent e) {
                           on_event(std::move(e));
                           handle_set.WaitForNotification();
                           handle->Stop();
                         },
                         r.OnDone());
  handle_set.Notify();
  EXPECT_EQ(r.Wait().code(), absl::StatusCode::kCancelled);
  absl::MutexLock lock(&r.mu);
  EXPECT_EQ(r.events.size(), 1u);
}

TEST(CurlKubeWatchTest, HttpErrorIsMappedAndNotRetried) {
  StreamServer server([&](const std::string&, Conn& c) {
    c.Headers(403);
    c.Chunk(R"({"kind":"Status","status":"Failure","reason":"Forbidden","message":"no","code":403})");
    c.End();
  });
  auto client = MakeClient(server);
  WatchResult r;
  auto handle = client->Watch(Kind::kPod, "", {}, {}, r.OnEvent(), r.OnDone());
  absl::Status s = r.Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "no");
  EXPECT_EQ(server.paths().size(), 1u);
}

TEST(CurlKubeWatchTest, InvalidNamespaceFailsAsynchronously) {
  StreamServer server([&](const std::string&, Conn& c) {});
  auto client = MakeClient(server);
  WatchResult r;
  auto handle = client->Watch(Kind::kPod, "a/b", {}, {}, r.OnEvent(), r.OnDone());
  EXPECT_EQ(r.Wait().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(server.paths().empty());
}

TEST(CurlKubeWatchTest, ClientShutdownCancelsWatchAndDropsTimers) {
  StreamServer server([&](const std::string&, Conn& c) {
    c.Headers(200);
    c.AwaitPeerClose();
  });
  auto client = MakeClient(server);
  WatchResult r;
  auto handle = client->Watch(Kind::kPod, "", {}, {}, r.OnEvent(), r.OnDone());
  bool fired = false;
  ASSERT_TRUE(client->RunAfter(absl::Hours(1), [&] { fired = true; }).ok());
  client.reset();
  EXPECT_EQ(r.Wait().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(fired);
  handle->Stop();  // the handle outlives the client safely
}

TEST(CurlKubeWatchTest, RunAfterRunsTimersInOrderOnTheIoThread) {
  StreamServer server([&](const std::string&, Conn& c) {});
  auto client = MakeClient(server);
  absl::Mutex mu;
  std::vector<int> order;
  std::thread::id thread;
  absl::Notification done;
  absl::Time start = absl::Now();
  ASSERT_TRUE(client->RunAfter(absl::Milliseconds(120), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(2);
    done.Notify();
  }).ok());
  ASSERT_TRUE(client->RunAfter(absl::Milliseconds(60), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(1);
    thread = std::this_thread::get_id();
  }).ok());
  done.WaitForNotification();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(120));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_NE(thread, std::this_thread::get_id());
}

// Records sink calls; thread-safe.
class Sink final : public ReflectorSink {
 public:
  void OnUpsert(const JsonObject& object) override { Add(absl::StrCat("upsert ", object.Json())); }
  void OnDelete(const std::string& ns, const std::string& name,
                const std::string& resource_version) override {
    Add(absl::StrCat("delete ", ns, "/", name, "@", resource_version));
  }
  void OnSynced() override {
    Add("synced");
    absl::MutexLock lock(&mu);
    ++synced;
  }
  void AwaitSynced(int n) {
    absl::MutexLock lock(&mu);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return synced >= n; };
    mu.Await(absl::Condition(&enough));
  }
  absl::Mutex mu;
  std::vector<std::string> calls ABSL_GUARDED_BY(mu);
  int synced ABSL_GUARDED_BY(mu) = 0;

 private:
  void Add(std::string s) {
    absl::MutexLock lock(&mu);
    calls.push_back(std::move(s));
  }
};

TEST(CurlKubeWatchTest, ReflectorRelistsAfter410InsideTheStream) {
  absl::Mutex mu;
  int lists = 0, watches = 0;
  StreamServer server([&](const std::string& path, Conn& c) {
    bool watch = path.find("watch=1") != std::string::npos;
    int n;
    {
      absl::MutexLock lock(&mu);
      n = watch ? watches++ : lists++;
    }
    c.Headers(200);
    if (!watch) {
      c.Chunk(n == 0 ? R"({"metadata":{"resourceVersion":"10"},"items":[)"
                       R"({"metadata":{"name":"a","namespace":"u1","resourceVersion":"5"}}]})"
                     : R"({"metadata":{"resourceVersion":"20"},"items":[)"
                       R"({"metadata":{"name":"b","namespace":"u1","resourceVersion":"11"}}]})");
      c.End();
      return;
    }
    if (n == 0) {
      c.Chunk(Event("ADDED", "b", "11"));
      c.Chunk(R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})"
              "\n");
    }
    c.AwaitPeerClose();
  });
  auto client = MakeClient(server);
  Sink sink;
  ReflectorOptions o;
  o.kind = Kind::kStatefulSet;
  o.uniform01 = [] { return 0.0; };
  auto reflector = std::make_unique<Reflector>(client.get(), &sink, o);
  reflector->Start();
  sink.AwaitSynced(2);
  ReflectorStats stats = reflector->Stats();
  reflector.reset();
  EXPECT_EQ(stats.lists, 2);
  EXPECT_EQ(stats.relists_after_410, 1);
  EXPECT_EQ(stats.last_resource_version, "20");
  absl::MutexLock lock(&sink.mu);
  const std::string sts = R"(,"kind":"StatefulSet","apiVersion":"apps/v1"})";
  EXPECT_EQ(
      sink.calls,
      (std::vector<std::string>{
          absl::StrCat(R"(upsert {"metadata":{"name":"a","namespace":"u1","resourceVersion":"5"})",
                       sts),
          "synced", absl::StrCat("upsert ", Obj("b", "11")),
          absl::StrCat(R"(upsert {"metadata":{"name":"b","namespace":"u1","resourceVersion":"11"})",
                       sts),
          "delete u1/a@20", "synced"}));
  std::vector<std::string> paths = server.paths();
  ASSERT_GE(paths.size(), 3u);
  EXPECT_EQ(paths[0], "/apis/apps/v1/statefulsets?limit=500");
  EXPECT_EQ(paths[1],
            "/apis/apps/v1/statefulsets?watch=1&allowWatchBookmarks=true&resourceVersion=10"
            "&timeoutSeconds=300");
  EXPECT_EQ(paths[2], "/apis/apps/v1/statefulsets?limit=500");
}

}  // namespace
}  // namespace sandboxd::kube
