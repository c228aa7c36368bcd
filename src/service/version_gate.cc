#include "src/service/version_gate.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"

namespace sandboxd::service {

VersionGate::~VersionGate() { Close(); }

void VersionGate::Advance(uint64_t version) {
  std::vector<Reached> ready;
  {
    absl::MutexLock lock(&mu_);
    if (version <= version_) return;
    version_ = version;
    auto end = waiters_.upper_bound(version);
    for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    waiters_.erase(waiters_.begin(), end);
  }
  for (Reached& r : ready) r(true);
}

void VersionGate::WhenReached(uint64_t version, Reached reached) {
  bool ok;
  {
    absl::MutexLock lock(&mu_);
    ok = version <= version_;
    if (!ok && !closed_) {
      waiters_.emplace(version, std::move(reached));
      return;
    }
  }
  reached(ok);
}

void VersionGate::Close() {
  std::multimap<uint64_t, Reached> waiters;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    waiters.swap(waiters_);
  }
  for (auto& [version, reached] : waiters) reached(false);
}

uint64_t VersionGate::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

std::optional<uint64_t> VersionGate::Parse(std::string_view resource_version) {
  uint64_t value = 0;
  if (!absl::SimpleAtoi(absl::string_view(resource_version.data(), resource_version.size()), &value)) {
    return std::nullopt;
  }
  return value;
}

}  // namespace sandboxd::service
