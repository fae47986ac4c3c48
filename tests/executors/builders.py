"""Nodes, work items and executor settings for the executor tests."""

from __future__ import annotations

from typing import Any

import msgspec

from jamjet_common.config import Env
from jamjet_common.ir import ModelConfig, NodeDef, ToolConfig
from jamjet_common.messages import NodeResources, WorkItem
from jamjet_common.subjects import new_execution_id
from services.worker.executors import ExecutionContext
from services.worker.executors.model_settings import ModelSettings
from services.worker.executors.tool import ToolSettings


def model_node(model_ref: str = "main", node_id: str = "think", **kind: Any) -> NodeDef:
    return msgspec.convert(
        {"id": node_id, "kind": {"type": "model", "model_ref": model_ref, **kind}}, NodeDef
    )


def tool_node(tool_ref: str = "search", node_id: str = "act", **kind: Any) -> NodeDef:
    return msgspec.convert({"id": node_id, "kind": {"type": "tool", "tool_ref": tool_ref, **kind}}, NodeDef)


def model_config(**fields: Any) -> ModelConfig:
    return msgspec.convert({"provider": "openai", "model": "gpt-4o", **fields}, ModelConfig)


def tool_config(reference: str, kind: str = "http", **fields: Any) -> ToolConfig:
    return msgspec.convert({"kind": kind, "reference": reference, **fields}, ToolConfig)


def context(
    node: NodeDef,
    state: dict[str, Any] | None = None,
    *,
    model: ModelConfig | None = None,
    tool: ToolConfig | None = None,
) -> ExecutionContext:
    resources = NodeResources(model=model, tool=tool) if model or tool else None
    item = WorkItem(
        execution_id=new_execution_id(),
        tenant="default",
        workflow_id="wf",
        workflow_version="1.0.0",
        node=node,
        dispatch=2,
        queue_type=node.kind.queue_type,
        state=state or {},
        resources=resources,
    )
    return ExecutionContext(item=item, attempt=0, worker_id="w-1")


def model_settings(base_url: str, **environ: str) -> ModelSettings:
    env = {"JAMJET_MODEL_BASE_URL": base_url, "JAMJET_MODEL_API_KEY": "sk-default", **environ}
    return ModelSettings.from_env(Env(env))


def tool_settings(**environ: str) -> ToolSettings:
    return ToolSettings.from_env(Env({"JAMJET_TOOL_TIMEOUT_SECS": "0.5", **environ}))
