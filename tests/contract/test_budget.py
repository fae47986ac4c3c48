"""The budget fold scheduler and event store share: its rules, its ``__budget`` fields, reading one back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jamjet_common.budget import BudgetState
from jamjet_common.events import NodeCompleted

ORIGINAL_FIELDS = [
    "total_input_tokens",
    "total_output_tokens",
    "total_cost_usd",
    "iteration_count",
    "tool_call_count",
    "consecutive_error_count",
    "circuit_breaker_tripped",
]


def test_the_state_holds_the_originals_budget_fields() -> None:
    assert list(BudgetState().as_state()) == ORIGINAL_FIELDS


def test_a_completion_counts_tokens_cost_turns_and_tool_calls_and_clears_errors() -> None:
    budget = BudgetState()
    budget.failed()
    budget.failed()
    calls = {"last_model_tool_calls": [{"name": "a"}, {"name": "b"}]}
    turn = NodeCompleted(node_id="m", gen_ai_model="gpt", input_tokens=7, output_tokens=3, state_patch=calls)
    assert budget.completed(turn)
    assert budget.completed(NodeCompleted(node_id="t", cost_usd=0.25))
    assert budget == BudgetState(
        total_input_tokens=7,
        total_output_tokens=3,
        total_cost_usd=0.25,
        iteration_count=1,
        tool_call_count=2,
    )
    assert budget.total_tokens == 10
    assert not budget.completed(NodeCompleted(node_id="plain", state_patch={"x": 1}))


def test_a_stored_budget_reads_back_and_anything_malformed_reads_as_zero() -> None:
    budget = BudgetState(
        total_input_tokens=4, total_cost_usd=1.5, iteration_count=2, circuit_breaker_tripped=True
    )
    assert BudgetState.from_state(budget.as_state()) == budget
    assert BudgetState.from_state({"total_cost_usd": 2}) == BudgetState(total_cost_usd=2.0)
    meddled = {"iteration_count": "50", "tool_call_count": True, "total_input_tokens": 1.5, "extra": 1}
    assert BudgetState.from_state(meddled) == BudgetState()
    assert BudgetState.from_state(None) == BudgetState() == BudgetState.from_state([1, 2])


finite_costs = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) | st.none()
token_counts = st.integers(min_value=-1000, max_value=10**9) | st.none()


@given(
    inputs=token_counts,
    outputs=token_counts,
    cost=finite_costs,
    model=st.sampled_from([None, "", "gpt"]),
    calls=st.integers(min_value=0, max_value=3),
    errors=st.integers(min_value=0, max_value=3),
    spent=finite_costs,
)
def test_a_completion_says_it_changed_the_budget_exactly_when_the_stored_fields_differ(
    inputs: int | None,
    outputs: int | None,
    cost: float | None,
    model: str | None,
    calls: int,
    errors: int,
    spent: float | None,
) -> None:
    # The answer decides whether the fold writes __budget; it is computed without copying the state.
    budget = BudgetState(total_input_tokens=5, total_cost_usd=spent or 0.0, consecutive_error_count=errors)
    before = budget.as_state()
    patch = {"last_model_tool_calls": [{"name": "t"}] * calls}
    kind = NodeCompleted(
        node_id="n",
        input_tokens=inputs,
        output_tokens=outputs,
        cost_usd=cost,
        gen_ai_model=model,
        state_patch=patch,
    )
    changed = budget.completed(kind)
    # A cost too small to move a large total changes no field but is still reported: a rewrite of
    # the same values, which is harmless.
    tiny = cost is not None and cost != 0 and (spent or 0.0) + cost == (spent or 0.0)
    assert changed == (budget.as_state() != before or tiny)
