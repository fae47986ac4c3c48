"""Work items and execution contexts for agent_tool and mcp_tool nodes."""

from __future__ import annotations

from typing import Any

import msgspec

from jamjet_common.ir import McpServerConfig, NodeDef, RemoteAgentConfig
from jamjet_common.messages import NodeResources, WorkItem
from jamjet_common.subjects import new_execution_id
from services.worker.executors.base import ExecutionContext

TENANT = "acme"


def agent_node(node_id: str = "ask", **kind: Any) -> NodeDef:
    return msgspec.convert({"id": node_id, "kind": {"type": "agent_tool", **kind}}, NodeDef)


def mcp_node(tool: str, input_mapping: dict[str, str] | None = None, server: str = "tools") -> NodeDef:
    kind = {"type": "mcp_tool", "server": server, "tool": tool, "input_mapping": input_mapping or {}}
    return msgspec.convert({"id": "call", "kind": kind}, NodeDef)


def context(
    node: NodeDef,
    state: dict[str, Any] | None = None,
    *,
    remote_agent: RemoteAgentConfig | None = None,
    mcp_server: McpServerConfig | None = None,
    execution_id: str | None = None,
    attempt: int = 0,
) -> ExecutionContext:
    resources = None
    if remote_agent is not None or mcp_server is not None:
        resources = NodeResources(remote_agent=remote_agent, mcp_server=mcp_server)
    item = WorkItem(
        execution_id=execution_id or new_execution_id(),
        tenant=TENANT,
        workflow_id="wf",
        workflow_version="1.0.0",
        node=node,
        dispatch=2,
        queue_type=node.kind.queue_type,
        state=state or {},
        resources=resources,
    )
    return ExecutionContext(item=item, attempt=attempt, worker_id="worker-test")
