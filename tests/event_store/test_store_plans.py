"""The store's statements stay index probes however much its tables grew after their plans were cached.

Postgres caches a prepared statement's generic plan after its fifth run, planned for the tables' sizes
then, and nothing plans it again until a table is analyzed (never, where autovacuum is off) or asyncpg
drops the statement (after 5 minutes). A join planned while `events` was empty scanned all of it on
every batch from then on: 950 sequential scans in one W1 bench run, up to 10 ms a batch at 27k events.
"""

from __future__ import annotations

import re
import uuid

import asyncpg
import pytest

from services.event_store import chain, governance, projection, queries, workflow_nodes, writer
from services.event_store.workflow_nodes import WorkflowNodes
from services.event_store.writer import write_events
from tests.event_store.logs import Written
from tests.event_store.test_store_writer import lifecycle

MODULES = (chain, writer, projection, queries, governance, workflow_nodes)
TABLES = ("events", "executions", "workflows", "approvals", "dead_letters")
STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


def statements() -> dict[str, str]:
    """Every whole SQL statement the store's modules keep as a constant."""
    return {
        f"{module.__name__.rsplit('.', 1)[1]}.{name}": value
        for module in MODULES
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and STATEMENT.match(value)
    }


def test_the_store_keeps_its_statements_where_this_test_finds_them() -> None:
    found = statements()
    for name in ("chain.SELECT_BEFORE", "projection.SELECT_LOG", "workflow_nodes.SELECT_IRS"):
        assert name in found


@pytest.mark.parametrize("name", sorted(statements()))
async def test_a_generic_plan_made_on_empty_tables_scans_none(
    migrated: asyncpg.Connection, name: str
) -> None:
    sql = statements()[name]
    params = max((int(n) for n in re.findall(r"\$(\d+)", sql)), default=0)
    await migrated.execute("SET plan_cache_mode = force_generic_plan")
    await migrated.execute(f"PREPARE probe AS {sql}")
    args = f"({', '.join(['NULL'] * params)})" if params else ""
    plan = "\n".join(r[0] for r in await migrated.fetch(f"EXPLAIN EXECUTE probe{args}"))
    assert [t for t in re.findall(r"Seq Scan on (\w+)", plan) if t in TABLES] == [], plan


async def seq_scans(conn: asyncpg.Connection) -> dict[str, int]:
    """The tables' sequential scans so far, counting ``conn``'s own (flushed before it reads them)."""
    await conn.execute("SELECT pg_stat_force_next_flush()")  # when the backend is next idle: now
    rows = await conn.fetch(
        "SELECT relname, seq_scan FROM pg_stat_user_tables WHERE relname = ANY($1)", list(TABLES)
    )
    return {r["relname"]: r["seq_scan"] for r in rows}


async def test_batches_written_after_the_tables_grew_scan_no_table(
    database_url: str, migrated: asyncpg.Connection
) -> None:
    writer_conn = await asyncpg.connect(database_url)
    try:
        for _ in range(8):  # past five runs: generic plans are cached while the tables are nearly empty
            events = lifecycle(f"exec_{uuid.uuid4().hex}")
            await write_events(writer_conn, events[:4], Written(events), WorkflowNodes())
            await write_events(writer_conn, events[4:], Written(events), WorkflowNodes())
        await migrated.execute(GROW)
        before = await seq_scans(writer_conn)
        events = lifecycle(f"exec_{uuid.uuid4().hex}")
        await write_events(writer_conn, events[:4], Written(events), WorkflowNodes())
        await write_events(writer_conn, events[4:], Written(events), WorkflowNodes())
        after = await seq_scans(writer_conn)
    finally:
        await writer_conn.close()
    assert after == before


GROW = """
INSERT INTO events (execution_id, sequence, event_id, tenant, kind_type, kind, created_at, stream_seq)
SELECT 'grown_' || (n / 10), n % 10 + 1, gen_random_uuid(), 't1', 'node_started', '{}', now(), n
FROM generate_series(0, 49999) AS n;
INSERT INTO executions (execution_id, tenant, workflow_id, workflow_version, status, initial_input,
                        current_state, last_sequence, started_at, updated_at)
SELECT 'grown_' || n, 't1', 'wf', '1.0.0', 'running', '{}', '{}', 10, now(), now()
FROM generate_series(0, 4999) AS n;
"""
