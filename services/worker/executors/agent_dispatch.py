"""An SDK agent turn's tool dispatch (``agent_tool_dispatch: true``): run the tools the model chose.

Does what ``jamjet.agents.tool_runtime.dispatch_tool_calls`` does (append the assistant message that
asked for the tools and one ``tool`` message per call; the patch replaces ``messages``), but runs a
call only as the tool of its exact name in the agent's tools map, resolved like a ``python_fn``
(module allowlist included). Every call is resolved before any runs, so a turn naming an unknown tool
runs none. The policy service has evaluated each call under that same name before this runs
(``services/worker/tool_policy.py``).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from jamjet_common.ir import PythonFnNode
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.executors.python_fn import PythonFnExecutor, run_in_daemon_thread
from services.worker.tool_calls import ToolCall, ToolCallsError, pending_tool_calls, tools_map

ToolFunction = Callable[..., Any]


class AgentDispatchExecutor:
    def __init__(self, functions: PythonFnExecutor) -> None:
        self._functions = functions

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        kind = ctx.node.kind
        if not isinstance(kind, PythonFnNode):
            raise ToolCallsError(f"agent tool dispatch cannot run a '{kind.tag}' node")
        calls = pending_tool_calls(ctx.state)
        tools = tools_map(kind, ctx.state)
        functions = [await self._tool(call, tools) for call in calls]
        messages = [*_list(ctx.state.get("messages")), assistant_message(ctx.state, calls)]
        for call, function in zip(calls, functions, strict=True):
            result = await invoke(function, call.arguments)
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": text(result)}
            )
        return ExecutionResult(output={"messages": messages}, state_patch={"messages": messages})

    async def _tool(self, call: ToolCall, tools: dict[str, str]) -> ToolFunction:
        reference = tools.get(call.name)
        if reference is None:
            known = ", ".join(sorted(tools)) or "none"
            raise ToolCallsError(
                f"agent tool dispatch: the model asked for tool {call.name!r}, not one of: {known}"
            )
        module, _, path = reference.partition(":")
        return await self._functions.function(module, path)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def assistant_message(state: dict[str, Any], calls: list[ToolCall]) -> dict[str, Any]:
    """The assistant message that asked for ``calls``, in the OpenAI shape the next model turn replays."""
    content = state.get("assistant_content")
    if content is None:
        content = state.get("last_model_output")
    return {
        "role": "assistant",
        "content": content or "",
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in calls
        ],
    }


async def invoke(function: ToolFunction, arguments: Any) -> Any:
    bound = (
        functools.partial(function, **arguments)
        if isinstance(arguments, dict)
        else functools.partial(function, arguments)
    )
    if inspect.iscoroutinefunction(function):
        value = await bound()
    else:
        value = await run_in_daemon_thread(bound)
    return await value if inspect.isawaitable(value) else value


def text(result: Any) -> str:
    """A tool result as a ``tool`` message's content, as the SDK renders it."""
    if isinstance(result, str):
        return result
    dump = getattr(result, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    try:
        return json.dumps(result)
    except (TypeError, ValueError):
        return str(result)
