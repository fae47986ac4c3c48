"""Stopping and starting the scheduler and the event store in the middle of running executions."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

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
