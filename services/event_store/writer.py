"""Writing a batch of events, and the executions rows they change, in one transaction (and the simpler
writes of catalog versions and dead letters).

Replicas share the consumer, so two batches may hold events of the same execution and commit in any
order. Each transaction therefore takes a transaction-scoped advisory lock per execution (in one global
order, so no deadlock) and folds from what is committed: its own new events plus any stored events past
the row's ``last_sequence`` that another batch wrote first.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence

import asyncpg
import msgspec

from jamjet_common.events import EventKind
from services.event_store.dlq_intake import DeadLetterRow
from services.event_store.fold import ExecutionRow, LogEntry, fold
from services.event_store.intake import StoredEvent, WorkflowRow

logger = logging.getLogger(__name__)

KIND_DECODER = msgspec.json.Decoder(EventKind)
CATCH_UP_LIMIT = 1000
"""Stored-but-unfolded events read per execution and batch; the next batch reads on."""

# unnest yields the keys in the sorted order they are sent in, so every replica locks in one order.
LOCK_EXECUTIONS = "SELECT pg_advisory_xact_lock(key) FROM unnest($1::bigint[]) AS key"

INSERT_EVENTS = """
INSERT INTO events (execution_id, sequence, event_id, tenant, kind_type, kind, created_at, stream_seq)
SELECT * FROM unnest(
    $1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[],
    $8::bigint[]
)
ON CONFLICT (execution_id, sequence) DO NOTHING
RETURNING execution_id, sequence
"""

SELECT_ROWS = """
SELECT execution_id, tenant, workflow_id, workflow_version, status, initial_input::text AS initial_input,
       current_state::text AS current_state, last_sequence, error, started_at, updated_at, completed_at
FROM executions WHERE execution_id = ANY($1::text[])
ORDER BY execution_id
FOR UPDATE
"""

# Stored events the fold may need beyond what this batch inserted: written by another replica's batch
# (which could not fold them yet), or earlier copies of redelivered messages. ``after`` skips the run of
# sequences this batch has just inserted, so the usual answer is an empty index probe.
SELECT_UNFOLDED = f"""
SELECT e.execution_id, e.sequence, e.tenant, e.created_at, e.kind::text AS kind
FROM unnest($1::text[], $2::bigint[]) AS w(execution_id, after)
CROSS JOIN LATERAL (
    SELECT * FROM events
    WHERE events.execution_id = w.execution_id AND events.sequence > w.after
    ORDER BY events.sequence
    LIMIT {CATCH_UP_LIMIT}
) AS e
"""

INSERT_ROWS = """
INSERT INTO executions (execution_id, tenant, workflow_id, workflow_version, status, initial_input,
                        current_state, last_sequence, error, started_at, updated_at, completed_at)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::bigint[],
    $9::text[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[]
)
"""

# current_state is sent only when it changed (NULL keeps the stored one): states can be large.
UPDATE_ROWS = """
UPDATE executions AS x
SET status = u.status, current_state = COALESCE(u.current_state, x.current_state),
    last_sequence = u.last_sequence, error = u.error, updated_at = u.updated_at,
    completed_at = u.completed_at
FROM unnest(
    $1::text[], $2::text[], $3::jsonb[], $4::bigint[], $5::text[], $6::timestamptz[], $7::timestamptz[]
) AS u(execution_id, status, current_state, last_sequence, error, updated_at, completed_at)
WHERE x.execution_id = u.execution_id
"""

UPSERT_WORKFLOWS = """
INSERT INTO workflows (tenant, workflow_id, version, ir, registered_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])
ON CONFLICT (tenant, workflow_id, version)
DO UPDATE SET ir = EXCLUDED.ir, registered_at = EXCLUDED.registered_at
"""

INSERT_DEAD_LETTERS = """
INSERT INTO dead_letters (stream_seq, kind, payload, created_at, tenant, execution_id, node_id, dispatch,
                          queue_type, attempts, last_error)
