#include "server/watch_reactor.h"

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "gtest/gtest.h"
#include "sandbox/v1/sandbox.pb.h"
#include "server/proto_convert.h"

namespace sandboxd::server {
namespace {

namespace pb = sandbox::v1;
using google::protobuf::util::MessageDifferencer;

domain::Sandbox Alice() {
  domain::Sandbox sb;
  sb.spec.name = "alice";
  sb.spec.ns = "team-a";
  sb.spec.project = "p1";
  sb.spec.image = "ghcr.io/acme/sandbox:1.2";
  sb.spec.env = {{"A", "1"}, {"B", "2"}};
  sb.spec.labels = {{"tier", "dev"}};
  sb.phase = domain::Phase::kRunning;
  sb.desired_replicas = 1;
  sb.ready_replicas = 1;
  sb.version = "7";
  sb.uid = "uid-alice";
  return sb;
}

service::SharedSandboxPtr Share(const domain::Sandbox& sb) {
  return std::make_shared<const service::SharedSandbox>(
      std::make_shared<const service::internal::SandboxState>(
          service::internal::SandboxState{sb, {}}));
}

template <typename Message>
Message Parse(grpc::ByteBuffer buffer) {
  Message message;
  EXPECT_TRUE(grpc::SerializationTraits<Message>::Deserialize(&buffer, &message).ok());
  return message;
}

TEST(EncodeWatchResponseTest, ParsesAsBothResponseTypesWithEveryField) {
  const domain::Sandbox alice = Alice();
  service::WatchEvent event{service::WatchEvent::Type::kModified, Share(alice),
                            "00000000000000ab.42"};
  pb::WatchSandboxesResponse expected;
  expected.set_type(pb::WATCH_EVENT_TYPE_MODIFIED);
  *expected.mutable_sandbox() = SandboxToProto(alice);
  expected.set_resume_token("00000000000000ab.42");

  const auto many = Parse<pb::WatchSandboxesResponse>(EncodeWatchResponse(event));
  EXPECT_TRUE(MessageDifferencer::Equals(many, expected)) << many.DebugString();

  const auto one = Parse<pb::WatchSandboxResponse>(EncodeWatchResponse(event));
  EXPECT_EQ(one.type(), pb::WATCH_EVENT_TYPE_MODIFIED);
  EXPECT_EQ(one.resume_token(), "00000000000000ab.42");
  EXPECT_TRUE(MessageDifferencer::Equals(one.sandbox(), expected.sandbox()))
      << one.sandbox().DebugString();
}

TEST(EncodeWatchResponseTest, StreamsShareOneSandboxEncodingWithTheirOwnTokens) {
  const service::SharedSandboxPtr shared = Share(Alice());
  const auto first = Parse<pb::WatchSandboxesResponse>(EncodeWatchResponse(
      {service::WatchEvent::Type::kAdded, shared, "00000000000000ab.1"}));
  const std::string* memo = &shared->Encoded([](const domain::Sandbox&) -> std::string {
    ADD_FAILURE() << "encoded twice";
    return "";
  });
  const auto second = Parse<pb::WatchSandboxesResponse>(EncodeWatchResponse(
      {service::WatchEvent::Type::kDeleted, shared, "00000000000000ab.2"}));
  EXPECT_EQ(memo, &shared->Encoded([](const domain::Sandbox&) { return std::string(); }));
  EXPECT_EQ(first.type(), pb::WATCH_EVENT_TYPE_ADDED);
  EXPECT_EQ(first.resume_token(), "00000000000000ab.1");
  EXPECT_EQ(second.type(), pb::WATCH_EVENT_TYPE_DELETED);
  EXPECT_EQ(second.resume_token(), "00000000000000ab.2");
  EXPECT_TRUE(MessageDifferencer::Equals(first.sandbox(), second.sandbox()));
  EXPECT_EQ(second.sandbox().spec().name(), "alice");
}

TEST(EncodeWatchResponseTest, MarkersCarryNoSandbox) {
  const auto marker = Parse<pb::WatchSandboxesResponse>(EncodeWatchResponse(
      {service::WatchEvent::Type::kInitialStateComplete, nullptr, "00000000000000ab.9"}));
  EXPECT_EQ(marker.type(), pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE);
  EXPECT_EQ(marker.resume_token(), "00000000000000ab.9");
  EXPECT_FALSE(marker.has_sandbox());
  const auto reset = Parse<pb::WatchSandboxesResponse>(
      EncodeWatchResponse({service::WatchEvent::Type::kReset, nullptr, ""}));
  EXPECT_EQ(reset.type(), pb::WATCH_EVENT_TYPE_RESET);
  EXPECT_FALSE(reset.has_sandbox());
  EXPECT_EQ(reset.ByteSizeLong(), 2u);  // the type field only
}

}  // namespace
}  // namespace sandboxd::server
