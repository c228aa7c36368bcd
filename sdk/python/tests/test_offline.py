"""Tests of the SDK's pure parts: configuration, error decoding, enums, backoff."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

import sandboxd
from sandboxd import _errors, _watch
from sandboxd._proto.sandbox.v1 import error_reason_pb2, sandbox_pb2


def test_config_from_environment_and_arguments() -> None:
    env = {
        "SANDBOXD_ADDR": "sandboxd.example:443",
        "SANDBOXD_NAMESPACE": "dev",
        "SANDBOXD_TOKEN_FILE": "/var/run/token",
        "SANDBOXD_CACERT": "ca.pem",
        "SANDBOXD_PLAINTEXT": "0",
    }
    config = sandboxd.ClientConfig.resolve(environ=env)
    assert config.address == "sandboxd.example:443"
    assert config.namespace == "dev"
    assert config.token is None
    assert config.token_file == "/var/run/token"
    assert config.ca_cert == "ca.pem"
    assert config.insecure is False
    assert config.timeout == 30.0

    config = sandboxd.ClientConfig.resolve(
        "localhost:1", namespace="other", token="t", timeout=5, environ=env
    )
    assert (config.address, config.namespace, config.token, config.token_file) == (
        "localhost:1",
        "other",
        "t",
        None,
    )
    assert config.timeout == 5

    plaintext = sandboxd.ClientConfig.resolve(
        environ={
            "SANDBOXD_ADDR": "127.0.0.1:1",
            "SANDBOXD_PLAINTEXT": "true",
            "SANDBOXD_TOKEN": "abc",
        }
    )
    assert plaintext.insecure is True
    assert plaintext.call_metadata() == (("authorization", "Bearer abc"),)
    assert plaintext.channel_credentials() is None


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="SANDBOXD_ADDR"):
        sandboxd.ClientConfig.resolve(environ={})
    with pytest.raises(ValueError, match="both"):
        sandboxd.ClientConfig.resolve("h:1", client_cert="c.pem", environ={})


def test_token_file_is_read_again_when_it_changes(tmp_path: "pytest.TempPathFactory") -> None:
    path = tmp_path / "token"  # type: ignore[operator]
    path.write_text("first\n")
    config = sandboxd.ClientConfig.resolve("h:1", token_file=str(path), insecure=True, environ={})
    assert config.call_metadata() == (("authorization", "Bearer first"),)
    path.write_text("second-token\n")
    assert config.call_metadata() == (("authorization", "Bearer second-token"),)


def _status(code: grpc.StatusCode, message: str, *details: object) -> tuple[tuple[str, bytes], ...]:
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)  # type: ignore[arg-type]
        status.details.append(packed)
    return (("grpc-status-details-bin", status.SerializeToString()),)


def test_error_from_status_details() -> None:
    info = error_details_pb2.ErrorInfo(
        reason="INVALID_FIELD", domain="sandboxd.dev", metadata={"field": "spec.name", "why": "bad"}
    )
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="spec.name", description="bad")
        ]
    )
    trailer = _status(grpc.StatusCode.INVALID_ARGUMENT, "m", info, bad)
    error = _errors.from_status(grpc.StatusCode.INVALID_ARGUMENT, "x", trailer)
    assert type(error) is sandboxd.InvalidArgument
    assert (error.code, error.reason, error.message) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
        "m",
    )
    assert error.metadata == {"field": "spec.name", "why": "bad"}
    assert error.field_violations == [sandboxd.FieldViolation("spec.name", "bad")]

    delay = duration_pb2.Duration(seconds=1, nanos=500_000_000)
    retry = error_details_pb2.RetryInfo(retry_delay=delay)
    limited = _errors.from_status(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "slow down",
        _status(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "slow down",
            error_details_pb2.ErrorInfo(reason="CALLER_RATE_LIMITED", domain="sandboxd.dev"),
            retry,
        ),
    )
    assert type(limited) is sandboxd.ResourceExhausted
    assert limited.retry_delay == 1.5


@pytest.mark.parametrize(
    "code,reason,cls",
    [
        (grpc.StatusCode.NOT_FOUND, "SANDBOX_NOT_FOUND", sandboxd.SandboxNotFound),
        (grpc.StatusCode.ALREADY_EXISTS, "SANDBOX_ALREADY_EXISTS", sandboxd.SandboxAlreadyExists),
        (grpc.StatusCode.FAILED_PRECONDITION, "VERSION_MISMATCH", sandboxd.VersionMismatch),
        (grpc.StatusCode.FAILED_PRECONDITION, "SANDBOX_DELETING", sandboxd.SandboxDeleting),
        (grpc.StatusCode.FAILED_PRECONDITION, "FOREIGN_CLAIM", sandboxd.FailedPrecondition),
        (grpc.StatusCode.PERMISSION_DENIED, "ACCESS_DENIED", sandboxd.PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS", sandboxd.Unauthenticated),
        (grpc.StatusCode.UNAVAILABLE, "SERVER_SHUTTING_DOWN", sandboxd.Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "", sandboxd.DeadlineExceeded),
        (grpc.StatusCode.ABORTED, "CONCURRENT_MODIFICATION", sandboxd.Aborted),
        # A reason only picks its class together with the code it belongs to.
        (grpc.StatusCode.INTERNAL, "SANDBOX_NOT_FOUND", sandboxd.Internal),
        (grpc.StatusCode.UNIMPLEMENTED, "NOT_IMPLEMENTED", sandboxd.SandboxdError),
    ],
)
def test_error_class(code: grpc.StatusCode, reason: str, cls: type) -> None:
    assert _errors.error_class(code, reason) is cls


def test_error_without_details() -> None:
    error = _errors.from_status(grpc.StatusCode.UNAVAILABLE, "connection refused", ())
    assert type(error) is sandboxd.Unavailable
    assert (error.reason, error.message, error.field_violations) == ("", "connection refused", [])


def test_enums_match_the_proto() -> None:
    for phase in sandboxd.Phase:
        assert sandbox_pb2.SandboxPhase.Name(phase.value) == "SANDBOX_PHASE_" + phase.name
    assert len(sandboxd.Phase) == len(sandbox_pb2.SandboxPhase.values())
    for kind in sandboxd.EventType:
        assert sandbox_pb2.WatchEventType.Name(kind.value) == "WATCH_EVENT_TYPE_" + kind.name
    assert len(sandboxd.EventType) == len(sandbox_pb2.WatchEventType.values())
    # Every reason the SDK maps to a class is a reason of the proto.
    for reason in _errors._BY_REASON:
        error_reason_pb2.ErrorReason.Value(reason)


def test_backoff_doubles_up_to_the_maximum_and_resets() -> None:
    backoff = _watch.Backoff(initial=0.1, maximum=0.4, jitter=lambda: 1.0)
    assert [round(backoff.delay(), 3) for _ in range(4)] == [0.1, 0.2, 0.4, 0.4]
    backoff.reset()
    assert backoff.delay() == 0.1
    half = _watch.Backoff(initial=1.0, maximum=1.0, jitter=lambda: 0.0)
    assert half.delay() == 0.5


def _event(kind: sandboxd.EventType, phase: sandboxd.Phase | None = None) -> sandboxd.WatchEvent:
    sandbox = None if phase is None else sandbox_pb2.Sandbox(phase=phase.value)
    return sandboxd.WatchEvent(kind, sandbox, "t")


def test_wait_condition() -> None:
    E, P = sandboxd.EventType, sandboxd.Phase
    running = _watch.WaitCondition("a", P.RUNNING)
    assert not running.feed(_event(E.ADDED, P.STARTING))
    assert not running.feed(_event(E.INITIAL_STATE_COMPLETE))
    assert running.feed(_event(E.MODIFIED, P.RUNNING))
    assert running.sandbox is not None and running.sandbox.phase == P.RUNNING

    failing = _watch.WaitCondition("a", P.RUNNING)
    error_sandbox = sandbox_pb2.Sandbox(
        phase=P.ERROR.value,
        error_reason=sandbox_pb2.SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE,
        message="ImagePullBackOff",
    )
    with pytest.raises(sandboxd.SandboxFailed) as failed:
        failing.feed(sandboxd.WatchEvent(E.ADDED, error_sandbox, "t"))
    assert failed.value.reason == "SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE"
    assert failed.value.message == "ImagePullBackOff"

    missing = _watch.WaitCondition("a", P.RUNNING)
    with pytest.raises(sandboxd.SandboxDeleted):
        missing.feed(_event(E.INITIAL_STATE_COMPLETE))

    reset = _watch.WaitCondition("a", P.RUNNING)
    assert not reset.feed(_event(E.ADDED, P.STARTING))
    assert not reset.feed(_event(E.RESET))
    with pytest.raises(sandboxd.SandboxDeleted):
        reset.feed(_event(E.INITIAL_STATE_COMPLETE))

    gone = _watch.WaitCondition("a", None)
    assert not gone.feed(_event(E.ADDED, P.RUNNING))
    assert not gone.feed(_event(E.INITIAL_STATE_COMPLETE))
    assert gone.feed(_event(E.DELETED, P.DELETING))


class _Failure(grpc.RpcError, grpc.Call):
    """A finished call's error as grpc raises it from a stream."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._code.name.lower()

    def trailing_metadata(self) -> tuple[()]:
        return ()

    def initial_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> bool:
        return False


