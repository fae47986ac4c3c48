"""Forged messages from inside the service account: none can stall, loop or forge an execution.

Each test runs the four services against a real nats-server and Postgres, forges one message the way a
compromised service could, and checks that the execution still ends as it truly would (or is failed with
the reason), that nothing loops, and that the forged message is dead-lettered with its reason.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import partitions, subjects
from jamjet_common.codec import ENCODER
from jamjet_common.eventlog import EXPECTED_LAST_SUBJECT_SEQ, EventLog
from jamjet_common.events import (
    Event,
    EventKind,
    NodeCancelled,
    NodeCompleted,
    NodeScheduled,
    WorkflowCompleted,
    WorkflowStarted,
)
from jamjet_common.messages import CancelNotice
from jamjet_common.streams import EVENTS
from services.scheduler.config import DEFAULT_PARTITIONS
from services.scheduler.service import SchedulerService
from tests.e2e.stack import Stack, assert_gapless, services
from tests.e2e.workflows import MODULE, fn, workflow
from tests.helpers import eventually

TENANT = "default"


def napping() -> dict[str, Any]:
    """``nap`` sleeps ``state.sleep`` seconds, then ``after`` runs."""
    nodes = [fn("nap", "sleeper", MODULE), fn("after", "noop", "tests.fns")]
    return workflow(nodes, [("nap", "after"), ("after", "end")], wf="napping")


async def start_napping(stack: Stack, sleep: float = 1.5) -> str:
    await stack.register(napping())
    execution_id = await stack.start("napping", {"sleep": sleep})
    await eventually(lambda: "node_started" in stack.recorder.kinds(execution_id), timeout=30)
    return execution_id


def forged_event(execution_id: str, sequence: int, kind: EventKind) -> bytes:
    event = Event(
        id=str(uuid.uuid4()),
        execution_id=execution_id,
        sequence=sequence,
        created_at=datetime.now(UTC),
        kind=kind,
    )
    return ENCODER.encode(event)


async def dead_lettered(stack: Stack, execution_id: str, reason: str) -> dict[str, Any]:
    """The stored dead letter of a message about ``execution_id`` (its subject may not name it)."""

    async def found() -> dict[str, Any] | None:
        for record in (await stack.ask("jamjet.store.dead_letters", {}))["dead_letters"]:
            if reason in (record["last_error"] or "") and execution_id in json.dumps(record["record"]):
                return dict(record)
        return None

    record = await eventually(found, timeout=30, message=f"no dead letter saying {reason!r}")
    assert record is not None
    return record


async def execution_row(stack: Stack, execution_id: str) -> dict[str, Any]:
    return dict((await stack.ask("jamjet.store.execution", {"execution_id": execution_id}))["execution"])


async def completed_truly(stack: Stack, execution_id: str) -> dict[str, Any]:
    """The stored row once the execution completed with its real final state."""

    async def done() -> dict[str, Any] | None:
        row = await execution_row(stack, execution_id)
        return row if row["status"] == "completed" else None

    row = await eventually(done, timeout=60, message="the execution did not complete")
    assert row is not None
    assert row["current_state"].get("slept") is True
    assert "forged" not in row["current_state"]
    return row


async def settled(js: JetStreamContext) -> None:
    """The scheduler's partition consumers have nothing left to deliver or redeliver: no retry goes on."""

    async def idle() -> bool:
        for partition in range(DEFAULT_PARTITIONS):
            info = await js.consumer_info(partitions.SCHED_EVENTS, partitions.consumer_name(partition))
            if info.num_ack_pending or info.num_pending:
                return False
        return True

    await eventually(idle, timeout=30, message="the scheduler keeps retrying an event")


def genuine(stack: Stack, execution_id: str, forged: set[str]) -> list[dict[str, Any]]:
    return [e for e in stack.recorder.events[execution_id] if e["id"] not in forged]


