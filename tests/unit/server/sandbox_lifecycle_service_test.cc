// SandboxLifecycleService over a real in-process gRPC server, for what it decides before
// admission (no Kubernetes, no access control): bytes that do not parse, and requests that
// parse but fail the wire-level checks. Anything that got further would reach the null
// AccessControl and crash the test.
#include "server/sandbox_lifecycle_service.h"

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "sandbox/v1/sandbox.grpc.pb.h"

namespace sandboxd::server {
namespace {

namespace pb = sandbox::v1;

// The reason and the "field" metadata of the status's ErrorInfo ("" if none).
std::pair<std::string, std::string> ReasonAndField(const grpc::Status& status) {
  google::rpc::Status rpc;
  if (!rpc.ParseFromString(status.error_details())) return {};
  for (const auto& any : rpc.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) {
      auto field = info.metadata().find("field");
      return {info.reason(), field == info.metadata().end() ? "" : field->second};
    }
  }
  return {};
}

class SandboxLifecycleServiceTest : public ::testing::Test {
 protected:
  SandboxLifecycleServiceTest()
      : service_(nullptr, nullptr, nullptr, nullptr, nullptr, domain::SandboxLimits(), &metrics_) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
  }
  ~SandboxLifecycleServiceTest() override { server_->Shutdown(); }

  // Calls `method` with `bytes` as the request through the generic stub.
  grpc::Status CallRaw(const std::string& method, const std::string& bytes) {
    grpc::GenericStub generic(channel_);
    grpc::Slice slice(bytes.data(), bytes.size());
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, absl::StrCat("/sandbox.v1.SandboxLifecycle/", method), {},
                      &request, &response, [&done](grpc::Status s) { done.set_value(s); });
    return done.get_future().get();
  }

  ServerMetrics metrics_{"test", "test"};
  SandboxLifecycleService service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

constexpr const char* kMethods[] = {
    "CreateSandbox", "GetSandbox",    "ListSandboxes", "StartSandbox",  "StopSandbox",
    "UpdateSandboxEnv", "DeleteSandbox", "WatchSandbox", "WatchSandboxes", "MigrateSandbox",
    "MigrateSandboxes", "RollbackMigration",
};

TEST_F(SandboxLifecycleServiceTest, BytesThatDoNotParseAreMalformedRequestForEveryMethod) {
  const std::string garbage[] = {
      std::string("\x0a\x05" "a", 3),           // field 1 announces 5 bytes, 1 follows
      std::string("\xff\xff\xff\xff\xff", 5),   // a truncated varint tag
      std::string("\x0a\x02\xc3\x28", 4),       // field 1 (a string): invalid UTF-8
      std::string("\x0f", 1),                   // field 1 with wire type 7 (none)
  };
  for (const char* method : kMethods) {
    for (const std::string& bytes : garbage) {
      SCOPED_TRACE(absl::StrCat(method, " ", absl::BytesToHexString(bytes)));
      grpc::Status status = CallRaw(method, bytes);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << status.error_message();
      EXPECT_EQ(ReasonAndField(status).first, "MALFORMED_REQUEST");
    }
  }
}

TEST_F(SandboxLifecycleServiceTest, AnEmptyMessageParsesAndIsCheckedLikeAnyRequest) {
  // Zero bytes are a request with every field unset: the namespace is missing.
  for (const char* method : {"GetSandbox", "ListSandboxes", "StartSandbox", "StopSandbox",
                             "UpdateSandboxEnv", "DeleteSandbox", "MigrateSandbox",
                             "MigrateSandboxes", "RollbackMigration"}) {
    SCOPED_TRACE(method);
    grpc::Status status = CallRaw(method, "");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << status.error_message();
    EXPECT_EQ(ReasonAndField(status), std::make_pair(std::string("INVALID_FIELD"),
                                                     std::string("namespace")));
  }
}

TEST_F(SandboxLifecycleServiceTest, TypedStubsReachTheHandlers) {
  auto stub = pb::SandboxLifecycle::NewStub(channel_);
  {
    pb::GetSandboxRequest req;
    req.set_namespace_("team-a");  // and no name
    pb::GetSandboxResponse resp;
    grpc::ClientContext ctx;
    grpc::Status status = stub->GetSandbox(&ctx, req, &resp);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ReasonAndField(status),
              std::make_pair(std::string("INVALID_FIELD"), std::string("name")));
  }
  {
    pb::ListSandboxesRequest req;
    req.set_namespace_("team-a");
    req.set_page_size(-1);
    pb::ListSandboxesResponse resp;
    grpc::ClientContext ctx;
    grpc::Status status = stub->ListSandboxes(&ctx, req, &resp);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ReasonAndField(status),
              std::make_pair(std::string("INVALID_FIELD"), std::string("page_size")));
  }
}

}  // namespace
}  // namespace sandboxd::server