class _Stream:
    def __init__(self, tokens: list[str], failure: grpc.StatusCode) -> None:
        self._tokens = tokens
        self._failure = failure

    def __iter__(self):  # type: ignore[no-untyped-def]
        for token in self._tokens:
            yield sandbox_pb2.WatchSandboxResponse(
                type=sandbox_pb2.WATCH_EVENT_TYPE_MODIFIED,
                sandbox=sandbox_pb2.Sandbox(),
                resume_token=token,
            )
        raise _Failure(self._failure)

    def cancel(self) -> bool:
        return True


def test_watch_resumes_after_the_last_event_taken() -> None:
    """On UNAVAILABLE the next stream starts from the token of the last event the caller
    took; another error ends the watch."""
    streams = [
        _Stream(["t1", "t2"], grpc.StatusCode.UNAVAILABLE),
        _Stream([], grpc.StatusCode.UNAVAILABLE),
        _Stream(["t3"], grpc.StatusCode.PERMISSION_DENIED),
    ]
    opened: list[str] = []

    def open_stream(token: str, timeout: float | None) -> _Stream:
        opened.append(token)
        return streams[len(opened) - 1]

    config = sandboxd.ClientConfig.resolve("127.0.0.1:1", insecure=True, environ={})
    with sandboxd.Client(config=config) as client:  # never connects: the streams are fakes
        events = client._follow(open_stream, "t0", _watch.Deadline(None))
        taken = [next(events).resume_token for _ in range(3)]
        with pytest.raises(sandboxd.PermissionDenied):
            next(events)
    assert taken == ["t1", "t2", "t3"]
    assert opened == ["t0", "t2", "t2"]
