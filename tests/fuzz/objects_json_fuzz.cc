// Fuzzes the Kubernetes object JSON decoders (kube::FromJson, every kind and list) with
// the API server's responses as the untrusted input, and what sandboxd does next with a
// decoded StatefulSet, pod and claim: the status derivation and the spec read back.
// Checks that encoding is a fixpoint: decode(encode(x)) encodes to the same JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "src/domain/builders.h"
#include "src/domain/sandbox.h"
#include "src/domain/status.h"
#include "src/kube/objects.h"
#include "src/kube/objects_json.h"

namespace {

namespace kube = sandboxd::kube;

// Decodes `json` as T; if it decodes, its encoding must decode and encode identically.
template <typename T>
bool RoundTrips(std::string_view json, T* out) {
  if (!kube::FromJson(json, out).ok()) return false;
  const std::string once = kube::ToJson(*out);
  T again;
  if (!kube::FromJson(once, &again).ok()) __builtin_trap();
  if (kube::ToJson(again) != once) __builtin_trap();
  return true;
}

template <typename T>
void DecodeOnly(std::string_view json) {
  T out;
  (void)kube::FromJson(json, &out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  kube::StatefulSet sts;
  kube::Pod pod;
  kube::PersistentVolumeClaim claim;
  const bool have_sts = RoundTrips(json, &sts);
  const bool have_pod = RoundTrips(json, &pod);
  const bool have_claim = RoundTrips(json, &claim);
  kube::Service service;
  kube::Ingress ingress;
  kube::ConfigMap config_map;
  (void)RoundTrips(json, &service);
  (void)RoundTrips(json, &ingress);
  (void)RoundTrips(json, &config_map);
  kube::StatefulSetList sts_list;
  kube::PodList pod_list;
  kube::PersistentVolumeClaimList claim_list;
  kube::ServiceList service_list;
  kube::IngressList ingress_list;
  (void)RoundTrips(json, &sts_list);
  (void)RoundTrips(json, &pod_list);
  (void)RoundTrips(json, &claim_list);
  (void)RoundTrips(json, &service_list);
  (void)RoundTrips(json, &ingress_list);
  DecodeOnly<kube::Deployment>(json);
  DecodeOnly<kube::DeploymentList>(json);
  DecodeOnly<kube::ConfigMapList>(json);
  DecodeOnly<kube::ObjectMeta>(json);
  (void)kube::ParseTimestamp(json);
  if (have_sts) {
    sandboxd::domain::SandboxDefaults defaults;
    const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
    (void)sandboxd::domain::DeriveSandbox(sts, have_pod ? &pod : nullptr,
                                          have_claim ? &claim : nullptr, now, defaults);
    (void)sandboxd::domain::SpecFromStatefulSet(sts);
  }
  return 0;
}
