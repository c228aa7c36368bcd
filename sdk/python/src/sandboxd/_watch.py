"""The parts of watching that Client and AsyncClient share: the reconnect backoff, what
ends a stream with a reconnect, and the state machine of wait_until."""

from __future__ import annotations

import random
import time
from typing import Callable, Optional

import grpc

from . import _errors
from ._types import EventType, Phase, Sandbox, WatchEvent
from ._proto.sandbox.v1 import sandbox_pb2


class Backoff:
    """Exponential reconnect delays with jitter: initial, doubling up to maximum; reset()
    after a stream delivered a message. Not thread-safe (one per watch)."""

    def __init__(
        self,
        initial: float = 0.1,
        maximum: float = 5.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._initial = initial
        self._maximum = maximum
        self._jitter = jitter
        self._next = initial

    def reset(self) -> None:
        self._next = self._initial

    def delay(self) -> float:
        """The next delay in seconds: between half and all of the current step."""
        step = self._next
        self._next = min(self._next * 2, self._maximum)
        return step * (0.5 + 0.5 * self._jitter())


def reconnects(error: _errors.SandboxdError) -> bool:
    """Whether a watch stream that failed with `error` is resumed on a new stream:
    UNAVAILABLE only (sandboxd restarting, a lost connection)."""
    return error.code == grpc.StatusCode.UNAVAILABLE


class Deadline:
    """An optional point in time (monotonic clock)."""

    def __init__(self, timeout: Optional[float]) -> None:
        self._at = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> Optional[float]:
        """Seconds left (never negative), or None without a deadline."""
        return None if self._at is None else max(0.0, self._at - time.monotonic())

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0.0


def timed_out(what: str) -> _errors.DeadlineExceeded:
    """The error of a watch or wait that ran out of time (reason "": not the server's)."""
    return _errors.DeadlineExceeded(
        grpc.StatusCode.DEADLINE_EXCEEDED, "", f"timed out waiting for {what}"
    )


class WaitCondition:
    """Follows the events of one sandbox's watch until the sandbox reaches a phase, or,
    with phase None, until it is gone. feed() returns True once the condition holds
    (`sandbox` is then the sandbox in that phase, or its last state), False while
    waiting. While waiting for a phase it raises SandboxFailed when the sandbox enters
    ERROR (unless ERROR is the phase) and SandboxDeleted when the sandbox is deleted or
    absent from the initial state. Not thread-safe."""

    def __init__(self, name: str, phase: Optional[Phase]) -> None:
        self._name = name
        self._phase = phase
        self._current: Optional[Sandbox] = None
        self.sandbox: Optional[Sandbox] = None

    def feed(self, event: WatchEvent) -> bool:
        if event.type == EventType.RESET:
            self._current = None
            return False
        if event.type in (EventType.ADDED, EventType.MODIFIED) and event.sandbox is not None:
            self._current = self.sandbox = event.sandbox
            return self._reached(event.sandbox)
        gone = event.type == EventType.DELETED or (
            event.type == EventType.INITIAL_STATE_COMPLETE and self._current is None
        )
        if not gone:
            return False
        if event.sandbox is not None:
            self.sandbox = event.sandbox
        if self._phase is None:
            return True
        raise _errors.SandboxDeleted(self._name, self.sandbox)

    def _reached(self, sandbox: Sandbox) -> bool:
        if self._phase is None:
            return False
        if sandbox.phase == int(self._phase):
            return True
        if sandbox.phase == sandbox_pb2.SANDBOX_PHASE_ERROR:
            reason = sandbox_pb2.SandboxErrorReason.Name(sandbox.error_reason)
            raise _errors.SandboxFailed(sandbox, reason)
        return False
