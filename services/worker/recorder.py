"""The events a worker appends for a node dispatch, each with its deduplication id.

``Nats-Msg-Id``s make a repeated append of the same fact a no-op: one outcome per dispatch
(``<execution_id>:<dispatch>:outcome``), one retryable failure per attempt. Outside JetStream's
duplicate window, :meth:`NodeRecorder.settled` reads the log so that a redelivered item whose outcome
is already recorded is not run again.
"""

from __future__ import annotations

import logging

from jamjet_common.codec import ENCODER
from jamjet_common.eventlog import EventLog, Tail
from jamjet_common.events import (
    EventKind,
    NodeCancelled,
    NodeCompleted,
    NodeFailed,
    NodeScheduled,
    NodeSkipped,
    NodeStarted,
    PolicyViolation,
    ToolApprovalRequired,
)
from jamjet_common.messages import PolicyDecision, WorkItem
from services.worker.executors import ExecutionResult

logger = logging.getLogger(__name__)
ENVELOPE_BYTES = 1024
"""Room for the event's envelope (id, execution id, timestamps) and headers within a message."""
UNKNOWN_SCOPE = "unknown"
HUMAN = "human"


def outcome_id(item: WorkItem) -> str:
    return f"{item.item_id}:outcome"


class NodeRecorder:
    def __init__(self, log: EventLog, worker_id: str, max_msg_bytes: int) -> None:
        self._log = log
        self._worker_id = worker_id
        self._max_kind_bytes = max_msg_bytes - ENVELOPE_BYTES

    async def started(self, item: WorkItem, attempt: int) -> None:
        if item.scheduled_at is not None:
            position = item.scheduled_at
            self._log.hint(item.execution_id, Tail(position.sequence, position.stream_seq))
        kind = NodeStarted(node_id=item.node_id, worker_id=self._worker_id, attempt=attempt)
        await self._append(item, kind, f"{item.item_id}:started:{attempt}")

    def completion(self, item: WorkItem, result: ExecutionResult) -> NodeCompleted:
        return NodeCompleted(
            node_id=item.node_id,
            output=result.output,
            state_patch=result.state_patch,
            duration_ms=result.duration_ms,
            gen_ai_system=result.gen_ai_system,
            gen_ai_model=result.gen_ai_model,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            finish_reason=result.finish_reason,
            cost_usd=result.cost_usd,
            provenance=result.provenance,
        )

    def oversize(self, kind: EventKind) -> str | None:
        """Why ``kind`` cannot be appended, if it is too large to be an event."""
        size = len(ENCODER.encode(kind))
        if size <= self._max_kind_bytes:
            return None
        return f"node result is {size} bytes; an event may carry at most {self._max_kind_bytes} bytes"

    async def completed(self, item: WorkItem, kind: NodeCompleted) -> None:
        await self._append(item, kind, outcome_id(item))

    async def failed(self, item: WorkItem, attempt: int, error: str, *, retryable: bool) -> None:
        kind = NodeFailed(node_id=item.node_id, error=error, attempt=attempt, retryable=retryable)
        msg_id = f"{item.item_id}:failed:{attempt}" if retryable else outcome_id(item)
        await self._append(item, kind, msg_id)

    async def violation(self, item: WorkItem, decision: PolicyDecision) -> None:
        kind = PolicyViolation(
            node_id=item.node_id,
            rule=decision.reason or "blocked",
            decision="blocked",
            policy_scope=decision.policy_scope or UNKNOWN_SCOPE,
        )
        await self._append(item, kind, f"{item.item_id}:violation")

    async def approval_required(self, item: WorkItem, decision: PolicyDecision) -> None:
        kind = ToolApprovalRequired(
            node_id=item.node_id,
            tool_name=decision.tool_name or item.node_id,
            approver=decision.approver or HUMAN,
            context={"node_id": item.node_id},
        )
        await self._append(item, kind, f"{item.item_id}:approval")

    async def settled(self, item: WorkItem) -> bool:
        """Whether this dispatch already has its outcome (or approval hold) in the log."""
        async for event, _ in self._log.read(item.tenant, item.execution_id):
            if event.sequence <= item.dispatch or event.kind.node != item.node_id:
                continue
            if isinstance(event.kind, NodeScheduled):
                return False
            if _settles(event.kind):
                return True
        return False

    async def _append(self, item: WorkItem, kind: EventKind, msg_id: str) -> None:
        appended = await self._log.append(item.tenant, item.execution_id, kind, msg_id=msg_id)
        if appended.duplicate:
            logger.info("%s/%s: %s was recorded already", item.execution_id, item.node_id, kind.tag)


def _settles(kind: EventKind) -> bool:
    if isinstance(kind, NodeFailed):
        return not kind.retryable
    return isinstance(kind, NodeCompleted | NodeSkipped | NodeCancelled | ToolApprovalRequired)
