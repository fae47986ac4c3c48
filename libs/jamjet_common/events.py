"""The execution event log: ``Event`` and every ``EventKind`` of the original runtime.

On the wire an event is ``{id, execution_id, sequence, created_at, kind: {type: ..., ...}}`` with the
original's snake_case ``type`` tags and field names; optional fields are omitted when unset. Fields the
original requires (not ``Option`` there) are always written, even when zero or null, because a client
decoding with the original's types fails on a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

JsonValue = Any


def _written[T](factory: Callable[[], T]) -> T:
    """A default that ``omit_defaults`` never drops (msgspec only omits builtin-container factories)."""
    return msgspec.field(default_factory=factory)


def _null() -> Any:
    return None


def _no_items() -> list[Any]:
    return []


class EventKindBase(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    @property
    def tag(self) -> str:
        return str(self.__struct_config__.tag)

    @property
    def node(self) -> str | None:
        """The node this event is about, for node-scoped kinds."""
        return getattr(self, "node_id", None)


# ---- workflow lifecycle --------------------------------------------------------------------------------


class WorkflowStarted(EventKindBase, tag="workflow_started", frozen=True):
    workflow_id: str
    workflow_version: str
    initial_input: JsonValue = _written(_null)


class WorkflowCompleted(EventKindBase, tag="workflow_completed", frozen=True):
    final_state: JsonValue = _written(_null)


class WorkflowFailed(EventKindBase, tag="workflow_failed", frozen=True):
    error: str


class WorkflowCancelled(EventKindBase, tag="workflow_cancelled", frozen=True):
    reason: str | None = None


# ---- node lifecycle --------------------------------------------------------------------------------------


class NodeScheduled(EventKindBase, tag="node_scheduled", frozen=True):
    node_id: str
    queue_type: str


class NodeStarted(EventKindBase, tag="node_started", frozen=True):
    node_id: str
    worker_id: str
    attempt: int


class NodeCompleted(EventKindBase, tag="node_completed", frozen=True):
    node_id: str
    output: JsonValue = _written(_null)
    state_patch: JsonValue = _written(_null)
    duration_ms: int = _written(int)
    gen_ai_system: str | None = None
    gen_ai_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    cost_usd: float | None = None
    provenance: JsonValue = None
    idempotency_key: str | None = None


class Exhaustion(msgspec.Struct, frozen=True, kw_only=True):
    """A dispatch out of attempts: how many it had and how the last one failed."""

    attempts: int
    last_error: str


class NodeFailed(EventKindBase, tag="node_failed", frozen=True):
    node_id: str
    error: str
    attempt: int
    retryable: bool
    released: bool = False
    """The worker stopped (graceful shutdown) before the attempt ended: it does not count as an attempt."""
    lease_expired: bool = False
    """The attempt's worker died holding its lease; the worker that found out records this."""
    exhausted: Exhaustion | None = None
    """Set on the outcome of a dispatch out of attempts (its ``error`` says "exhausted N attempts: ..."):
    the dispatch is dead-lettered with these."""


class NodeParked(EventKindBase, tag="node_parked", frozen=True):
    node_id: str
    attempt: int
    retry_after: str


class NodeSkipped(EventKindBase, tag="node_skipped", frozen=True):
    node_id: str
    reason: str


class NodeCancelled(EventKindBase, tag="node_cancelled", frozen=True):
    node_id: str


class RetryScheduled(EventKindBase, tag="retry_scheduled", frozen=True):
    node_id: str
    attempt: int
    delay_ms: int


# ---- human approval / interrupt ------------------------------------------------------------------------


class InterruptRaised(EventKindBase, tag="interrupt_raised", frozen=True):
    node_id: str
    reason: str
    state_for_review: JsonValue = _written(_null)


class ApprovalReceived(EventKindBase, tag="approval_received", frozen=True):
    node_id: str
    user_id: str
    decision: str
    comment: str | None = None
    state_patch: JsonValue = None


# ---- timers / external ---------------------------------------------------------------------------------


class TimerCreated(EventKindBase, tag="timer_created", frozen=True):
    node_id: str
    fire_at: str
    correlation_key: str | None = None


