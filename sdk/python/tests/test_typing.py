"""The hand-written layer passes mypy --strict (with the generated stubs it imports)."""

from __future__ import annotations

import os
import pathlib
import tempfile

from mypy import api

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_mypy_strict() -> None:
    cache = os.environ.get("SANDBOXD_MYPY_CACHE") or os.path.join(
        tempfile.gettempdir(), "sandboxd-mypy"
    )
    out, err, status = api.run(
        [
            "--config-file", str(ROOT / "pyproject.toml"),
            "--strict",
            "--cache-dir", cache,
            str(ROOT / "src" / "sandboxd"),
        ]
    )
    assert status == 0, out + err
