"""Rows folded before migration 0003 (without fold state) are folded again from their logs."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS

from jamjet_common.events import EventKind
from services.event_store.intake import StoredEvent
from services.event_store.migrate import load_migrations, migrate
from services.event_store.workflow_nodes import WorkflowNodes
from services.event_store.writer import write_events
from tests.event_store.conftest import ask, build_store
from tests.event_store.logs import Written, consumed, decided, held, new_id, ran, started
from tests.harness import running
from tests.helpers import eventually

TENANT = "acme"

INSERT_EVENT = """
INSERT INTO events (execution_id, sequence, event_id, tenant, kind_type, kind, created_at, stream_seq)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
"""
# What the fold before 0003 left: the right position, but no node bookkeeping and no approvals.
INSERT_OLD_ROW = """
INSERT INTO executions (execution_id, tenant, workflow_id, workflow_version, status, initial_input,
                        current_state, last_sequence, started_at, updated_at)
VALUES ($1, $2, 'wf', '1.0.0', 'paused', '{}', '{"old": true}', $3, $4, $4)
"""


def stored(execution_id: str, kinds: list[EventKind]) -> list[StoredEvent]:
    return consumed(TENANT, execution_id, kinds)


def a_log() -> list[EventKind]:
    return [
        started({"n": 0}),
        *held("a", "payments.send"),
        *ran("b", input_tokens=5, output_tokens=1, cost_usd=0.5),
        *held("c"),
        decided("c", "alice", state_patch={"c": "ok"}),
    ]


async def insert_old(conn: asyncpg.Connection, events: list[StoredEvent]) -> None:
    for e in events:
        await conn.execute(
            INSERT_EVENT,
            e.event.execution_id,
            e.event.sequence,
            e.event_id,
            e.tenant,
            e.event.kind.tag,
            e.kind_json,
            e.created_at,
            e.stream_seq,
        )
    first = events[0]
    await conn.execute(INSERT_OLD_ROW, first.event.execution_id, TENANT, len(events), first.created_at)


async def test_a_store_starting_on_an_old_schema_folds_its_rows_again(
    nc: NATS, nats_url: str, database_url: str, pg: asyncpg.Connection
) -> None:
    execution_id = new_id()
    await migrate(pg, load_migrations()[:2])
    await insert_old(pg, stored(execution_id, a_log()))
    async with running(build_store(nats_url, database_url)) as store:
        await eventually(store.db.ready.is_set, message="the store never started")
        execution = (await ask(nc, "execution", {"execution_id": execution_id}))["execution"]
        waiting = (await ask(nc, "approvals", {"execution_id": execution_id}))["approvals"]
        everything = (await ask(nc, "approvals", {"execution_id": execution_id, "status": "all"}))[
            "approvals"
        ]
    assert execution["status"] == "paused" and execution["last_sequence"] == 8
    state = execution["current_state"]
    assert (state["n"], state["c"], state["__budget"]["total_cost_usd"]) == (0, "ok", 0.5)
    assert [(a["node_id"], a["tool_name"]) for a in waiting] == [("a", "payments.send")]
    assert [(a["node_id"], a["status"], a["user_id"]) for a in everything] == [
        ("c", "approved", "alice"),
        ("a", "pending", None),
    ]
    row = await pg.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (5, 1, 0.5)
    assert json.loads(row["fold_state"]) == {
        "in_flight": ["a", "c"],
        "held": {"a": 3},
        "budget": state["__budget"],
        "settled": ["b"],
    }
    assert await pg.fetchval("SELECT count(*) FROM refolds") == 0


async def test_a_row_without_fold_state_is_folded_again_before_new_events(database_url: str) -> None:
    execution_id = new_id()
    events = stored(execution_id, [*a_log(), *ran("a", input_tokens=10)])
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn)
        await write_events(conn, events[:8], Written(events), WorkflowNodes())
        before = await _snapshot(conn, execution_id)
        # As a replica that predates 0003 would leave it:
        await conn.execute(
            "UPDATE executions SET fold_state = NULL, input_tokens = 0, current_state = '{}'"
            " WHERE execution_id = $1",
            execution_id,
        )
        await conn.execute("DELETE FROM approvals WHERE execution_id = $1", execution_id)
        await write_events(conn, events[8:], Written(events), WorkflowNodes())
        after = await _snapshot(conn, execution_id)
    finally:
        await conn.close()
    # Folded again, the decided request is as it was; the waiting one closed when its node completed.
    assert after["approvals"][1] == before["approvals"][1]
    assert [(a["node_id"], a["status"], a["decided_seq"]) for a in after["approvals"]] == [
        ("a", "closed", 10),
        ("c", "approved", 8),
    ]
    assert after["row"]["input_tokens"] == 15 and after["row"]["last_sequence"] == 10
    state = json.loads(after["row"]["current_state"])
    assert state["c"] == "ok"
    fold_state = {"in_flight": ["c"], "held": {}, "budget": state["__budget"], "settled": ["a", "b"]}
    assert json.loads(after["row"]["fold_state"]) == fold_state


async def _snapshot(conn: asyncpg.Connection, execution_id: str) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
    approvals = await conn.fetch(
        "SELECT * FROM approvals WHERE execution_id = $1 ORDER BY requested_seq", execution_id
    )
    return {"row": dict(row), "approvals": [dict(a) for a in approvals]}
