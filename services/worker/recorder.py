"""The events a worker appends for a node dispatch, each with its deduplication id.

``Nats-Msg-Id``s make a repeated append of the same fact a no-op, so that two workers cannot record it
twice: one outcome per dispatch (``<execution_id>:<dispatch>:outcome``), one start, one failure and one
retry per attempt (``…:started:<n>``, ``…:failed:<n>``, ``…:retry:<n+1>``); ``jamjet_common.dedup``
spells them. Outside JetStream's
duplicate window the outcome claims (``claims.py``) and the dispatch history (``history.py``) keep an
outcome single.
"""

from __future__ import annotations

import logging
from typing import Any

from jamjet_common import telemetry
from jamjet_common.codec import ENCODER
from jamjet_common.dedup import DispatchKeys
from jamjet_common.eventlog import EventLog, Tail
from jamjet_common.events import (
    AutonomyLimitReached,
    CircuitBreakerTripped,
    EscalationRequired,
    EventKind,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    PolicyViolation,
    RetryScheduled,
    ToolApprovalRequired,
)
from jamjet_common.messages import AutonomyOutcome, PolicyDecision, WorkItem
from services.worker.executors import ExecutionResult
from services.worker.history import DispatchHistory, read_history

logger = logging.getLogger(__name__)
ENVELOPE_BYTES = 1024
"""Room for the event's envelope (id, execution id, timestamps) and headers within a message."""
UNKNOWN_SCOPE = "unknown"
HUMAN = "human"


def escalation_events(node_id: str, outcome: AutonomyOutcome) -> list[EventKind]:
    first: EventKind
    if outcome.decision == "trip_circuit_breaker":
        first = CircuitBreakerTripped(
            node_id=node_id,
            agent_ref=outcome.agent_ref,
            consecutive_errors=outcome.consecutive_errors or 0,
            threshold=outcome.threshold or 0,
        )
        reason = "circuit_breaker"
    else:
        first = AutonomyLimitReached(
            node_id=node_id,
            agent_ref=outcome.agent_ref,
            limit_type=outcome.limit_type or "",
            limit_value=outcome.limit_value,
            actual_value=outcome.actual_value,
        )
        reason = outcome.reason or f"autonomy_limit:{outcome.limit_type}"
    escalate = EscalationRequired(
        node_id=node_id,
        agent_ref=outcome.agent_ref,
        reason=reason,
        escalation_target=outcome.escalation_target,
    )
    return [first, escalate]


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
        await self._append(item, kind, DispatchKeys.of(item).started(attempt))

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

    async def outcome(self, item: WorkItem, kind: EventKind) -> None:
        """The dispatch's one outcome; only its claimant (or a worker finishing the claim) appends it."""
        await self._append(item, kind, DispatchKeys.of(item).outcome)

    async def retrying(self, item: WorkItem, failed: NodeFailed, delay: float) -> None:
        """The attempt ``failed`` records failed, and the next one runs in ``delay`` seconds."""
        await self.attempt_failed(item, failed)
        await self.retry_scheduled(item, failed, delay)

    async def retry_scheduled(self, item: WorkItem, failed: NodeFailed, delay: float) -> None:
        """The attempt after ``failed`` runs in ``delay`` seconds (deduplicated per attempt)."""
        after = failed.attempt + 1
        kind = RetryScheduled(node_id=item.node_id, attempt=after, delay_ms=round(delay * 1000))
        await self._append(item, kind, DispatchKeys.of(item).retry(after))

    async def attempt_failed(self, item: WorkItem, failed: NodeFailed) -> None:
        """A retryable failure of one attempt (not the dispatch's outcome)."""
        await self._append(item, failed, DispatchKeys.of(item).failed(failed.attempt))

    async def violation(self, item: WorkItem, rule: str, scope: str | None) -> None:
        """The node was blocked: by the policy service, or by the worker's own sandbox."""
        kind = PolicyViolation(
            node_id=item.node_id, rule=rule, decision="blocked", policy_scope=scope or UNKNOWN_SCOPE
        )
        await self._append(item, kind, DispatchKeys.of(item).violation)

    async def escalation(self, item: WorkItem, outcome: AutonomyOutcome) -> None:
        """An agent's autonomy rules stopped the node: what tripped, then who must step in."""
        for index, kind in enumerate(escalation_events(item.node_id, outcome)):
            await self._append(item, kind, DispatchKeys.of(item).escalation(index))

    async def approval_required(
        self, item: WorkItem, decision: PolicyDecision, context: dict[str, Any] | None = None
    ) -> None:
        kind = ToolApprovalRequired(
            node_id=item.node_id,
            tool_name=decision.tool_name or item.node_id,
            approver=decision.approver or HUMAN,
            context=context or {"node_id": item.node_id},
        )
        await self._append(item, kind, DispatchKeys.of(item).approval)

    async def history(self, item: WorkItem) -> DispatchHistory:
        return await read_history(self._log, item)

    async def _append(self, item: WorkItem, kind: EventKind, msg_id: str) -> None:
        # The current span is the attempt's jamjet.node span: the event joins the execution's trace.
        appended = await self._log.append(
            item.tenant, item.execution_id, kind, msg_id=msg_id, headers=telemetry.inject()
        )
        if appended.duplicate:
            logger.info("%s/%s: %s was recorded already", item.execution_id, item.node_id, kind.tag)
