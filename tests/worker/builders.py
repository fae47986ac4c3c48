"""Building work items and nodes for the worker tests."""

from __future__ import annotations

from typing import Any

import msgspec

from jamjet_common.ir import NodeDef, PolicySetIr, RetryPolicy
from jamjet_common.messages import LogPosition, WorkItem
from jamjet_common.subjects import new_execution_id

FNS = "tests.worker.fns"


def fn_node(function: str, node_id: str = "step", module: str = FNS) -> NodeDef:
    raw = {"id": node_id, "kind": {"type": "python_fn", "module": module, "function": function}}
    return msgspec.convert(raw, NodeDef)


GOVERNED = PolicySetIr(blocked_tools=["no.such.tool"])
"""A workflow policy that blocks nothing these tests run, but makes the worker ask the policy service."""


def cond_node(branches: list[tuple[str | None, str]], node_id: str = "route") -> NodeDef:
    raw = {
        "id": node_id,
        "kind": {"type": "condition", "branches": [{"condition": c, "target": t} for c, t in branches]},
    }
    return msgspec.convert(raw, NodeDef)


def work_item(
    node: NodeDef,
    state: dict[str, Any] | None = None,
    *,
    execution_id: str | None = None,
    dispatch: int = 2,
    retry: RetryPolicy | None = None,
    timeout_secs: float | None = None,
    workflow_policy: PolicySetIr | None = None,
    tenant: str = "default",
    queue_type: str | None = None,
    approved_by: str | None = None,
    scheduled_at: LogPosition | None = None,
) -> WorkItem:
    return WorkItem(
        execution_id=execution_id or new_execution_id(),
        tenant=tenant,
        workflow_id="wf",
        workflow_version="1.0.0",
        node=node,
        dispatch=dispatch,
        queue_type=queue_type or node.kind.queue_type,
        state=state or {},
        workflow_policy=workflow_policy,
        retry=retry,
        timeout_secs=timeout_secs,
        approved_by=approved_by,
        scheduled_at=scheduled_at,
    )
