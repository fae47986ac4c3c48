"""Events on the EVENTS stream reach Postgres exactly once, and fold into the executions table."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client as NATS

from jamjet_common import streams, subjects
from jamjet_common.codec import ENCODER
from jamjet_common.eventlog import EventLog, new_event
from jamjet_common.events import (
    ApprovalReceived,
    Event,
    EventKind,
    NodeScheduled,
    ToolApprovalRequired,
    WorkflowCancelled,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowStarted,
)
from services.event_store.service import EventStoreService
from tests.event_store.conftest import ask, build_store, execution_row, stored_count
from tests.event_store.logs import ran
from tests.harness import running
from tests.helpers import eventually

TENANT = "acme"


def new_id() -> str:
    return f"exec_{uuid.uuid4().hex}"


def started(initial: Any = None) -> WorkflowStarted:
    return WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input=initial)


async def append_all(log: EventLog, execution_id: str, kinds: list[EventKind]) -> list[Event]:
    return [(await log.append(TENANT, execution_id, kind)).event for kind in kinds]


async def settled(pg: asyncpg.Connection, execution_id: str, last_sequence: int) -> asyncpg.Record:
    async def check() -> asyncpg.Record | None:
        row = await execution_row(pg, execution_id)
        return row if row is not None and row["last_sequence"] == last_sequence else None

    row: asyncpg.Record = await eventually(check, message=f"{execution_id} never reached {last_sequence}")
    return row


async def test_appended_events_land_once_in_wire_form(
    log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    events = await append_all(
        log, execution_id, [started({"q": 1}), NodeScheduled(node_id="a", queue_type="general")]
    )

    async def both_stored() -> bool:
        return await stored_count(pg, execution_id) == 2

    await eventually(both_stored, message="events never stored")
    rows = await pg.fetch("SELECT * FROM events WHERE execution_id = $1 ORDER BY sequence", execution_id)
    assert [r["sequence"] for r in rows] == [1, 2]
    assert [str(r["event_id"]) for r in rows] == [e.id for e in events]
    assert [r["created_at"] for r in rows] == [e.created_at for e in events]
    assert [r["tenant"] for r in rows] == [TENANT, TENANT]
    assert [r["kind_type"] for r in rows] == ["workflow_started", "node_scheduled"]
    assert json.loads(rows[1]["kind"]) == {"type": "node_scheduled", "node_id": "a", "queue_type": "general"}
    assert all(r["stream_seq"] > 0 for r in rows)


async def test_a_lifecycle_folds_into_the_executions_row(
    log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    initial = {"keep": 1, "drop": "x", "nested": {"a": 1, "b": {"c": 2, "d": 3}}}
    events = await append_all(
        log,
        execution_id,
        [
            started(initial),
            *ran("a", state_patch={"drop": None, "nested": {"b": {"c": None, "e": 5}}}),
            *ran("b", output={"ignored": True}),
            *ran("c", state_patch={"nested": {"a": [1, 2]}, "new": "v"}),
        ],
    )
    row = await settled(pg, execution_id, 7)
    assert row["status"] == "running"
    assert (row["tenant"], row["workflow_id"], row["workflow_version"]) == (TENANT, "wf", "1.0.0")
    assert json.loads(row["initial_input"]) == initial
    assert json.loads(row["current_state"]) == {
        "keep": 1,
        "nested": {"a": [1, 2], "b": {"d": 3, "e": 5}},
        "new": "v",
    }
    assert row["started_at"] == events[0].created_at and row["completed_at"] is None

    done = await log.append(TENANT, execution_id, WorkflowCompleted(final_state={"result": 42}))
    row = await settled(pg, execution_id, 8)
    assert row["status"] == "completed"
    assert json.loads(row["current_state"]) == {"result": 42}
    assert row["completed_at"] == done.event.created_at == row["updated_at"]


async def test_failed_and_cancelled_executions(
    log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    failed, cancelled = new_id(), new_id()
    await append_all(log, failed, [started(), WorkflowFailed(error="node(s) failed terminally: a")])
    await append_all(log, cancelled, [started(), WorkflowCancelled(reason="user request")])
    failed_row = await settled(pg, failed, 2)
    cancelled_row = await settled(pg, cancelled, 2)
    assert (failed_row["status"], failed_row["error"]) == ("failed", "node(s) failed terminally: a")
    assert failed_row["completed_at"] is not None
    assert (cancelled_row["status"], cancelled_row["error"]) == ("cancelled", None)
    # A terminal execution stays terminal: a late event does not revive it.
    await log.append(TENANT, cancelled, ApprovalReceived(node_id="a", user_id="u", decision="approved"))
    assert (await settled(pg, cancelled, 3))["status"] == "cancelled"


async def test_approvals_pause_and_resume(
    log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    await append_all(
        log,
        execution_id,
        [
            started({"n": 1}),
            NodeScheduled(node_id="pay", queue_type="general"),
            ToolApprovalRequired(node_id="pay", tool_name="pay", approver="human"),
        ],
    )
    assert (await settled(pg, execution_id, 3))["status"] == "paused"
    await log.append(
        TENANT,
        execution_id,
        ApprovalReceived(node_id="pay", user_id="alice", decision="approved", state_patch={"ok": True}),
    )
    row = await settled(pg, execution_id, 4)
    assert row["status"] == "running"
    assert json.loads(row["current_state"]) == {"n": 1, "ok": True}


async def test_the_same_event_published_twice_is_stored_once(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    subject = subjects.append(TENANT, execution_id)
    data = ENCODER.encode(new_event(execution_id, 1, started({"x": 1})))
    js = nc.jetstream()
    first, second = await js.publish(subject, data), await js.publish(subject, data)
    assert second.seq == first.seq + 1  # no Nats-Msg-Id: the stream keeps both copies
    await append_all(log, execution_id, ran("a", state_patch={"x": 2}))
    row = await settled(pg, execution_id, 3)
    assert await stored_count(pg, execution_id) == 3
    assert json.loads(row["current_state"]) == {"x": 2}
    assert row["started_at"] == new_event_time(data)


def new_event_time(data: bytes) -> Any:
    return msgspec.json.decode(data, type=Event).created_at


async def test_replaying_the_whole_stream_changes_nothing(
    nc: NATS, nats_url: str, database_url: str, pg: asyncpg.Connection
) -> None:
    ids = [new_id() for _ in range(5)]
    async with running(build_store(nats_url, database_url, JAMJET_STORE_BATCH="7")) as service:
        await eventually(service.db.ready.is_set)
        log = EventLog(nc, nc.jetstream())
        for execution_id in ids:
            await append_all(
                log,
                execution_id,
                [
                    started({"i": 0}),
                    *[k for i in range(1, 6) for k in ran(f"n{i}", state_patch={"i": i})],
                ],
            )
        for execution_id in ids:
            await settled(pg, execution_id, 11)
    before = await _snapshot(pg)
    await nc.jetstream().delete_consumer(streams.EVENTS, streams.EVENT_STORE_CONSUMER)
    async with running(build_store(nats_url, database_url, JAMJET_STORE_BATCH="3")):
        await eventually(lambda: _consumer_done(nc), message="the replay never finished")
    assert await _snapshot(pg) == before
    assert await pg.fetchval("SELECT count(*) FROM events") == 55


async def _consumer_done(nc: NATS) -> bool:
    info = await nc.jetstream().consumer_info(streams.EVENTS, streams.EVENT_STORE_CONSUMER)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq >= 55)


async def _snapshot(pg: asyncpg.Connection) -> list[Any]:
    events = await pg.fetch("SELECT * FROM events ORDER BY execution_id, sequence")
    rows = await pg.fetch("SELECT * FROM executions ORDER BY execution_id")
    return [dict(r) for r in events] + [dict(r) for r in rows]


async def test_undecodable_messages_go_to_the_dead_letter_subject(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    dead: list[dict[str, Any]] = []

    async def collect(msg: Any) -> None:
        dead.append(msgspec.json.decode(msg.data))

    await nc.subscribe(subjects.DLQ_DECODE, cb=collect)
    await nc.flush()
    js = nc.jetstream()
    bad_id = new_id()
    ack = await js.publish(subjects.append(TENANT, bad_id), b"{not json")
    mismatch = ENCODER.encode(new_event("exec_other", 1, started()))
    await js.publish(subjects.append(TENANT, bad_id), mismatch)
    good_id = new_id()
    await append_all(log, good_id, [started(), *ran("a")])
    await settled(pg, good_id, 3)
    await eventually(lambda: len(dead) == 2, message="dead letters never arrived")
    assert dead[0]["subject"] == subjects.events(TENANT, bad_id)
    assert dead[0]["stream_seq"] == ack.seq and dead[0]["payload"] == "{not json"
    assert dead[0]["error"]["code"] == "malformed_json"
    assert dead[1]["error"]["code"] == "execution_id_mismatch"
    assert await stored_count(pg, bad_id) == 0

    async def acked() -> bool:  # the store acks after its commit, and the server applies acks apart
        info = await js.consumer_info(streams.EVENTS, streams.EVENT_STORE_CONSUMER)
        return bool(info.num_ack_pending == 0)

    await eventually(acked, message="the store left messages unacknowledged")


async def test_events_arriving_within_the_linger_are_written_in_one_transaction(
    nats_url: str, database_url: str, nc: NATS, pg: asyncpg.Connection
) -> None:
    execution_id = new_id()
    lingering = build_store(nats_url, database_url, JAMJET_STORE_LINGER_MS="500")
    async with running(lingering):
        log = EventLog(nc, nc.jetstream())
        await append_all(log, execution_id, [started()])
        await settled(pg, execution_id, 1)  # the store is up and idle
        nodes = [NodeScheduled(node_id=node, queue_type="general") for node in ("a", "b", "c")]
        await append_all(log, execution_id, nodes)
        await settled(pg, execution_id, 4)
    # Rows inserted by one transaction carry its id.
    transactions = await pg.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE execution_id = $1 AND sequence > 1",
        execution_id,
    )
    assert transactions == 1


async def test_a_query_reads_the_events_the_store_holds_in_its_linger(
    nats_url: str, database_url: str, nc: NATS, pg: asyncpg.Connection
) -> None:
    execution_id = new_id()
    lingering = build_store(nats_url, database_url, JAMJET_STORE_LINGER_MS="600000")
    async with running(lingering) as store:
        await eventually(store.db.ready.is_set, message="the store never reached Postgres")
        log = EventLog(nc, nc.jetstream())
        await append_all(log, execution_id, [started()])
        js = nc.jetstream()

        async def delivered() -> bool:  # in the store's hands, which would hold it for ten minutes
            info = await js.consumer_info(streams.EVENTS, streams.EVENT_STORE_CONSUMER)
            return bool(info.num_ack_pending == 1)

        await eventually(delivered, message="the event never reached the store")
        assert (await ask(nc, "dead_letters", {"execution_id": execution_id}))["ok"] is True
        assert await execution_row(pg, execution_id) is None, "a query that reads no events hurried them"
        reply = await ask(nc, "execution", {"execution_id": execution_id, "tenant": TENANT})
        assert reply["ok"] is True, reply
        assert (reply["execution"]["status"], reply["execution"]["last_sequence"]) == ("running", 1)
        # Nothing in hand: a query is answered at once, and the next event lingers again.
        await append_all(log, execution_id, [NodeScheduled(node_id="a", queue_type="general")])
        await eventually(delivered, message="the second event never reached the store")
        assert (await execution_row(pg, execution_id) or {})["last_sequence"] == 1
        reply = await ask(nc, "execution", {"execution_id": execution_id, "tenant": TENANT})
        assert reply["execution"]["last_sequence"] == 2
