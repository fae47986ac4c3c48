"""Request bodies of the HTTP API, as the original jamjet-server and the ``jamjet`` SDK send them."""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class _Body(msgspec.Struct, frozen=True, kw_only=True):
    pass


class WorkflowBody(_Body, frozen=True):
    ir: dict[str, Any]


class StartBody(_Body, frozen=True):
    workflow_id: str
    workflow_version: str | None = None
    input: dict[str, Any] = {}
    execution_id: str | None = None
    """Optional: makes the start idempotent (a retried POST starts one execution)."""


class CancelBody(_Body, frozen=True):
    reason: str | None = None


class ApproveBody(_Body, frozen=True):
    decision: Literal["approved", "rejected"]
    node_id: str | None = None
    user_id: str = "anonymous"
    comment: str | None = None
    state_patch: dict[str, Any] | None = None


class ExternalEventBody(_Body, frozen=True):
    correlation_key: str
    payload: Any = None
