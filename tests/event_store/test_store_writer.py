"""The batch writer and the migration runner against a real Postgres, without the bus."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from jamjet_common.codec import ENCODER
from jamjet_common.eventlog import new_event
from jamjet_common.events import EventKind, NodeCompleted, NodeScheduled, WorkflowCompleted, WorkflowStarted
from services.event_store.intake import StoredEvent, decode_event
from services.event_store.migrate import load_migrations, migrate
from services.event_store.projection import lock_key, locked_transaction
from services.event_store.workflow_nodes import WorkflowNodes
from services.event_store.writer import write_events
from tests.event_store.logs import Written, consumed, ran

TENANT = "t1"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn)
    try:
        yield pool
    finally:
        await pool.close()


def stored(execution_id: str, kinds: list[EventKind], first: int = 1) -> list[StoredEvent]:
    return consumed(TENANT, execution_id, kinds, first)


def lifecycle(execution_id: str) -> list[StoredEvent]:
    return stored(
        execution_id,
        [
            WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input={"n": 0}),
            *[k for i in range(1, 7) for k in ran(f"n{i}", state_patch={"n": i, f"k{i}": True})],
            WorkflowCompleted(final_state={"done": True}),
        ],
    )


async def test_migrations_run_twice_are_a_no_op(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        first = await migrate(conn)
        second = await migrate(conn)
        ledger = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert first == [m.version for m in load_migrations()] and first[0] == 1
    assert second == []
    assert [(r["version"], r["name"]) for r in ledger] == [(m.version, m.name) for m in load_migrations()]


async def test_executions_pages_keep_room_for_updates_in_place(migrated: asyncpg.Connection) -> None:
    options = await migrated.fetchval("SELECT reloptions FROM pg_class WHERE relname = 'executions'")
    assert options == ["fillfactor=70"]


async def test_replicas_migrating_at_once_apply_each_migration_once(database_url: str) -> None:
    conns = [await asyncpg.connect(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    assert sorted(results, key=len) == [[], [], [], [m.version for m in load_migrations()]]
    assert count == len(load_migrations())


async def test_batches_committed_out_of_order_still_fold_completely(db: asyncpg.Pool) -> None:
    execution_id = f"exec_{uuid.uuid4().hex}"
    events = lifecycle(execution_id)
    async with db.acquire() as conn:
        await write_events(
            conn, events[5:], Written(events), WorkflowNodes()
        )  # another replica's later batch commits first
        assert await conn.fetchrow("SELECT 1 FROM executions WHERE execution_id = $1", execution_id) is None
        await write_events(conn, events[:5], Written(events), WorkflowNodes())
        row = await conn.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
    assert row["last_sequence"] == 14 and row["status"] == "completed"
    assert json.loads(row["current_state"]) == {"done": True}


async def test_interleaved_batches_from_concurrent_replicas_fold_completely(db: asyncpg.Pool) -> None:
    ids = [f"exec_{uuid.uuid4().hex}" for _ in range(20)]
    logs = {x: lifecycle(x)[:-1] for x in ids}  # leave them running, so the state shows every patch
    # Two "replicas", each writing every other event of every execution, in small batches, at once.
    shares = [[e for x in ids for e in logs[x][r::2]] for r in (0, 1)]
    stream = Written([e for x in ids for e in logs[x]])

    async def replica(events: list[StoredEvent]) -> None:
        for start in range(0, len(events), 5):
            async with db.acquire() as conn:
                await write_events(conn, events[start : start + 5], stream, WorkflowNodes())

    await asyncio.gather(replica(shares[0]), replica(shares[1]), replica(shares[1]))
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM executions WHERE execution_id = ANY($1)", ids)
        events = await conn.fetchval("SELECT count(*) FROM events")
    assert events == 20 * 13
    assert len(rows) == 20
    expected = {"n": 6, **{f"k{i}": True for i in range(1, 7)}}
    assert all(r["last_sequence"] == 13 and json.loads(r["current_state"]) == expected for r in rows)


async def test_a_redelivered_batch_changes_nothing(db: asyncpg.Pool) -> None:
    execution_id = f"exec_{uuid.uuid4().hex}"
    events = stored(
        execution_id,
        [
            WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input={"a": [1]}),
            NodeScheduled(node_id="x", queue_type="general"),
            NodeCompleted(node_id="x", state_patch={"a": [1, 1]}),
        ],
    )
    async with db.acquire() as conn:
        await write_events(conn, events, Written(events), WorkflowNodes())
        before = await conn.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
        await write_events(conn, events + events, Written(events), WorkflowNodes())
        after = await conn.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
        count = await conn.fetchval("SELECT count(*) FROM events WHERE execution_id = $1", execution_id)
    assert dict(before) == dict(after)
    assert count == 3
    assert json.loads(after["current_state"]) == {"a": [1, 1]}


async def test_an_execution_whose_log_does_not_start_with_workflow_started_gets_no_row(
    db: asyncpg.Pool,
) -> None:
    execution_id = f"exec_{uuid.uuid4().hex}"
    async with db.acquire() as conn:
        events = stored(execution_id, [NodeScheduled(node_id="x", queue_type="q")])
        await write_events(conn, events, Written(events), WorkflowNodes())
        row = await conn.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
        count = await conn.fetchval("SELECT count(*) FROM events WHERE execution_id = $1", execution_id)
    assert row is None and count == 1


def forged_ahead(execution_id: str) -> tuple[list[StoredEvent], StoredEvent]:
    """Events 1-2, a forged 4 appended without condition (stream seq 3), then the true 3 and 4."""
    true = stored(
        execution_id,
        [
            WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input={}),
            NodeScheduled(node_id="x", queue_type="general"),
            NodeCompleted(node_id="x", state_patch={"x": 1}),
            WorkflowCompleted(final_state={"x": 1}),
        ],
    )
    subject = f"jamjet.events.{TENANT}.{execution_id}"
    forged = new_event(execution_id, 4, WorkflowCompleted(final_state={"forged": True}))
    fake = decode_event(subject, ENCODER.encode(forged), stream_seq=3)
    # The true 3 is appended after the forged message (the subject's last), the true 4 after the 3.
    later = [dataclasses.replace(e, stream_seq=e.stream_seq + 1, after=e.stream_seq) for e in true[2:]]
    return [*true[:2], fake, *later], fake


@pytest.mark.parametrize("batches", [[slice(0, 5)], [slice(0, 3), slice(3, 5)], [slice(3, 5), slice(0, 3)]])
async def test_a_message_ahead_of_the_log_never_takes_the_row_of_the_true_event(
    db: asyncpg.Pool, batches: list[slice]
) -> None:
    execution_id = f"exec_{uuid.uuid4().hex}"
    events, fake = forged_ahead(execution_id)
    async with db.acquire() as conn:
        for part in batches:
            await write_events(conn, events[part], Written(events), WorkflowNodes())
        rows = await conn.fetch(
            "SELECT sequence, event_id, stream_seq FROM events WHERE execution_id = $1 ORDER BY sequence",
            execution_id,
        )
        row = await conn.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
    assert [(r["sequence"], r["stream_seq"]) for r in rows] == [(1, 1), (2, 2), (3, 4), (4, 5)]
    assert fake.event_id not in {r["event_id"] for r in rows}
    assert row["status"] == "completed" and json.loads(row["current_state"]) == {"x": 1}


async def test_a_write_holds_its_executions_locks_until_it_commits_and_rolls_back_on_failure(
    db: asyncpg.Pool,
) -> None:
    # BEGIN and the locks go in one round trip (locked_transaction); the transaction must still be one.
    execution_id = f"exec_{uuid.uuid4().hex[:8]}"
    table = f"locked_{uuid.uuid4().hex[:8]}"
    taken = "SELECT pg_try_advisory_xact_lock($1)"
    async with db.acquire() as conn, db.acquire() as other:
        await conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY)")
        try:
            async with locked_transaction(conn, [execution_id, execution_id]):
                assert not await other.fetchval(taken, lock_key(execution_id))
                await conn.execute(f"INSERT INTO {table} VALUES ('kept')")
            with pytest.raises(asyncpg.UniqueViolationError):
                async with locked_transaction(conn, [execution_id]):
                    await conn.execute(f"DELETE FROM {table}")
                    await conn.execute(f"INSERT INTO {table} VALUES ('dup'), ('dup')")
            assert await other.fetch(f"SELECT id FROM {table}") == [("kept",)]
            async with other.transaction():
                assert await other.fetchval(taken, lock_key(execution_id))
        finally:
            await conn.execute(f"DROP TABLE {table}")


async def test_values_json_cannot_carry_plainly_survive_the_batch_documents(db: asyncpg.Pool) -> None:
    """A null input and state, a cost total past float8's range and token totals past 64 bits go out in
    one batch's write document and come back in the next batch's read document unchanged."""
    execution_id = f"exec_{uuid.uuid4().hex}"
    big = 2**63 - 1
    events = stored(
        execution_id,
        [
            WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input=None),
            *ran("a", input_tokens=big, output_tokens=big, cost_usd=1.5e308),
            *ran("b", input_tokens=big, cost_usd=1.5e308),
            *ran("c", state_patch={"after": True}),
        ],
    )
    async with db.acquire() as conn:
        await write_events(conn, events[:3], Written(events), WorkflowNodes())
        await write_events(conn, events[3:5], Written(events), WorkflowNodes())
        await write_events(conn, events[5:], Written(events), WorkflowNodes())
        row = await conn.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
    assert row["last_sequence"] == 7
    assert json.loads(row["initial_input"]) is None
    assert row["input_tokens"] == 2 * big and row["output_tokens"] == big
    assert row["cost_usd"] == float("inf")
    assert json.loads(row["current_state"])["after"] is True
