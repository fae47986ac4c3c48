"""Wire messages other than events: commands, replies, work items, policy and store requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from jamjet_common.dedup import DispatchKeys
from jamjet_common.ir import (
    McpServerConfig,
    ModelConfig,
    NodeDef,
    PolicySetIr,
    RemoteAgentConfig,
    RetryPolicy,
    ToolConfig,
)

DEFAULT_TENANT = "default"
EXECUTION_STATUSES = ("pending", "running", "paused", "completed", "failed", "cancelled", "limit_exceeded")
"""The statuses of an execution, as the store reports and filters them."""


class _Msg(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    pass


# ---- commands (jamjet.cmd.*) ---------------------------------------------------------------------------


class RegisterWorkflow(_Msg, frozen=True):
    ir: msgspec.Raw
    """Decoded separately so that IR problems get their own specific error."""
    tenant: str = DEFAULT_TENANT


class StartExecution(_Msg, frozen=True):
    workflow_id: str
    workflow_version: str | None = None
    """None starts the latest registered version."""
    input: dict[str, Any] = {}
    tenant: str = DEFAULT_TENANT
    execution_id: str | None = None


class CancelExecution(_Msg, frozen=True):
    execution_id: str
    tenant: str = DEFAULT_TENANT
    reason: str | None = None


class SubmitApproval(_Msg, frozen=True):
    execution_id: str
    decision: Literal["approved", "rejected"]
    user_id: str
    node_id: str | None = None
    comment: str | None = None
    state_patch: dict[str, Any] | None = None
    tenant: str = DEFAULT_TENANT


class SendSignal(_Msg, frozen=True):
    """An external event for the execution's ``wait`` nodes on ``correlation_key``."""

    execution_id: str
    correlation_key: str
    payload: Any = None
    tenant: str = DEFAULT_TENANT


class ErrorBody(_Msg, frozen=True):
    code: str
    message: str


class ErrorReply(msgspec.Struct, frozen=True, kw_only=True):
    """Not a ``_Msg``: omit_defaults would drop ``"ok": false``, which the contract requires."""

    error: ErrorBody
    ok: bool = False


# ---- work items (jamjet.work.<queue_type>) -------------------------------------------------------------


class LogPosition(_Msg, frozen=True):
    sequence: int
    stream_seq: int


class NodeResources(_Msg, frozen=True):
    """The IR's configuration for what a node references, resolved by the scheduler."""

    model: ModelConfig | None = None
    tool: ToolConfig | None = None
    mcp_server: McpServerConfig | None = None
    remote_agent: RemoteAgentConfig | None = None


class WorkItem(_Msg, frozen=True):
    execution_id: str
    tenant: str
    workflow_id: str
    workflow_version: str
    node: NodeDef
    dispatch: int
    """Sequence of the NodeScheduled event that created this item: one dispatch, one outcome."""
    queue_type: str
    state: dict[str, Any] = {}
    workflow_policy: PolicySetIr | None = None
    retry: RetryPolicy | None = None
    timeout_secs: float | None = None
    created_at: datetime | None = None
    scheduled_at: LogPosition | None = None
    """Where the dispatch's NodeScheduled event sits in the log."""
    open_to: LogPosition | None = None
    """The log's tail when the scheduler published the item, past ``scheduled_at``: what lies between is the
    rest of the plan pass that made the dispatch (other nodes' dispatches), which ends no dispatch of
    that pass. The worker's first guess of the tail: its start then lands without a conflict and a log
    read, as a fan-out's first start otherwise would not. Ignored unless at or after ``scheduled_at``."""
    resources: NodeResources | None = None
    labels: dict[str, str] = {}
    """The workflow's labels."""
    approved_by: str | None = None
    """Set when a human approved this node: the worker runs it without asking for approval again."""

    @property
    def node_id(self) -> str:
        return self.node.id

    @property
    def item_id(self) -> str:
        return DispatchKeys.of(self).work


class WorkDeadLetter(_Msg, frozen=True):
    """A work item out of attempts, published on ``jamjet.dlq.work.<queue_type>`` (stream JAMJET_DLQ)."""

    item: WorkItem
    attempts: int
    last_error: str
    worker_id: str
    dead_lettered_at: datetime


