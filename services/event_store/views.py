"""Reply shapes of the store's queries, built from table rows, and the opaque listing cursors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from jamjet_common import subjects
from jamjet_common.codec import ENCODER
from jamjet_common.errors import ContractError
from jamjet_common.events import Event
from services.event_store.rows import KIND_DECODER


class ExecutionView(msgspec.Struct, frozen=True, kw_only=True):
    execution_id: str
    tenant: str
    workflow_id: str
    workflow_version: str
    status: str
    initial_input: msgspec.Raw
    current_state: msgspec.Raw
    last_sequence: int
    error: str | None
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class WorkflowView(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    workflow_id: str
    version: str
    ir: msgspec.Raw
    registered_at: datetime
    warnings: msgspec.Raw


class DeadLetterView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    stream_seq: int
    kind: str
    tenant: str | None
    execution_id: str | None
    node_id: str | None
    dispatch: int | None
    queue_type: str | None
    attempts: int | None
    last_error: str | None
    record: msgspec.Raw | None
    """None when the record alone is too large for a reply: read it from JAMJET_DLQ by stream_seq."""
    created_at: datetime


class ApprovalView(msgspec.Struct, frozen=True, kw_only=True):
    execution_id: str
    tenant: str
    node_id: str
    tool_name: str
    approver: str
    context: msgspec.Raw
    status: str
    requested_seq: int
    requested_at: datetime
    user_id: str | None
    comment: str | None
    decided_seq: int | None
    """The event that decided the request, or closed it (the node settled or the execution ended)."""
    decided_at: datetime | None


class _RawKindEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    execution_id: str
    sequence: int
    created_at: datetime
    kind: msgspec.Raw


Row = Mapping[str, Any]


def wire_event(row: Row) -> bytes:
    """The event in its wire form; the kind goes back through its struct so fields keep their order."""
    fields = {
        "id": str(row["event_id"]),
        "execution_id": row["execution_id"],
        "sequence": row["sequence"],
        "created_at": row["created_at"],
    }
    try:
        return ENCODER.encode(Event(**fields, kind=KIND_DECODER.decode(row["kind"])))
    except msgspec.ValidationError:
        # A kind stored by another version of the contract is returned as stored, not dropped.
        return ENCODER.encode(_RawKindEvent(**fields, kind=msgspec.Raw(row["kind"].encode())))


def execution_view(row: Row) -> bytes:
    return ENCODER.encode(
        ExecutionView(
            execution_id=row["execution_id"],
            tenant=row["tenant"],
            workflow_id=row["workflow_id"],
            workflow_version=row["workflow_version"],
            status=row["status"],
            initial_input=msgspec.Raw(row["initial_input"].encode()),
            current_state=msgspec.Raw(row["current_state"].encode()),
            last_sequence=row["last_sequence"],
            error=row["error"],
            started_at=row["started_at"],
            updated_at=row["updated_at"],
            completed_at=row["completed_at"],
        )
    )


def workflow_view(row: Row) -> bytes:
    return ENCODER.encode(
        WorkflowView(
            tenant=row["tenant"],
            workflow_id=row["workflow_id"],
            version=row["version"],
            ir=msgspec.Raw(row["ir"].encode()),
            registered_at=row["registered_at"],
            warnings=msgspec.Raw(row["warnings"].encode()),
        )
    )


def dead_letter_view(row: Row, max_bytes: int) -> bytes:
    """The dead letter with its record, or without it (``record: null``) if that would not fit."""
    record = row["record"]
    view = _dead_letter(row, msgspec.Raw(record.encode()) if len(record) < max_bytes else None)
    return view if len(view) <= max_bytes else _dead_letter(row, None)


def _dead_letter(row: Row, record: msgspec.Raw | None) -> bytes:
    return ENCODER.encode(
        DeadLetterView(
            id=row["id"],
            stream_seq=row["stream_seq"],
            kind=row["kind"],
            tenant=row["tenant"],
            execution_id=row["execution_id"],
            node_id=row["node_id"],
            dispatch=row["dispatch"],
            queue_type=row["queue_type"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            record=record,
            created_at=row["created_at"],
        )
    )


def approval_view(row: Row) -> bytes:
    return ENCODER.encode(
        ApprovalView(
            execution_id=row["execution_id"],
            tenant=row["tenant"],
            node_id=row["node_id"],
            tool_name=row["tool_name"],
            approver=row["approver"],
            context=msgspec.Raw(row["context"].encode()),
            status=row["status"],
            requested_seq=row["requested_seq"],
            requested_at=row["requested_at"],
            user_id=row["user_id"],
            comment=row["comment"],
            decided_seq=row["decided_seq"],
            decided_at=row["decided_at"],
        )
    )


_CURSOR = msgspec.json.Decoder(tuple[datetime, str])
_APPROVAL_CURSOR = msgspec.json.Decoder(tuple[datetime, str, int])
_SEQ_CURSOR = msgspec.json.Decoder(tuple[int])
INVALID_CURSOR = "the cursor is not one this store returned; pass the 'next' value of the previous page"


def encode_cursor(started_at: datetime, execution_id: str) -> str:
    """The position after an execution in the newest-first listing."""
    return _opaque(ENCODER.encode((started_at, execution_id)))


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        started_at, execution_id = _CURSOR.decode(_unwrap(cursor))
    except (ValueError, msgspec.DecodeError):
        raise ContractError(INVALID_CURSOR, code="invalid_cursor") from None
    if started_at.tzinfo is None:
        raise ContractError("the cursor has no time zone", code="invalid_cursor")
    _check_id(execution_id)
    return started_at, execution_id


def encode_seq_cursor(stream_seq: int) -> str:
    """The position after a dead letter in the newest-first listing."""
    return _opaque(ENCODER.encode((stream_seq,)))


def decode_seq_cursor(cursor: str, high: int) -> int:
    try:
        (stream_seq,) = _SEQ_CURSOR.decode(_unwrap(cursor))
    except (ValueError, msgspec.DecodeError):
        raise ContractError(INVALID_CURSOR, code="invalid_cursor") from None
    if not 1 <= stream_seq <= high:
        raise ContractError(INVALID_CURSOR, code="invalid_cursor")
    return stream_seq


def encode_approval_cursor(requested_at: datetime, execution_id: str, requested_seq: int) -> str:
    """The position after an approval in the newest-first listing."""
    return _opaque(ENCODER.encode((requested_at, execution_id, requested_seq)))


def decode_approval_cursor(cursor: str, high: int) -> tuple[datetime, str, int]:
    try:
        requested_at, execution_id, requested_seq = _APPROVAL_CURSOR.decode(_unwrap(cursor))
    except (ValueError, msgspec.DecodeError):
        raise ContractError(INVALID_CURSOR, code="invalid_cursor") from None
    if requested_at.tzinfo is None or not 1 <= requested_seq <= high:
        raise ContractError(INVALID_CURSOR, code="invalid_cursor")
    _check_id(execution_id)
    return requested_at, execution_id, requested_seq


def _check_id(execution_id: str) -> None:
    # A string Postgres cannot take (a NUL) must not reach the query as one.
    if not subjects.TOKEN_RE.fullmatch(execution_id):
        raise ContractError(INVALID_CURSOR, code="invalid_cursor")


def _opaque(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unwrap(cursor: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise ContractError(INVALID_CURSOR, code="invalid_cursor") from None
