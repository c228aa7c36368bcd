#include "src/domain/env.h"

#include <algorithm>
#include <set>

namespace sandboxd::domain {

EnvUpdateResult ApplyEnvUpdate(const std::map<std::string, std::string>& current,
                               const EnvUpdate& update) {
  EnvUpdateResult result{current, false};
  for (const auto& [key, value] : update.set) {
    auto [it, inserted] = result.env.try_emplace(key, value);
    if (inserted) {
      result.changed = true;
    } else if (it->second != value) {
      it->second = value;
      result.changed = true;
    }
  }
  for (const std::string& key : update.remove) {
    if (result.env.erase(key) > 0) result.changed = true;
  }
  return result;
}

std::vector<std::string> EnvOrderAfterUpdate(const std::vector<kube::EnvVar>& current,
                                             const EnvUpdate& update) {
  const std::set<std::string> removed(update.remove.begin(), update.remove.end());
  std::vector<std::string> order;
  std::set<std::string> seen;
  for (const kube::EnvVar& e : current) {
    if (removed.count(e.name) == 0 && seen.insert(e.name).second) order.push_back(e.name);
  }
  for (const auto& [key, value] : update.set) {
    if (seen.insert(key).second) order.push_back(key);
  }
  return order;
}

}  // namespace sandboxd::domain
