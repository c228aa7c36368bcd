"""sandboxd: the Python client of sandboxd's sandbox.v1.SandboxLifecycle API.

    from sandboxd import Client, Phase
    with Client() as client:            # SANDBOXD_ADDR, SANDBOXD_TOKEN, ... from the env
        client.create("alice", env={"EDITOR": "vim"})
        sandbox = client.wait_until("alice", Phase.RUNNING, timeout=120)

AsyncClient has the same methods as coroutines and async iterators.
"""

from ._async_client import AsyncClient
from ._client import Client
from ._config import ClientConfig
from ._errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    IngressHostTaken,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    SandboxAlreadyExists,
    SandboxDeleted,
    SandboxDeleting,
    SandboxdError,
    SandboxFailed,
    SandboxNotFound,
    Unauthenticated,
    Unavailable,
    VersionMismatch,
)
from ._types import (
    EventType,
    Phase,
    Ports,
    ResourceQuantities,
    Resources,
    Sandbox,
    SandboxSpec,
    StorageSpec,
    WatchEvent,
)

__all__ = [
    "Aborted",
    "AlreadyExists",
    "AsyncClient",
    "Cancelled",
    "Client",
    "ClientConfig",
    "DeadlineExceeded",
    "EventType",
    "FailedPrecondition",
    "FieldViolation",
    "IngressHostTaken",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "Phase",
    "PermissionDenied",
    "Ports",
    "ResourceExhausted",
    "ResourceQuantities",
    "Resources",
    "Sandbox",
    "SandboxAlreadyExists",
    "SandboxDeleted",
    "SandboxDeleting",
    "SandboxFailed",
    "SandboxNotFound",
    "SandboxSpec",
    "SandboxdError",
    "StorageSpec",
    "Unauthenticated",
    "Unavailable",
    "VersionMismatch",
    "WatchEvent",
]
