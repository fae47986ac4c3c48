"""Token and cost budgets: accumulated from every completed node, checked after each one.

The accumulation is a fold of the log (tokens and cost of each ``node_completed``), so every reader of
the log reaches the same totals; they are exposed in the execution state under ``__budget`` with the
original runtime's field names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from jamjet_common.events import CostBudgetExceeded, EventKind, NodeCompleted, TokenBudgetExceeded
from jamjet_common.ir import WorkflowIr

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

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.total_output_tokens

    def add(self, kind: NodeCompleted) -> None:
        self.total_input_tokens += kind.input_tokens or 0
        self.total_output_tokens += kind.output_tokens or 0
        self.total_cost_usd += kind.cost_usd or 0.0
        self.consecutive_error_count = 0

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
