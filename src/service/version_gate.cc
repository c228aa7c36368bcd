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
    for (auto it = waiters_.begin(); it != end; ++it) {
      versions_.erase(it->second.ticket);
      ready.push_back(std::move(it->second.reached));
    }
    waiters_.erase(waiters_.begin(), end);
  }
  for (Reached& r : ready) r(true);
}

VersionGate::Ticket VersionGate::WhenReached(uint64_t version, Reached reached) {
  bool ok;
  {
    absl::MutexLock lock(&mu_);
    ok = version <= version_;
    if (!ok && !closed_) {
      const Ticket ticket = ++last_ticket_;
      waiters_.emplace(version, Waiter{ticket, std::move(reached)});
      versions_.emplace(ticket, version);
      return ticket;
    }
  }
  reached(ok);
  return 0;
}

void VersionGate::Cancel(Ticket ticket) {
  Reached dropped;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  auto v = versions_.find(ticket);
  if (v == versions_.end()) return;
  auto [begin, end] = waiters_.equal_range(v->second);
  for (auto it = begin; it != end; ++it) {
    if (it->second.ticket == ticket) {
      dropped = std::move(it->second.reached);
      waiters_.erase(it);
      break;
    }
  }
  versions_.erase(v);
}

void VersionGate::Close() {
  std::multimap<uint64_t, Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    waiters.swap(waiters_);
    versions_.clear();
  }
  for (auto& [version, waiter] : waiters) waiter.reached(false);
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
