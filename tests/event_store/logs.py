"""Building event logs as the scheduler and workers write them, and waiting for the store to fold them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from nats.js import JetStreamContext

from jamjet_common import subjects
from jamjet_common.codec import ENCODER
from jamjet_common.eventlog import EventLog, new_event
from jamjet_common.events import (
    ApprovalReceived,
    Event,
    EventKind,
    NodeCompleted,
    NodeScheduled,
    ToolApprovalRequired,
    WorkflowStarted,
)
from tests.event_store.conftest import execution_row
from tests.helpers import eventually


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
