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
from collections.abc import Awaitable, Callable
from typing import Any

from jamjet_common import telemetry
from jamjet_common.codec import ENCODER
from jamjet_common.dedup import DispatchKeys
from jamjet_common.dispatch_end import ends_attempt, ends_dispatch
from jamjet_common.errors import JamjetError
from jamjet_common.eventlog import Appended, EventLog, Tail
from jamjet_common.events import (
    AutonomyLimitReached,
    CircuitBreakerTripped,
    EscalationRequired,
    Event,
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
from services.worker.history import Attempt, DispatchHistory, read_history, released_failure

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


Observer = Callable[[WorkItem, Appended], None]
"""Told of each event a recorder appends (a scheduler running nodes inline folds them at once)."""
OutcomeWriter = Callable[[WorkItem, EventKind, Attempt, dict[str, str]], Awaitable[Appended | Event | None]]
"""Appends a dispatch's outcome in the recorder's place, as ``append_unless`` would, with what follows
from it (a scheduler running the node inline: ``Executions.inline_outcome``); None: not taken, the
recorder appends it. Given the message headers (the node span's trace context)."""


class NodeRecorder:
    def __init__(
        self, log: EventLog, worker_id: str, max_msg_bytes: int, observe: Observer | None = None
    ) -> None:
        self._log = log
        self._worker_id = worker_id
        self._max_kind_bytes = max_msg_bytes - ENVELOPE_BYTES
        self._observe = observe
        self.outcomes: OutcomeWriter | None = None

    async def started(self, item: WorkItem, attempt: Attempt) -> Event | None:
        """Record that ``attempt`` starts, unless the dispatch has ended: then the event that ended it.

        The start moves ``attempt.clear`` up to itself: its outcome is appended conditionally from there.
        """
        kind = NodeStarted(node_id=item.node_id, worker_id=self._worker_id, attempt=attempt.number)
        msg_id = DispatchKeys.of(item).started(attempt.number)
        appended = await self._append_unless(item, kind, msg_id, attempt)
        if isinstance(appended, Event):
            return appended
        attempt.started = True
        return None

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

    async def outcome(self, item: WorkItem, kind: EventKind, attempt: Attempt) -> Event | None:
        """Append the dispatch's one outcome, unless it has ended: then the event that ended it."""
        appended = await self._written(item, kind, attempt)
        if appended is None:
            appended = await self._append_unless(item, kind, DispatchKeys.of(item).outcome, attempt)
        if isinstance(appended, Event):
            return appended
        # Another writer's outcome under the same message id, within JetStream's duplicate window.
        return appended.event if appended.duplicate and appended.event.kind != kind else None

    async def released(self, item: WorkItem, attempt: Attempt) -> None:
        """Give ``attempt`` back (this worker stops while it runs), unless the dispatch has ended."""
        kind = released_failure(item.node_id, attempt.number)
        await self._append_unless(item, kind, DispatchKeys.of(item).failed(attempt.number), attempt)

    async def retrying(
        self, item: WorkItem, failed: NodeFailed, delay: float, attempt: Attempt
    ) -> Event | None:
        """The attempt ``failed`` records failed, and the next one runs in ``delay`` seconds.

        Neither is recorded once the dispatch has ended, or once the attempt's failure was recorded by
        another worker (``attempt`` is this worker's own): the event that ended it then.
        """
        keys = DispatchKeys.of(item)
        ended = await self._append_unless(item, failed, keys.failed(failed.attempt), attempt)
        if isinstance(ended, Event):
            return ended
        retry = retry_after(failed, delay)
        ended = await self._append_unless(item, retry, keys.retry(retry.attempt), attempt)
        return ended if isinstance(ended, Event) else None

    async def retry_scheduled(self, item: WorkItem, failed: NodeFailed, delay: float) -> None:
        """The attempt after ``failed`` runs in ``delay`` seconds (deduplicated per attempt)."""
        retry = retry_after(failed, delay)
        await self._append(item, retry, DispatchKeys.of(item).retry(retry.attempt))

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
        self,
        item: WorkItem,
        attempt: Attempt,
        decision: PolicyDecision,
        context: dict[str, Any] | None = None,
    ) -> None:
        kind = ToolApprovalRequired(
            node_id=item.node_id,
            tool_name=decision.tool_name or item.node_id,
            approver=decision.approver or HUMAN,
            context=context or {"node_id": item.node_id},
        )
        # It ends the dispatch (holds it for a human) as an outcome does: appended only if still open.
        await self._append_unless(item, kind, DispatchKeys.of(item).approval, attempt)

    async def history(self, item: WorkItem) -> DispatchHistory:
        return await read_history(self._log, item)

    async def _append_unless(
        self, item: WorkItem, kind: EventKind, msg_id: str, attempt: Attempt
    ) -> Appended | Event:
        """Append ``kind`` unless the dispatch (or this worker's attempt) ended since ``attempt.clear``.

        Without a ``clear`` position the dispatch's ``NodeScheduled`` is one; a landed append is the next.
        """
        ended = ends_attempt(item.node_id, attempt.number) if attempt.started else ends_dispatch(item.node_id)
        appended = await self._log.append_unless(
            item.tenant,
            item.execution_id,
            kind,
            clear=attempt.clear or _scheduled(item),
            ended=ended,
            msg_id=msg_id,
            headers=telemetry.inject(),
        )
        if isinstance(appended, Appended):
            self._appended(item, attempt, appended)
        return appended

    async def _written(self, item: WorkItem, kind: EventKind, attempt: Attempt) -> Appended | Event | None:
        if self.outcomes is None:
            return None
        written = await self.outcomes(item, kind, attempt, telemetry.inject())
        if isinstance(written, Appended):
            self._appended(item, attempt, written)
        return written

    def _appended(self, item: WorkItem, attempt: Attempt, appended: Appended) -> None:
        if not appended.duplicate:
            attempt.clear = appended.tail
        if self._observe is not None:
            self._observe(item, appended)

    async def _append(self, item: WorkItem, kind: EventKind, msg_id: str) -> None:
        # The current span is the attempt's jamjet.node span: the event joins the execution's trace.
        appended = await self._log.append(
            item.tenant, item.execution_id, kind, msg_id=msg_id, headers=telemetry.inject()
        )
        if appended.duplicate:
            logger.info("%s/%s: %s was recorded already", item.execution_id, item.node_id, kind.tag)
        if self._observe is not None:
            self._observe(item, appended)


def retry_after(failed: NodeFailed, delay: float) -> RetryScheduled:
    """The attempt after ``failed``, due in ``delay`` seconds."""
    return RetryScheduled(node_id=failed.node_id, attempt=failed.attempt + 1, delay_ms=round(delay * 1000))


def _scheduled(item: WorkItem) -> Tail:
    """Up to where the dispatch is known open: the rest of its plan pass (``WorkItem.open_to``), else
    its ``NodeScheduled`` (nothing can have ended a dispatch before it was made)."""
    at = item.scheduled_at
    if at is None:  # the pipeline reads the history of such an item first
        raise JamjetError(f"{item.execution_id}: work item without its log position")
    to = item.open_to
    if to is not None and to.sequence >= at.sequence and to.stream_seq >= at.stream_seq:
        return Tail(to.sequence, to.stream_seq)
    return Tail(at.sequence, at.stream_seq)
