// Fuzzes resume tokens through the public API that receives them from callers
// (SandboxCache::Subscribe, as WatchSandbox(es) passes resume_token on), with the other
// filter fields from the input too: the input is "<token>\n<label selector>\n<project>\n
// <name>\n<namespace>" (missing parts empty; namespace defaults to the populated one).
// The stream is drained; every event must carry a token, and resuming from the last
// token must be accepted.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "src/service/sandbox_cache.h"
#include "tests/fuzz/fuzz_cache.h"

namespace {

using sandboxd::service::WatchEvent;

// Drains `sub` (bounded); returns the last token.
std::string Drain(sandboxd::service::WatchSubscription& sub) {
  std::string last;
  for (int i = 0; i < 64; ++i) {
    std::optional<WatchEvent> e = sub.Next();
    if (!e.has_value()) break;
    if (e->resume_token.empty()) __builtin_trap();
    last = e->resume_token;
  }
  return last;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> parts = absl::StrSplit(
      absl::string_view(reinterpret_cast<const char*>(data), size), absl::MaxSplits('\n', 4));
  parts.resize(5);
  sandboxd::service::WatchFilter filter;
  filter.label_selector = parts[1];
  filter.project = parts[2];
  filter.name = parts[3];
  filter.ns = parts[4].empty() ? sandboxd::fuzz::kNs : parts[4];
  sandboxd::service::SandboxCache& cache = sandboxd::fuzz::FuzzCache();
  auto sub = cache.Subscribe(filter, parts[0], [] {});
  if (!sub.ok()) return 0;
  const std::string last = Drain(**sub);
  (*sub)->Cancel();
  if (!last.empty()) {
    // A token this process handed out resumes (whatever it answers with).
    auto again = cache.Subscribe(filter, last, [] {});
    if (!again.ok()) __builtin_trap();
    Drain(**again);
    (*again)->Cancel();
  }
  return 0;
}
