"""What a worker checks before it acts on a cancel notice or runs a work item (real NATS, no worker)."""

from __future__ import annotations

import msgspec
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common import streams, subjects
from jamjet_common.events import NodeStarted, WorkflowCancelled
from jamjet_common.messages import CancelNotice
from services.worker.cancellation import Cancellations
from services.worker.provenance import CancelNotices, WorkflowNodes
from tests.worker.builders import fn_node
from tests.worker.conftest import Dispatcher


async def test_a_cancel_notice_is_taken_only_for_its_own_terminal_event(
    nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    item = await dispatcher.schedule(fn_node("greet"))
    other = await dispatcher.schedule(fn_node("greet"))
    log, tenant = dispatcher.log, item.tenant
    running = await log.append(
        tenant, item.execution_id, NodeStarted(node_id="step", worker_id="w", attempt=0)
    )
    ended = await log.append(tenant, other.execution_id, WorkflowCancelled(reason="test"))
    notices = CancelNotices(nc, js, Cancellations())

    async def refusal(at: int, execution_id: str = item.execution_id) -> str | None:
        notice = CancelNotice(execution_id=item.execution_id, tenant=tenant, terminal_stream_seq=at)
        return await notices.refusal(subjects.cancel(tenant, execution_id), notice)

    assert "does not end the execution" in str(await refusal(running.tail.stream_seq))
    assert "not an event of this execution" in str(await refusal(ended.tail.stream_seq))
    assert "no event at stream sequence" in str(await refusal(10**9))
    own = await log.append(tenant, item.execution_id, WorkflowCancelled(reason="test"))
    assert "came on" in str(await refusal(own.tail.stream_seq, other.execution_id))
    assert await refusal(own.tail.stream_seq) is None


async def test_a_work_item_runs_only_as_its_workflow_s_node(
    js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    item = await dispatcher.schedule(fn_node("greet"))
    nodes = WorkflowNodes(await js.key_value(streams.KV_WORKFLOWS))
    assert "is not registered" in str(await nodes.refusal(item))
    registered = msgspec.structs.replace(item, workflow_version="1.0.0-provenance")
    await dispatcher.register(registered)
    assert await nodes.refusal(registered) is None
    changed = msgspec.structs.replace(registered, node=fn_node("fail"))
    assert "differs from its definition" in str(await nodes.refusal(changed))
    renamed = msgspec.structs.replace(registered, node=fn_node("greet", node_id="evil"))
    assert "'evil' is not a node of" in str(await nodes.refusal(renamed))
