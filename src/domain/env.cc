#include "src/domain/env.h"

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

}  // namespace sandboxd::domain
