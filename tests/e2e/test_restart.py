"""Stopping and starting the scheduler and the event store in the middle of running executions."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from nats.aio.msg import Msg

from services.event_store.service import EventStoreService
from services.policy.service import PolicyService
from services.scheduler.service import SchedulerService
from services.worker.service import WorkerService
from tests.e2e import workflows
from tests.e2e.stack import Stack, assert_gapless
from tests.harness import running
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def test_restart_scheduler_and_event_store_mid_run(stack: Stack) -> None:
    env = stack.env()
    async with contextlib.AsyncExitStack() as always:
        await always.enter_async_context(running(PolicyService.from_env(env)))
        await always.enter_async_context(running(WorkerService.from_env(env)))
        async with running(SchedulerService.from_env(env)), running(EventStoreService.from_env(env)):
            await stack.register(workflows.slow_chain(4))
            execution_ids = list(await asyncio.gather(*(stack.start("slow_chain") for _ in range(50))))
            await eventually(lambda: _completed_nodes(stack, execution_ids) >= 40, timeout=60)
            assert len(stack.recorder.terminal) < len(execution_ids), "restart must happen mid-run"
        # Both are down; workers go on finishing nodes, whose events wait in the stream.
        finished_before = len(stack.recorder.terminal)
        await eventually(lambda: _completed_nodes(stack, execution_ids) >= 80, timeout=60)
        assert len(stack.recorder.terminal) == finished_before, "with no scheduler nothing can finish"
        async with running(SchedulerService.from_env(env)), running(EventStoreService.from_env(env)):
            await stack.all_terminal(execution_ids, timeout=120)
            await stack.postgres_matches_stream(execution_ids)
    assert all(stack.recorder.terminal[e] == "workflow_completed" for e in execution_ids)
    assert_gapless(stack, execution_ids)
    for execution_id in execution_ids:
        kinds = stack.recorder.kinds(execution_id)
        assert kinds.count("node_completed") == 4 and kinds.count("node_scheduled") == 4, kinds
        assert kinds.count("workflow_completed") == 1


def _completed_nodes(stack: Stack, execution_ids: list[str]) -> int:
    return sum(stack.recorder.kinds(e).count("node_completed") for e in execution_ids)


# ---- nodes the scheduler holds (wait, human_approval) across its restart -------------------------------

HELD = {"wait_external_event": "hold", "gated": "ask"}
"""Workflow → its node that the scheduler holds (no worker ever runs it)."""


def _signal(execution_id: str, key: str) -> tuple[str, dict[str, Any]]:
    body = {"execution_id": execution_id, "correlation_key": key, "payload": {"paid": 42}}
    return "jamjet.cmd.signals", body


def _resolve(workflow_id: str, execution_id: str) -> tuple[str, dict[str, Any]]:
    """The command that resolves the held node of ``execution_id``."""
    if workflow_id == "gated":
        body = {"execution_id": execution_id, "decision": "approved", "user_id": "alice"}
        return "jamjet.cmd.approvals", body
    return _signal(execution_id, "payment")


def _held(stack: Stack, execution_id: str, node_id: str) -> bool:
    marker = "tool_approval_required" if node_id == "ask" else "node_scheduled"
    return any(
        e["kind"]["type"] == marker and e["kind"].get("node_id") == node_id
        for e in stack.recorder.events[execution_id]
    )


async def _work_items(stack: Stack) -> list[tuple[str, str]]:
    """(execution_id, node_id) of every work item published from now on."""
    seen: list[tuple[str, str]] = []

    async def on_item(msg: Msg) -> None:
        item = json.loads(msg.data)
        seen.append((item["execution_id"], item["node"]["id"]))

    await stack.nc.subscribe("jamjet.work.>", cb=on_item)
    await stack.nc.flush()
    return seen


async def test_held_nodes_resolve_once_across_a_scheduler_restart(stack: Stack) -> None:
    """A signal or approval sent while the scheduler is down, or after an unrelated command, resolves the
    held node once, and no worker is ever given it (regression: the restarted scheduler republished it)."""
    env = stack.env()
    work_items = await _work_items(stack)
    async with contextlib.AsyncExitStack() as always:
        await always.enter_async_context(running(EventStoreService.from_env(env)))
        await always.enter_async_context(running(PolicyService.from_env(env)))
        await always.enter_async_context(running(WorkerService.from_env(env)))
        async with running(SchedulerService.from_env(env)):
            await stack.register(workflows.waiting("external_event"))
            await stack.register(workflows.approval())
            runs = [(wf, await stack.start(wf)) for wf in HELD for _ in range(2)]
            for wf, execution_id in runs:
                await eventually(lambda wf=wf, e=execution_id: _held(stack, e, HELD[wf]))
        while_down, after = runs[::2], runs[1::2]
        for wf, execution_id in while_down:
            subject, body = _resolve(wf, execution_id)
            await stack.nc.publish(subject, json.dumps(body).encode())
        await stack.nc.flush()
        async with running(SchedulerService.from_env(env)):
            for wf, execution_id in after:
                unrelated = await stack.ask(*_signal(execution_id, "unrelated"))
                assert unrelated["accepted"] is True
                await stack.ask(*_resolve(wf, execution_id))
            await stack.all_terminal([e for _, e in runs])
    assert [(e, n) for e, n in work_items if n in HELD.values()] == []
    for wf, execution_id in runs:
        held = [
            e["kind"] for e in stack.recorder.events[execution_id] if e["kind"].get("node_id") == HELD[wf]
        ]
        assert [k["type"] for k in held if k["type"] != "node_scheduled"] in (
            ["node_completed"],
            ["tool_approval_required", "approval_received", "node_completed"],
        ), held
        assert stack.recorder.terminal[execution_id] == "workflow_completed", stack.recorder.kinds(
            execution_id
        )
    assert_gapless(stack, [e for _, e in runs])
