"""The typed answers of the runtime's commands and store queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from jamjet_common.events import Event


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """Fields a reply carries beyond those declared are ignored, so new ones break nothing."""


class Registered(Reply, frozen=True, kw_only=True):
    workflow_id: str
    version: str
    created: bool = True
    warnings: list[str] = []
    """What the runtime accepted but would not run as written (unreachable nodes, ...)."""


class Started(Reply, frozen=True, kw_only=True):
    execution_id: str
    workflow_id: str
    workflow_version: str
    created: bool = True


class Cancelled(Reply, frozen=True, kw_only=True):
    execution_id: str
    status: str = "cancelled"


class ApprovalAccepted(Reply, frozen=True, kw_only=True):
    execution_id: str
    node_id: str
    decision: str
    accepted: bool = True


class SignalAccepted(Reply, frozen=True, kw_only=True):
    execution_id: str
    correlation_key: str
    accepted: bool = True


class Execution(Reply, frozen=True, kw_only=True):
    execution_id: str
    tenant: str
    workflow_id: str
    workflow_version: str
    status: str
    initial_input: Any = None
    current_state: Any = None
    last_sequence: int = 0
    error: str | None = None
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None


class ExecutionReply(Reply, frozen=True, kw_only=True):
    execution: Execution


class ExecutionsPage(Reply, frozen=True, kw_only=True):
    executions: list[Execution]
    next: str | None = None


class EventsPage(Reply, frozen=True, kw_only=True):
    events: list[Event]
    next_sequence: int
    has_more: bool = False


class Approval(Reply, frozen=True, kw_only=True):
    execution_id: str
    tenant: str
    node_id: str
    tool_name: str
    approver: str
    context: Any = None
    status: str
    requested_seq: int
    requested_at: datetime
    user_id: str | None = None
    comment: str | None = None
    decided_seq: int | None = None
    decided_at: datetime | None = None


class ApprovalsPage(Reply, frozen=True, kw_only=True):
    approvals: list[Approval]
    next: str | None = None


class DeadLettersPage(Reply, frozen=True, kw_only=True):
    dead_letters: list[dict[str, Any]]
    next: str | None = None


class Workflow(Reply, frozen=True, kw_only=True):
    tenant: str
    workflow_id: str
    version: str
    ir: dict[str, Any]
    registered_at: datetime
    warnings: list[str] = []


class WorkflowReply(Reply, frozen=True, kw_only=True):
    workflow: Workflow


class Artifact(Reply, frozen=True, kw_only=True):
    hash: str
    size: int
    media_type: str | None = None
    value: Any = None


class TenantReply(Reply, frozen=True, kw_only=True):
    tenant: dict[str, Any]


class TenantsReply(Reply, frozen=True, kw_only=True):
    tenants: list[dict[str, Any]]


class AgentReply(Reply, frozen=True, kw_only=True):
    agent: dict[str, Any]


class AgentsReply(Reply, frozen=True, kw_only=True):
    agents: list[dict[str, Any]]