class WorkflowTimer(_Msg, frozen=True):
    """A durable timer on ``jamjet.timers.<tenant>.<execution_id>``: a workflow or approval timeout."""

    execution_id: str
    tenant: str
    due_at: datetime
    timeout_secs: float
    node_id: str | None = None
    """Set for an approval timeout: the node waiting for a human."""
    hold: int | None = None
    """Sequence of the ToolApprovalRequired (approval) or NodeScheduled (wait) the timer belongs to."""
    purpose: str | None = None
    """``wait`` for a wait node's timer; unset for workflow and approval timeouts."""


class CancelNotice(_Msg, frozen=True):
    """Broadcast on ``jamjet.cancel.<tenant>.<execution_id>`` once an execution is cancelled."""

    execution_id: str
    tenant: str
    reason: str | None = None
    terminal_stream_seq: int | None = None
    """Stream sequence (JAMJET_EVENTS) of the execution's terminal event: workers check it before acting."""


# ---- policy (jamjet.policy.evaluate) --------------------------------------------------------------------


class PolicyRequest(_Msg, frozen=True):
    tenant: str
    node: NodeDef
    workflow_policy: PolicySetIr | None = None
    execution_id: str | None = None
    workflow_id: str | None = None
    budget: dict[str, Any] | None = None
    """The execution state's ``__budget`` (BudgetState fields): the counters autonomy checks use."""


class AutonomyOutcome(_Msg, frozen=True):
    """Why an agent's autonomy rules stopped or held a node (``PolicyDecision.autonomy``)."""

    decision: Literal["trip_circuit_breaker", "escalate_limit", "require_tool_approval"]
    agent_ref: str
    """The agent's URI."""
    escalation_target: str
    """``human_approval`` or ``supervisor_agent:<id>``."""
    reason: str | None = None
    """EscalationRequired's reason: ``circuit_breaker`` or ``autonomy_limit:<limit_type>``."""
    limit_type: str | None = None
    """``max_iterations``, ``max_tool_calls``, ``cost_budget`` or ``token_budget``."""
    limit_value: int | float | None = None
    actual_value: int | float | None = None
    consecutive_errors: int | None = None
    threshold: int | None = None
    tool_name: str | None = None
    """The tool a guided agent needs approval for."""
    escalation_mode: Literal["fail", "approval"] = "fail"
    """``approval``: open a human approval instead of failing the node (agent label
    ``jamjet.escalation: approval``, only with the ``human_approval`` target)."""


class PolicyDecision(_Msg, frozen=True):
    decision: Literal["allow", "block", "require_approval"]
    reason: str | None = None
    approver: str | None = None
    policy_scope: str | None = None
    tool_name: str | None = None
    autonomy: AutonomyOutcome | None = None
    """Set when an agent's autonomy rules decided: ``decision`` is then ``block`` (trip, escalate) or
    ``require_approval`` (a guided agent's tool), so a worker that ignores this field fails closed."""
    ok: bool = True


# ---- event store queries (jamjet.store.*) ---------------------------------------------------------------


class EventsQuery(_Msg, frozen=True):
    execution_id: str
    from_sequence: int = 1
    limit: int = 1000
    tenant: str | None = None
    """Only this tenant's execution (set from the subject for a tenant's request)."""


class ExecutionQuery(_Msg, frozen=True):
    execution_id: str
    tenant: str | None = None


class ExecutionsQuery(_Msg, frozen=True):
    status: str | None = None
    tenant: str | None = None
    workflow_id: str | None = None
    limit: int = 100
    after: str | None = None
    """Opaque cursor from the previous page's ``next``."""


class DeadLettersQuery(_Msg, frozen=True):
    execution_id: str | None = None
    tenant: str | None = None
    kind: str | None = None
    """``work`` (a work item out of attempts) or ``decode`` (a message that could not be decoded)."""
    limit: int = 100
    after: str | None = None
    """Opaque cursor from the previous page's ``next``."""


class ApprovalsQuery(_Msg, frozen=True):
    execution_id: str | None = None
    tenant: str | None = None
    status: str = "pending"
    """``pending``, ``approved``, ``rejected``, ``closed`` (ended undecided), or ``all``."""
    limit: int = 100
    after: str | None = None
    """Opaque cursor from the previous page's ``next``."""


class TenantUsageQuery(_Msg, frozen=True):
    tenant: str


class WorkflowQuery(_Msg, frozen=True):
    workflow_id: str
    version: str | None = None
    tenant: str = DEFAULT_TENANT
