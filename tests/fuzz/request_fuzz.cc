// Fuzzes the gRPC edge with arbitrary request bytes: the first byte picks the method, the
// rest is parsed as its request message (as the raw methods do: bytes that do not parse
// are MALFORMED_REQUEST) and converted (server/proto_convert). What converts goes on as
// far as it goes without Kubernetes: defaults, validation, the objects a create builds
// and their JSON, the env merge; every error is mapped to its gRPC status.
// Checks that a valid spec survives the StatefulSet: the spec read back from it hashes
// like the spec it was built from (the idempotent-create comparison relies on it).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "sandbox/v1/sandbox.pb.h"
#include "server/proto_convert.h"
#include "server/status_mapping.h"
#include "src/domain/builders.h"
#include "src/domain/env.h"
#include "src/domain/sandbox.h"
#include "src/domain/validation.h"
#include "src/kube/objects_json.h"

namespace {

namespace pb = sandbox::v1;
namespace domain = sandboxd::domain;
namespace server = sandboxd::server;

const domain::SandboxDefaults& Defaults() {
  static const domain::SandboxDefaults* d = [] {
    auto* defaults = new domain::SandboxDefaults();
    defaults->image = "registry.local/agent:1";
    defaults->ingress_domain = "sandboxes.example.test";
    defaults->tls_secret = "wildcard-tls";
    return defaults;
  }();
  return *d;
}

void Map(const absl::Status& status) { (void)server::ToGrpcStatus(status, "Fuzz"); }

void Create(const pb::CreateSandboxRequest& request) {
  absl::StatusOr<domain::SandboxSpec> converted = server::SpecFromCreateRequest(request);
  if (!converted.ok()) return Map(converted.status());
  const domain::SandboxSpec spec = domain::ApplyDefaults(*converted, Defaults());
  if (absl::Status s = domain::ValidateSpec(spec, Defaults().limits); !s.ok()) return Map(s);
  const sandboxd::kube::StatefulSet sts = domain::BuildStatefulSet(spec, Defaults());
  (void)sandboxd::kube::ToJson(sts);
  (void)sandboxd::kube::ToJson(domain::BuildService(spec, Defaults()));
  if (auto policy = domain::BuildNetworkPolicy(spec.ns, Defaults())) {
    (void)sandboxd::kube::ToJson(*policy);
  }
  for (const auto& ingress : domain::BuildIngresses(spec, Defaults())) {
    (void)sandboxd::kube::ToJson(ingress);
  }
  if (domain::SpecHash(domain::SpecFromStatefulSet(sts)) != domain::SpecHash(spec)) {
    __builtin_trap();
  }
  (void)server::SpecToProto(spec);
}

void UpdateEnv(const pb::UpdateSandboxEnvRequest& request) {
  auto call = server::EnvUpdateFromRequest(request);
  if (!call.ok()) return Map(call.status());
  if (absl::Status s = domain::ValidateEnvUpdate(call->update, Defaults().limits); !s.ok()) {
    return Map(s);
  }
  domain::EnvUpdateResult result = domain::ApplyEnvUpdate({{"HOME", "/home/agent"}}, call->update);
  Map(domain::ValidateUpdatedEnv(result.env, Defaults().limits));
}

template <typename Request, typename Convert>
void Convert(const std::string& bytes, const Convert& convert) {
  Request request;
  if (!request.ParseFromString(bytes)) return;  // MALFORMED_REQUEST
  convert(request);
}

template <typename Result>
void MapResult(const absl::StatusOr<Result>& result) {
  if (!result.ok()) Map(result.status());
}

// Requests that only name a sandbox.
constexpr auto ConvertRef = [](const auto& request) { MapResult(server::RefFromRequest(request)); };

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const domain::SandboxLimits& limits = Defaults().limits;
  switch (data[0] % 12) {
    case 0: Convert<pb::CreateSandboxRequest>(bytes, Create); break;
    case 1: Convert<pb::UpdateSandboxEnvRequest>(bytes, UpdateEnv); break;
    case 2:
      Convert<pb::ListSandboxesRequest>(
          bytes, [&](const auto& r) { MapResult(server::ListQueryFromRequest(r, limits)); });
      break;
    case 3:
      Convert<pb::WatchSandboxesRequest>(
          bytes, [&](const auto& r) { Map(server::ValidateWatchSandboxesRequest(r, limits)); });
      break;
    case 4: Convert<pb::GetSandboxRequest>(bytes, ConvertRef); break;
    case 5: Convert<pb::StartSandboxRequest>(bytes, ConvertRef); break;
    case 6: Convert<pb::StopSandboxRequest>(bytes, ConvertRef); break;
    case 7: Convert<pb::WatchSandboxRequest>(bytes, ConvertRef); break;
    case 8:
      Convert<pb::DeleteSandboxRequest>(
          bytes, [](const auto& r) { MapResult(server::DeleteRequestFromRequest(r)); });
      break;
    case 9: Convert<pb::MigrateSandboxRequest>(bytes, ConvertRef); break;
    case 10:
      Convert<pb::MigrateSandboxesRequest>(
          bytes, [](const auto& r) { MapResult(server::MigrationBatchFromRequest(r)); });
      break;
    default:
      Convert<pb::RollbackMigrationRequest>(
          bytes, [](const auto& r) { MapResult(server::RollbackFromRequest(r)); });
      break;
  }
  return 0;
}
