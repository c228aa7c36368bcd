// WatchDecoder / DecodeWatchLine / BuildWatch: pure, no sockets.
#include "src/kube/watch_decoder.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/kube/kube_errors.h"
#include "src/kube/kube_request.h"

namespace sandboxd::kube {
namespace {

using Type = WatchEvent::Type;

const char kAdded[] = R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a","resourceVersion":"11"}}})";
const char kModified[] = R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"a","resourceVersion":"12"}}})";
const char kBookmark[] = R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"20"}}})";
const char kExpired[] = R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 5 (11)","reason":"Expired","code":410}})j";

struct Collector {
  std::vector<WatchEvent> events;
  WatchDecoder::Emit Emit() {
    return [this](WatchEvent e) {
      events.push_back(std::move(e));
      return true;
    };
  }
};

TEST(WatchDecoderTest, EventSplitAcrossManyChunks) {
  std::string stream = absl::StrCat(kAdded, "\n", kModified, "\n");
  WatchDecoder decoder;
  Collector c;
  // One byte per chunk: every event is split across many chunks.
  for (char ch : stream) ASSERT_TRUE(decoder.Feed(std::string(1, ch), c.Emit()).ok());
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].type, Type::kAdded);
  EXPECT_EQ(c.events[0].object.Json(),
            R"({"kind":"Pod","metadata":{"name":"a","resourceVersion":"11"}})");
  EXPECT_EQ(c.events[1].type, Type::kModified);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(WatchDecoderTest, SeveralEventsInOneChunkAndATail) {
  std::string chunk1 = absl::StrCat(kAdded, "\n", kBookmark, "\r\n\n", std::string(kModified).substr(0, 30));
  std::string chunk2 = absl::StrCat(std::string(kModified).substr(30), "\n");
  WatchDecoder decoder;
  Collector c;
  ASSERT_TRUE(decoder.Feed(chunk1, c.Emit()).ok());
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[1].type, Type::kBookmark);
  EXPECT_EQ(decoder.buffered(), 30u);
  ASSERT_TRUE(decoder.Feed(chunk2, c.Emit()).ok());
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[2].type, Type::kModified);
}

TEST(WatchDecoderTest, FinishDecodesAnUnterminatedLastLine) {
  WatchDecoder decoder;
  Collector c;
  ASSERT_TRUE(decoder.Feed(kAdded, c.Emit()).ok());
  EXPECT_TRUE(c.events.empty());
  ASSERT_TRUE(decoder.Finish(c.Emit()).ok());
  ASSERT_EQ(c.events.size(), 1u);
  WatchDecoder empty;
  EXPECT_TRUE(empty.Finish(c.Emit()).ok());
  EXPECT_EQ(c.events.size(), 1u);
}

TEST(WatchDecoderTest, ErrorEventEndsTheStreamWithMappedStatus) {
  WatchDecoder decoder;
  Collector c;
  absl::Status s = decoder.Feed(absl::StrCat(kAdded, "\n", kExpired, "\n", kModified, "\n"), c.Emit());
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "watch ERROR event: too old resource version: 5 (11)");
  EXPECT_EQ(KubeReason(s), "Expired");
  EXPECT_EQ(c.events.size(), 1u);  // nothing after the ERROR
}

TEST(WatchDecoderTest, ErrorEventCodes) {
  EXPECT_EQ(StatusFromWatchError(R"({"kind":"Status","reason":"Gone"})").code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(StatusFromWatchError(R"({"kind":"Status","reason":"InternalError","code":500})").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromWatchError(R"({"kind":"Status","reason":"Forbidden","code":403})").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(StatusFromWatchError(R"({"kind":"Status"})").code(), absl::StatusCode::kUnavailable);
}

TEST(WatchDecoderTest, MalformedLines) {
  for (const char* line : {"{not json", R"({"type":"ADDED"})", R"({"type":"NOPE","object":{}})",
                           R"({"type":3,"object":{}})", "[1]"}) {
    WatchDecoder decoder;
    Collector c;
    EXPECT_EQ(decoder.Feed(absl::StrCat(line, "\n"), c.Emit()).code(),
              absl::StatusCode::kInternal)
        << line;
  }
}

TEST(WatchDecoderTest, EmitFalseStopsWithCancelled) {
  WatchDecoder decoder;
  int n = 0;
  absl::Status s = decoder.Feed(absl::StrCat(kAdded, "\n", kModified, "\n"), [&](WatchEvent) {
    ++n;
    return false;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(n, 1);
}

TEST(WatchDecoderTest, OversizedLine) {
  WatchDecoder decoder(16);
  Collector c;
  EXPECT_TRUE(decoder.Feed("0123456789", c.Emit()).ok());
  EXPECT_EQ(decoder.Feed("0123456789", c.Emit()).code(), absl::StatusCode::kResourceExhausted);
}

// Found by tests/fuzz/watch_decoder_fuzz.cc: a line that arrived complete in one chunk
// was not held to the limit, so the same body was refused or accepted depending on
// where the chunks broke.
TEST(WatchDecoderTest, OversizedLineIsRefusedWhateverTheChunks) {
  const std::string line = kAdded;
  for (size_t split : {size_t{0}, size_t{10}, line.size()}) {
    SCOPED_TRACE(split);
    WatchDecoder decoder(line.size() - 1);
    Collector c;
    absl::Status s = decoder.Feed(line.substr(0, split), c.Emit());
    if (s.ok()) s = decoder.Feed(line.substr(split) + "\n", c.Emit());
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_TRUE(c.events.empty());
  }
  WatchDecoder fits(line.size());  // the limit itself is allowed; the newline is not counted
  Collector c;
  EXPECT_TRUE(fits.Feed(line + "\n", c.Emit()).ok());
  EXPECT_EQ(c.events.size(), 1u);
}

TEST(BuildWatchTest, ClusterScopedPathAndQuery) {
  WatchOptions o;
  o.label_selector = "app.kubernetes.io/managed-by=sandboxd";
  o.resource_version = "123";
  o.timeout_seconds = 42;
  absl::StatusOr<HttpRequest> r = BuildWatch(Kind::kStatefulSet, "", o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->path,
            "/apis/apps/v1/statefulsets?watch=1&allowWatchBookmarks=true&resourceVersion=123"
            "&timeoutSeconds=42&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsandboxd");
  absl::StatusOr<HttpRequest> pods = BuildWatch(Kind::kPod, "u1", WatchOptions{"", "", false, 0});
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ(pods->path, "/api/v1/namespaces/u1/pods?watch=1");
  EXPECT_EQ(BuildWatch(Kind::kPod, "a/b", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildWatch(Kind::kPod, "", WatchOptions{"", "", true, -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sandboxd::kube
