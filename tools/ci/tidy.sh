#!/usr/bin/env bash
# Lint gate: clang-tidy-14 with the checks of .clang-tidy (each choice explained there).
# By default it checks the C++ sources changed since the merge base with main (as the
# format gate does; uncommitted changes count), plus the source of each changed header;
# the headers a source includes are checked through it. Uses the compile database and
# generated proto headers of the thread-safety build (tools/ci/thread_safety.sh, which
# runs before it). Every finding is an error.
#
#   tools/ci/tidy.sh               # what changed since the merge base with main
#   tools/ci/tidy.sh --all         # every source the main configuration compiles
#   tools/ci/tidy.sh src/kube/     # only sources whose path contains one of these
#
# The whole tree (120 sources) takes about 8 minutes on a loaded 2-core machine; CI checks
# what changed, and docs/reliability.md has the last whole-tree run.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"
cd "$repo"

wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
  base=$(change_base)
  if [ -z "$base" ]; then
    echo "[tidy] no main branch to compare with: nothing to check" >&2
    exit 0
  fi
  mapfile -t wanted < <(git diff --name-only --diff-filter=d "$base" -- '*.cc' '*.h' |
    sed 's/\.h$/.cc/' | sort -u)
  if [ ${#wanted[@]} -eq 0 ]; then
    echo "[tidy] no C++ source changed since $(git rev-parse --short "$base")" >&2
    exit 0
  fi
elif [ "${wanted[0]}" = "--all" ]; then
  wanted=()
fi

db=$SANDBOXD_TSA_BUILD_DIR/compile_commands.json
[ -f "$db" ] || "$repo/tools/ci/thread_safety.sh"
# The sources of this checkout in the database (generated ones live in the build tree)
# that match what is wanted (everything if nothing is).
mapfile -t sources < <(python3 - "$db" "$repo" "${wanted[@]}" <<'PY'
import json, os, sys
db, repo, wanted = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3:]
for entry in json.load(open(db)):
    path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
    if not path.startswith(repo + "/"):
        continue
    rel = path[len(repo) + 1:]
    if not wanted or any(w in rel for w in wanted):
        print(path)
PY
)
if [ ${#sources[@]} -eq 0 ]; then
  echo "[tidy] none of the changed sources is compiled by the main configuration" >&2
  exit 0
fi
step "clang-tidy over ${#sources[@]} sources"
# run-clang-tidy runs one clang-tidy per core and exits non-zero if any file has a finding.
run-clang-tidy-14 -quiet -p "$SANDBOXD_TSA_BUILD_DIR" -j "$(nproc)" "${sources[@]}" \
  2> >(grep -v '^[0-9]* warnings generated\.$' >&2)
