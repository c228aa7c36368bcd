"""AsyncClient against a real sandboxd: the same contract as Client, as coroutines."""

from __future__ import annotations

import asyncio

import grpc
import pytest

import sandboxd
from sandboxd import EventType, Phase

from conftest import (
    PHASE_TIMEOUT,
    live_env,
    restart_sandboxd,
    unique_name,
    until_available_async,
)


@pytest.mark.asyncio
async def test_async_lifecycle() -> None:
    live_env("SANDBOXD_ADDR")
    name = unique_name("py-alife")
    async with sandboxd.AsyncClient() as client:
        created = await client.create(name, env={"A": "1"})
        assert created.spec.name == name
        running = await client.wait_until(name, Phase.RUNNING, timeout=PHASE_TIMEOUT)
        assert running.phase == Phase.RUNNING

        updated = await client.update_env(name, {"B": "2"}, remove=["A"])
        assert dict(updated.spec.env) == {"B": "2"}
        assert name in [s.spec.name for s in await client.list()]

        await client.stop(name)
        stopped = await client.wait_until(name, Phase.STOPPED, timeout=PHASE_TIMEOUT)
        assert stopped.desired_replicas == 0
        await client.start(name)
        await client.wait_until(name, Phase.RUNNING, timeout=PHASE_TIMEOUT)

        await client.delete(name)
        await client.wait_until_deleted(name, timeout=PHASE_TIMEOUT)
        with pytest.raises(sandboxd.SandboxNotFound) as missing:
            await client.get(name)
        assert (missing.value.code, missing.value.reason) == (
            grpc.StatusCode.NOT_FOUND,
            "SANDBOX_NOT_FOUND",
        )


@pytest.mark.asyncio
async def test_async_typed_errors() -> None:
    live_env("SANDBOXD_ADDR")
    async with sandboxd.AsyncClient() as client:
        with pytest.raises(sandboxd.InvalidArgument) as raised:
            await client.create("Not_A_DNS_Label")
        assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.reason == "INVALID_FIELD"
        assert raised.value.metadata["field"] == "spec.name"
        assert [v.field for v in raised.value.field_violations] == ["spec.name"]

        with pytest.raises(sandboxd.SandboxNotFound):
            await client.update_env(unique_name("py-amissing"), {"A": "1"})
        with pytest.raises(sandboxd.DeadlineExceeded):
            await client.wait_until(unique_name("py-never"), Phase.RUNNING, timeout=0.000001)


@pytest.mark.asyncio
async def test_async_watch_survives_a_restart() -> None:
    live_env("SANDBOXD_ADDR")
    name = unique_name("py-arestart")
    async with sandboxd.AsyncClient() as client:
        await client.create(name, env={"STEP": "1"})
        try:
            events = client.watch(name)
            initial = [await anext(events), await anext(events)]
            assert [e.type for e in initial] == [EventType.ADDED, EventType.INITIAL_STATE_COMPLETE]

            await asyncio.to_thread(restart_sandboxd)
            await until_available_async(lambda: client.update_env(name, {"STEP": "2"}))

            event = await anext(events)
            while event.type != EventType.RESET:
                assert event.type == EventType.MODIFIED
                event = await anext(events)
            after = [await anext(events), await anext(events)]
            assert [e.type for e in after] == [EventType.ADDED, EventType.INITIAL_STATE_COMPLETE]
            assert after[0].sandbox is not None
            assert after[0].sandbox.spec.env["STEP"] == "2"
            await events.aclose()
        finally:
            await client.delete(name, allow_missing=True)
