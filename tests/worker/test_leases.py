"""Leases and exactly-once commits: dead workers, racing workers, dispatches ended by someone else.

A worker killed mid-node is a real worker process killed with SIGKILL; a worker that is alive but lost
its lease is an in-process worker whose heartbeats are switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common.events import (
    Exhaustion,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    RetryScheduled,
)
from jamjet_common.ir import RetryPolicy
from jamjet_common.messages import WorkItem
from services.policy.service import PolicyService
from services.worker import pipeline as pipeline_module
from services.worker.history import Attempt
from services.worker.pipeline import Pipeline
from services.worker.service import WorkerService
from services.worker.settle import DONE, DROP, LEAVE, Verdict
from tests.harness import service_env
from tests.helpers import eventually
from tests.worker import fns
from tests.worker.builders import fn_node
from tests.worker.conftest import Dispatcher, WorkerFactory
from tests.worker.support import RETRIED_ONCE, dead_letters, key, outcome, pipeline, queue_empty, tags

ROOT = Path(__file__).resolve().parents[2]
LEASE_EXPIRED = "lease expired: worker presumed dead"
LAPSED = NodeFailed(node_id="step", error=LEASE_EXPIRED, attempt=0, retryable=True, lease_expired=True)


@contextlib.asynccontextmanager
async def worker_process(
    nats_url: str, log_path: Path, **extra: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A worker in its own OS process, killed when the block ends if it still runs."""
    env = {**os.environ, **service_env(nats_url, **extra)}
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.worker", env=env, cwd=ROOT, stdout=log, stderr=log
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def started_by(d: Dispatcher, item: object, worker_id: str) -> bool:
    events = await d.node_events(item)
    return any(isinstance(e.kind, NodeStarted) and e.kind.worker_id == worker_id for e in events)


async def test_a_worker_killed_mid_node_loses_its_attempt_and_the_node_completes_once(
    policy: PolicyService,
    start_worker: WorkerFactory,
    dispatcher: Dispatcher,
    js: JetStreamContext,
    nats_url: str,
    tmp_path: Path,
) -> None:
    k = key()
    marker = tmp_path / "hung"
    state = {"key": k, "marker": str(marker)}
    doomed_env = {
        "JAMJET_LEASE_SECS": "1",
        "JAMJET_INSTANCE_ID": "doomed",
        "JAMJET_WORKER_QUEUES": "python_tool",
    }
    async with worker_process(nats_url, tmp_path / "doomed.log", **doomed_env) as doomed:
        item = await dispatcher.dispatch(fn_node("hang_once"), state)
        await eventually(
            lambda: started_by(dispatcher, item, "doomed"),
            timeout=30,
            message="the doomed worker never started",
        )
        # NodeStarted comes before the function is even imported: kill it inside the function.
        await eventually(marker.exists, timeout=30, message="the doomed worker never called the function")
        doomed.kill()
        await doomed.wait()
    async with start_worker(JAMJET_LEASE_SECS="1", JAMJET_INSTANCE_ID="survivor"):
        events = await outcome(dispatcher, item, timeout=20)
    assert tags(events) == RETRIED_ONCE
    assert events[0].kind == NodeStarted(node_id="step", worker_id="doomed", attempt=0)
    assert events[1].kind == LAPSED
    assert events[2].kind == RetryScheduled(node_id="step", attempt=1, delay_ms=2000)
    assert events[3].kind == NodeStarted(node_id="step", worker_id="survivor", attempt=1)
    # The retry waited for its delay; a lower bound only, the upper one is the scheduler's business.
    assert events[3].created_at - events[2].created_at >= timedelta(seconds=1.8)
    assert fns.calls[k] == 1
    await eventually(lambda: queue_empty(js), message="the recovered item stayed on the WORK stream")


