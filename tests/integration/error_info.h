// The google.rpc.ErrorInfo a gRPC status carries in its details, as sandboxd's status
// mapping (server/status_mapping.h) puts it there.
#ifndef SANDBOXD_TESTS_INTEGRATION_ERROR_INFO_H_
#define SANDBOXD_TESTS_INTEGRATION_ERROR_INFO_H_

#include <string>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace sandboxd::testing {

// The status's ErrorInfo; an empty one if it carries none.
inline google::rpc::ErrorInfo ErrorInfoOf(const grpc::Status& status) {
  google::rpc::Status rpc;
  google::rpc::ErrorInfo info;
  if (!rpc.ParseFromString(status.error_details())) return info;
  for (const auto& any : rpc.details()) {
    if (any.UnpackTo(&info)) return info;
  }
  return info;
}

// Its reason ("" if none).
inline std::string ReasonOf(const grpc::Status& status) { return ErrorInfoOf(status).reason(); }

}  // namespace sandboxd::testing

#endif  // SANDBOXD_TESTS_INTEGRATION_ERROR_INFO_H_
