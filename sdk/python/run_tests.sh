#!/usr/bin/env bash
# Runs the Python SDK's suite (mypy --strict over the package, offline tests, and the live
# tests against the sandboxd of tests/sdk/with_sandboxd.sh, whose environment it needs).
# The tools live in a venv under $SANDBOXD_CACHE/python keyed by the Python version and
# requirements-test.txt; each run installs this checkout's package into it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$repo/tools/lib.sh"

python=${SANDBOXD_PYTHON:-python3}
key=$({ "$python" --version; cat "$here/requirements-test.txt"; } | sha1sum | cut -c1-12)
venv=$SANDBOXD_CACHE/python/test-$key
mkdir -p "$SANDBOXD_CACHE/python"
exec 9>"$venv.lock"
flock 9  # one run at a time per venv: each installs its checkout's package
if [ ! -e "$venv/.complete" ]; then
  step "making the Python test venv $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-test.txt"
  touch "$venv/.complete"
fi
# Reinstall only when the package's files differ from what the venv holds.
package=$(cd "$here" && find pyproject.toml README.md src -type f ! -path '*/__pycache__/*' |
  LC_ALL=C sort | xargs sha1sum | sha1sum | cut -c1-40)
if [ "$(cat "$venv/.package" 2>/dev/null)" != "$package" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    --force-reinstall "$here"
  echo "$package" >"$venv/.package"
fi

cd "$here"
# with_sandboxd.sh serves plaintext on 127.0.0.1 and says so in no variable.
export SANDBOXD_PLAINTEXT=${SANDBOXD_PLAINTEXT:-1}
export PYTHONDONTWRITEBYTECODE=1 SANDBOXD_MYPY_CACHE=$venv/mypy-cache
[ $# -gt 0 ] || set -- tests
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@"
