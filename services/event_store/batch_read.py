"""What one batch's write reads before it folds, asked of ``jamjet_store_read`` (migrations 0006, 0008)
in one round trip: the chain check's stored events, the executions' rows (locked) and the stored events
past them not folded yet. The answer is one JSON document, decoded by msgspec, where three statements'
records were decoded column by column."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import msgspec

from jamjet_common.codec import ENCODER
from jamjet_common.events import EventKind
from services.event_store.rows import FOLD_STATE_DECODER, ExecutionRow, LogEntry
from services.event_store.views import ExecutionView

CATCH_UP_LIMIT = 1000
"""Stored-but-unfolded events read per execution and batch; the next batch reads on."""

READ = "SELECT jamjet_store_read($1::json, $2::json, $3)"
NULL = b"null"


class Key(msgspec.Struct, frozen=True):
    execution_id: str
    sequence: int


class StoredAt(msgspec.Struct, frozen=True, array_like=True):
    execution_id: str
    sequence: int
    stream_seq: int


class RowIn(ExecutionView, frozen=True, kw_only=True):
    """An executions row as stored, with the columns the fold keeps beside the view's."""

    input_tokens: int | float
    output_tokens: int | float
    cost_usd: float | str
    """A number, or Postgres's text for an infinity or NaN."""
    fold_state: msgspec.Raw
    """JSON null: folded before migration 0003, to be folded again from its log."""


class EventIn(msgspec.Struct, frozen=True, array_like=True):
    execution_id: str
    sequence: int
    tenant: str
    created_at: datetime
    kind: EventKind


class Answer(msgspec.Struct, frozen=True):
    stored: list[StoredAt]
    rows: list[RowIn]
    unfolded: list[EventIn]


DECODER = msgspec.json.Decoder(Answer)


@dataclass(slots=True)
class Read:
    known: defaultdict[str, dict[int, int]]
    """Stored events asked about: execution → sequence → stream sequence."""
    rows: list[ExecutionRow]
    """Rows as stored; ``stale`` ones are to be folded again before use."""
    unfolded: list[tuple[str, LogEntry]]


async def read_batch(
    conn: asyncpg.Connection, execution_ids: list[str], keys: Iterable[tuple[str, int]]
) -> Read:
    """``execution_ids`` sorted (rows are locked in that order); ``keys``: (execution, sequence) pairs."""
    ids = ENCODER.encode(execution_ids).decode()
    stored = ENCODER.encode([Key(x, s) for x, s in keys]).decode()
    answer = DECODER.decode(await conn.fetchval(READ, ids, stored, CATCH_UP_LIMIT))
    known: defaultdict[str, dict[int, int]] = defaultdict(dict)
    for at in answer.stored:
        known[at.execution_id][at.sequence] = at.stream_seq
    unfolded = [(e.execution_id, _entry(e)) for e in answer.unfolded]
    return Read(known, [_row(r) for r in answer.rows], unfolded)


def _entry(event: EventIn) -> LogEntry:
    return LogEntry(event.sequence, event.tenant, event.created_at, event.kind)


def _row(found: RowIn) -> ExecutionRow:
    row = ExecutionRow(
        execution_id=found.execution_id,
        tenant=found.tenant,
        workflow_id=found.workflow_id,
        workflow_version=found.workflow_version,
        status=found.status,
        initial_input_json=bytes(found.initial_input).decode(),
        state_json=bytes(found.current_state).decode(),
        last_sequence=found.last_sequence,
        error=found.error,
        started_at=found.started_at,
        updated_at=found.updated_at,
        completed_at=found.completed_at,
        input_tokens=int(found.input_tokens),
        output_tokens=int(found.output_tokens),
        cost_usd=float(found.cost_usd),
    )
    if bytes(found.fold_state) == NULL:
        row.stale = True
    else:
        row.load_fold_state(FOLD_STATE_DECODER.decode(found.fold_state))
    return row
