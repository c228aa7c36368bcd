// What every call takes from its gRPC context: its request id and its deadline.
//
// Thread-safe.
#ifndef SANDBOXD_SERVER_CALL_CONTEXT_H_
#define SANDBOXD_SERVER_CALL_CONTEXT_H_

#include <string>

#include "absl/time/time.h"
#include "grpcpp/server_context.h"

namespace sandboxd::server {

// The client's "x-request-id" metadata, else a new id unique in this process.
std::string RequestIdOf(const grpc::CallbackServerContext& ctx);

// The client's deadline, `fallback` from now when it sent none, at most `max` from now.
absl::Time DeadlineOf(const grpc::CallbackServerContext& ctx, absl::Duration fallback,
                      absl::Duration max);

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_CALL_CONTEXT_H_
