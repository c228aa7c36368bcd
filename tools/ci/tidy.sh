#!/usr/bin/env bash
# Lint gate: clang-tidy-14 with the checks of .clang-tidy (each choice explained there)
# over every C++ source of the tree that the main configuration compiles (src/, server/,
# client/, tools/, tests/; the headers they include are checked through them). Uses the
# compile database and generated proto headers of the thread-safety build
# (tools/ci/thread_safety.sh, which runs before it). Every finding is an error.
#
#   tools/ci/tidy.sh               # the whole tree
#   tools/ci/tidy.sh src/kube/     # only sources whose path contains one of these
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"

db=$SANDBOXD_TSA_BUILD_DIR/compile_commands.json
[ -f "$db" ] || "$repo/tools/ci/thread_safety.sh"
# The sources of this checkout in the database, minus generated ones.
mapfile -t sources < <(python3 - "$db" "$repo" "$@" <<'PY'
import json, os, sys
db, repo, wanted = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3:]
for entry in json.load(open(db)):
    path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
    if not path.startswith(repo + "/"):
        continue  # generated sources live in the build tree
    rel = path[len(repo) + 1:]
    if not wanted or any(w in rel for w in wanted):
        print(path)
PY
)
step "clang-tidy over ${#sources[@]} sources"
# run-clang-tidy runs one clang-tidy per core and exits non-zero if any file has a finding.
run-clang-tidy-14 -quiet -p "$SANDBOXD_TSA_BUILD_DIR" -j "$(nproc)" "${sources[@]}" \
  2> >(grep -v '^[0-9]* warnings generated\.$' >&2)