async def test_a_duplicate_sequence_is_dead_lettered_and_the_execution_completes(stack: Stack) -> None:
    async with services(stack):
        execution_id = await start_napping(stack)
        body = forged_event(execution_id, 2, NodeCompleted(node_id="nap", state_patch={"forged": True}))
        # No Nats-Expected-Last-Subject-Sequence: JetStream stores it after whatever the log holds.
        await stack.nc.publish(subjects.append(TENANT, execution_id), body)
        forged_id = json.loads(body)["id"]
        await completed_truly(stack, execution_id)
        record = await dead_lettered(stack, execution_id, "out_of_sequence")
        assert record["record"]["payload"] == body.decode()
        events = genuine(stack, execution_id, {forged_id})
        assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
        assert stack.recorder.kinds(execution_id).count("workflow_completed") == 1
        await settled(stack.nc.jetstream())


async def test_a_forged_cancel_notice_is_refused_and_nothing_loops(stack: Stack) -> None:
    async with services(stack):
        execution_id = await start_napping(stack)
        notice = CancelNotice(execution_id=execution_id, tenant=TENANT, reason="cancelled")
        await stack.nc.publish(subjects.cancel(TENANT, execution_id), ENCODER.encode(notice))
        await completed_truly(stack, execution_id)
        await dead_lettered(stack, execution_id, "cancel notice refused")
        assert "node_cancelled" not in stack.recorder.kinds(execution_id)
        assert_gapless(stack, [execution_id])


async def test_a_dispatch_cancelled_again_and_again_is_not_redispatched_without_bound(
    stack: Stack,
) -> None:
    """A compromised writer cancels every dispatch of ``nap`` on a live execution."""
    async with services(stack):
        js = stack.nc.jetstream()
        log = EventLog(stack.nc, js)

        async def cancel_each_dispatch(msg: Msg) -> None:
            event = json.loads(msg.data)
            if event["kind"]["type"] == "node_scheduled" and event["kind"]["node_id"] == "nap":
                await log.append(TENANT, event["execution_id"], NodeCancelled(node_id="nap"))

        sub = await stack.nc.subscribe("jamjet.events.>", cb=cancel_each_dispatch)
        await stack.register(napping())
        execution_id = await stack.start("napping", {"sleep": 30})
        await stack.all_terminal([execution_id])
        await sub.unsubscribe()
        assert stack.recorder.terminal[execution_id] == "workflow_failed"
        kinds = [e["kind"] for e in stack.recorder.events[execution_id]]
        failed = next(k for k in kinds if k["type"] == "workflow_failed")
        assert "cancelled 3 times" in failed["error"], failed
        assert 3 <= stack.recorder.kinds(execution_id).count("node_scheduled") <= 4
        await settled(js)


async def test_a_forged_workflow_completed_with_nodes_in_flight_is_refused(stack: Stack) -> None:
    async with services(stack):
        execution_id = await start_napping(stack)
        log = EventLog(stack.nc, stack.nc.jetstream())
        forged = await log.append(TENANT, execution_id, WorkflowCompleted(final_state={"forged": True}))
        await completed_truly(stack, execution_id)
        await dead_lettered(stack, execution_id, "workflow_completed refused")
        kinds = stack.recorder.kinds(execution_id)
        assert kinds.count("workflow_completed") == 2  # the forged one, then the true one
        assert stack.recorder.events[execution_id][-1]["kind"]["type"] == "workflow_completed"
        assert forged.event.sequence < stack.recorder.events[execution_id][-1]["sequence"]


async def test_an_outcome_for_a_node_not_in_flight_is_dead_lettered(stack: Stack) -> None:
    async with services(stack):
        execution_id = await start_napping(stack)
        log = EventLog(stack.nc, stack.nc.jetstream())
        outcome = NodeCompleted(node_id="after", state_patch={"forged": True})
        await log.append(TENANT, execution_id, outcome)
        await completed_truly(stack, execution_id)
        await dead_lettered(stack, execution_id, "node_completed refused")
        assert stack.recorder.kinds(execution_id).count("node_started") == 2


