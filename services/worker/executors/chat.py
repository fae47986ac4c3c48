"""The OpenAI chat-completions wire format: a model node's request, and the completion it gets back.

Messages: the rendered ``system_prompt`` first, then the rendered ``prompt_ref`` as one user message,
or else the state's ``messages`` (``{role, content}`` objects, kept with their ``name``,
``tool_calls`` and ``tool_call_id``; tool calls in this executor's own ``{id, name, arguments}`` shape
are converted back to the wire shape, so an agent loop can append them as they came). Tools are
OpenAI function schemas; a bare ``{name, description, parameters}`` is wrapped as a function tool.
A tool call's ``arguments`` come back decoded from their JSON string (kept as the string if it is
not JSON).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from jamjet_common.errors import FatalError
from jamjet_common.ir import ModelConfig, ModelNode
from services.worker.executors.templates import render

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    provider: str | None
    """The IR ``models`` entry's provider; None when ``model_ref`` named the model directly."""
    body: dict[str, Any]
    timeout_secs: float | None


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    model: str
    finish_reason: str | None
    tool_calls: list[dict[str, Any]]
    input_tokens: int | None
    output_tokens: int | None
    reported_cost_usd: float | None

    @property
    def output(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "tool_calls": self.tool_calls,
        }

    @property
    def state_patch(self) -> dict[str, Any]:
        return {
            "last_model_output": self.content,
            "last_model_finish_reason": self.finish_reason,
            "last_model_tool_calls": self.tool_calls,
        }


def chat_request(
    node_id: str, kind: ModelNode, config: ModelConfig | None, state: dict[str, Any]
) -> ChatRequest:
    model = config.model if config is not None else kind.model_ref
    body: dict[str, Any] = {"model": model, "messages": messages(node_id, kind, state)}
    if config is not None and config.temperature is not None:
        body["temperature"] = config.temperature
    if config is not None and config.max_tokens is not None:
        body["max_tokens"] = config.max_tokens
    if kind.tools:
        body["tools"] = [function_tool(node_id, tool) for tool in kind.tools]
    provider = config.provider if config is not None else None
    timeout = float(config.timeout_secs) if config is not None and config.timeout_secs else None
    return ChatRequest(model, provider, body, timeout)


def messages(node_id: str, kind: ModelNode, state: dict[str, Any]) -> list[dict[str, Any]]:
    conversation = (
        [{"role": "user", "content": render(kind.prompt_ref, state)}]
        if kind.prompt_ref
        else state_messages(node_id, state.get("messages"))
    )
    if not conversation:
        raise FatalError(f"model node '{node_id}' has no prompt_ref and the state has no messages")
    if kind.system_prompt:
        return [{"role": "system", "content": render(kind.system_prompt, state)}, *conversation]
    return conversation


def state_messages(node_id: str, raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise FatalError(f"model node '{node_id}': state.messages must be a list, not {type(raw).__name__}")
    return [_message(node_id, index, entry) for index, entry in enumerate(raw)]


def _message(node_id: str, index: int, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or entry.get("role") not in ROLES:
        roles = ", ".join(sorted(ROLES))
        raise FatalError(f"model node '{node_id}': state.messages[{index}] needs a role ({roles})")
    message = {key: entry[key] for key in _MESSAGE_KEYS if key in entry}
    message.setdefault("content", None)
    if isinstance(message.get("tool_calls"), list):
        message["tool_calls"] = [_wire_tool_call(call) for call in message["tool_calls"]]
    return message


def _wire_tool_call(call: Any) -> Any:
    if not isinstance(call, dict) or "function" in call or "name" not in call:
        return call
    arguments = call.get("arguments", {})
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments, separators=(",", ":"))
    function = {"name": call["name"], "arguments": encoded}
    return {"id": call.get("id"), "type": "function", "function": function}


def function_tool(node_id: str, tool: Any) -> dict[str, Any]:
    if isinstance(tool, dict) and "type" in tool:
        return tool
    if isinstance(tool, dict) and isinstance(tool.get("name"), str):
        return {"type": "function", "function": tool}
    raise FatalError(f"model node '{node_id}': each of tools must be an OpenAI function schema, got {tool!r}")


# ---- the response -------------------------------------------------------------------------------------


def completion(body: Any, requested_model: str, what: str) -> Completion:
    choice = _first_choice(body, what)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise FatalError(f"{what}: malformed completion: choices[0].message is not an object")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    model = body.get("model")
    return Completion(
        content=_content(message.get("content")),
        model=model if isinstance(model, str) and model else requested_model,
        finish_reason=_text_or_none(choice.get("finish_reason")),
        tool_calls=[_tool_call(call, what) for call in message.get("tool_calls") or []],
        input_tokens=_count(usage, "prompt_tokens", "input_tokens"),
        output_tokens=_count(usage, "completion_tokens", "output_tokens"),
        reported_cost_usd=usd(usage.get("cost")),
    )


def _first_choice(body: Any, what: str) -> dict[str, Any]:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise FatalError(f"{what}: malformed completion: no choices in {_snippet(body)}")
    return choices[0]


def _tool_call(call: Any, what: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise FatalError(f"{what}: malformed tool call in completion: {_snippet(call)}")
    return {
        "id": call.get("id"),
        "name": function["name"],
        "arguments": _arguments(function.get("arguments")),
    }


def _arguments(raw: Any) -> Any:
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _content(raw: Any) -> str:
    """Text content; some servers send a list of parts, whose text parts are joined."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        return "".join(part.get("text", "") for part in raw if isinstance(part, dict))
    return ""


def _count(usage: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = usage.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def usd(raw: Any) -> float | None:
    """A reported cost: a finite, non-negative number or numeric string; None otherwise."""
    if isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _snippet(value: Any) -> str:
    return json.dumps(value, default=str)[:300]
