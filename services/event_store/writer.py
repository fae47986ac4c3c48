"""Writing a batch of events, and the executions rows they change, in one transaction (and the simpler
writes of catalog versions and dead letters).

Replicas share the consumer, so two batches may hold events of the same execution and commit in any
order. Each transaction therefore takes a transaction-scoped advisory lock per execution (in one global
order, so no deadlock) and folds from what is committed: its own new events plus any stored events past
the row's ``last_sequence`` that another batch wrote first.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence

import asyncpg

from services.event_store.batch_read import read_batch
from services.event_store.batch_write import write_batch
from services.event_store.chain import LogReader, chain_keys, log_events
from services.event_store.dlq_intake import DeadLetterRow
from services.event_store.fold import LogEntry, fold
from services.event_store.intake import StoredEvent, WorkflowRow
from services.event_store.projection import locked_transaction, refolded
from services.event_store.workflow_nodes import WorkflowNodes, version_of

logger = logging.getLogger(__name__)

UPSERT_WORKFLOWS = """
INSERT INTO workflows (tenant, workflow_id, version, ir, registered_at, warnings)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[], $6::jsonb[])
ON CONFLICT (tenant, workflow_id, version)
DO UPDATE SET ir = EXCLUDED.ir, registered_at = EXCLUDED.registered_at, warnings = EXCLUDED.warnings
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


async def write_events(
    conn: asyncpg.Connection, batch: Sequence[StoredEvent], log: LogReader, workflows: WorkflowNodes
) -> None:
    """Store the log's events of ``batch`` (idempotently) and fold them into executions, all in one
    transaction; ``log`` reads the stream when a message cannot be placed from what is stored."""
    execution_ids = sorted({e.event.execution_id for e in batch})
    async with locked_transaction(conn, execution_ids):
        read = await read_batch(conn, execution_ids, chain_keys(batch))
        events = await log_events(conn, batch, log, read.known)
        rows = {r.execution_id: await refolded(conn, r) if r.stale else r for r in read.rows}
        entries = _entries_of(events)
        for execution_id, entry in read.unfolded:
            entries[execution_id].setdefault(entry.sequence, entry)
        versions = {x: version_of(rows.get(x), entries[x]) for x in execution_ids if entries.get(x)}
        nodes = await workflows.of(conn, {v for v in versions.values() if v is not None})
        folded = [fold(rows.get(x), x, entries[x], nodes.get(v) if v else None) for x, v in versions.items()]
        await write_batch(conn, events, [r for r in folded if r is not None and r.changed])


def _entries_of(events: Iterable[StoredEvent]) -> defaultdict[str, dict[int, LogEntry]]:
    entries: defaultdict[str, dict[int, LogEntry]] = defaultdict(dict)
    for stored in events:
        entries[stored.event.execution_id][stored.event.sequence] = stored.entry()
    return entries


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
        [r.warnings_json for r in rows],
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
