"""The per-execution budget counters (``__budget`` in the state): one fold of the log, for every reader.

The scheduler folds it to check the IR's budgets, the event store to mirror the scheduler's state, each
with this code, so both reach the same totals. A completion in flight adds its tokens and cost, counts a
model turn (it reported a model or tokens) as an iteration, counts the tool calls a model asked for
(``last_model_tool_calls``) and resets the consecutive errors; every failure of a node in flight counts
one consecutive error. The field names are the original runtime's ``BudgetState``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Self

from jamjet_common.events import NodeCompleted

BUDGET_KEY = "__budget"


@dataclass(slots=True)
class BudgetState:
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    total_cost_usd: float = 0.0
    iteration_count: int = 0
    tool_call_count: int = 0
    consecutive_error_count: int = 0
    circuit_breaker_tripped: bool = False

    @classmethod
    def from_state(cls, stored: Any) -> Self:
        """A ``__budget`` object as stored; a field missing or of another type reads as its default."""
        found = stored if isinstance(stored, dict) else {}
        budget = cls()
        for field in fields(cls):
            default = getattr(budget, field.name)
            setattr(budget, field.name, _read(found.get(field.name), default))
        return budget

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.total_output_tokens

    def completed(self, kind: NodeCompleted) -> bool:
        """Count a node's completion; True if any counter changed."""
        input_tokens, output_tokens = kind.input_tokens or 0, kind.output_tokens or 0
        cost, turn = kind.cost_usd or 0.0, is_model_turn(kind)
        calls = len(requested_tool_calls(kind.state_patch))
        # Every completion passes here, most of them counting nothing: no state is rebuilt for those.
        changed = bool(input_tokens or output_tokens or cost or turn or calls or self.consecutive_error_count)
        self.total_input_tokens += input_tokens
        self.total_output_tokens += output_tokens
        self.total_cost_usd += cost
        self.iteration_count += turn
        self.tool_call_count += calls
        self.consecutive_error_count = 0
        return changed

    def failed(self) -> None:
        self.consecutive_error_count += 1

    def as_state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(field.name for field in fields(BudgetState))


def _read(value: Any, default: Any) -> Any:
    if isinstance(default, float) and type(value) in (int, float):
        return float(value)
    return value if type(value) is type(default) else default


def requested_tool_calls(patch: Any) -> list[Any]:
    """The tool calls a model asked for, as its executor records them in the state patch."""
    calls = patch.get("last_model_tool_calls") if isinstance(patch, dict) else None
    return calls if isinstance(calls, list) else []


def is_model_turn(kind: NodeCompleted) -> bool:
    """A completion that reported a model or token usage: one iteration of an agent."""
    return bool(kind.gen_ai_model or kind.input_tokens or kind.output_tokens)
