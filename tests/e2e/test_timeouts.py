"""Workflow timeouts: durable timers that fail an execution, also across a scheduler restart."""

from __future__ import annotations

import contextlib

import pytest

from services.event_store.service import EventStoreService
from services.policy.service import PolicyService
from services.scheduler.service import SchedulerService
from services.worker.service import WorkerService
from tests.e2e import workflows
from tests.e2e.stack import Stack, assert_gapless, services
from tests.harness import running
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def test_a_workflow_over_its_timeout_fails(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.timed(1))
        slow = await stack.start("timed", {"sleep": 30})
        quick = await stack.start("timed", {"sleep": 0.05})
        await stack.all_terminal([slow, quick], timeout=20)
        await eventually(lambda: _work_left(stack), timeout=20, message="work items left behind")
    assert stack.recorder.terminal == {slow: "workflow_failed", quick: "workflow_completed"}
    failed = [e["kind"] for e in stack.recorder.events[slow] if e["kind"]["type"] == "workflow_failed"]
    assert failed == [{"type": "workflow_failed", "error": "workflow timed out after 1s"}]
    assert_gapless(stack, [slow, quick])


async def test_the_timeout_survives_a_scheduler_restart(stack: Stack) -> None:
    env = stack.env()
    async with contextlib.AsyncExitStack() as always:
        for service in (PolicyService, WorkerService, EventStoreService):
            await always.enter_async_context(running(service.from_env(env)))
        async with running(SchedulerService.from_env(env)):
            await stack.register(workflows.timed(2))
            execution_id = await stack.start("timed", {"sleep": 30})
        # The scheduler is down when the timer falls due; it fires once a scheduler is back.
        assert execution_id not in stack.recorder.terminal
        async with running(SchedulerService.from_env(env)):
            await stack.all_terminal([execution_id], timeout=20)
    assert stack.recorder.terminal[execution_id] == "workflow_failed"


async def _work_left(stack: Stack) -> bool:
    info = await stack.nc.jetstream().stream_info("JAMJET_WORK")
    return info.state.messages == 0