async def test_a_work_item_for_a_node_the_workflow_lacks_is_dead_lettered(stack: Stack) -> None:
    async with services(stack):
        items: list[dict[str, Any]] = []

        async def keep(msg: Msg) -> None:
            items.append(json.loads(msg.data))

        sub = await stack.nc.subscribe("jamjet.work.>", cb=keep)
        execution_id = await start_napping(stack, sleep=2.0)
        await sub.unsubscribe()
        item = next(i for i in items if i["execution_id"] == execution_id)
        evil = {**item, "node": fn("evil", "mark", "tests.fns"), "dispatch": 99}
        js = stack.nc.jetstream()
        await js.publish(subjects.work(item["queue_type"]), msgspec.json.encode(evil))
        await completed_truly(stack, execution_id)
        await dead_lettered(stack, execution_id, "not a node of workflow")
        nodes = {e["kind"].get("node_id") for e in stack.recorder.events[execution_id]}
        assert "evil" not in nodes


async def test_an_event_the_scheduler_keeps_failing_on_is_dead_lettered_not_retried_forever(
    stack: Stack,
) -> None:
    """A forged start of a workflow nobody registered: the scheduler cannot load it, whatever it tries."""
    async with services(stack, JAMJET_SCHEDULER_MAX_DELIVERIES="3"):
        execution_id = subjects.new_execution_id()
        start = WorkflowStarted(workflow_id="nobody_registered", workflow_version="1.0.0", initial_input={})
        await EventLog(stack.nc, stack.nc.jetstream()).append(TENANT, execution_id, start)
        record = await dead_lettered(stack, execution_id, "the scheduler failed on this event 3 times")
        assert "nobody_registered" in record["last_error"]
        await settled(stack.nc.jetstream())


async def test_a_message_that_is_no_event_in_the_log_is_stepped_over(stack: Stack) -> None:
    async with services(stack):
        execution_id = await start_napping(stack)
        await stack.nc.publish(subjects.append(TENANT, execution_id), b'{"not": "an event"}')
        await completed_truly(stack, execution_id)
        await dead_lettered(stack, execution_id, "missing required field")
        await settled(stack.nc.jetstream())


async def test_an_event_ahead_of_the_log_does_not_take_the_true_events_row(stack: Stack) -> None:
    """Sequence 5 forged while the log is at 3: stored first, but the true event 5 is the row for 5."""
    async with services(stack):
        execution_id = await start_napping(stack)
        assert len(stack.recorder.events[execution_id]) == 3
        body = forged_event(execution_id, 5, WorkflowCompleted(final_state={"forged": True}))
        await stack.nc.publish(subjects.append(TENANT, execution_id), body)
        forged_id = json.loads(body)["id"]
        await completed_truly(stack, execution_id)
        await dead_lettered(stack, execution_id, "out_of_sequence: event sequence 5 after 3")
        events = genuine(stack, execution_id, {forged_id})
        truth = [(e["sequence"], e["id"]) for e in events]
        assert truth[4][0] == 5 and truth[4][1] != forged_id

        async def stored_is_truth() -> bool:
            return (await stack.stored([execution_id])).get(execution_id) == truth

        await eventually(stored_is_truth, timeout=30, message="Postgres differs from the accepted log")
        answer = await stack.ask("jamjet.store.events", {"execution_id": execution_id})
        assert forged_id not in {e["id"] for e in answer["events"]}


def napping_twice() -> dict[str, Any]:
    """``nap`` then ``nap2``, each sleeping ``state.sleep`` seconds."""
    nodes = [fn("nap", "sleeper", MODULE), fn("nap2", "sleeper", MODULE)]
    return workflow(nodes, [("nap", "nap2"), ("nap2", "end")], wf="napping_twice")


async def forge_scheduled(stack: Stack, execution_id: str, node_id: str) -> str:
    """A NodeScheduled appended at the log's tail, as a compromised writer could: its event id."""
    log = EventLog(stack.nc, stack.nc.jetstream())
    scheduled = NodeScheduled(node_id=node_id, queue_type="general")
    return (await log.append(TENANT, execution_id, scheduled)).event.id


@pytest.mark.parametrize(
    ("node_id", "reason"),
    [
        ("evil", "'evil' is not a node the workflow runs"),
        ("nap", "node 'nap' has a dispatch in flight"),
        ("after", "node 'after' is not runnable"),
    ],
)
async def test_a_forged_node_scheduled_is_refused_and_the_execution_completes(
    stack: Stack, node_id: str, reason: str
) -> None:
    async with services(stack):
        execution_id = await start_napping(stack)
        await forge_scheduled(stack, execution_id, node_id)
        await completed_truly(stack, execution_id)
        await dead_lettered(stack, execution_id, f"node_scheduled refused: {reason}")
        kinds = stack.recorder.kinds(execution_id)
        assert kinds.count("node_started") == 2  # nap and after, once each: no second dispatch ran
        assert kinds.count("workflow_completed") == 1
        await settled(stack.nc.jetstream())


