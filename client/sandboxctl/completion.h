// `sandboxctl completion bash`: a bash completion script derived from the command tree,
// so it never drifts from the commands and flags sandboxctl accepts.
#ifndef SANDBOXD_CLIENT_SANDBOXCTL_COMPLETION_H_
#define SANDBOXD_CLIENT_SANDBOXCTL_COMPLETION_H_

#include <string>

#include "CLI/CLI.hpp"

namespace sandboxctl {

// The script for `app` (the root command): subcommands and flags at every level,
// output formats after -o, and sandbox names (from `sandboxctl list -o name`) where a
// command takes a NAME.
std::string BashCompletion(const CLI::App& app);

}  // namespace sandboxctl

#endif  // SANDBOXD_CLIENT_SANDBOXCTL_COMPLETION_H_