class TimerFired(EventKindBase, tag="timer_fired", frozen=True):
    node_id: str
    correlation_key: str | None = None


class ExternalEventReceived(EventKindBase, tag="external_event_received", frozen=True):
    correlation_key: str
    payload: JsonValue = _written(_null)


# ---- child workflows -----------------------------------------------------------------------------------


class ChildWorkflowStarted(EventKindBase, tag="child_workflow_started", frozen=True):
    node_id: str
    child_execution_id: str
    child_workflow_id: str


class ChildWorkflowCompleted(EventKindBase, tag="child_workflow_completed", frozen=True):
    node_id: str
    child_execution_id: str
    result: JsonValue = _written(_null)


class ChildWorkflowFailed(EventKindBase, tag="child_workflow_failed", frozen=True):
    node_id: str
    child_execution_id: str
    error: str


# ---- budget / autonomy ---------------------------------------------------------------------------------


class BudgetExceeded(EventKindBase, tag="budget_exceeded", frozen=True):
    node_id: str
    kind: str
    limit: int
    current: int


class TokenBudgetExceeded(EventKindBase, tag="token_budget_exceeded", frozen=True):
    node_id: str
    kind: str
    limit: int
    current: int


class CostBudgetExceeded(EventKindBase, tag="cost_budget_exceeded", frozen=True):
    node_id: str
    limit_usd: float
    current_usd: float


class AutonomyLimitReached(EventKindBase, tag="autonomy_limit_reached", frozen=True):
    node_id: str
    agent_ref: str
    limit_type: str
    limit_value: JsonValue = _written(_null)
    actual_value: JsonValue = _written(_null)


class CircuitBreakerTripped(EventKindBase, tag="circuit_breaker_tripped", frozen=True):
    node_id: str
    agent_ref: str
    consecutive_errors: int
    threshold: int


class EscalationRequired(EventKindBase, tag="escalation_required", frozen=True):
    node_id: str
    agent_ref: str
    reason: str
    escalation_target: str


# ---- policy --------------------------------------------------------------------------------------------


class PolicyViolation(EventKindBase, tag="policy_violation", frozen=True):
    node_id: str
    rule: str
    decision: str
    policy_scope: str


class ToolApprovalRequired(EventKindBase, tag="tool_approval_required", frozen=True):
    node_id: str
    tool_name: str
    approver: str
    context: JsonValue = _written(_null)


# ---- reasoning strategy --------------------------------------------------------------------------------


class StrategyStarted(EventKindBase, tag="strategy_started", frozen=True):
    strategy: str
    config: JsonValue = _written(_null)


class PlanGenerated(EventKindBase, tag="plan_generated", frozen=True):
    steps: JsonValue = _written(_no_items)


class IterationStarted(EventKindBase, tag="iteration_started", frozen=True):
    iteration: int


class ToolCalled(EventKindBase, tag="tool_called", frozen=True):
    node_id: str
    tool: str


class CriticVerdict(EventKindBase, tag="critic_verdict", frozen=True):
    node_id: str
    score: float
    passed: bool
    feedback: str | None = None


class IterationCompleted(EventKindBase, tag="iteration_completed", frozen=True):
    iteration: int
    cost_delta_usd: float | None = None
    input_tokens: int = _written(int)
    output_tokens: int = _written(int)


class StrategyLimitHit(EventKindBase, tag="strategy_limit_hit", frozen=True):
    limit_type: str
    limit_value: JsonValue = _written(_null)
    actual_value: JsonValue = _written(_null)


class StrategyCompleted(EventKindBase, tag="strategy_completed", frozen=True):
    iterations: int
    total_cost_usd: float | None = None


# ---- coordinator ---------------------------------------------------------------------------------------


class CoordinatorDiscovery(EventKindBase, tag="coordinator_discovery", frozen=True):
    node_id: str
    query_skills: list[str] = _written(_no_items)
    query_trust_domain: str | None = None
    candidates: JsonValue = _written(_no_items)
    filtered_out: JsonValue = _written(_no_items)


class CoordinatorScoring(EventKindBase, tag="coordinator_scoring", frozen=True):
    node_id: str
    rankings: JsonValue = _written(_no_items)
    spread: float = _written(float)
    weights: JsonValue = _written(_null)


