"""The exceptions of the SDK: one class per sandboxd error reason that callers branch on,
grouped under one class per gRPC status code, all under SandboxdError.

Every error sandboxd returns carries a google.rpc.Status in the `grpc-status-details-bin`
trailer with one google.rpc.ErrorInfo (domain "sandboxd.dev"), a BadRequest for
INVALID_ARGUMENT and a RetryInfo for RESOURCE_EXHAUSTED. `from_rpc_error` reads them; an
error without details (a client-side deadline, a connection failure) has reason "".
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Type, Union, cast

import grpc
from google.protobuf import message as _message
from google.rpc import error_details_pb2, status_pb2

from ._types import Sandbox

ERROR_DOMAIN = "sandboxd.dev"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclasses.dataclass(frozen=True)
class FieldViolation:
    """One invalid request field: `field` is a path relative to the request message
    (e.g. "spec.name"), `description` says what is wrong."""

    field: str
    description: str


class SandboxdError(Exception):
    """An error of a sandboxd call.

    code: the gRPC status code. reason: the ErrorInfo reason (a name of
    sandbox.v1.ErrorReason), "" when the error carries none. message: the status message.
    metadata: the ErrorInfo metadata (e.g. "field" for INVALID_FIELD).
    field_violations: the BadRequest violations (INVALID_ARGUMENT only).
    retry_delay: seconds to wait before retrying (RESOURCE_EXHAUSTED), else None.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        metadata: Optional[Mapping[str, str]] = None,
        field_violations: Iterable[FieldViolation] = (),
        retry_delay: Optional[float] = None,
    ) -> None:
        super().__init__(f"{code.name} {reason or '(no reason)'}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata: Dict[str, str] = dict(metadata or {})
        self.field_violations: List[FieldViolation] = list(field_violations)
        self.retry_delay = retry_delay


class InvalidArgument(SandboxdError):
    """INVALID_ARGUMENT: see field_violations (reason INVALID_FIELD or MALFORMED_REQUEST)."""


class NotFound(SandboxdError):
    """NOT_FOUND."""


class SandboxNotFound(NotFound):
    """NOT_FOUND, reason SANDBOX_NOT_FOUND: no sandbox of that namespace and name."""


class AlreadyExists(SandboxdError):
    """ALREADY_EXISTS."""


class SandboxAlreadyExists(AlreadyExists):
    """ALREADY_EXISTS, reason SANDBOX_ALREADY_EXISTS: a sandbox of that name exists with a
    different spec."""


class IngressHostTaken(AlreadyExists):
    """ALREADY_EXISTS, reason INGRESS_HOST_TAKEN: metadata "host" names the host."""


class FailedPrecondition(SandboxdError):
    """FAILED_PRECONDITION (e.g. FOREIGN_CLAIM, ADMISSION_DENIED)."""


class VersionMismatch(FailedPrecondition):
    """FAILED_PRECONDITION, reason VERSION_MISMATCH: expected_version is not current."""


class SandboxDeleting(FailedPrecondition):
    """FAILED_PRECONDITION, reason SANDBOX_DELETING: the sandbox is being deleted."""


class Aborted(SandboxdError):
    """ABORTED (CONCURRENT_MODIFICATION): retry the call."""


class PermissionDenied(SandboxdError):
    """PERMISSION_DENIED (ACCESS_DENIED, NAMESPACE_NOT_SERVED, KUBERNETES_FORBIDDEN)."""


class Unauthenticated(SandboxdError):
    """UNAUTHENTICATED (MISSING_CREDENTIALS, INVALID_CREDENTIALS, ...)."""


class ResourceExhausted(SandboxdError):
    """RESOURCE_EXHAUSTED (CALLER_RATE_LIMITED, TOO_MANY_WATCH_STREAMS, QUOTA_EXCEEDED);
    retry_delay says when to retry, when the server said so."""


class Unavailable(SandboxdError):
    """UNAVAILABLE: sandboxd is unreachable, starting or shutting down; retry."""


class DeadlineExceeded(SandboxdError):
    """DEADLINE_EXCEEDED: the call (or a wait) ran out of time."""


class Cancelled(SandboxdError):
    """CANCELLED: the call was cancelled (e.g. the client was closed)."""


class Internal(SandboxdError):
    """INTERNAL, UNKNOWN or DATA_LOSS: a server fault."""


class SandboxFailed(FailedPrecondition):
    """Raised by wait_until when the sandbox enters SANDBOX_PHASE_ERROR: reason is the
    sandbox's error reason (a sandbox.v1.SandboxErrorReason name), message its message,
    sandbox its state."""

    def __init__(self, sandbox: Sandbox, reason: str) -> None:
        super().__init__(grpc.StatusCode.FAILED_PRECONDITION, reason, sandbox.message)
        self.sandbox = sandbox


class SandboxDeleted(SandboxNotFound):
    """Raised by wait_until when the sandbox is deleted while waiting, or does not exist
    when the wait begins. sandbox is its last known state, None if it never existed."""

    def __init__(self, name: str, sandbox: Optional[Sandbox]) -> None:
        message = f"sandbox {name!r} was deleted" if sandbox else f"no sandbox {name!r}"
        super().__init__(grpc.StatusCode.NOT_FOUND, "SANDBOX_NOT_FOUND", message)
        self.sandbox = sandbox


_BY_REASON: Mapping[str, Type[SandboxdError]] = {
    "SANDBOX_NOT_FOUND": SandboxNotFound,
    "SANDBOX_ALREADY_EXISTS": SandboxAlreadyExists,
    "INGRESS_HOST_TAKEN": IngressHostTaken,
    "VERSION_MISMATCH": VersionMismatch,
    "SANDBOX_DELETING": SandboxDeleting,
}

_BY_CODE: Mapping[grpc.StatusCode, Type[SandboxdError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.UNKNOWN: Internal,
    grpc.StatusCode.DATA_LOSS: Internal,
}

MetadataItems = Iterable[Tuple[str, Union[str, bytes]]]


def error_class(code: grpc.StatusCode, reason: str) -> Type[SandboxdError]:
    """The most specific class for a code and reason. A reason-specific class is used
    only with the code it belongs to."""
    by_reason = _BY_REASON.get(reason)
    by_code = _BY_CODE.get(code, SandboxdError)
    if by_reason is not None and issubclass(by_reason, by_code):
        return by_reason
    return by_code


def from_status(
    code: grpc.StatusCode, message: str, trailing_metadata: Optional[MetadataItems]
) -> SandboxdError:
    """The exception for a finished call's status and trailing metadata."""
    reason = ""
    metadata: Dict[str, str] = {}
    violations: List[FieldViolation] = []
    retry_delay: Optional[float] = None
    status = _status_details(trailing_metadata)
    if status is not None:
        if status.message:
            message = status.message
        for detail in status.details:
            if detail.TypeName() == "google.rpc.ErrorInfo":
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
                metadata = dict(info.metadata)
            elif detail.TypeName() == "google.rpc.BadRequest":
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = [
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                ]
            elif detail.TypeName() == "google.rpc.RetryInfo":
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_delay = retry.retry_delay.ToTimedelta().total_seconds()
    cls = error_class(code, reason)
    return cls(code, reason, message, metadata, violations, retry_delay)


def from_rpc_error(error: grpc.RpcError) -> SandboxdError:
    """The exception for a failed call (a grpc.RpcError that is also a grpc.Call, or a
    grpc.aio.AioRpcError)."""
    # Both kinds give (key, value) pairs; grpc-stubs types the sync ones as _Metadatum.
    if isinstance(error, grpc.aio.AioRpcError):
        trailing = cast(MetadataItems, error.trailing_metadata())
        return from_status(error.code(), error.details() or "", trailing)
    if isinstance(error, grpc.Call):
        trailing = cast(MetadataItems, error.trailing_metadata())
        return from_status(error.code(), error.details() or "", trailing)
    return SandboxdError(grpc.StatusCode.UNKNOWN, "", str(error))


def _status_details(trailing_metadata: Optional[MetadataItems]) -> Optional[status_pb2.Status]:
    for key, value in trailing_metadata or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except _message.DecodeError:
                return None
    return None
