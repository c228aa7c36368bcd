// Env updates: the merge rule of UpdateSandboxEnv: keys in `set` are
// added or overwritten, keys in `remove` dropped, all others kept; "no change" is
// reported so that the caller writes nothing and restarts nothing.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_DOMAIN_ENV_H_
#define SANDBOXD_DOMAIN_ENV_H_

#include <map>
#include <string>
#include <vector>

#include "src/domain/sandbox.h"
#include "src/kube/objects.h"

namespace sandboxd::domain {

struct EnvUpdateResult {
  std::map<std::string, std::string> env;  // the environment after the update
  bool changed = false;                    // env != current
};

// Applies `update` (already checked by ValidateEnvUpdate) to `current`. Setting a key to
// its current value or removing an absent key is not a change. `expected_version` is
// not looked at: preconditions are the caller's job. The result is not bounded: check a
// changed one with ValidateUpdatedEnv before writing it.
EnvUpdateResult ApplyEnvUpdate(const std::map<std::string, std::string>& current,
                               const EnvUpdate& update);

// The names of the container's env after `update`, in order: `current` in its order
// (entries with valueFrom included) without the removed keys, then the new keys of
// `update.set` in key order. A strategic merge patch sends this as $setElementOrder, so
// that variables keep their places (and $(VAR) references keep resolving) and new ones
// are appended.
std::vector<std::string> EnvOrderAfterUpdate(const std::vector<kube::EnvVar>& current,
                                             const EnvUpdate& update);

}  // namespace sandboxd::domain

#endif  // SANDBOXD_DOMAIN_ENV_H_
