"""The typed NATS client (libs/jamjet_client) against the running services."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec
import pytest

from jamjet_client import Conflict, InvalidRequest, NotFound, RuntimeClient, Unavailable
from jamjet_common import subjects
from jamjet_common.config import Env
from jamjet_common.eventlog import EventLog
from jamjet_common.events import WorkflowCompleted
from jamjet_common.streams import StreamLimits, ensure_streams
from tests.e2e import workflows
from tests.e2e.stack import Stack, services
from tests.event_store.logs import append_all, new_id, ran, started
from tests.gateway import sdk_flows
from tests.gateway.support import agent_card
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def test_register_start_result_and_resumed_events(stack: Stack, tmp_path: Path) -> None:
    client = RuntimeClient(stack.nc)
    path = tmp_path / "routed.yaml"
    path.write_bytes(msgspec.yaml.encode(workflows.routed()))
    async with services(stack):
        registered = await client.register(path)
        assert (registered.workflow_id, registered.created) == ("routed", True)
        started = await client.start("routed", {"go_left": True})
        terminal = await client.result(started.execution_id, timeout=30)
        assert isinstance(terminal.kind, WorkflowCompleted)
        assert terminal.kind.final_state["b0"] == 0
        every = [e.sequence async for e in client.events(started.execution_id)]
        assert every == list(range(1, terminal.sequence + 1))
        tail = [e.sequence async for e in client.events(started.execution_id, from_sequence=3)]
        assert tail == every[2:]
        execution = await client.execution(started.execution_id)
        assert (execution.status, execution.workflow_id) == ("completed", "routed")
        page = await client.executions(workflow_id="routed", tenant="default")
        assert [e.execution_id for e in page.executions] == [started.execution_id]


async def test_events_from_the_stream_come_without_the_store(stack: Stack) -> None:
    """No event store runs: the store would never answer, and a follow from the stream still gets every
    event in order, resumes from a sequence, and ends after the terminal one (the gateway's SSE path)."""
    await ensure_streams(stack.nc.jetstream(), StreamLimits.from_env(Env({})))
    execution_id = new_id()
    kinds = [started(), *ran("a"), WorkflowCompleted()]
    appended = await append_all(EventLog(stack.nc, stack.nc.jetstream()), "default", execution_id, kinds)
    client = RuntimeClient(stack.nc, timeout=1)
    async with asyncio.timeout(30):
        every = [e async for e in client.events(execution_id, from_stream=True)]
        tail = [e.sequence async for e in client.events(execution_id, from_sequence=3, from_stream=True)]
        past = [e async for e in client.events(execution_id, from_sequence=5, from_stream=True)]
    assert every == appended
    assert (tail, past) == ([3, 4], [])


async def test_start_with_the_same_id_is_answered_once_created(stack: Stack) -> None:
    client = RuntimeClient(stack.nc)
    async with services(stack):
        await client.register(workflows.routed())
        first = await client.start("routed", execution_id="exec_client_same")
        again = await client.start("routed", execution_id="exec_client_same")
        assert (first.created, again.created) == (True, False)


async def test_errors_are_typed_with_the_reply_code(stack: Stack) -> None:
    client = RuntimeClient(stack.nc)
    async with services(stack):
        with pytest.raises(NotFound) as unknown:
            await client.start("no_such_workflow")
        assert unknown.value.code == "unknown_workflow"
        with pytest.raises(InvalidRequest) as invalid:
            await client.register({"workflow_id": "x"})
        assert invalid.value.code == "invalid_ir"
        await client.register(workflows.approval())
        started = await client.start("gated")
        await eventually(lambda: _pending(client, started.execution_id), message="no approval pending")
        accepted = await client.approve(started.execution_id, user_id="alice", comment="go")
        assert (accepted.node_id, accepted.accepted) == ("ask", True)
        await client.result(started.execution_id, timeout=30)
        with pytest.raises(Conflict) as terminal:
            await client.cancel(started.execution_id)
        assert terminal.value.code == "execution_terminal"
        with pytest.raises(NotFound) as other_tenant:
            await client.cancel(started.execution_id, tenant="someone_else")
        assert other_tenant.value.code == "unknown_execution"


async def test_request_returns_any_reply_as_sent(stack: Stack) -> None:
    client = RuntimeClient(stack.nc)
    async with services(stack):
        refused = await client.request(subjects.CMD_START, {"workflow_id": "no_such_workflow"})
        assert refused["ok"] is False and refused["error"]["code"] == "unknown_workflow"
        malformed = await client.request(subjects.CMD_CANCEL, b"{not json")
        assert malformed["ok"] is False and malformed["error"]["code"] == "malformed_json"
        with pytest.raises(Unavailable) as nobody:
            await client.request("jamjet.nobody.here", {}, timeout=1)
        assert nobody.value.code == "unavailable"


async def _pending(client: RuntimeClient, execution_id: str) -> bool:
    page = await client.approvals(execution_id=execution_id)
    return bool(page.approvals)


async def test_signal_tenants_and_agents(stack: Stack, tmp_path: Path) -> None:
    client = RuntimeClient(stack.nc)
    path = tmp_path / "wait.json"
    path.write_text(json.dumps(workflows.waiting("external_event")))
    async with services(stack):
        await client.register(path)
        started = await client.start("wait_external_event")
        await eventually(
            lambda: (
                "timer_created" in stack.recorder.kinds(started.execution_id)
                or "node_scheduled" in stack.recorder.kinds(started.execution_id)
            )
        )
        accepted = await _signal_until_waiting(client, started.execution_id)
        assert accepted
        terminal = await client.result(started.execution_id, timeout=30)
        assert isinstance(terminal.kind, WorkflowCompleted)
        created = await client.tenants.create("acme", name="Acme")
        assert created["id"] == "acme"
        assert "acme" in [t["id"] for t in await client.tenants.list()]
        agent = await client.agents.register(agent_card())
        assert (await client.agents.change("activate", agent["id"]))["status"] == "active"
        assert [a["id"] for a in await client.agents.list(status="active")] == [agent["id"]]


async def _signal_until_waiting(client: RuntimeClient, execution_id: str) -> bool:
    async def send() -> bool:
        await client.signal(execution_id, "payment", {"amount": 1})
        return True

    return bool(await eventually(send, message="the signal was never accepted"))


async def test_an_sdk_workflow_registers_and_runs(stack: Stack) -> None:
    client = RuntimeClient(stack.nc)
    async with services(stack):
        registered = await client.register(sdk_flows.flow)
        assert (registered.workflow_id, registered.version) == ("sdk_flow", "1.0.0")
        started = await client.start("sdk_flow", {"n": 3})
        terminal = await client.result(started.execution_id, timeout=30)
        assert isinstance(terminal.kind, WorkflowCompleted)
        assert terminal.kind.final_state["n"] == 8
