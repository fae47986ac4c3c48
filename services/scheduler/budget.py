"""Token and cost budgets: accumulated from every completed node, checked after each one.

The accumulation is a fold of the log, so every reader of the log reaches the same totals (the event
store mirrors it); they are exposed in the execution state under ``__budget`` with the original
runtime's field names. A completion in flight adds its tokens and cost, counts a model turn (it
reported a model or tokens) as an iteration, counts the tool calls a model asked for
(``last_model_tool_calls``) and resets the consecutive errors; every failure of a node in flight
counts one consecutive error. ``__budget`` is rewritten whenever a counter changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from jamjet_common.budget import BUDGET_KEY, is_model_turn, requested_tool_calls
from jamjet_common.events import CostBudgetExceeded, EventKind, NodeCompleted, TokenBudgetExceeded
from jamjet_common.ir import WorkflowIr

__all__ = ["BUDGET_KEY", "BudgetState", "overrun"]


@dataclass(slots=True)
class BudgetState:
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    total_cost_usd: float = 0.0
    iteration_count: int = 0
    tool_call_count: int = 0
    consecutive_error_count: int = 0
    circuit_breaker_tripped: bool = False

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.total_output_tokens

    def completed(self, kind: NodeCompleted) -> bool:
        """Count a node's completion; True if any counter changed."""
        before = self.as_state()
        self.total_input_tokens += kind.input_tokens or 0
        self.total_output_tokens += kind.output_tokens or 0
        self.total_cost_usd += kind.cost_usd or 0.0
        if is_model_turn(kind):
            self.iteration_count += 1
        self.tool_call_count += len(requested_tool_calls(kind.state_patch))
        self.consecutive_error_count = 0
        return self.as_state() != before

    def failed(self) -> None:
        self.consecutive_error_count += 1

    def as_state(self) -> dict[str, Any]:
        return asdict(self)


def overrun(budget: BudgetState, ir: WorkflowIr, node_id: str) -> tuple[EventKind, str] | None:
    """The first budget the totals exceed: its event and the execution's error, or None."""
    tokens = ir.token_budget
    if tokens is not None:
        for kind, limit, current in (
            ("total_tokens", tokens.total_tokens, budget.total_tokens),
            ("input_tokens", tokens.input_tokens, budget.total_input_tokens),
            ("output_tokens", tokens.output_tokens, budget.total_output_tokens),
        ):
            if limit is not None and current > limit:
                exceeded = TokenBudgetExceeded(node_id=node_id, kind=kind, limit=limit, current=current)
                return exceeded, f"token budget exceeded: {kind} {current} > {limit}"
    limit_usd = ir.cost_budget_usd
    if limit_usd is not None and budget.total_cost_usd > limit_usd:
        current_usd = round(budget.total_cost_usd, 6)
        over_cost = CostBudgetExceeded(node_id=node_id, limit_usd=limit_usd, current_usd=current_usd)
        return over_cost, f"cost budget exceeded: ${current_usd} > ${limit_usd}"
    return None
