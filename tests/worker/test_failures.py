"""Failure semantics through a running worker: which failures are retried, when, and what is left after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common import streams, subjects
from jamjet_common.codec import ENCODER
from jamjet_common.config import Env
from jamjet_common.eventlog import MSG_ID
from jamjet_common.events import (
    Exhaustion,
    NodeCancelled,
    NodeFailed,
    NodeStarted,
    RetryScheduled,
    WorkflowCancelled,
)
from jamjet_common.ir import RetryPolicy
from jamjet_common.messages import CancelNotice
from jamjet_common.subjects import new_execution_id
from services.policy.service import PolicyService
from services.worker.history import Attempt
from services.worker.service import WorkerService, consumer_name
from services.worker.settle import DONE, DROP, Verdict
from tests.harness import running, service_env
from tests.helpers import eventually
from tests.worker import fns
from tests.worker.builders import fn_node
from tests.worker.conftest import Dispatcher, WorkerFactory
from tests.worker.support import RETRIED_ONCE, dead_letters, key, outcome, pipeline, queue_empty, tags


def fast_retry(max_attempts: int = 3, retryable_on: list[Any] | None = None) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=max_attempts,
        backoff="fixed",
        initial_delay=0.05,
        max_delay=0.05,
        retryable_on=retryable_on or [],
    )


def starts(events: list[Any]) -> list[int]:
    return [e.kind.attempt for e in events if isinstance(e.kind, NodeStarted)]


async def notify_cancelled(nc: NATS, d: Dispatcher, tenant: str, execution_id: str) -> None:
    """What the scheduler does: end the execution in its log, then tell the workers where."""
    ended = await d.log.append(tenant, execution_id, WorkflowCancelled(reason="test"))
    notice = CancelNotice(
        execution_id=execution_id, tenant=tenant, reason="test", terminal_stream_seq=ended.tail.stream_seq
    )
    await nc.publish(subjects.cancel(tenant, execution_id), ENCODER.encode(notice))
    await nc.flush()


# ---- attempts ------------------------------------------------------------------------------------------


async def test_policy_outage_redeliveries_use_up_no_attempts(
    nats_url: str, start_worker: WorkerFactory, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    async with start_worker(JAMJET_POLICY_TIMEOUT_SECS="0.2", JAMJET_POLICY_RETRY_SECS="0.1"):
        state = {"key": k, "fail_times": 1}
        item = await dispatcher.dispatch(fn_node("flaky"), state, retry=fast_retry(max_attempts=2))

        async def delivered_four_times() -> bool:
            info = await js.consumer_info(streams.WORK, consumer_name("python_tool"))
            return info.delivered.consumer_seq >= 4

        await eventually(delivered_four_times, message="the item was not handed back for lack of policy")
        async with running(PolicyService.from_env(Env(service_env(nats_url)))):
            events = await outcome(dispatcher, item)
    # Four deliveries before the first real attempt, and still a second attempt after it failed.
    assert tags(events)[-2:] == ["node_started", "node_completed"]
    assert starts(events) == [0, 1]
    assert fns.calls[k] == 2


async def test_a_shutdown_release_gives_its_attempt_back(
    policy: PolicyService, start_worker: WorkerFactory, dispatcher: Dispatcher
) -> None:
    k = key()
    async with start_worker(JAMJET_INSTANCE_ID="worker-a", JAMJET_SHUTDOWN_GRACE_SECS="0.2"):
        retry = fast_retry(max_attempts=2)
        item = await dispatcher.dispatch(fn_node("hang_then_fail_once"), {"key": k}, retry=retry)
        await eventually(lambda: dispatcher.node_events(item), message="worker-a never started the node")
    async with start_worker(JAMJET_INSTANCE_ID="worker-b"):
        events = await outcome(dispatcher, item)
    # Released, failed, succeeded: three starts under max_attempts=2, because the release did not count.
    assert tags(events)[-1] == "node_completed"
    assert starts(events) == [0, 1, 2]
    failures = [e.kind for e in events if isinstance(e.kind, NodeFailed)]
    assert [f.error for f in failures] == [
        "worker shut down before the node finished",
        "ConnectionError: flaky link",
    ]
    assert all(f.retryable for f in failures)
    assert [f.released for f in failures] == [True, False]


@pytest.mark.parametrize(
    ("error", "released", "verdict"),
    [
        # The field, not the error text, gives the attempt back: reworded text changes nothing...
        ("worker drained for maintenance", True, Verdict.redeliver(0.05)),
        # ...and the original's text alone, without the field, is a failed attempt that counts.
        ("worker shut down before the node finished", False, DROP),
    ],
)
async def test_a_release_is_known_by_its_field_not_its_text(
    policy: PolicyService,
    nc: NATS,
    js: JetStreamContext,
    dispatcher: Dispatcher,
    error: str,
    released: bool,
    verdict: Verdict,
) -> None:
    item = await dispatcher.schedule(fn_node("always_busy"), {"key": key()}, retry=fast_retry(max_attempts=2))
    for kind in (
        NodeStarted(node_id="step", worker_id="gone", attempt=0),
        NodeFailed(node_id="step", error=error, attempt=0, retryable=True, released=released),
    ):
        await dispatcher.log.append(item.tenant, item.execution_id, kind)
    # Attempt 1 fails too: with attempt 0 released it has one left, else the dispatch is exhausted.
    assert await (await pipeline(nc, js)).handle(item, Attempt(), redelivered=True) == verdict


# ---- error classes -------------------------------------------------------------------------------------


async def test_a_retryable_error_outside_retryable_on_fails_at_once(
    worker: WorkerService, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    retry = fast_retry(retryable_on=["timeout", "rate_limit"])
    item = await dispatcher.dispatch(fn_node("always_busy"), {"key": k}, retry=retry)
    events = await outcome(dispatcher, item)
    assert [e.kind for e in events][1:] == [
        NodeFailed(
            node_id="step",
            error="ConnectionError: upstream refused the connection",
            attempt=0,
            retryable=False,
        )
    ]
    assert fns.calls[k] == 1
    await eventually(lambda: queue_empty(js), message="the failed item stayed on the WORK stream")
    assert await dead_letters(js) == []


async def test_custom_error_classes_match_custom_entries(
    worker: WorkerService, dispatcher: Dispatcher
) -> None:
    cases: list[tuple[list[Any], bool]] = [
        ([], True),
        ([{"custom": "quota"}], True),
        (["io_error", {"custom": "other"}], False),
    ]
    items = [
        await dispatcher.dispatch(
            fn_node("fail_with_class"),
            {"key": key(), "class": "quota", "fail_times": 1},
            retry=fast_retry(retryable_on=retryable_on),
        )
        for retryable_on, _ in cases
    ]
    for item, (retryable_on, retried) in zip(items, cases, strict=True):
        events = await outcome(dispatcher, item)
        if retried:
            assert tags(events) == RETRIED_ONCE, retryable_on
        else:
            fatal = NodeFailed(node_id="step", error="classified failure", attempt=0, retryable=False)
            assert [e.kind for e in events][1:] == [fatal], retryable_on


async def test_a_rate_limit_retry_after_wins_over_the_policy_delay(
    worker: WorkerService, dispatcher: Dispatcher
) -> None:
    state = {"key": key(), "retry_after": 1.5}
    item = await dispatcher.dispatch(fn_node("rate_limited"), state, retry=fast_retry())
    events = await outcome(dispatcher, item)
    assert tags(events) == RETRIED_ONCE
    assert events[2].kind == RetryScheduled(node_id="step", attempt=1, delay_ms=1500)
    # The policy would have waited 50 ms; the next attempt started only after the asked-for 1.5 s.
    assert events[3].created_at - events[1].created_at >= timedelta(seconds=1.4)


# ---- dead letters --------------------------------------------------------------------------------------


async def test_an_exhausted_dispatch_is_dead_lettered_and_leaves_the_work_stream(
    worker: WorkerService, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    item = await dispatcher.dispatch(fn_node("always_busy"), {"key": key()}, retry=fast_retry(max_attempts=2))
    fatal = await dispatcher.dispatch(fn_node("broken"), {"key": key()})
    events = await outcome(dispatcher, item)
    await outcome(dispatcher, fatal)
    last_error = "ConnectionError: upstream refused the connection"
    assert events[-1].kind == NodeFailed(
        node_id="step",
        error=f"exhausted 2 attempts: {last_error}",
        attempt=1,
        retryable=False,
        exhausted=Exhaustion(attempts=2, last_error=last_error),
    )
    await eventually(lambda: queue_empty(js), message="items stayed on the WORK stream")
    assert (await js.stream_info(streams.WORK)).state.messages == 0
    # Only the exhausted dispatch is a dead letter; the fatal failure is the node's, recorded in the log.
    [(record, headers)] = await dead_letters(js)
    assert (record.item, record.attempts, record.last_error) == (item, 2, last_error)
    assert record.worker_id == worker.worker_id
    assert headers[MSG_ID] == f"{item.item_id}:dead"


# ---- cancellation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["slow", "sleepy"])
async def test_a_cancel_notice_stops_a_running_node_promptly(
    worker: WorkerService, dispatcher: Dispatcher, nc: NATS, js: JetStreamContext, function: str
) -> None:
    item = await dispatcher.dispatch(fn_node(function), {"key": key(), "secs": 20})
    await eventually(lambda: dispatcher.node_events(item), message="the node never started")
    await notify_cancelled(nc, dispatcher, item.tenant, item.execution_id)
    events = await outcome(dispatcher, item, timeout=5)
    assert [e.kind for e in events][2:] == [NodeCancelled(node_id="step")]
    # Well before the node's natural end (20 s).
    assert events[2].created_at - events[0].created_at < timedelta(seconds=5)
    await eventually(lambda: queue_empty(js), message="the cancelled item stayed on the WORK stream")


async def test_an_item_of_a_cancelled_execution_delivered_later_is_not_run(
    worker: WorkerService, dispatcher: Dispatcher, nc: NATS, js: JetStreamContext
) -> None:
    k = key()
    execution_id = new_execution_id()
    await notify_cancelled(nc, dispatcher, "default", execution_id)
    await eventually(lambda: worker.cancellations.cancelled(execution_id), message="the notice never arrived")
    item = await dispatcher.dispatch(fn_node("greet"), {"name": "x", "key": k}, execution_id=execution_id)
    events = await outcome(dispatcher, item)
    assert [e.kind for e in events] == [NodeCancelled(node_id="step")]
    assert fns.calls[k] == 0
    await eventually(lambda: queue_empty(js), message="the cancelled item stayed on the WORK stream")


async def test_a_redelivery_in_a_cancelled_log_is_cancelled_without_running(
    nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    k = key()
    item = await dispatcher.schedule(fn_node("greet"), {"name": "x", "key": k})
    await dispatcher.log.append(item.tenant, item.execution_id, WorkflowCancelled(reason="user request"))
    assert await (await pipeline(nc, js)).handle(item, Attempt(), redelivered=True) == DONE
    assert (await dispatcher.events(item))[-1].kind == NodeCancelled(node_id="step")
    assert fns.calls[k] == 0
