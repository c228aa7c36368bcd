// operator== of the domain value types compares every field: changing any one field of an
// otherwise equal pair makes them unequal. A field added to sandbox.h without a line in
// its Tie() fails here once it gets a mutation below, and a Tie() entry without a
// mutation fails EveryFieldHasAMutation.
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "src/domain/sandbox.h"

namespace sandboxd::domain {
namespace {

Sandbox Base() {
  Sandbox sb;
  sb.spec.name = "alice";
  sb.spec.ns = "team-a";
  sb.spec.project = "p1";
  sb.spec.image = "busybox";
  sb.spec.env = {{"A", "1"}};
  sb.spec.resources = {{"500m", "1Gi"}, {"1", "2Gi"}};
  sb.spec.storage = {"5Gi", "standard", "/home/agent"};
  sb.spec.ports = {3000, 7681};
  sb.spec.ingress_domain = "example.com";
  sb.spec.labels = {{"team", "a"}};
  sb.phase = Phase::kRunning;
  sb.error_reason = ErrorReason::kNone;
  sb.message = "ok";
  sb.desired_replicas = 1;
  sb.ready_replicas = 1;
  sb.endpoints = {"alice-0.dns", "https://alice-app", "https://alice-ttyd"};
  sb.storage = {"home-alice-0", "Bound", "5Gi", "pvc-1"};
  sb.created = absl::FromUnixSeconds(1700000000);
  sb.version = "3";
  sb.uid = "uid-1";
  sb.resource_version = "42";
  return sb;
}

struct Mutation {
  const char* field;
  std::function<void(Sandbox&)> change;
};

// One entry per field of Sandbox and of every type it contains.
const std::vector<Mutation>& Mutations() {
  static const auto* kMutations = new std::vector<Mutation>{
      {"spec.name", [](Sandbox& s) { s.spec.name = "bob"; }},
      {"spec.ns", [](Sandbox& s) { s.spec.ns = "team-b"; }},
      {"spec.project", [](Sandbox& s) { s.spec.project = "p2"; }},
      {"spec.image", [](Sandbox& s) { s.spec.image = "alpine"; }},
      {"spec.env", [](Sandbox& s) { s.spec.env["A"] = "2"; }},
      {"spec.resources.requests.cpu", [](Sandbox& s) { s.spec.resources.requests.cpu = "1"; }},
      {"spec.resources.requests.memory",
       [](Sandbox& s) { s.spec.resources.requests.memory = "3Gi"; }},
      {"spec.resources.limits.cpu", [](Sandbox& s) { s.spec.resources.limits.cpu = "2"; }},
      {"spec.resources.limits.memory", [](Sandbox& s) { s.spec.resources.limits.memory = "4Gi"; }},
      {"spec.storage.size", [](Sandbox& s) { s.spec.storage.size = "6Gi"; }},
      {"spec.storage.storage_class", [](Sandbox& s) { s.spec.storage.storage_class = "fast"; }},
      {"spec.storage.mount_path", [](Sandbox& s) { s.spec.storage.mount_path = "/data"; }},
      {"spec.ports.app", [](Sandbox& s) { s.spec.ports.app = 8080; }},
      {"spec.ports.terminal", [](Sandbox& s) { s.spec.ports.terminal = 7000; }},
      {"spec.ingress_domain", [](Sandbox& s) { s.spec.ingress_domain = "example.org"; }},
      {"spec.labels", [](Sandbox& s) { s.spec.labels["team"] = "b"; }},
      {"phase", [](Sandbox& s) { s.phase = Phase::kStopped; }},
      {"error_reason", [](Sandbox& s) { s.error_reason = ErrorReason::kCrashLoop; }},
      {"message", [](Sandbox& s) { s.message = "other"; }},
      {"desired_replicas", [](Sandbox& s) { s.desired_replicas = 0; }},
      {"ready_replicas", [](Sandbox& s) { s.ready_replicas = 0; }},
      {"endpoints.pod_dns", [](Sandbox& s) { s.endpoints.pod_dns = "x"; }},
      {"endpoints.app_url", [](Sandbox& s) { s.endpoints.app_url = "x"; }},
      {"endpoints.terminal_url", [](Sandbox& s) { s.endpoints.terminal_url = "x"; }},
      {"storage.claim_name", [](Sandbox& s) { s.storage.claim_name = "x"; }},
      {"storage.phase", [](Sandbox& s) { s.storage.phase = "Pending"; }},
      {"storage.capacity", [](Sandbox& s) { s.storage.capacity = "1Gi"; }},
      {"storage.uid", [](Sandbox& s) { s.storage.uid = "pvc-2"; }},
      {"created", [](Sandbox& s) { s.created += absl::Seconds(1); }},
      {"version", [](Sandbox& s) { s.version = "4"; }},
      {"uid", [](Sandbox& s) { s.uid = "uid-2"; }},
      {"resource_version", [](Sandbox& s) { s.resource_version = "43"; }},
  };
  return *kMutations;
}

TEST(SandboxEqualityTest, EqualValuesAreEqual) {
  EXPECT_TRUE(Base() == Base());
  EXPECT_FALSE(Base() != Base());
  EXPECT_TRUE(Sandbox() == Sandbox());
}

TEST(SandboxEqualityTest, ChangingAnyFieldMakesThemUnequal) {
  for (const Mutation& m : Mutations()) {
    Sandbox changed = Base();
    m.change(changed);
    EXPECT_FALSE(changed == Base()) << m.field;
    EXPECT_TRUE(changed != Base()) << m.field;
  }
}

// The mutation table has one entry per leaf field that operator== compares (the tuples of
// Tie(), nested types counted by their own fields).
TEST(SandboxEqualityTest, EveryFieldHasAMutation) {
  size_t fields = 0;
  fields += std::tuple_size_v<decltype(Tie(SandboxSpec()))> - 3;  // minus resources, storage, ports
  fields += 2 * std::tuple_size_v<decltype(Tie(ResourceQuantities()))>;
  fields += std::tuple_size_v<decltype(Tie(StorageSpec()))>;
  fields += std::tuple_size_v<decltype(Tie(PortsSpec()))>;
  fields += std::tuple_size_v<decltype(Tie(Sandbox()))> - 3;  // minus spec, endpoints, storage
  fields += std::tuple_size_v<decltype(Tie(Endpoints()))>;
  fields += std::tuple_size_v<decltype(Tie(StorageStatus()))>;
  EXPECT_EQ(Mutations().size(), fields);
}

}  // namespace
}  // namespace sandboxd::domain
