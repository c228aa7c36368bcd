"""Fixtures of the suite. The live tests run against the sandboxd that
tests/sdk/with_sandboxd.sh started (SANDBOXD_ADDR, SANDBOXD_TOKEN, SANDBOXD_NAMESPACE,
SANDBOXD_TEST_RESTART); without it they fail, they are not skipped."""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from typing import Iterator

import pytest

import sandboxd

# kwok makes pods Running within seconds; this bounds a phase change generously.
PHASE_TIMEOUT = 120.0


def live_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run this suite under tests/sdk/with_sandboxd.sh")
    return value


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def restart_sandboxd() -> None:
    """SIGTERMs sandboxd and starts it again on the same port; returns once it serves."""
    subprocess.run(shlex.split(live_env("SANDBOXD_TEST_RESTART")), check=True, timeout=60)


@pytest.fixture
def client() -> Iterator[sandboxd.Client]:
    live_env("SANDBOXD_ADDR")
    with sandboxd.Client() as c:
        yield c
