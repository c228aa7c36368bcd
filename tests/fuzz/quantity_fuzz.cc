// Fuzzes the Kubernetes quantity parser (domain::ParseQuantityNano) and the resource and
// storage checks built on it (ValidateSpec compares requests with limits and maxima).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/numeric/int128.h"
#include "fuzzer/FuzzedDataProvider.h"
#include "src/domain/quantity.h"
#include "src/domain/sandbox.h"
#include "src/domain/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string a = in.ConsumeRandomLengthString(64);
  const std::string b = in.ConsumeRemainingBytesAsString();
  auto qa = sandboxd::domain::ParseQuantityNano(a);
  if (qa.ok()) {
    // "At most 10^27": the value in nano units is bounded by 10^36.
    const absl::int128 bound = absl::MakeInt128(54210108624275221, 12919594847110692864u);
    if (*qa > bound || *qa < -bound) __builtin_trap();
  }
  (void)sandboxd::domain::ParseQuantityNano(b);
  // Through validation: requests/limits pairs, maxima, the storage size.
  sandboxd::domain::SandboxSpec spec;
  spec.name = "fuzz";
  spec.ns = "fuzz";
  spec.image = "registry.local/agent:1";
  spec.resources.requests.cpu = a;
  spec.resources.limits.cpu = b;
  spec.resources.requests.memory = b;
  spec.resources.limits.memory = a;
  spec.storage.size = a;
  sandboxd::domain::SandboxDefaults defaults;
  defaults.image = spec.image;
  (void)sandboxd::domain::ValidateSpec(sandboxd::domain::ApplyDefaults(spec, defaults),
                                       defaults.limits);
  return 0;
}
