// Fuzzes the label selector parser (domain::LabelSelector) and the list-filter validation
// callers reach it through. A parsed selector is matched against labels from the input.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "fuzzer/FuzzedDataProvider.h"
#include "src/domain/label_selector.h"
#include "src/domain/sandbox.h"
#include "src/domain/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::map<std::string, std::string> labels;
  const int n = in.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < n; ++i) {
    std::string key = in.ConsumeRandomLengthString(64);
    labels[key] = in.ConsumeRandomLengthString(64);
  }
  const std::string selector = in.ConsumeRemainingBytesAsString();
  auto parsed = sandboxd::domain::LabelSelector::Parse(selector);
  if (parsed.ok()) {
    (void)parsed->Matches(labels);
    (void)parsed->Matches({});
    // Parsing is deterministic: the same text parses again.
    if (!sandboxd::domain::LabelSelector::Parse(selector).ok()) __builtin_trap();
  }
  (void)sandboxd::domain::ValidateListFilter("", selector, sandboxd::domain::SandboxLimits());
  return 0;
}
