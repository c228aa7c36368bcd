// Creates a sandbox, gets it, and deletes it. Reads SANDBOXD_ADDR, SANDBOXD_TOKEN and
// SANDBOXD_NAMESPACE; plaintext (a server on loopback). Exit 0 on success.
#include <cstdlib>
#include <iostream>

#include "sandboxd/client.h"

int main() {
  sandboxd::ClientOptions options;
  options.address = std::getenv("SANDBOXD_ADDR");
  options.token = std::getenv("SANDBOXD_TOKEN");
  options.plaintext = true;
  auto client = sandboxd::Client::Connect(options);
  if (!client.ok()) return std::cerr << client.status() << "\n", 1;

  sandbox::v1::SandboxSpec spec;
  spec.set_namespace_(std::getenv("SANDBOXD_NAMESPACE"));
  spec.set_name("example");
  if (auto created = (*client)->Create(spec); !created.ok()) {
    std::cerr << "create: " << sandboxd::ErrorReasonOf(created.status()) << " "
              << created.status() << "\n";
    return 1;
  }
  auto got = (*client)->Get(spec.namespace_(), "example");
  if (!got.ok()) return std::cerr << "get: " << got.status() << "\n", 1;
  std::cout << got->spec().name() << " " << sandbox::v1::SandboxPhase_Name(got->phase()) << "\n";
  return (*client)->Delete(spec.namespace_(), "example").ok() ? 0 : 1;
}