SELECT * FROM unnest(
    $1::bigint[], $2::text[], $3::jsonb[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
    $8::bigint[], $9::text[], $10::bigint[], $11::text[]
)
ON CONFLICT (stream_seq) DO NOTHING
"""


def lock_key(execution_id: str) -> int:
    """A signed 64-bit advisory lock key, the same on every replica."""
    digest = hashlib.blake2b(execution_id.encode(), digest_size=8, person=b"jamjet-exec").digest()
    return int.from_bytes(digest, "big", signed=True)


async def write_events(conn: asyncpg.Connection, batch: Sequence[StoredEvent]) -> None:
    """Store ``batch`` (idempotently) and fold it into executions, all in one transaction."""
    events = _unique(batch)
    execution_ids = sorted({e.event.execution_id for e in events})
    async with conn.transaction():
        await conn.execute(LOCK_EXECUTIONS, sorted({lock_key(x) for x in execution_ids}))
        inserted = await _insert_events(conn, events)
        rows = {r.execution_id: r for r in await _select_rows(conn, execution_ids)}
        entries = _entries_of(e for e in events if e.key in inserted)
        for execution_id, entry in await _select_unfolded(conn, execution_ids, rows, entries):
            entries[execution_id].setdefault(entry.sequence, entry)
        folded = [fold(rows.get(x), x, entries[x]) for x in execution_ids if entries.get(x)]
        await _write_rows(conn, [r for r in folded if r is not None and r.changed])


def _unique(batch: Sequence[StoredEvent]) -> list[StoredEvent]:
    """The first copy of each (execution_id, sequence): one INSERT must not hold a key twice."""
    seen: dict[tuple[str, int], StoredEvent] = {}
    for stored in batch:
        seen.setdefault(stored.key, stored)
    return list(seen.values())


def _entries_of(events: Iterable[StoredEvent]) -> defaultdict[str, dict[int, LogEntry]]:
    entries: defaultdict[str, dict[int, LogEntry]] = defaultdict(dict)
    for stored in events:
        entries[stored.event.execution_id][stored.event.sequence] = stored.entry()
    return entries


async def _insert_events(conn: asyncpg.Connection, events: list[StoredEvent]) -> set[tuple[str, int]]:
    records = await conn.fetch(
        INSERT_EVENTS,
        [e.event.execution_id for e in events],
        [e.event.sequence for e in events],
        [e.event_id for e in events],
        [e.tenant for e in events],
        [e.event.kind.tag for e in events],
        [e.kind_json for e in events],
        [e.created_at for e in events],
        [e.stream_seq for e in events],
    )
    inserted = {(r["execution_id"], r["sequence"]) for r in records}
    if len(inserted) < len(events):
        logger.debug("%d of %d events were already stored", len(events) - len(inserted), len(events))
    return inserted


async def _select_rows(conn: asyncpg.Connection, execution_ids: list[str]) -> list[ExecutionRow]:
    records = await conn.fetch(SELECT_ROWS, execution_ids)
    return [
        ExecutionRow(
            execution_id=r["execution_id"],
            tenant=r["tenant"],
            workflow_id=r["workflow_id"],
            workflow_version=r["workflow_version"],
            status=r["status"],
            initial_input_json=r["initial_input"],
            state_json=r["current_state"],
            last_sequence=r["last_sequence"],
            error=r["error"],
            started_at=r["started_at"],
            updated_at=r["updated_at"],
            completed_at=r["completed_at"],
        )
        for r in records
    ]


async def _select_unfolded(
    conn: asyncpg.Connection,
    execution_ids: list[str],
    rows: dict[str, ExecutionRow],
    entries: dict[str, dict[int, LogEntry]],
) -> list[tuple[str, LogEntry]]:
    after = [
        _covered_to(rows[x].last_sequence if x in rows else 0, entries.get(x, {})) for x in execution_ids
    ]
    records = await conn.fetch(SELECT_UNFOLDED, execution_ids, after)
    return [
        (
            r["execution_id"],
            LogEntry(r["sequence"], r["tenant"], r["created_at"], KIND_DECODER.decode(r["kind"])),
        )
        for r in records
    ]


def _covered_to(last_sequence: int, new: dict[int, LogEntry]) -> int:
    """The end of the gapless run of newly inserted sequences right after ``last_sequence``."""
    covered = last_sequence
    while covered + 1 in new:
        covered += 1
    return covered


async def _write_rows(conn: asyncpg.Connection, rows: list[ExecutionRow]) -> None:
    new = [r for r in rows if r.is_new]
    old = [r for r in rows if not r.is_new]
    if new:
        await conn.execute(
            INSERT_ROWS,
            *_columns(new, "execution_id", "tenant", "workflow_id", "workflow_version", "status"),
            [r.initial_input_json for r in new],
            [r.state_json for r in new],
            *_columns(new, "last_sequence", "error", "started_at", "updated_at", "completed_at"),
        )
    if old:
        await conn.execute(
            UPDATE_ROWS,
            *_columns(old, "execution_id", "status"),
            [r.state_json if r.state_dirty else None for r in old],
            *_columns(old, "last_sequence", "error", "updated_at", "completed_at"),
        )


def _columns(rows: list[ExecutionRow], *names: str) -> list[list[object]]:
    return [[getattr(r, name) for r in rows] for name in names]


async def write_workflows(conn: asyncpg.Connection, batch: Sequence[WorkflowRow]) -> None:
    """Upsert catalog versions; the last copy of a key in the batch wins, as in the bucket."""
    rows = list({row.key: row for row in batch}.values())
    await conn.execute(
        UPSERT_WORKFLOWS,
        [r.tenant for r in rows],
        [r.workflow_id for r in rows],
        [r.version for r in rows],
        [r.ir_json for r in rows],
        [r.registered_at for r in rows],
    )


async def write_dead_letters(conn: asyncpg.Connection, batch: Sequence[DeadLetterRow]) -> None:
    """Insert the records not stored yet; one per JAMJET_DLQ sequence, whatever the redeliveries."""
    rows = list({row.stream_seq: row for row in batch}.values())
    await conn.execute(
        INSERT_DEAD_LETTERS,
        [r.stream_seq for r in rows],
        [r.kind for r in rows],
        [r.record_json for r in rows],
        [r.created_at for r in rows],
        [r.tenant for r in rows],
        [r.execution_id for r in rows],
        [r.node_id for r in rows],
        [r.dispatch for r in rows],
        [r.queue_type for r in rows],
        [r.attempts for r in rows],
        [r.last_error for r in rows],
    )
