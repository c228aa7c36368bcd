#include "sandboxctl/completion.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sandboxctl {
namespace {

struct Level {
  std::string path;  // "." for the root, else "env set"
  std::vector<std::string> subcommands;
  std::vector<std::string> flags;
  bool takes_name = false;
};

void Collect(const CLI::App& app, const std::string& path, std::vector<Level>* levels) {
  Level level;
  level.path = path.empty() ? "." : path;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    level.subcommands.push_back(sub->get_name());
  }
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->nonpositional()) {
      if (opt->get_name() == "NAME") level.takes_name = true;
      continue;
    }
    for (const std::string& name : opt->get_lnames()) level.flags.push_back("--" + name);
    for (const std::string& name : opt->get_snames()) level.flags.push_back("-" + name);
  }
  levels->push_back(level);
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    Collect(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), levels);
  }
}

}  // namespace

std::string BashCompletion(const CLI::App& app) {
  std::vector<Level> levels;
  Collect(app, "", &levels);
  std::string subcommands, flags, named;
  for (const Level& l : levels) {
    absl::StrAppend(&subcommands, "    [\"", l.path, "\"]=\"", absl::StrJoin(l.subcommands, " "),
                    "\"\n");
    absl::StrAppend(&flags, "    [\"", l.path, "\"]=\"", absl::StrJoin(l.flags, " "), "\"\n");
    if (l.takes_name) absl::StrAppend(&named, " ", l.path, " |");
  }
  return absl::StrCat(R"sh(# bash completion for sandboxctl: source <(sandboxctl completion bash)
_sandboxctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local -A subcommands=(
)sh", subcommands, R"sh(  )
  local -A flags=(
)sh", flags, R"sh(  )
  local path=. word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ " ${subcommands[$path]} " == *" $word "* ]]; then
      if [[ $path == . ]]; then path=$word; else path="$path $word"; fi
    fi
  done
  case $prev in
    -o|--output) COMPREPLY=($(compgen -W "table wide json yaml name" -- "$cur")); return ;;
    --for) COMPREPLY=($(compgen -W "phase=RUNNING phase=STOPPED phase=ERROR delete" -- "$cur")); return ;;
    --cacert|--cert|--key|--token-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "${flags[$path]} ${flags[.]}" -- "$cur"))
  elif [[ -n ${subcommands[$path]} ]]; then
    COMPREPLY=($(compgen -W "${subcommands[$path]}" -- "$cur"))
  elif [[ "|)sh", named, R"sh(" == *" $path |"* ]]; then
    COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" list -o name 2>/dev/null)" -- "$cur"))
  fi
}
complete -F _sandboxctl sandboxctl
)sh");
}

}  // namespace sandboxctl
