"""The tool calls of an SDK agent turn: which node runs them, which calls, and which tool each one is.

The ``jamjet`` SDK compiles an ``Agent`` into turns of model -> condition -> one ``python_fn`` node
(``jamjet.agents.tool_runtime:dispatch_tool_calls``, ``agent_tool_dispatch: true``) that runs every
tool the model chose. Policy and execution read the calls through the same function here, so the
calls a policy decision was made for are exactly the calls that run: a call runs only as the tool
whose name it spells exactly (no case folding, trimming or path handling), and that name is the one
the policy service evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jamjet_common.errors import FatalError
from jamjet_common.ir import NodeDef, NodeKind, PythonFnNode, ToolNode

SDK_DISPATCH = "jamjet.agents.tool_runtime.dispatch_tool_calls"
"""The SDK's dispatch function, however a node spells its module and function."""


class ToolCallsError(FatalError):
    """An agent turn's tool calls cannot be read, or name no tool of the agent."""

    code = "invalid_tool_calls"


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str | None
    name: str
    arguments: Any

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


def is_agent_dispatch(kind: NodeKind) -> bool:
    """A node that runs model-chosen tool calls: marked so, or naming the SDK's dispatch function."""
    if not isinstance(kind, PythonFnNode):
        return False
    return kind.agent_tool_dispatch or f"{kind.module}.{kind.function}" == SDK_DISPATCH


def pending_tool_calls(state: dict[str, Any]) -> list[ToolCall]:
    """The calls the SDK's dispatch would run: ``tool_calls``, else ``last_model_tool_calls``."""
    raw = state.get("tool_calls")
    if raw is None:
        raw = state.get("last_model_tool_calls") or []
    if not isinstance(raw, list):
        raise ToolCallsError(f"agent tool dispatch: tool calls must be a list, not {type(raw).__name__}")
    return [_call(index, entry) for index, entry in enumerate(raw)]


def _call(index: int, entry: Any) -> ToolCall:
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name:
        raise ToolCallsError(f"agent tool dispatch: tool call {index} has no tool name")
    call_id = entry.get("id")
    return ToolCall(call_id if isinstance(call_id, str) else None, name, _arguments(entry.get("arguments")))


def _arguments(arguments: Any) -> Any:
    # The SDK's own reading: a JSON string is decoded, an unreadable or empty one is no arguments.
    if isinstance(arguments, str):
        try:
            return json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return {}
    return {} if arguments is None else arguments


def tools_map(kind: PythonFnNode, state: dict[str, Any]) -> dict[str, str]:
    """``{tool name: "module:qualname"}``: the registered node's map, else the execution state's."""
    declared = kind.input.get("tools") if isinstance(kind.input, dict) else None
    found = declared if isinstance(declared, dict) else state.get("tools")
    if not isinstance(found, dict):
        return {}
    return {name: ref for name, ref in found.items() if isinstance(name, str) and isinstance(ref, str)}


def subject_node(node: NodeDef, call: ToolCall) -> NodeDef:
    """The node a call is evaluated as: a ``tool`` node named after the tool, with the node's policy."""
    return NodeDef(id=node.id, kind=ToolNode(tool_ref=call.name), policy=node.policy, labels=node.labels)
