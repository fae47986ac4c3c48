"""The worker's pulls: never more items asked for or held than free slots, none on an item's path."""

from __future__ import annotations

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common import streams
from services.policy.service import PolicyService
from services.worker.service import consumer_name
from tests.helpers import eventually
from tests.pulls import PullRequests, waiting
from tests.worker import fns
from tests.worker.builders import fn_node
from tests.worker.conftest import Dispatcher, WorkerFactory
from tests.worker.support import key, outcome, tags

HOLD = fn_node("hold")
QUEUE = HOLD.kind.queue_type
CONSUMER = consumer_name(QUEUE)


async def counts(js: JetStreamContext) -> tuple[int, int, int]:
    """Items delivered and unsettled, items not delivered yet, pull requests waiting."""
    info = await js.consumer_info(streams.WORK, CONSUMER)
    return info.num_ack_pending, info.num_pending or 0, info.num_waiting or 0


async def unsettled(js: JetStreamContext, count: int) -> bool:
    return (await counts(js))[0] == count


async def idle(js: JetStreamContext) -> bool:
    return await waiting(js, streams.WORK, CONSUMER) == 1


async def test_a_worker_holds_no_more_items_than_it_runs(
    policy: PolicyService, start_worker: WorkerFactory, dispatcher: Dispatcher, js: JetStreamContext, nc: NATS
) -> None:
    k = key()
    requests = await PullRequests.watch(nc, streams.WORK, CONSUMER)
    async with start_worker(JAMJET_WORKER_QUEUES=QUEUE, JAMJET_WORKER_CONCURRENCY="2"):
        await eventually(lambda: idle(js), message="the worker has no pull request out")
        before = len(await requests.seen())
        items = [await dispatcher.dispatch(HOLD, {"key": k}) for _ in range(5)]
        await eventually(lambda: fns.running[k] == 2, message="two nodes never ran")
        # Both slots run: nothing more is asked for, and the other three items stay with the server.
        assert await counts(js) == (2, 3, 0)
        assert fns.running[k] == 2
        fns.gates[k].set()
        for item in items:
            assert tags(await outcome(dispatcher, item)) == ["node_started", "node_completed"]
        await eventually(lambda: idle(js), message="the worker has no pull request out after the burst")
        burst = len(await requests.seen()) - before
    assert fns.peak[k] == 2
    assert (await js.consumer_info(streams.WORK, CONSUMER)).num_redelivered == 0
    print(f"pull requests for a burst of 5 items at concurrency 2: {burst}")
    assert burst <= 2 * len(items)


async def test_an_item_reaches_an_idle_worker_on_the_pull_request_already_out(
    policy: PolicyService, start_worker: WorkerFactory, dispatcher: Dispatcher, js: JetStreamContext, nc: NATS
) -> None:
    requests = await PullRequests.watch(nc, streams.WORK, CONSUMER)
    async with start_worker(JAMJET_WORKER_QUEUES=QUEUE, JAMJET_WORKER_CONCURRENCY="1"):
        per_item = []
        for _ in range(3):
            k = key()
            await eventually(lambda: idle(js), message="the worker has no pull request out")
            # The last item's ack, held back a little (jamjet_common.held_ack), is out.
            await eventually(lambda: unsettled(js, 0), message="the last item was never acknowledged")
            before = len(await requests.seen())
            item = await dispatcher.dispatch(HOLD, {"key": k})
            await eventually(lambda k=k: fns.running[k] == 1, message="the node never ran")
            # Its one slot taken, the worker asks for nothing until the node is done.
            assert await counts(js) == (1, 0, 0)
            assert len(await requests.seen()) == before
            fns.gates[k].set()
            assert tags(await outcome(dispatcher, item)) == ["node_started", "node_completed"]
            await eventually(lambda: idle(js), message="the worker has no pull request out after the item")
            per_item.append(len(await requests.seen()) - before)
    assert per_item == [1, 1, 1]