async def test_a_forged_node_scheduled_for_a_node_with_its_outcome_is_refused(stack: Stack) -> None:
    async with services(stack):
        await stack.register(napping_twice())
        execution_id = await stack.start("napping_twice", {"sleep": 1.5})
        await eventually(lambda: stack.recorder.kinds(execution_id).count("node_started") == 2, timeout=30)
        await forge_scheduled(stack, execution_id, "nap")
        await completed_truly(stack, execution_id)
        await dead_lettered(stack, execution_id, "node_scheduled refused: node 'nap' has its outcome already")
        assert stack.recorder.kinds(execution_id).count("node_started") == 2
        await settled(stack.nc.jetstream())


async def test_a_forged_node_scheduled_the_planner_would_have_made_gets_its_work_item(
    stack: Stack,
) -> None:
    """Appended the moment ``after`` became runnable, ahead of the scheduler's own: it is adopted."""
    async with services(stack) as built:
        scheduler = built[2]
        assert isinstance(scheduler, SchedulerService) and scheduler.executions is not None
        execution_id = await start_napping(stack)
        release = asyncio.Event()

        async def hold() -> None:
            await release.wait()

        # The scheduler takes this execution's events in order, after the hold: the forgery comes first.
        scheduler.executions.lanes.submit(execution_id, hold)
        await eventually(lambda: "node_completed" in stack.recorder.kinds(execution_id), timeout=30)
        forged_id = await forge_scheduled(stack, execution_id, "after")
        release.set()
        await completed_truly(stack, execution_id)
        scheduled = [e for e in stack.recorder.events[execution_id] if e["kind"]["type"] == "node_scheduled"]
        assert [(e["kind"]["node_id"], e["id"] == forged_id) for e in scheduled] == [
            ("nap", False),
            ("after", True),
        ]
        assert stack.recorder.kinds(execution_id).count("node_completed") == 2
        await stack.postgres_matches_stream([execution_id])


async def forge_after(js: JetStreamContext, execution_id: str, sequence: int, after: int) -> tuple[str, int]:
    """A forged event stored conditionally after stream sequence ``after``: its id and stream sequence."""
    body = forged_event(execution_id, sequence, NodeScheduled(node_id="after", queue_type="general"))
    headers = {EXPECTED_LAST_SUBJECT_SEQ: str(after)}
    ack = await js.publish(subjects.append(TENANT, execution_id), body, headers=headers)
    return json.loads(body)["id"], ack.seq


async def test_a_forged_chain_of_conditional_appends_does_not_lose_the_true_outcome(stack: Stack) -> None:
    """k+5 after the true tail k, then k+6 after it, while ``nap`` runs: a writer that trusted the chain
    would append ``nap``'s outcome as k+7, which readers refuse, and the execution would stall."""
    async with services(stack):
        execution_id = await start_napping(stack, sleep=3.0)
        js = stack.nc.jetstream()
        last = await js.get_msg(EVENTS, subject=subjects.events(TENANT, execution_id), direct=True)
        k = msgspec.json.decode(last.data)["sequence"]
        first_id, first = await forge_after(js, execution_id, k + 5, last.seq)
        second_id, second = await forge_after(js, execution_id, k + 6, first)
        await completed_truly(stack, execution_id)
        await dead_lettered(stack, execution_id, f"event sequence {k + 5} after {k}")
        await dead_lettered(stack, execution_id, f"event sequence {k + 6} after {k}")
        log = [(event, seq) async for event, seq in EventLog(stack.nc, js).read(TENANT, execution_id)]
        outcome = [
            seq for event, seq in log if isinstance(event.kind, NodeCompleted) and event.sequence == k + 1
        ]
        assert outcome and outcome[0] > second, "the outcome must have been appended after the forgeries"
        events = genuine(stack, execution_id, {first_id, second_id})
        assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
        await settled(js)
