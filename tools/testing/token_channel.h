// A plaintext gRPC channel that sends "authorization: Bearer <token>" on every call, for
// tests and benchmarks against a sandboxd on 127.0.0.1 (gRPC C++ refuses call
// credentials on insecure channels, so a client interceptor adds the metadata).
//
// Thread-safe.
#ifndef SANDBOXD_TOOLS_TESTING_TOKEN_CHANNEL_H_
#define SANDBOXD_TOOLS_TESTING_TOKEN_CHANNEL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_interceptor.h"

namespace sandboxd::testing {

class BearerTokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(const std::string* token) : token_(token) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", "Bearer " + *token_);
    }
    methods->Proceed();
  }

 private:
  const std::string* const token_;  // owned by the factory
};

class BearerTokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(std::string token) : token_(std::move(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new BearerTokenInterceptor(&token_);
  }

 private:
  const std::string token_;
};

inline std::shared_ptr<grpc::Channel> TokenChannel(const std::string& target,
                                                   const std::string& token,
                                                   const grpc::ChannelArguments& args = {}) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<BearerTokenInterceptorFactory>(token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      target, grpc::InsecureChannelCredentials(), args, std::move(factories));
}

}  // namespace sandboxd::testing

#endif  // SANDBOXD_TOOLS_TESTING_TOKEN_CHANNEL_H_
