#include "server/call_context.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace sandboxd::server {

std::string RequestIdOf(const grpc::CallbackServerContext& ctx) {
  const auto& metadata = ctx.client_metadata();
  auto id = metadata.find("x-request-id");
  if (id != metadata.end()) return std::string(id->second.data(), id->second.size());
  static std::atomic<uint64_t> counter{0};
  static const uint64_t boot = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  return absl::StrCat(absl::Hex(boot), "-", counter.fetch_add(1, std::memory_order_relaxed));
}

absl::Time DeadlineOf(const grpc::CallbackServerContext& ctx, absl::Duration fallback,
                      absl::Duration max) {
  const absl::Time now = absl::Now();
  absl::Time deadline = absl::FromChrono(ctx.deadline());
  if (deadline == absl::InfiniteFuture() ||
      ctx.deadline() == std::chrono::system_clock::time_point::max()) {
    deadline = now + fallback;
  }
  return std::min(deadline, now + max);
}

}  // namespace sandboxd::server
