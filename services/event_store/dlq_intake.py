"""Turning JAMJET_DLQ messages into ``dead_letters`` rows, whatever they hold.

A dead letter is never dead-lettered again: a message that is not what its subject promises (garbage,
invalid UTF-8, a work record that does not validate) is kept as a ``decode`` row holding its raw text.
Every row is made storable here (no NUL characters, ids that fit their indexes, integers that fit a
bigint), so Postgres has no reason to refuse one and the consumer never stalls on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from nats.aio.msg import Msg

from jamjet_common import streams, subjects
from jamjet_common.codec import ENCODER, decode
from jamjet_common.deadletter import DecodeDeadLetter, payload_text
from jamjet_common.errors import ContractError
from jamjet_common.messages import ErrorBody, WorkDeadLetter
from services.event_store.intake import MAX_BIGINT

SERVICE = "event-store"
DLQ_CONSUMER = "jamjet-event-store-dlq"
WORK = "work"
DECODE = "decode"
KINDS = (WORK, DECODE)
DLQ_WORK_PREFIX = subjects.DLQ_WORK_ALL.removesuffix(">")
_SUBJECTS_WITH_EXECUTION = {"events", "append", "timers", "progress", "cancel"}
# A JSON ``\u0000`` escape that is not itself escaped (preceded by an even number of backslashes):
# jsonb refuses it. It is rewritten as the six characters it spells.
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A dead letter as it goes into the ``dead_letters`` table."""

    stream_seq: int
    kind: str
    record_json: str
    created_at: datetime
    """When JAMJET_DLQ stored it: the same on every replay."""
    tenant: str | None = None
    execution_id: str | None = None
    node_id: str | None = None
    dispatch: int | None = None
    queue_type: str | None = None
    attempts: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class DlqMessage:
    """What the row is made of: the message and where JAMJET_DLQ holds it."""

    subject: str
    data: bytes
    stream_seq: int
    num_delivered: int
    stored_at: datetime

    @classmethod
    def of(cls, msg: Msg) -> Self:
        meta = msg.metadata
        return cls(msg.subject, msg.data, meta.sequence.stream, meta.num_delivered, meta.timestamp)


def decode_dead_letter(msg: DlqMessage) -> DeadLetterRow:
    """The row for any message of JAMJET_DLQ; never raises for what the message holds."""
    try:
        if msg.subject.startswith(DLQ_WORK_PREFIX):
            return _work_row(msg)
        if msg.subject == subjects.DLQ_DECODE:
            return _decode_row(msg)
        raise ContractError(f"{msg.subject!r} is not a dead-letter subject", code="unknown_dead_letter")
    except ContractError as exc:
        return _raw_row(msg, exc)


def _work_row(msg: DlqMessage) -> DeadLetterRow:
    # Decoding into a struct skips unknown fields without checking them; jsonb will check them all.
    decode(msg.data, dict[str, Any], what="work dead letter")
    letter = decode(msg.data, WorkDeadLetter, what="work dead letter")
    item = letter.item
    return DeadLetterRow(
        stream_seq=msg.stream_seq,
        kind=WORK,
        record_json=storable_json(msg.data),
        created_at=msg.stored_at,
        tenant=subjects.check_token(item.tenant, "tenant"),
        execution_id=subjects.check_token(item.execution_id, "execution_id"),
        node_id=_text(item.node.id),
        dispatch=_bigint(item.dispatch, "dispatch"),
        queue_type=_text(item.queue_type),
        attempts=_bigint(letter.attempts, "attempts"),
        last_error=_text(letter.last_error),
    )


def _decode_row(msg: DlqMessage) -> DeadLetterRow:
    """A record of ``jamjet.dlq.decode``, in its shared shape or one it had before."""
    decode(msg.data, dict[str, Any], what="decode dead letter")
    record = decode(msg.data, DecodeDeadLetter, what="decode dead letter")
    tenant, execution_id, queue_type = _origin(record.subject)
    return DeadLetterRow(
        stream_seq=msg.stream_seq,
        kind=DECODE,
        record_json=storable_json(msg.data),
        created_at=msg.stored_at,
        tenant=tenant,
        execution_id=execution_id,
        queue_type=queue_type,
        last_error=_text(record.error_text),
    )


def _raw_row(msg: DlqMessage, error: ContractError) -> DeadLetterRow:
    """A ``decode`` row holding the raw text, as if the store had dead-lettered the message itself."""
    record = DecodeDeadLetter(
        subject=msg.subject,
        error=ErrorBody(code=error.code, message=error.message),
        payload=payload_text(msg.data),
        service=SERVICE,
        stream=streams.DLQ,
        stream_seq=msg.stream_seq,
        num_delivered=msg.num_delivered,
        consumer=DLQ_CONSUMER,
    )
    queue = msg.subject.removeprefix(DLQ_WORK_PREFIX) if msg.subject.startswith(DLQ_WORK_PREFIX) else None
    return DeadLetterRow(
        stream_seq=msg.stream_seq,
        kind=DECODE,
        record_json=storable_json(ENCODER.encode(record)),
        created_at=msg.stored_at,
        queue_type=queue if queue and subjects.TOKEN_RE.fullmatch(queue) else None,
        last_error=_text(f"{error.code}: {error.message}"),
    )


def _origin(subject: str) -> tuple[str | None, str | None, str | None]:
    """``(tenant, execution_id, queue_type)`` named by the subject a message was dead-lettered from."""
    parts = subject.split(".")
    if parts[0] != subjects.PREFIX or not all(subjects.TOKEN_RE.fullmatch(p) for p in parts[1:]):
        return None, None, None
    if len(parts) == 4 and parts[1] in _SUBJECTS_WITH_EXECUTION:
        return parts[2], parts[3], None
    if len(parts) == 3 and parts[1] == "work":
        return None, None, parts[2]
    return None, None, None


def storable_json(data: bytes) -> str:
    """Valid JSON text as jsonb accepts it: the one escape it refuses (``\\u0000``) spelled out."""
    return _NUL_ESCAPE.sub(rb"\1\\\\u0000", data).decode("utf-8", errors="replace")


def _text(value: str) -> str:
    # text columns cannot hold NUL; spelled out as storable_json spells it in the record.
    return value.replace("\x00", "\\u0000")


def _bigint(value: int, what: str) -> int:
    if not 0 <= value <= MAX_BIGINT:
        raise ContractError(f"{what} {value} is out of range", code="invalid_request")
    return value
