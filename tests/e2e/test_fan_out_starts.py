"""A fan-out's work items say how far the log is known to hold their dispatch open (``WorkItem.open_to``):
the rest of the plan pass that made them. The first worker to start one then appends right after the
pass instead of conflicting with it and reading the log (one conflict and a log read per fan-out)."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg

from jamjet_common.codec import decode
from jamjet_common.messages import LogPosition, WorkItem
from tests.e2e import workflows
from tests.e2e.stack import Stack, services

pytestmark = pytest.mark.e2e


async def test_a_fan_outs_work_items_are_open_to_the_end_of_their_pass(stack: Stack) -> None:
    items: list[WorkItem] = []
    scheduled: dict[tuple[str, str], LogPosition] = {}

    async def on_item(msg: Msg) -> None:
        items.append(decode(msg.data, WorkItem, what="work item"))

    async def on_event(msg: Msg) -> None:
        item = decode(msg.data, dict)
        if item["kind"]["type"] == "node_scheduled" and msg.headers:
            position = LogPosition(sequence=item["sequence"], stream_seq=int(msg.headers["Nats-Sequence"]))
            scheduled[(item["execution_id"], item["kind"]["node_id"])] = position

    work = await stack.nc.subscribe("jamjet.work.>", cb=on_item)
    events = await stack.nc.subscribe("jamjet.events.>", cb=on_event)
    try:
        async with services(stack, workers=1):  # every node a work item: no inline runs
            await stack.register(workflows.diamond10())
            execution_id = await stack.start("diamond10")
            await stack.all_terminal([execution_id])
    finally:
        await work.unsubscribe()
        await events.unsubscribe()
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    branches = [i for i in items if i.execution_id == execution_id and i.node_id.startswith("b")]
    assert sorted(i.node_id for i in branches) == [f"b{i}" for i in range(workflows.BRANCHES)]
    pass_end = max(scheduled[(execution_id, i.node_id)].stream_seq for i in branches)
    for item in branches:
        assert item.scheduled_at == scheduled[(execution_id, item.node_id)]
        assert item.open_to is not None and item.open_to.stream_seq == pass_end
    lone = [i for i in items if i.execution_id == execution_id and not i.node_id.startswith("b")]
    assert lone and all(i.open_to == i.scheduled_at for i in lone), "a lone dispatch ends its pass"
