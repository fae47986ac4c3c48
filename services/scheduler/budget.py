"""Token and cost budgets, checked after each completed node against the totals of the shared fold.

The totals are ``jamjet_common.budget.BudgetState``, folded from the log (the event store folds the same);
they are exposed in the execution state under ``__budget``, rewritten whenever a counter changes.
"""

from __future__ import annotations

from jamjet_common.budget import BUDGET_KEY, BudgetState
from jamjet_common.events import CostBudgetExceeded, EventKind, TokenBudgetExceeded
from jamjet_common.ir import WorkflowIr

__all__ = ["BUDGET_KEY", "BudgetState", "overrun"]


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
