#include "server/call_credentials.h"

#include <string>

#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"

namespace sandboxd::server {

std::vector<std::string> OrganizationsOf(std::string_view subject) {
  std::vector<std::string> out;
  std::string part;
  auto flush = [&]() {
    if (part.rfind("O=", 0) == 0 && part.size() > 2) out.push_back(part.substr(2));
    part.clear();
  };
  for (size_t i = 0; i < subject.size(); ++i) {
    const char c = subject[i];
    if (c == '\\' && i + 1 < subject.size()) {
      part.push_back(subject[++i]);
    } else if (c == ',' || c == '+') {
      flush();
    } else if (!(part.empty() && c == ' ')) {
      part.push_back(c);
    }
  }
  flush();
  return out;
}

auth::Credentials CredentialsOf(const grpc::CallbackServerContext& ctx) {
  auth::Credentials credentials;
  const auto& metadata = ctx.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    credentials.authorization.assign(it->second.data(), it->second.size());
  }
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  // Peer identity properties exist only for a client certificate the handshake verified.
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& cn : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
      credentials.certificate_common_name.assign(cn.data(), cn.size());
    }
    for (const grpc::string_ref& subject :
         auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
      credentials.certificate_organizations =
          OrganizationsOf(std::string_view(subject.data(), subject.size()));
    }
  }
  return credentials;
}

}  // namespace sandboxd::server
