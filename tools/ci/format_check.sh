#!/usr/bin/env bash
# Format gate: clang-format-14 (.clang-format) on the C++ lines that differ from the merge
# base with main, uncommitted changes included. Only changed lines are checked: the tree
# predates .clang-format and is not reformatted wholesale. Exits non-zero with the diff
# that would fix the lines; apply it with
#
#   git clang-format-14 --extensions cc,h "$(git merge-base HEAD main)"
#
# The base is $SANDBOXD_FORMAT_BASE if set, else the merge base of HEAD with origin/main
# or main. On main itself (and on a clone with no other history) there is nothing to check.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"
cd "$repo"
clang_format=${SANDBOXD_CLANG_FORMAT:-clang-format-14}
git_clang_format=${SANDBOXD_GIT_CLANG_FORMAT:-git-clang-format-14}

base=$(change_base)
if [ -z "$base" ]; then
  echo "[format] no main branch to compare with: nothing to check" >&2
  exit 0
fi
echo "[format] C++ lines changed since $(git rev-parse --short "$base")" >&2
# git-clang-format-14 exits 0 even when it prints a diff: the diff is the finding.
if ! out=$("$git_clang_format" --binary "$(command -v "$clang_format")" --diff \
    --extensions cc,h "$base" -- 2>&1) || grep -q '^diff --git' <<<"$out"; then
  printf '%s\n' "$out"
  echo "[format] not formatted; fix with: git clang-format-14 --binary clang-format-14 --extensions cc,h $(git rev-parse --short "$base")" >&2
  exit 1
fi
echo "[format] ok ($out)" >&2