class CoordinatorDecision(EventKindBase, tag="coordinator_decision", frozen=True):
    node_id: str
    selected: str | None = None
    method: str = _written(str)
    reasoning: str | None = None
    confidence: float = _written(float)
    rejected: JsonValue = _written(_no_items)
    tiebreaker_tokens: int | None = None
    tiebreaker_cost: float | None = None


# ---- agent as tool -------------------------------------------------------------------------------------


class AgentToolInvoked(EventKindBase, tag="agent_tool_invoked", frozen=True):
    node_id: str
    agent_uri: str
    mode: str
    protocol: str
    input_hash: str


class AgentToolProgress(EventKindBase, tag="agent_tool_progress", frozen=True):
    node_id: str
    chunk_index: int
    partial_output_summary: str


class AgentToolTurn(EventKindBase, tag="agent_tool_turn", frozen=True):
    node_id: str
    turn_number: int
    direction: str
    content_summary: str
    tokens: int = _written(int)
    cost: float = _written(float)


class AgentToolCompleted(EventKindBase, tag="agent_tool_completed", frozen=True):
    node_id: str
    output: JsonValue = _written(_null)
    provenance: JsonValue = None
    total_cost: float = _written(float)
    latency_ms: int = _written(int)
    total_turns: int | None = None


class AgentToolTerminated(EventKindBase, tag="agent_tool_terminated", frozen=True):
    node_id: str
    reason: str
    chunks_received: int = _written(int)
    partial_output: JsonValue = None
    cost: float = _written(float)


class AgentToolFailed(EventKindBase, tag="agent_tool_failed", frozen=True):
    node_id: str
    failure_type: str
    message: str
    retryable: bool


# ---- segments ------------------------------------------------------------------------------------------


class SegmentBoundary(EventKindBase, tag="segment_boundary", frozen=True):
    segment_number: int
    next_execution_id: str


EventKind = (
    WorkflowStarted
    | WorkflowCompleted
    | WorkflowFailed
    | WorkflowCancelled
    | NodeScheduled
    | NodeStarted
    | NodeCompleted
    | NodeFailed
    | NodeParked
    | NodeSkipped
    | NodeCancelled
    | RetryScheduled
    | InterruptRaised
    | ApprovalReceived
    | TimerCreated
    | TimerFired
    | ExternalEventReceived
    | ChildWorkflowStarted
    | ChildWorkflowCompleted
    | ChildWorkflowFailed
    | BudgetExceeded
    | TokenBudgetExceeded
    | CostBudgetExceeded
    | AutonomyLimitReached
    | CircuitBreakerTripped
    | EscalationRequired
    | PolicyViolation
    | ToolApprovalRequired
    | StrategyStarted
    | PlanGenerated
    | IterationStarted
    | ToolCalled
    | CriticVerdict
    | IterationCompleted
    | StrategyLimitHit
    | StrategyCompleted
    | CoordinatorDiscovery
    | CoordinatorScoring
    | CoordinatorDecision
    | AgentToolInvoked
    | AgentToolProgress
    | AgentToolTurn
    | AgentToolCompleted
    | AgentToolTerminated
    | AgentToolFailed
    | SegmentBoundary
)

TERMINAL_WORKFLOW_KINDS = (WorkflowCompleted, WorkflowFailed, WorkflowCancelled)
# The kinds on which the executions projection (services/event_store/fold.py) creates an execution's
# row or may set its status: the gateway's list stream sends the stored row after them.
STATUS_KINDS = (
    WorkflowStarted,
    *TERMINAL_WORKFLOW_KINDS,
    ToolApprovalRequired,
    ApprovalReceived,
    InterruptRaised,
    StrategyLimitHit,
    SegmentBoundary,
)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    execution_id: str
    sequence: int
    created_at: datetime
    kind: EventKind


class EventHead(msgspec.Struct, frozen=True):
    """Just enough of an event to learn the log position it holds."""

    sequence: int


EVENT_DECODER = msgspec.json.Decoder(Event)
HEAD_DECODER = msgspec.json.Decoder(EventHead)
