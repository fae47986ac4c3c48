"""Two scheduler replicas at once: no double dispatch, every execution completes, logs stay gapless."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest

from services.event_store.service import EventStoreService
from services.policy.service import PolicyService
from services.scheduler.service import SchedulerService
from services.worker.service import WorkerService
from tests.e2e import workflows
from tests.e2e.stack import Stack, assert_gapless
from tests.harness import running

pytestmark = pytest.mark.e2e


async def test_two_scheduler_replicas_never_dispatch_a_node_twice(stack: Stack) -> None:
    env = stack.env()
    replicas = [SchedulerService.from_env(stack.env(JAMJET_INSTANCE_ID=f"scheduler-{i}")) for i in range(2)]
    async with contextlib.AsyncExitStack() as services:
        for service in (EventStoreService.from_env(env), PolicyService.from_env(env), *replicas):
            await services.enter_async_context(running(service))
        for i in range(2):
            worker = WorkerService.from_env(stack.env(JAMJET_INSTANCE_ID=f"worker-{i}"))
            await services.enter_async_context(running(worker))
        await stack.register(workflows.diamond10())
        await stack.register(workflows.routed())
        starts = [stack.start("diamond10") for _ in range(60)]
        starts += [stack.start("routed", {"go_left": i % 2 == 0}) for i in range(40)]
        execution_ids = list(await asyncio.gather(*starts))
        await stack.all_terminal(execution_ids, timeout=180)
        await stack.postgres_matches_stream(execution_ids)
        handled = [r.executions.lanes for r in replicas if r.executions is not None]
        assert len(handled) == 2
    assert_gapless(stack, execution_ids)
    for execution_id in execution_ids:
        events = stack.recorder.events[execution_id]
        scheduled = Counter(e["kind"]["node_id"] for e in events if e["kind"]["type"] == "node_scheduled")
        assert all(count == 1 for count in scheduled.values()), (execution_id, scheduled)
        assert stack.recorder.kinds(execution_id).count("workflow_completed") == 1
