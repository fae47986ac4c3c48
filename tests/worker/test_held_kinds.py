"""Work items for nodes the scheduler resolves itself (wait, human_approval) are refused unrecorded."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common.ir import HumanApprovalNode, NodeDef, WaitNode
from services.worker.service import WorkerService
from tests.helpers import eventually
from tests.worker.builders import fn_node
from tests.worker.conftest import Dispatcher
from tests.worker.support import decode_dead_letters, key, outcome, queue_empty, tags


async def test_a_held_kind_is_dead_lettered_without_a_start(
    worker: WorkerService, dispatcher: Dispatcher, nc: NATS, js: JetStreamContext
) -> None:
    dead = await decode_dead_letters(nc)
    held = [
        NodeDef(id="hold", kind=WaitNode(condition="external_event", correlation_key="go")),
        NodeDef(id="ask", kind=HumanApprovalNode(description="ship it?")),
    ]
    items = [await dispatcher.dispatch(node) for node in held]
    for _ in items:
        record = await asyncio.wait_for(dead.get(), 10)
        assert record["service"] == "worker" and record["subject"] == "jamjet.work.general"
        assert record["error"]["code"] == "held_by_scheduler"
    after = await dispatcher.dispatch(fn_node("greet"), {"name": "after", "key": key()})
    assert tags(await outcome(dispatcher, after)) == ["node_started", "node_completed"]
    for item in items:
        assert tags(await dispatcher.node_events(item)) == []
    await eventually(lambda: queue_empty(js), message="a refused item stayed on the WORK stream")
