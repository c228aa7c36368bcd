"""Fixtures of the suite. The live tests run against the sandboxd that
tests/sdk/with_sandboxd.sh started (SANDBOXD_ADDR, SANDBOXD_TOKEN, SANDBOXD_NAMESPACE,
SANDBOXD_TEST_RESTART); without it they fail, they are not skipped."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import time
import uuid
from typing import Awaitable, Callable, Iterator, TypeVar

import pytest

import sandboxd

T = TypeVar("T")

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
    """SIGTERMs sandboxd and starts it again on the same port; returns once it listens
    (its cache syncs about a second later: until then calls get UNAVAILABLE
    CACHE_NOT_SYNCED, which the SDK's retry policy usually covers)."""
    subprocess.run(shlex.split(live_env("SANDBOXD_TEST_RESTART")), check=True, timeout=60)


def until_available(call: Callable[[], T], timeout: float = 30.0) -> T:
    """call(), repeated while it fails with UNAVAILABLE (as the contract says to), for
    the calls right after a restart."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except sandboxd.Unavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def until_available_async(call: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except sandboxd.Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@pytest.fixture
def client() -> Iterator[sandboxd.Client]:
    live_env("SANDBOXD_ADDR")
    with sandboxd.Client() as c:
        yield c