async def test_two_workers_racing_one_dispatch_commit_one_completion(
    policy: PolicyService,
    start_worker: WorkerFactory,
    dispatcher: Dispatcher,
    js: JetStreamContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="services.worker.commit")
    k = key()
    with monkeypatch.context() as patch:
        # worker-a runs the first attempt without heartbeats: alive, but its lease lapses after 1 s.
        patch.setattr(pipeline_module, "heartbeat", lambda *_: contextlib.nullcontext())
        async with start_worker(JAMJET_LEASE_SECS="1", JAMJET_INSTANCE_ID="worker-a"):
            item = await dispatcher.dispatch(fn_node("late_first"), {"key": k, "secs": 4.5})
            await eventually(
                lambda: started_by(dispatcher, item, "worker-a"), message="worker-a never started"
            )
            patch.undo()
            async with start_worker(JAMJET_LEASE_SECS="1", JAMJET_INSTANCE_ID="worker-b"):
                late = f"late result for {item.execution_id}/step dispatch {item.dispatch} discarded"
                await eventually(
                    lambda: late in caplog.text, timeout=20, message="no late result was discarded"
                )
    events = await dispatcher.node_events(item)
    assert tags(events) == RETRIED_ONCE
    assert events[1].kind == LAPSED
    completed = events[-1].kind
    assert isinstance(completed, NodeCompleted)
    assert completed.state_patch == {"by": "later"}
    assert fns.calls[k] == 2
    assert await queue_empty(js)


async def test_a_dispatch_another_worker_ended_is_not_started_again(
    worker: WorkerService, dispatcher: Dispatcher, js: JetStreamContext
) -> None:
    k = key()
    item = await dispatcher.schedule(fn_node("greet"), {"name": "x", "key": k})
    # Another worker's outcome, appended after the NodeScheduled this first delivery points at.
    other = NodeCompleted(node_id="step", output={"by": "other"}, state_patch={"by": "other"})
    await dispatcher.log.append(item.tenant, item.execution_id, other)
    item = await dispatcher.publish(item)
    await eventually(lambda: queue_empty(js), message="the item stayed on the WORK stream")
    assert [e.kind for e in await dispatcher.node_events(item)] == [other]
    assert fns.calls[k] == 0


@pytest.mark.parametrize(
    ("error", "exhausted", "dead"),
    [
        ("exhausted 3 attempts: boom", Exhaustion(attempts=3, last_error="boom"), [(3, "boom")]),
        # The field, not the error text, makes an outcome an exhaustion: reworded text changes nothing...
        ("gave up after 3 tries (boom)", Exhaustion(attempts=3, last_error="boom"), [(3, "boom")]),
        # ...and the text alone, without the field, is an ordinary fatal failure.
        ("exhausted 3 attempts: boom", None, []),
    ],
)
async def test_a_redelivery_of_an_ended_dispatch_runs_nothing_and_leaves_its_dead_letter(
    nc: NATS,
    js: JetStreamContext,
    dispatcher: Dispatcher,
    error: str,
    exhausted: Exhaustion | None,
    dead: list[tuple[int, str]],
) -> None:
    # The committer of an exhausted outcome died between appending it and publishing its dead letter.
    k = key()
    item = await dispatcher.schedule(fn_node("greet"), {"name": "x", "key": k})
    ended = NodeFailed(node_id="step", error=error, attempt=2, retryable=False, exhausted=exhausted)
    await dispatcher.log.append(item.tenant, item.execution_id, ended)
    runner = await pipeline(nc, js)
    assert await runner.handle(item, Attempt(), redelivered=True) == DONE
    assert [e.kind for e in await dispatcher.node_events(item)] == [ended]
    assert fns.calls[k] == 0
    records = await dead_letters(js)
    assert [(r.item.execution_id, r.attempts, r.last_error) for r, _ in records] == [
        (item.execution_id, *letter) for letter in dead
    ]


