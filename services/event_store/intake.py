"""Turning consumed messages into rows: events from EVENTS, workflow versions from the catalog bucket.

Anything that could make Postgres reject a row (ids that are not UUIDs, sequences out of range, an
events subject that does not match the body) is a contract error here, so that one bad message goes to
the dead-letter subject instead of failing its whole batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from jamjet_common import catalog, subjects
from jamjet_common.bucket import removes_key
from jamjet_common.codec import ENCODER, decode
from jamjet_common.errors import ContractError
from jamjet_common.eventlog import appended_after
from jamjet_common.events import Event
from jamjet_common.records import WorkflowRecord
from jamjet_common.streams import KV_WORKFLOWS
from services.event_store.rows import LogEntry

MAX_BIGINT = 2**63 - 1
KV_PREFIX = f"$KV.{KV_WORKFLOWS}."


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as it goes into the ``events`` table."""

    tenant: str
    event: Event
    event_id: uuid.UUID
    created_at: datetime
    kind_json: str
    stream_seq: int
    after: int | None = None
    """The stream sequence its writer appended it after (``Nats-Expected-Last-Subject-Sequence``, checked
    by the server when the message was stored); None for a message appended without the condition."""

    @property
    def key(self) -> tuple[str, int]:
        return self.event.execution_id, self.event.sequence

    def entry(self) -> LogEntry:
        return LogEntry(self.event.sequence, self.tenant, self.created_at, self.event.kind)


@dataclass(frozen=True, slots=True)
class WorkflowRow:
    tenant: str
    workflow_id: str
    version: str
    ir_json: str
    registered_at: datetime
    warnings_json: str = "[]"

    @property
    def key(self) -> tuple[str, str, str]:
        return self.tenant, self.workflow_id, self.version


def utc(value: datetime) -> datetime:
    """A timestamp without an offset is taken as UTC, the runtime's only time zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def decode_event(
    subject: str, data: bytes, stream_seq: int, headers: Mapping[str, str] | None = None
) -> StoredEvent:
    """Decode an EVENTS message or raise a :class:`ContractError` that says what is wrong."""
    tenant, execution_id = subjects.parse_events_subject(subject)
    subjects.check_token(tenant, "tenant")
    subjects.check_token(execution_id, "execution_id")
    event = decode(data, Event, what="event")
    if event.execution_id != execution_id:
        raise ContractError(
            f"event execution_id {event.execution_id!r} does not match its subject {subject!r}",
            code="execution_id_mismatch",
        )
    if not 1 <= event.sequence <= MAX_BIGINT:
        raise ContractError(f"event sequence {event.sequence} is out of range", code="invalid_sequence")
    return StoredEvent(
        tenant=tenant,
        event=event,
        event_id=_event_id(event.id),
        created_at=utc(event.created_at),
        kind_json=ENCODER.encode(event.kind).decode(),
        stream_seq=stream_seq,
        after=_appended_after(subject, headers),
    )


def _appended_after(subject: str, headers: Mapping[str, str] | None) -> int | None:
    after = appended_after(subject, headers)
    return after if after is not None and after <= MAX_BIGINT else None


def _event_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ContractError(f"event id {value[:60]!r} is not a UUID", code="invalid_event_id") from None


def workflow_key(subject: str) -> tuple[str, str, str] | None:
    """``(tenant, workflow_id, version)`` of a version key; None for other keys (``latest`` pointers)."""
    if not subject.startswith(KV_PREFIX):
        return None
    return catalog.parse_record_key(subject[len(KV_PREFIX) :])


def decode_workflow(subject: str, data: bytes, headers: dict[str, str] | None) -> WorkflowRow | None:
    """Decode a catalog entry; None for entries that are not workflow versions, or deletions."""
    if workflow_key(subject) is None or removes_key(headers):
        return None
    record = decode(data, WorkflowRecord, what="workflow record")
    subjects.check_token(record.tenant, "tenant")
    catalog.check_workflow_id(record.workflow_id)
    if not record.version or len(record.version) > catalog.MAX_VERSION:
        raise ContractError(
            f"workflow version {record.version[:60]!r} must be 1-{catalog.MAX_VERSION} characters"
        )
    return WorkflowRow(
        tenant=record.tenant,
        workflow_id=record.workflow_id,
        version=record.version,
        ir_json=bytes(record.ir).decode(),
        registered_at=utc(record.registered_at),
        warnings_json=ENCODER.encode(record.warnings).decode(),
    )
