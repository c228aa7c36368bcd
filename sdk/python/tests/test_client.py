"""Client against a real sandboxd: lifecycle, typed errors, watches across a restart."""

from __future__ import annotations

import threading

import grpc
import pytest

import sandboxd
from sandboxd import EventType, Phase

from conftest import (
    PHASE_TIMEOUT,
    live_env,
    restart_sandboxd,
    unique_name,
    until_available,
)


def test_lifecycle(client: sandboxd.Client) -> None:
    name = unique_name("py-life")
    created = client.create(name, project="sdk", env={"EDITOR": "vim", "OLD": "1"})
    assert created.spec.name == name
    assert created.spec.namespace == live_env("SANDBOXD_NAMESPACE")
    assert dict(created.spec.env) == {"EDITOR": "vim", "OLD": "1"}
    assert Phase(created.phase) in (Phase.STARTING, Phase.RUNNING)

    running = client.wait_until(name, Phase.RUNNING, timeout=PHASE_TIMEOUT)
    assert running.phase == Phase.RUNNING
    assert running.ready_replicas == 1
    claim_uid = running.storage.uid
    assert name in [s.spec.name for s in client.list(project="sdk")]

    updated = client.update_env(
        name, {"EDITOR": "nano", "NEW": "2"}, remove=["OLD"], expected_version=running.version
    )
    assert dict(updated.spec.env) == {"EDITOR": "nano", "NEW": "2"}
    assert updated.version != running.version
    assert dict(client.get(name).spec.env) == {"EDITOR": "nano", "NEW": "2"}

    stopped = client.stop(name)
    assert stopped.desired_replicas == 0
    stopped = client.wait_until(name, Phase.STOPPED, timeout=PHASE_TIMEOUT)
    assert stopped.phase == Phase.STOPPED

    client.start(name)
    running = client.wait_until(name, Phase.RUNNING, timeout=PHASE_TIMEOUT)
    assert running.storage.uid == claim_uid  # the same home volume is bound again

    client.delete(name)
    client.wait_until_deleted(name, timeout=PHASE_TIMEOUT)
    with pytest.raises(sandboxd.SandboxNotFound):
        client.get(name)


def test_wait_until_fails_fast_on_an_error_phase(client: sandboxd.Client) -> None:
    # The local plane's kwok stages make an image named *sandboxd-fail-pull* fail to pull.
    name = unique_name("py-fail")
    client.create(name, image="registry.local/sandboxd-fail-pull:1")
    try:
        with pytest.raises(sandboxd.SandboxFailed) as raised:
            client.wait_until(name, Phase.RUNNING, timeout=PHASE_TIMEOUT)
        failed = raised.value
        assert failed.code == grpc.StatusCode.FAILED_PRECONDITION
        assert failed.reason == "SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE"
        assert failed.sandbox.phase == Phase.ERROR
        assert failed.sandbox.spec.name == name
        errored = client.wait_until(name, Phase.ERROR, timeout=PHASE_TIMEOUT)
        assert errored.error_reason == failed.sandbox.error_reason
    finally:
        client.delete(name, allow_missing=True)


def test_wait_until_fails_when_the_sandbox_is_deleted(client: sandboxd.Client) -> None:
    name = unique_name("py-gone")
    client.create(name)
    client.stop(name)
    client.wait_until(name, Phase.STOPPED, timeout=PHASE_TIMEOUT)
    deleter = threading.Timer(0.5, client.delete, args=(name,))
    deleter.start()
    try:
        with pytest.raises(sandboxd.SandboxDeleted) as raised:
            client.wait_until(name, Phase.RUNNING, timeout=PHASE_TIMEOUT)
    finally:
        deleter.join()
    assert (raised.value.code, raised.value.reason) == (
        grpc.StatusCode.NOT_FOUND,
        "SANDBOX_NOT_FOUND",
    )
    assert raised.value.sandbox is not None and raised.value.sandbox.spec.name == name


def test_invalid_name_is_a_typed_error(client: sandboxd.Client) -> None:
    with pytest.raises(sandboxd.InvalidArgument) as raised:
        client.create("Not_A_DNS_Label")
    error = raised.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_FIELD"
    assert error.metadata["field"] == "spec.name"
    assert [v.field for v in error.field_violations] == ["spec.name"]
    assert "Not_A_DNS_Label" in error.message


