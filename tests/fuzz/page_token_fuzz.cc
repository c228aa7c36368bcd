// Fuzzes ListSandboxes page tokens through SandboxCache::List (the input is
// "<page token>\n<page size>\n<label selector>\n<project>"), then follows the pages from
// there: every next_page_token the cache returns must be accepted, and the walk ends.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "src/domain/sandbox.h"
#include "src/service/sandbox_cache.h"
#include "tests/fuzz/fuzz_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> parts = absl::StrSplit(
      absl::string_view(reinterpret_cast<const char*>(data), size), absl::MaxSplits('\n', 3));
  parts.resize(4);
  sandboxd::domain::ListQuery query;
  query.ns = sandboxd::fuzz::kNs;
  query.page_token = parts[0];
  int32_t page_size = 0;
  if (absl::SimpleAtoi(parts[1], &page_size)) query.page_size = page_size;
  if (query.page_size < 0) return 0;  // refused at the edge (ListQueryFromRequest)
  query.label_selector = parts[2];
  query.project = parts[3];
  const sandboxd::service::SandboxCache& cache = sandboxd::fuzz::FuzzCache();
  auto page = cache.List(query);
  // At most one page per sandbox (8) plus the last: the walk must end.
  for (int i = 0; page.ok() && !page->next_page_token.empty(); ++i) {
    if (i > 9) __builtin_trap();
    query.page_token = page->next_page_token;
    page = cache.List(query);
    if (!page.ok()) __builtin_trap();
  }
  return 0;
}
