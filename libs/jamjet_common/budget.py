"""Shared rules of the per-execution budget counters, folded from the log by scheduler and store alike."""

from __future__ import annotations

from typing import Any

from jamjet_common.events import NodeCompleted

BUDGET_KEY = "__budget"
COUNTERS = ("iteration_count", "tool_call_count", "consecutive_error_count")


def requested_tool_calls(patch: Any) -> list[Any]:
    """The tool calls a model asked for, as its executor records them in the state patch."""
    calls = patch.get("last_model_tool_calls") if isinstance(patch, dict) else None
    return calls if isinstance(calls, list) else []


def is_model_turn(kind: NodeCompleted) -> bool:
    """A completion that reported a model or token usage: one iteration of an agent."""
    return bool(kind.gen_ai_model or kind.input_tokens or kind.output_tokens)
