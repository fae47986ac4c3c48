"""Reading and writing the fold's rows: ``executions`` and ``approvals``, and folding a row again from
its whole log (rows folded before migration 0003, or by a replica that predates it).

Callers hold the executions' advisory locks (``lock_executions``) inside one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence

import asyncpg

from services.event_store.batch_write import write_batch
from services.event_store.fold import apply, start_row
from services.event_store.rows import KIND_DECODER, ExecutionRow, LogEntry

logger = logging.getLogger(__name__)

REFOLD_CHUNK = 50
REFOLD_PREFETCH = 256

# unnest yields the keys in the sorted order they are sent in, so every replica locks in one order.
LOCK_EXECUTIONS = "SELECT pg_advisory_xact_lock(key) FROM unnest($1::bigint[]) AS key"

SELECT_LOG = """
SELECT sequence, tenant, created_at, kind::text AS kind FROM events
WHERE execution_id = $1 ORDER BY sequence
"""
QUEUED_REFOLDS = """
SELECT execution_id FROM refolds ORDER BY execution_id LIMIT $1 FOR UPDATE SKIP LOCKED
"""


def lock_key(execution_id: str) -> int:
    """A signed 64-bit advisory lock key, the same on every replica."""
    digest = hashlib.blake2b(execution_id.encode(), digest_size=8, person=b"jamjet-exec").digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_executions(conn: asyncpg.Connection, execution_ids: Sequence[str]) -> None:
    await conn.execute(LOCK_EXECUTIONS, sorted({lock_key(x) for x in execution_ids}))


@contextlib.asynccontextmanager
async def locked_transaction(conn: asyncpg.Connection, execution_ids: Sequence[str]) -> AsyncIterator[None]:
    """A transaction holding the executions' advisory locks, begun in one round trip instead of two.

    BEGIN and the lock share one simple query (which takes no parameters): the keys are integers this
    process computed, written into it as literals. Committed at the end, rolled back on any error.
    """
    keys = ",".join(str(key) for key in sorted({lock_key(x) for x in execution_ids}))
    await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock(key) FROM unnest('{{{keys}}}'::bigint[]) AS key")
    try:
        yield
    except BaseException:
        # A connection that cannot roll back is rolled back or dropped by the pool on release.
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


async def refolded(conn: asyncpg.Connection, stale: ExecutionRow) -> ExecutionRow:
    """``stale`` folded again from its whole log (itself if the log has no start)."""
    row = await refold(conn, stale.execution_id)
    return row if row is not None else stale


async def refold(conn: asyncpg.Connection, execution_id: str) -> ExecutionRow | None:
    """The execution's row folded from its whole stored log (its approvals rows are replaced)."""
    row: ExecutionRow | None = None
    async for record in conn.cursor(SELECT_LOG, execution_id, prefetch=REFOLD_PREFETCH):
        kind = KIND_DECODER.decode(record["kind"])
        entry = LogEntry(record["sequence"], record["tenant"], record["created_at"], kind)
        if row is None:
            row = start_row(execution_id, entry)
        elif entry.sequence == row.last_sequence + 1:
            apply(row, entry)
        if row is None or entry.sequence != row.last_sequence:
            break  # no start, or a gap: the rest folds when the missing events arrive
    if row is None:
        return None
    await conn.execute("DELETE FROM approvals WHERE execution_id = $1", execution_id)
    row.is_new, row.changed, row.state_dirty, row.fold_dirty = False, True, True, True
    logger.info("%s: folded again from its log, to sequence %d", execution_id, row.last_sequence)
    return row


async def refold_queued(conn: asyncpg.Connection) -> int:
    """Fold again every execution queued in ``refolds`` (by migration 0003); return how many."""
    done = 0
    while True:
        async with conn.transaction():
            ids = [r["execution_id"] for r in await conn.fetch(QUEUED_REFOLDS, REFOLD_CHUNK)]
            if not ids:
                return done
            await lock_executions(conn, ids)
            rows = [row for x in sorted(ids) if (row := await refold(conn, x)) is not None]
            await write_batch(conn, [], rows)
            await conn.execute("DELETE FROM refolds WHERE execution_id = ANY($1::text[])", ids)
        done += len(ids)