def test_missing_sandbox_is_a_typed_error(client: sandboxd.Client) -> None:
    name = unique_name("py-missing")
    for call in (client.get, client.start, client.stop, client.delete):
        with pytest.raises(sandboxd.SandboxNotFound) as raised:
            call(name)
        assert raised.value.code == grpc.StatusCode.NOT_FOUND
        assert raised.value.reason == "SANDBOX_NOT_FOUND"
    client.delete(name, allow_missing=True)
    with pytest.raises(sandboxd.SandboxDeleted):
        client.wait_until(name, Phase.RUNNING, timeout=PHASE_TIMEOUT)
    client.wait_until_deleted(name, timeout=PHASE_TIMEOUT)


def test_conflicts_are_typed_errors(client: sandboxd.Client) -> None:
    name = unique_name("py-conflict")
    created = client.create(name, env={"A": "1"})
    try:
        assert client.create(name, env={"A": "1"}).uid == created.uid  # idempotent
        with pytest.raises(sandboxd.SandboxAlreadyExists) as exists:
            client.create(name, env={"A": "2"})
        assert (exists.value.code, exists.value.reason) == (
            grpc.StatusCode.ALREADY_EXISTS,
            "SANDBOX_ALREADY_EXISTS",
        )
        with pytest.raises(sandboxd.VersionMismatch) as mismatch:
            client.update_env(name, {"A": "3"}, expected_version=created.version + "x")
        assert (mismatch.value.code, mismatch.value.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "VERSION_MISMATCH",
        )
    finally:
        client.delete(name, allow_missing=True)


def test_unauthenticated_without_a_token() -> None:
    with sandboxd.Client(token="not-a-token", token_file=None) as anonymous:
        with pytest.raises(sandboxd.Unauthenticated) as raised:
            anonymous.get("anything")
    assert raised.value.reason == "INVALID_CREDENTIALS"


def test_resume_token_replays_missed_changes(client: sandboxd.Client) -> None:
    name = unique_name("py-resume")
    client.create(name, env={"STEP": "1"})
    try:
        events = client.watch(name)
        first = [next(events), next(events)]
        events.close()
        assert [e.type for e in first] == [EventType.ADDED, EventType.INITIAL_STATE_COMPLETE]
        client.update_env(name, {"STEP": "2"})

        resumed = client.watch(name, resume_token=first[-1].resume_token)
        replayed = []
        for event in resumed:
            replayed.append(event)
            if event.type == EventType.INITIAL_STATE_COMPLETE:
                break
        resumed.close()
        # Only the missed changes, then the marker: no RESET, no initial state again.
        assert {e.type for e in replayed[:-1]} == {EventType.MODIFIED}
        assert any(e.sandbox is not None and e.sandbox.spec.env["STEP"] == "2" for e in replayed)
    finally:
        client.delete(name, allow_missing=True)


def test_watch_survives_a_restart(client: sandboxd.Client) -> None:
    name = unique_name("py-restart")
    client.create(name, env={"STEP": "1"}, labels={"sdk-test": name})
    try:
        events = client.watch_sandboxes(label_selector=f"sdk-test={name}")
        initial = [next(events), next(events)]
        assert [e.type for e in initial] == [EventType.ADDED, EventType.INITIAL_STATE_COMPLETE]
        assert initial[0].sandbox is not None and initial[0].sandbox.spec.name == name

        # The stream is cut by the restart (UNAVAILABLE); the change lands on the new
        # process before the watch reconnects. Tokens are per process, so the resumed
        # stream answers RESET, the whole state (with the change) and the marker.
        restart_sandboxd()
        until_available(lambda: client.update_env(name, {"STEP": "2"}))

        before_reset = []
        event = next(events)
        while event.type != EventType.RESET:
            before_reset.append(event)  # changes the old process sent before it stopped
            event = next(events)
        assert all(e.type == EventType.MODIFIED for e in before_reset)
        after = [next(events), next(events)]
        assert [e.type for e in after] == [EventType.ADDED, EventType.INITIAL_STATE_COMPLETE]
        assert after[0].sandbox is not None
        assert after[0].sandbox.spec.name == name
        assert after[0].sandbox.spec.env["STEP"] == "2"

        # The new stream goes on with changes.
        client.update_env(name, {"STEP": "3"})
        for event in events:
            assert event.type == EventType.MODIFIED
            assert event.sandbox is not None
            if event.sandbox.spec.env["STEP"] == "3":
                break
        events.close()
    finally:
        client.delete(name, allow_missing=True)
