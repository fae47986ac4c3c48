"""The worker through a real nats-server, with the real policy service answering."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common import streams, subjects
from jamjet_common.codec import ENCODER
from jamjet_common.config import Env
from jamjet_common.events import (
    Exhaustion,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    PolicyViolation,
    RetryScheduled,
    ToolApprovalRequired,
)
from jamjet_common.ir import NodeDef, PolicySetIr, RetryPolicy
from jamjet_common.records import new_tenant
from jamjet_common.subjects import new_execution_id
from services.policy.service import PolicyService
from services.worker.history import Attempt
from services.worker.service import WorkerService, consumer_name
from services.worker.settle import DONE, DROP
from tests.harness import running, service_env
from tests.helpers import eventually
from tests.worker import fns
from tests.worker.builders import GOVERNED, cond_node, fn_node, work_item
from tests.worker.conftest import Dispatcher, WorkerFactory
from tests.worker.support import decode_dead_letters, key, outcome, pipeline, queue_empty, tags

FAST_RETRY = RetryPolicy(max_attempts=3, backoff="fixed", initial_delay=0.1, max_delay=1)


async def test_python_fn_node_completes_with_its_state_patch(
    worker: WorkerService, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    item = await dispatcher.dispatch(fn_node("greet"), {"name": "ada", "key": k})
    events = await outcome(dispatcher, item)
    assert tags(events) == ["node_started", "node_completed"]
    started, completed = events[0].kind, events[1].kind
    assert started == NodeStarted(node_id="step", worker_id=worker.worker_id, attempt=0)
    assert isinstance(completed, NodeCompleted)
    assert completed.state_patch == {"greeting": "hello ada", "greeted_by": "sync"}
    assert completed.output == completed.state_patch
    assert fns.calls[k] == 1
    await eventually(lambda: queue_empty(js), message="the completed item stayed on the WORK stream")


async def test_condition_node_reports_the_chosen_branch(
    worker: WorkerService, dispatcher: Dispatcher
) -> None:
    node = cond_node([('state.tier == "gold"', "vip"), (None, "standard")])
    item = await dispatcher.dispatch(node, {"tier": "gold"})
    completed = (await outcome(dispatcher, item))[-1].kind
    assert isinstance(completed, NodeCompleted)
    assert completed.output == {"chosen_target": "vip", "branch_targets": ["vip", "standard"]}
    assert completed.state_patch == {}


async def test_node_kind_without_executor_fails_for_good(
    worker: WorkerService, dispatcher: Dispatcher
) -> None:
    # Not wait or human_approval: work items for those are refused unrecorded (test_held_kinds.py).
    node = msgspec.convert({"id": "ask", "kind": {"type": "limit_exceeded"}}, NodeDef)
    item = await dispatcher.dispatch(node)
    failed = (await outcome(dispatcher, item))[-1].kind
    assert failed == NodeFailed(
        node_id="ask",
        error="no executor for node kind 'limit_exceeded' on this worker",
        attempt=0,
        retryable=False,
    )


async def test_fatal_error_fails_the_node_once_and_drops_the_item(
    worker: WorkerService, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    item = await dispatcher.dispatch(fn_node("broken"), {"key": k}, retry=FAST_RETRY)
    events = await outcome(dispatcher, item)
    assert tags(events) == ["node_started", "node_failed"]
    assert events[1].kind == NodeFailed(
        node_id="step", error="ValueError: the input makes no sense", attempt=0, retryable=False
    )
    await eventually(lambda: queue_empty(js), message="the failed item stayed on the WORK stream")
    assert fns.calls[k] == 1


async def test_retryable_errors_are_retried_until_success(
    worker: WorkerService, dispatcher: Dispatcher
) -> None:
    k = key()
    item = await dispatcher.dispatch(fn_node("flaky"), {"key": k, "fail_times": 2}, retry=FAST_RETRY)
    events = await outcome(dispatcher, item)
    assert tags(events) == [
        "node_started", "node_failed", "retry_scheduled",
        "node_started", "node_failed", "retry_scheduled",
        "node_started", "node_completed",
    ]  # fmt: skip
    failures = [e.kind for e in events if isinstance(e.kind, NodeFailed | RetryScheduled)]
    assert failures == [
        NodeFailed(node_id="step", error="upstream busy", attempt=0, retryable=True),
        RetryScheduled(node_id="step", attempt=1, delay_ms=100),
        NodeFailed(node_id="step", error="upstream busy", attempt=1, retryable=True),
        RetryScheduled(node_id="step", attempt=2, delay_ms=100),
    ]
    assert [e.kind.attempt for e in events if isinstance(e.kind, NodeStarted)] == [0, 1, 2]
    assert events[-1].kind.state_patch == {"flaky_done": True}  # type: ignore[union-attr]
    assert fns.calls[k] == 3


async def test_exhausted_attempts_fail_the_node_with_the_last_error(
    worker: WorkerService, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    retry = RetryPolicy(max_attempts=2, backoff="fixed", initial_delay=0.1)
    item = await dispatcher.dispatch(fn_node("always_busy"), {"key": k}, retry=retry)
    events = await outcome(dispatcher, item)
    assert tags(events) == ["node_started", "node_failed", "retry_scheduled", "node_started", "node_failed"]
    assert events[-1].kind == NodeFailed(
        node_id="step",
        error="exhausted 2 attempts: ConnectionError: upstream refused the connection",
        attempt=1,
        retryable=False,
        exhausted=Exhaustion(attempts=2, last_error="ConnectionError: upstream refused the connection"),
    )
    await eventually(lambda: queue_empty(js), message="the exhausted item stayed on the WORK stream")
    assert fns.calls[k] == 2


async def test_node_timeout_counts_as_a_retryable_failure(
    worker: WorkerService, dispatcher: Dispatcher
) -> None:
    retry = RetryPolicy(max_attempts=1)
    item = await dispatcher.dispatch(
        fn_node("slow"), {"key": key(), "secs": 30}, retry=retry, timeout_secs=0.3
    )
    failed = (await outcome(dispatcher, item))[-1].kind
    assert failed == NodeFailed(
        node_id="step",
        error="exhausted 1 attempts: node timed out after 0.3s",
        attempt=0,
        retryable=False,
        exhausted=Exhaustion(attempts=1, last_error="node timed out after 0.3s"),
    )


async def test_heartbeats_keep_the_lease_of_a_node_slower_than_the_lease(
    policy: PolicyService, start_worker: WorkerFactory, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    async with start_worker(JAMJET_LEASE_SECS="1"):
        item = await dispatcher.dispatch(fn_node("slow"), {"key": k, "secs": 3})
        events = await outcome(dispatcher, item)
    assert tags(events) == ["node_started", "node_completed"]
    assert fns.calls[k] == 1
    info = await js.consumer_info(streams.WORK, consumer_name("python_tool"))
    assert info.num_redelivered == 0
    assert info.config.ack_wait == 1


async def test_policy_block_records_the_violation_and_fails_the_node(
    worker: WorkerService, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    blocked = PolicySetIr(blocked_tools=["tests.worker.fns.*"])
    item = await dispatcher.dispatch(fn_node("greet"), {"name": "x", "key": k}, workflow_policy=blocked)
    events = await outcome(dispatcher, item)
    assert tags(events) == ["node_started", "policy_violation", "node_failed"]
    rule = "tool 'tests.worker.fns.greet' matches blocked pattern 'tests.worker.fns.*'"
    assert events[1].kind == PolicyViolation(
        node_id="step", rule=rule, decision="blocked", policy_scope="workflow"
    )
    assert events[2].kind == NodeFailed(
        node_id="step", error=f"blocked by policy: {rule}", attempt=0, retryable=False
    )
    assert fns.calls[k] == 0
    await eventually(lambda: queue_empty(js), message="the blocked item stayed on the WORK stream")


async def test_approval_required_holds_the_node_until_a_human_approved_it(
    worker: WorkerService, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k, later = key(), key()
    node = msgspec.structs.replace(fn_node("greet"), policy=PolicySetIr(require_approval_for=["*.greet"]))
    item = await dispatcher.dispatch(node, {"name": "x", "key": k})
    approved = await dispatcher.dispatch(node, {"name": "y", "key": later}, approved_by="alice")
    assert tags(await outcome(dispatcher, approved)) == ["node_started", "node_completed"]
    assert fns.calls[later] == 1
    events = await outcome(dispatcher, item)
    assert tags(events) == ["node_started", "tool_approval_required"]
    assert events[1].kind == ToolApprovalRequired(
        node_id="step", tool_name="tests.worker.fns.greet", approver="human", context={"node_id": "step"}
    )
    assert fns.calls[k] == 0
    await eventually(lambda: queue_empty(js), message="the held item stayed on the WORK stream")


async def test_undecodable_item_goes_to_the_dlq_and_the_worker_keeps_working(
    worker: WorkerService, dispatcher: Dispatcher, nc: NATS, js: JetStreamContext
) -> None:
    dead = await decode_dead_letters(nc)
    await js.publish(subjects.work("python_tool"), b"{this is not a work item")
    record = await asyncio.wait_for(dead.get(), 10)
    assert record["subject"] == "jamjet.work.python_tool"
    assert record["service"] == "worker"
    assert record["payload"] == "{this is not a work item"
    assert "not valid JSON" in record["error"]["message"]
    assert record["error"]["code"] == "malformed_json"
    assert isinstance(record["stream_seq"], int)

    item = await dispatcher.dispatch(fn_node("greet"), {"name": "after", "key": key()})
    assert tags(await outcome(dispatcher, item)) == ["node_started", "node_completed"]
    await eventually(lambda: queue_empty(js), message="the undecodable item stayed on the WORK stream")


async def test_node_waits_for_the_policy_service_without_running(
    nats_url: str, start_worker: WorkerFactory, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    async with start_worker(JAMJET_POLICY_TIMEOUT_SECS="0.5", JAMJET_POLICY_RETRY_SECS="0.2"):
        item = await dispatcher.dispatch(
            fn_node("greet"), {"name": "later", "key": k}, workflow_policy=GOVERNED
        )

        async def redelivered() -> bool:
            info = await js.consumer_info(streams.WORK, consumer_name("python_tool"))
            return info.num_redelivered >= 1 or info.delivered.consumer_seq >= 3

        await eventually(redelivered, message="the item was never handed back for lack of policy")
        assert await dispatcher.node_events(item) == []
        assert fns.calls[k] == 0
        async with running(PolicyService.from_env(Env(service_env(nats_url)))):
            events = await outcome(dispatcher, item)
    assert tags(events) == ["node_started", "node_completed"]
    assert fns.calls[k] == 1


async def test_a_node_on_which_nothing_applies_runs_without_asking_the_policy_service(
    start_worker: WorkerFactory, dispatcher: Dispatcher
) -> None:
    # No policy service runs: the default tenant, the workflow and the node have no policy set.
    k = key()
    async with start_worker():
        item = await dispatcher.dispatch(fn_node("greet"), {"name": "free", "key": k})
        events = await outcome(dispatcher, item)
    assert tags(events) == ["node_started", "node_completed"]
    assert fns.calls[k] == 1


async def test_a_tenant_policy_makes_the_worker_wait_for_the_policy_service(
    nats_url: str, start_worker: WorkerFactory, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k, tenant = key(), f"t{new_execution_id()[-12:]}"
    now = datetime.now(UTC)
    record = new_tenant(id=tenant, name=tenant, policy=GOVERNED, created_at=now, updated_at=now)
    await (await js.key_value(streams.KV_TENANTS)).put(tenant, ENCODER.encode(record))
    async with start_worker(JAMJET_POLICY_TIMEOUT_SECS="0.5", JAMJET_POLICY_RETRY_SECS="0.2"):
        item = await dispatcher.dispatch(fn_node("greet"), {"name": "governed", "key": k}, tenant=tenant)

        async def redelivered() -> bool:
            info = await js.consumer_info(streams.WORK, consumer_name("python_tool"))
            return info.num_redelivered >= 1

        await eventually(redelivered, message="the node ran without the policy service")
        assert await dispatcher.node_events(item) == []
        async with running(PolicyService.from_env(Env(service_env(nats_url)))):
            events = await outcome(dispatcher, item)
    assert tags(events) == ["node_started", "node_completed"]
    assert fns.calls[k] == 1


async def test_stopping_releases_running_nodes_for_immediate_redelivery(
    policy: PolicyService, start_worker: WorkerFactory, dispatcher: Dispatcher
) -> None:
    k = key()
    async with start_worker(JAMJET_INSTANCE_ID="worker-a", JAMJET_SHUTDOWN_GRACE_SECS="0.2"):
        item = await dispatcher.dispatch(fn_node("slow_first_time"), {"key": k})
        await eventually(lambda: dispatcher.node_events(item), message="worker-a never started the node")
    async with start_worker(JAMJET_INSTANCE_ID="worker-b"):
        # Well within the 30 s lease: the item came back because worker-a let go of it.
        events = await outcome(dispatcher, item, timeout=10)
    assert tags(events) == ["node_started", "node_failed", "node_started", "node_completed"]
    starts = [e.kind for e in events if isinstance(e.kind, NodeStarted)]
    assert [(s.worker_id, s.attempt) for s in starts] == [("worker-a", 0), ("worker-b", 1)]
    assert events[1].kind == NodeFailed(
        node_id="step",
        error="worker shut down before the node finished",
        attempt=0,
        retryable=True,
        released=True,
    )
    assert fns.calls[k] == 2


async def test_nodes_in_flight_never_exceed_the_concurrency_across_queues(
    policy: PolicyService, start_worker: WorkerFactory, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    async with start_worker(JAMJET_WORKER_CONCURRENCY="2"):
        items = [
            await dispatcher.dispatch(fn_node("occupy"), {"key": k, "secs": 0.3}, queue_type=queue)
            for queue in ["python_tool", "general"] * 3
        ]
        for item in items:
            assert tags(await outcome(dispatcher, item)) == ["node_started", "node_completed"]
    assert fns.peak[k] == 2
    for queue in ("python_tool", "general"):
        info = await js.consumer_info(streams.WORK, consumer_name(queue))
        assert info.num_redelivered == 0


# ---- the pipeline on its own, for what a running service makes hard to provoke -------------------------


async def test_redelivered_item_with_a_recorded_outcome_is_not_run_again(
    nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    k = key()
    item = await dispatcher.dispatch(fn_node("greet"), {"name": "x", "key": k})
    kind = NodeCompleted(node_id="step", output={}, state_patch={})
    await dispatcher.log.append(item.tenant, item.execution_id, kind, msg_id=f"{item.item_id}:outcome")
    before = await dispatcher.events(item)
    runner = await pipeline(nc, js)
    assert await runner.handle(item, Attempt(), redelivered=True) == DONE
    assert await dispatcher.events(item) == before
    assert fns.calls[k] == 0


async def test_two_runs_of_one_dispatch_commit_one_outcome(
    policy: PolicyService, nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    k = key()
    item = work_item(fn_node("greet"), {"name": "twice", "key": k})
    runner = await pipeline(nc, js)
    verdicts = await asyncio.gather(runner.handle(item, Attempt()), runner.handle(item, Attempt()))
    assert verdicts == [DONE, DONE]
    assert fns.calls[k] == 2
    completed = [e for e in await dispatcher.events(item) if isinstance(e.kind, NodeCompleted)]
    assert len(completed) == 1


async def test_output_too_large_for_an_event_fails_the_node(
    policy: PolicyService, nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    item = work_item(fn_node("big"), {"size": 10_000})
    runner = await pipeline(nc, js, max_msg_bytes=8192)
    assert await runner.handle(item, Attempt()) == DROP
    failed = (await dispatcher.events(item))[-1].kind
    assert isinstance(failed, NodeFailed)
    assert not failed.retryable
    assert failed.error.startswith("node result is ")
    assert failed.error.endswith("an event may carry at most 7168 bytes")


async def test_unknown_tenant_is_refused_by_policy_and_fails_the_node(
    policy: PolicyService, nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    item = work_item(fn_node("greet"), {"name": "x"}, tenant="acme")
    assert await (await pipeline(nc, js)).handle(item, Attempt()) == DROP
    events = await dispatcher.events(item)
    assert tags(events) == ["node_started", "node_failed"]
    assert events[-1].kind.error == (  # type: ignore[union-attr]
        "policy evaluation refused: unknown_tenant: tenant 'acme' does not exist"
    )
