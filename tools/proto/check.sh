#!/usr/bin/env bash
# The API contract check (ctest: proto_contract). Fails when
#   1. buf lint finds a problem in proto/ (rules and exceptions: proto/buf.yaml);
#   2. proto/ breaks the previous commit's proto/ (buf breaking, FILE rules): a released
#      API only grows. The base is HEAD~1 (a merge's first parent: main before it), or
#      SANDBOXD_PROTO_AGAINST=<git ref>; a shallow clone is deepened by one commit;
#   3. regenerating docs/API.md (gen-api-doc.sh) and every SDK's stubs (each
#      sdk/*/generate.sh) changes any file under docs/API.md or sdk/ (tracked or
#      untracked): generated output is stale. On a clean checkout, as in CI, that is any
#      `git diff` or untracked file there after regeneration; a developer's own
#      uncommitted edits under sdk/ that regeneration leaves alone do not count. The
#      difference is printed and the regenerated files are left in place, to commit.
#
#   tools/proto/check.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/lib.sh
source "$repo/tools/lib.sh"
cd "$repo"
buf() { "$repo/tools/proto/buf.sh" "$@"; }
generated_paths=(docs/API.md sdk)

step "buf lint proto"
buf lint proto

step "buf breaking proto"
against=${SANDBOXD_PROTO_AGAINST:-HEAD~1}
if ! git rev-parse -q --verify "$against^{commit}" >/dev/null &&
  [ "$(git rev-parse --is-shallow-repository)" = true ]; then
  echo "shallow clone: fetching one more commit to compare against" >&2
  git fetch -q --deepen=1 || { echo "cannot deepen the clone to reach $against" >&2; exit 1; }
fi
if git rev-parse -q --verify "$against^{commit}" >/dev/null; then
  base=$(mktemp -d)
  trap 'rm -rf "$base"' EXIT
  if git cat-file -e "$against:proto" 2>/dev/null; then
    git archive --format=tar -o "$base/against.tar" "$against" proto
    buf breaking proto --against "$base/against.tar#format=tar,subdir=proto"
    echo "no breaking change against $(git rev-parse --short "$against")" >&2
  else
    echo "$against has no proto/: nothing to compare" >&2
  fi
elif [ -z "${SANDBOXD_PROTO_AGAINST:-}" ] && [ -z "$(git rev-list --parents -n 1 HEAD | cut -s -d' ' -f2)" ]; then
  echo "HEAD is the first commit: nothing to compare" >&2
else
  echo "cannot resolve $against to compare against" >&2
  exit 1
fi

# Content of every file (tracked or untracked, not ignored) under the generated paths.
snapshot() {
  git ls-files -z --cached --others --exclude-standard -- "${generated_paths[@]}" |
    sort -z -u | while IFS= read -r -d '' f; do
      if [ -f "$f" ]; then sha1sum -- "$f"; else echo "missing $f"; fi
    done
}
before=$(snapshot)

step "regenerating docs/API.md"
tools/proto/gen-api-doc.sh
for gen in sdk/*/generate.sh; do
  [ -e "$gen" ] || continue
  step "regenerating with $gen"
  "$gen"
done

after=$(snapshot)
if [ "$before" != "$after" ]; then
  echo "generated files are stale (regenerated in place; commit them). Changed files:" >&2
  { diff <(echo "$before") <(echo "$after") || true; } | sed -n 's/^> [0-9a-f]*  /  /p; s/^> missing /  deleted: /p' | sort -u >&2
  git status --short --untracked-files=all -- "${generated_paths[@]}" >&2
  git --no-pager diff --stat -- "${generated_paths[@]}" >&2
  git --no-pager diff -- "${generated_paths[@]}" >&2
  exit 1
fi
echo "proto contract OK: lint, breaking, generated files up to date" >&2
