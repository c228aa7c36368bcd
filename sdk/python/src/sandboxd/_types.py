"""The SDK's value types: phases, watch event kinds, watch events, and the proto messages
callers see (re-exported from the generated stubs)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Optional

from ._proto.sandbox.v1 import sandbox_pb2

Sandbox = sandbox_pb2.Sandbox
SandboxSpec = sandbox_pb2.SandboxSpec
Resources = sandbox_pb2.Resources
ResourceQuantities = sandbox_pb2.ResourceQuantities
StorageSpec = sandbox_pb2.StorageSpec
Ports = sandbox_pb2.Ports


class Phase(enum.IntEnum):
    """sandbox.v1.SandboxPhase; the values equal the proto's, so `Phase(sandbox.phase)`
    converts a Sandbox's phase."""

    UNSPECIFIED = sandbox_pb2.SANDBOX_PHASE_UNSPECIFIED
    STARTING = sandbox_pb2.SANDBOX_PHASE_STARTING
    RUNNING = sandbox_pb2.SANDBOX_PHASE_RUNNING
    STOPPING = sandbox_pb2.SANDBOX_PHASE_STOPPING
    STOPPED = sandbox_pb2.SANDBOX_PHASE_STOPPED
    DELETING = sandbox_pb2.SANDBOX_PHASE_DELETING
    ERROR = sandbox_pb2.SANDBOX_PHASE_ERROR


class EventType(enum.IntEnum):
    """sandbox.v1.WatchEventType; the values equal the proto's."""

    UNSPECIFIED = sandbox_pb2.WATCH_EVENT_TYPE_UNSPECIFIED
    ADDED = sandbox_pb2.WATCH_EVENT_TYPE_ADDED
    MODIFIED = sandbox_pb2.WATCH_EVENT_TYPE_MODIFIED
    DELETED = sandbox_pb2.WATCH_EVENT_TYPE_DELETED
    INITIAL_STATE_COMPLETE = sandbox_pb2.WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE
    RESET = sandbox_pb2.WATCH_EVENT_TYPE_RESET


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    """One message of a watch stream.

    `sandbox` is set for ADDED, MODIFIED and DELETED, None for INITIAL_STATE_COMPLETE and
    RESET. On RESET the caller must discard the state it built from earlier events: the
    whole current state follows as ADDED events, then INITIAL_STATE_COMPLETE.
    `resume_token` resumes a later watch right after this event.
    """

    type: EventType
    sandbox: Optional[Sandbox]
    resume_token: str

    @classmethod
    def from_response(
        cls, response: sandbox_pb2.WatchSandboxResponse | sandbox_pb2.WatchSandboxesResponse
    ) -> WatchEvent:
        """The event of one stream message; an event type this SDK does not know
        becomes UNSPECIFIED."""
        try:
            kind = EventType(response.type)
        except ValueError:
            kind = EventType.UNSPECIFIED
        sandbox = response.sandbox if response.HasField("sandbox") else None
        return cls(type=kind, sandbox=sandbox, resume_token=response.resume_token)
