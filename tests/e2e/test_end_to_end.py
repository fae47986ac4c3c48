"""Workflows running through all four services over a real nats-server and Postgres."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e import workflows
from tests.e2e.stack import Stack, assert_gapless, services

pytestmark = pytest.mark.e2e


async def test_ten_node_diamond_completes_with_merged_state(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.diamond10())
        execution_id = await stack.start("diamond10", {"origin": "test"})
        await stack.all_terminal([execution_id])
        # While the store runs: events it had not pulled when it stopped would wait in the stream.
        await stack.postgres_matches_stream([execution_id])
    events = stack.recorder.events[execution_id]
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    final = events[-1]["kind"]["final_state"]
    assert final["total"] == sum(range(workflows.BRANCHES)) and final["origin"] == "test"
    assert all(final[f"b{i}"] == i for i in range(workflows.BRANCHES)) and final["seen_root"] is True
    completed = [e["kind"]["node_id"] for e in events if e["kind"]["type"] == "node_completed"]
    assert completed[0] == "root" and completed[-1] == "join" and len(completed) == 10
    assert_gapless(stack, [execution_id])


async def test_condition_routes_and_join_survives_the_dead_branch(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.routed())
        left = await stack.start("routed", {"go_left": True})
        right = await stack.start("routed", {"go_left": False})
        await stack.all_terminal([left, right])
    for execution_id, taken, dead in ((left, "left", "right"), (right, "right", "left")):
        events = stack.recorder.events[execution_id]
        skipped = [e["kind"]["node_id"] for e in events if e["kind"]["type"] == "node_skipped"]
        done = [e["kind"]["node_id"] for e in events if e["kind"]["type"] == "node_completed"]
        assert skipped == [dead] and taken in done and "join" in done and dead not in done
        assert stack.recorder.terminal[execution_id] == "workflow_completed"


async def test_a_failing_node_fails_the_workflow(stack: Stack) -> None:
    ir = workflows.workflow([workflows.fn("a", "fail", "tests.fns")], [("a", "end")], wf="failing")
    async with services(stack):
        await stack.register(ir)
        execution_id = await stack.start("failing")
        await stack.all_terminal([execution_id])
    last = stack.recorder.events[execution_id][-1]["kind"]
    assert last == {"type": "workflow_failed", "error": "node(s) failed terminally: a"}


async def test_two_hundred_executions_at_once_all_complete_gapless_and_stored(stack: Stack) -> None:
    async with services(stack, workers=2):
        await stack.register(workflows.diamond10())
        await stack.register(workflows.routed())
        starts = [stack.start("diamond10") for _ in range(100)]
        starts += [stack.start("routed", {"go_left": i % 2 == 0}) for i in range(100)]
        execution_ids = list(await asyncio.gather(*starts))
        await stack.all_terminal(execution_ids, timeout=240)
        await stack.postgres_matches_stream(execution_ids)
    assert len(set(execution_ids)) == 200
    assert all(stack.recorder.terminal[e] == "workflow_completed" for e in execution_ids)
    assert_gapless(stack, execution_ids)
    for execution_id in execution_ids:
        kinds = stack.recorder.kinds(execution_id)
        assert kinds.count("workflow_completed") == 1 and kinds[0] == "workflow_started"