async def test_an_open_attempt_on_redelivery_is_a_lapsed_lease_recorded_once(
    nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    item = await dispatcher.schedule(fn_node("greet"), {"name": "x"})
    ghost = NodeStarted(node_id="step", worker_id="ghost", attempt=0)
    await dispatcher.log.append(item.tenant, item.execution_id, ghost)
    one, two = await pipeline(nc, js, worker_id="w-1"), await pipeline(nc, js, worker_id="w-2")
    verdicts = await asyncio.gather(
        one.handle(item, Attempt(), redelivered=True), two.handle(item, Attempt(), redelivered=True)
    )
    assert verdicts == [Verdict.redeliver(2.0), Verdict.redeliver(2.0)]
    assert [e.kind for e in await dispatcher.node_events(item)] == [
        ghost,
        LAPSED,
        RetryScheduled(node_id="step", attempt=1, delay_ms=2000),
    ]


async def test_a_lapsed_lease_without_attempts_left_is_dead_lettered(
    nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    item = await dispatcher.schedule(fn_node("greet"), {"name": "x"}, retry=RetryPolicy(max_attempts=1))
    await dispatcher.log.append(
        item.tenant, item.execution_id, NodeStarted(node_id="step", worker_id="ghost", attempt=0)
    )
    assert await (await pipeline(nc, js)).handle(item, Attempt(), redelivered=True) == DROP
    error = f"exhausted 1 attempts: {LEASE_EXPIRED}"
    last = (await dispatcher.node_events(item))[-1].kind
    exhausted = Exhaustion(attempts=1, last_error=LEASE_EXPIRED)
    assert last == NodeFailed(node_id="step", error=error, attempt=0, retryable=False, exhausted=exhausted)
    records = await dead_letters(js)
    assert [(r.item, r.attempts, r.last_error, r.worker_id) for r, _ in records] == [
        (item, 1, LEASE_EXPIRED, "w-test")
    ]


async def test_a_redelivery_after_a_retry_runs_the_next_attempt(
    policy: PolicyService, nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    item = await dispatcher.schedule(fn_node("greet"), {"name": "x", "key": key()})
    for kind in (
        NodeStarted(node_id="step", worker_id="w-0", attempt=0),
        NodeFailed(node_id="step", error="busy", attempt=0, retryable=True),
        RetryScheduled(node_id="step", attempt=1, delay_ms=100),
    ):
        await dispatcher.log.append(item.tenant, item.execution_id, kind)
    assert await (await pipeline(nc, js)).handle(item, Attempt(), redelivered=True) == DONE
    events = await dispatcher.node_events(item)
    assert tags(events)[3:] == ["node_started", "node_completed"]
    assert events[3].kind == NodeStarted(node_id="step", worker_id="w-test", attempt=1)


async def lapsed_while_running(
    nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> tuple[WorkItem, Pipeline, Attempt, Pipeline, Attempt]:
    """worker-a started attempt 0 of a dispatch, and worker-b has read it as open (a lapsed lease)."""
    item = await dispatcher.schedule(fn_node("greet"), {"name": "x"})
    zombie = await pipeline(nc, js, worker_id="worker-a")
    attempt = Attempt()
    assert await zombie._recorder.started(item, attempt) is None
    other = await pipeline(nc, js, worker_id="worker-b")
    lapsed = (await other._recorder.history(item)).lapsed
    assert lapsed is not None
    return item, zombie, attempt, other, lapsed


async def test_a_late_result_of_an_attempt_another_worker_recorded_as_lost_is_void(
    nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    # worker-b records the loss (and the retry) before worker-a's result comes: that result must not
    # count, and the item is worker-b's to settle.
    item, zombie, attempt, other, lapsed = await lapsed_while_running(nc, js, dispatcher)
    assert await other._ends.lapsed(item, lapsed) == Verdict.redeliver(2.0)
    late = NodeCompleted(node_id="step", output={"by": "zombie"})
    assert await zombie._parts.committer.commit(item, attempt, late) == LEAVE
    assert tags(await dispatcher.node_events(item)) == ["node_started", "node_failed", "retry_scheduled"]


async def test_a_lost_lease_is_not_recorded_once_the_attempts_result_is_in(
    nc: NATS, js: JetStreamContext, dispatcher: Dispatcher
) -> None:
    # The other order: worker-a's result lands before worker-b records the loss.
    item, zombie, attempt, other, lapsed = await lapsed_while_running(nc, js, dispatcher)
    done = NodeCompleted(node_id="step", output={"by": "zombie"})
    assert await zombie._parts.committer.commit(item, attempt, done) == DONE
    assert await other._ends.lapsed(item, lapsed) == DONE
    assert tags(await dispatcher.node_events(item)) == ["node_started", "node_completed"]
