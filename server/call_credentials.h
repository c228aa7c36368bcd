// What a gRPC caller presented: the "authorization" metadata and, on a mutual-TLS
// connection, the subject of the client certificate the handshake verified.
//
// Pure function of the call's context. Thread-safe.
#ifndef SANDBOXD_SERVER_CALL_CREDENTIALS_H_
#define SANDBOXD_SERVER_CALL_CREDENTIALS_H_

#include <string_view>
#include <vector>

#include "grpcpp/server_context.h"
#include "src/auth/authenticator.h"

namespace sandboxd::server {

auth::Credentials CredentialsOf(const grpc::CallbackServerContext& ctx);

// The organizations (O=) of an RFC 2253 subject such as "CN=alice,O=team-a,O=dev"
// (escaped commas respected). Exposed for tests.
std::vector<std::string> OrganizationsOf(std::string_view subject);

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_CALL_CREDENTIALS_H_
