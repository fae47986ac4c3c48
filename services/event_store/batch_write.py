"""One batch's writes sent to ``jamjet_store_write`` (migrations 0005, 0008), a JSON document per part: a
round trip and a statement for the whole batch, where arrays per column cost asyncpg an encoding pass
per element and the rows' updates a statement each."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import msgspec

from jamjet_common.codec import ENCODER
from services.event_store.intake import StoredEvent
from services.event_store.rows import Approval, ExecutionRow

WRITE = "SELECT jamjet_store_write($1::json, $2::json, $3::json, $4::json, $5::json)"


class EventOut(msgspec.Struct, frozen=True):
    execution_id: str
    sequence: int
    event_id: uuid.UUID
    tenant: str
    kind_type: str
    kind: str
    created_at: datetime
    stream_seq: int


class RowChange(msgspec.Struct, frozen=True):
    """An executions row's fold columns; a state left out (None) keeps the stored one."""

    execution_id: str
    status: str
    current_state: str | None
    last_sequence: int
    error: str | None
    updated_at: datetime
    completed_at: datetime | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | str
    fold_state: str | None


class NewRow(RowChange, frozen=True, kw_only=True):
    tenant: str
    workflow_id: str
    workflow_version: str
    initial_input: str
    started_at: datetime


class Decision(msgspec.Struct, frozen=True):
    execution_id: str
    requested_seq: int
    status: str
    user_id: str | None
    comment: str | None
    decided_seq: int | None
    decided_at: datetime | None


class Request(Decision, frozen=True, kw_only=True):
    tenant: str
    node_id: str
    tool_name: str
    approver: str
    context: str
    requested_at: datetime | None


async def write_batch(
    conn: asyncpg.Connection, events: Sequence[StoredEvent], rows: Sequence[ExecutionRow]
) -> None:
    """Insert ``events`` (none of them stored yet) and write the rows and approvals the fold changed."""
    if not events and not rows:
        return
    approvals = [(r, a) for r in rows for a in r.approvals.values()]
    parts = (
        [_event(e) for e in events],
        [_new_row(r) for r in rows if r.is_new],
        [_change(r) for r in rows if not r.is_new],
        [_request(r, a) for r, a in approvals if a.is_new],
        [_decision(r, a) for r, a in approvals if not a.is_new],
    )
    await conn.execute(WRITE, *(ENCODER.encode(part).decode() for part in parts))


def _event(stored: StoredEvent) -> EventOut:
    event = stored.event
    return EventOut(
        event.execution_id,
        event.sequence,
        stored.event_id,
        stored.tenant,
        event.kind.tag,
        stored.kind_json,
        stored.created_at,
        stored.stream_seq,
    )


def _change(row: ExecutionRow, *, full: bool = False) -> RowChange:
    return RowChange(
        row.execution_id,
        row.status,
        row.state_json if full or row.state_dirty else None,
        row.last_sequence,
        row.error,
        row.updated_at,
        row.completed_at,
        row.input_tokens,
        row.output_tokens,
        _float8(row.cost_usd),
        row.fold_state_json() if full or row.fold_dirty else None,
    )


def _new_row(row: ExecutionRow) -> NewRow:
    return NewRow(
        **msgspec.structs.asdict(_change(row, full=True)),
        tenant=row.tenant,
        workflow_id=row.workflow_id,
        workflow_version=row.workflow_version,
        initial_input=row.initial_input_json,
        started_at=row.started_at,
    )


def _decision(row: ExecutionRow, a: Approval) -> Decision:
    return Decision(
        row.execution_id, a.requested_seq, a.status, a.user_id, a.comment, a.decided_seq, a.decided_at
    )


def _request(row: ExecutionRow, a: Approval) -> Request:
    return Request(
        row.execution_id,
        a.requested_seq,
        a.status,
        a.user_id,
        a.comment,
        a.decided_seq,
        a.decided_at,
        tenant=row.tenant,
        node_id=a.node_id,
        tool_name=a.tool_name,
        approver=a.approver,
        context=a.context_json,
        requested_at=a.requested_at,
    )


def _float8(value: float) -> float | str:
    """JSON has no infinity or NaN (msgspec would write null): Postgres reads them from text."""
    return value if math.isfinite(value) else str(value)
