"""Building event logs as the scheduler and workers write them, and waiting for the store to fold them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from nats.js import JetStreamContext

from jamjet_common import subjects
from jamjet_common.codec import ENCODER
from jamjet_common.eventlog import EXPECTED_LAST_SUBJECT_SEQ, Entry, EventLog, Unreadable, new_event
from jamjet_common.events import (
    ApprovalReceived,
    Event,
    EventKind,
    NodeCompleted,
    NodeScheduled,
    ToolApprovalRequired,
    WorkflowStarted,
)
from services.event_store.intake import StoredEvent, decode_event
from tests.event_store.conftest import execution_row
from tests.helpers import eventually


def consumed(tenant: str, execution_id: str, kinds: list[EventKind], first: int = 1) -> list[StoredEvent]:
    """Events ``first``, ``first + 1``, ... as the store's consumer decodes them: each at the stream
    sequence of its number, appended on condition that the one before is the subject's last message."""
    subject = subjects.events(tenant, execution_id)
    return [
        decode_event(
            subject,
            ENCODER.encode(new_event(execution_id, seq, kind)),
            stream_seq=seq,
            headers={EXPECTED_LAST_SUBJECT_SEQ: str(seq - 1)},
        )
        for seq, kind in enumerate(kinds, start=first)
    ]


class Written:
    """The stream that ``events`` were consumed from, for writes tested without the bus: what the
    store reads when it cannot place a message from what it holds."""

    def __init__(self, events: list[StoredEvent]) -> None:
        self._events = sorted(events, key=lambda e: e.stream_seq)

    async def read_entries(
        self, tenant: str, execution_id: str, *, after_stream_seq: int = 0
    ) -> AsyncIterator[Entry | Unreadable]:
        for stored in self._events:
            if stored.event.execution_id == execution_id and stored.stream_seq > after_stream_seq:
                yield Entry(stored.event, stored.stream_seq, {})


def new_id() -> str:
    return f"exec_{uuid.uuid4().hex}"


def started(initial: Any = None) -> WorkflowStarted:
    return WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input=initial)


def ran(node_id: str, **completed: Any) -> list[EventKind]:
    """A node dispatched and completed: only a completion of a node in flight counts."""
    return [NodeScheduled(node_id=node_id, queue_type="general"), NodeCompleted(node_id=node_id, **completed)]


def held(
    node_id: str, tool_name: str = "tool", approver: str = "human", context: Any = None
) -> list[EventKind]:
    """A node dispatched, then stopped to wait for a human."""
    ask = ToolApprovalRequired(node_id=node_id, tool_name=tool_name, approver=approver, context=context)
    return [NodeScheduled(node_id=node_id, queue_type="general"), ask]


def decided(node_id: str, user_id: str, decision: str = "approved", **fields: Any) -> ApprovalReceived:
    return ApprovalReceived(node_id=node_id, user_id=user_id, decision=decision, **fields)


async def append_all(log: EventLog, tenant: str, execution_id: str, kinds: list[EventKind]) -> list[Event]:
    return [(await log.append(tenant, execution_id, kind)).event for kind in kinds]


async def publish_at(
    js: JetStreamContext, tenant: str, execution_id: str, kinds: list[EventKind], at: datetime
) -> None:
    """Publish a whole log whose events all carry the time ``at`` (an execution started in the past)."""
    for sequence, kind in enumerate(kinds, start=1):
        event = msgspec.structs.replace(new_event(execution_id, sequence, kind), created_at=at)
        await js.publish(subjects.append(tenant, execution_id), ENCODER.encode(event))


async def settled(pg: asyncpg.Connection, execution_id: str, last_sequence: int) -> asyncpg.Record:
    async def check() -> asyncpg.Record | None:
        row = await execution_row(pg, execution_id)
        return row if row is not None and row["last_sequence"] == last_sequence else None

    row: asyncpg.Record = await eventually(check, message=f"{execution_id} never reached {last_sequence}")
    return row
