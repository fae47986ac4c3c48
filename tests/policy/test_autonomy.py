"""The autonomy enforcer rule by rule, in the original's order, with its ``>=`` ties."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from jamjet_common.agent_card import AgentCard, AutonomyConstraints, AutonomyLevel
from jamjet_common.errors import ContractError
from services.policy.autonomy import (
    PROCEED,
    AutonomyContext,
    Counters,
    EscalateLimit,
    RequireToolApproval,
    TripCircuitBreaker,
    check,
    first_limit_reached,
    supervisor_agent,
)

LIMITS = AutonomyConstraints(max_iterations=5, max_tool_calls=10, cost_budget_usd=1.0, token_budget=1000)
LEVELS: list[AutonomyLevel] = ["deterministic", "guided", "bounded_autonomous", "fully_autonomous"]


def ctx(
    level: AutonomyLevel = "bounded_autonomous",
    constraints: AutonomyConstraints | None = LIMITS,
    threshold: int = 3,
    **used: Any,
) -> AutonomyContext:
    return AutonomyContext("jamjet://acme/agent", level, constraints, Counters(**used), threshold)


# ---- 1. the circuit breaker, before anything else ------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_circuit_breaker_trips_at_the_threshold_whatever_the_level(level: AutonomyLevel) -> None:
    assert check(ctx(level, consecutive_errors=3), "search") == TripCircuitBreaker(3, 3, "human_approval")


@pytest.mark.parametrize("level", LEVELS)
def test_circuit_breaker_stays_closed_below_the_threshold(level: AutonomyLevel) -> None:
    assert not isinstance(check(ctx(level, consecutive_errors=2), None), TripCircuitBreaker)


def test_circuit_breaker_reports_errors_beyond_the_threshold() -> None:
    assert check(ctx(consecutive_errors=7), None) == TripCircuitBreaker(7, 3)


def test_circuit_breaker_threshold_is_configurable_per_context() -> None:
    assert check(ctx(threshold=5, consecutive_errors=4), None) == PROCEED
    assert check(ctx(threshold=5, consecutive_errors=5), None) == TripCircuitBreaker(5, 5)


def test_circuit_breaker_comes_before_limits_and_guided_approval() -> None:
    over_everything = {"iterations": 99, "tool_calls": 99, "cost_usd": 99.0, "tokens": 10**6}
    assert isinstance(check(ctx(consecutive_errors=3, **over_everything), None), TripCircuitBreaker)
    assert isinstance(check(ctx("guided", consecutive_errors=3), "submit_order"), TripCircuitBreaker)


# ---- 2. guided: a human approves every tool ----------------------------------------------------------------


def test_guided_requires_approval_for_a_named_tool() -> None:
    assert check(ctx("guided"), "submit_market_order") == RequireToolApproval("submit_market_order")


def test_guided_without_a_tool_proceeds() -> None:
    assert check(ctx("guided"), None) == PROCEED


def test_guided_ignores_limits() -> None:
    assert check(ctx("guided", iterations=100, cost_usd=100.0), None) == PROCEED


# ---- 3. bounded_autonomous: the first limit reached, in order ----------------------------------------------


def test_bounded_without_constraints_proceeds() -> None:
    assert check(ctx(constraints=None, iterations=10**6, tokens=10**9), None) == PROCEED


def test_bounded_within_limits_proceeds() -> None:
    assert check(ctx(iterations=4, tool_calls=9, cost_usd=0.99, tokens=999), "search") == PROCEED


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        ({"iterations": 5}, EscalateLimit("max_iterations", 5, 5)),
        ({"tool_calls": 10}, EscalateLimit("max_tool_calls", 10, 10)),
        ({"cost_usd": 1.0}, EscalateLimit("cost_budget", 1.0, 1.0)),
        ({"tokens": 1000}, EscalateLimit("token_budget", 1000, 1000)),
    ],
)
def test_each_limit_escalates_when_reached_exactly(used: dict[str, Any], expected: EscalateLimit) -> None:
    assert check(ctx(**used), None) == expected
    assert expected.escalation_target == "human_approval"


@pytest.mark.parametrize(
    "used",
    [{"iterations": 4}, {"tool_calls": 9}, {"cost_usd": 0.999999}, {"tokens": 999}],
)
def test_one_below_each_limit_proceeds(used: dict[str, Any]) -> None:
    assert check(ctx(**used), None) == PROCEED


def test_limits_are_checked_in_the_originals_order() -> None:
    everything = {"iterations": 6, "tool_calls": 11, "cost_usd": 1.5, "tokens": 2000}
    order = []
    limits = LIMITS
    for field in ("max_iterations", "max_tool_calls", "cost_budget_usd", "token_budget"):
        decision = check(ctx(constraints=limits, **everything), None)
        assert isinstance(decision, EscalateLimit)
        order.append(decision.limit_type)
        limits = _without(limits, field)
    assert order == ["max_iterations", "max_tool_calls", "cost_budget", "token_budget"]
    assert check(ctx(constraints=limits, **everything), None) == PROCEED


def test_escalation_reports_the_actual_value_beyond_the_limit() -> None:
    assert check(ctx(cost_usd=2.1), None) == EscalateLimit("cost_budget", 1.0, 2.1)


def test_zero_limit_escalates_at_once() -> None:
    zero = AutonomyConstraints(max_iterations=0)
    assert first_limit_reached(zero, Counters()) == EscalateLimit("max_iterations", 0, 0)


def test_limits_not_declared_are_not_checked() -> None:
    only_tokens = AutonomyConstraints(token_budget=100)
    assert (
        check(ctx(constraints=only_tokens, iterations=10**6, tool_calls=10**6, cost_usd=1e6), None) == PROCEED
    )
    assert check(ctx(constraints=only_tokens, tokens=100), None) == EscalateLimit("token_budget", 100, 100)


def test_unenforced_constraints_do_not_escalate() -> None:
    # Kept on the card, not enforced (as the original): tool lists, delegations, time budget.
    declared = AutonomyConstraints(blocked_tools=["*"], require_approval_for=["*"], time_budget_secs=0)
    assert check(ctx(constraints=declared, iterations=50), "anything") == PROCEED


# ---- 4. fully_autonomous and deterministic: only the circuit breaker ---------------------------------------


@pytest.mark.parametrize("level", ["fully_autonomous", "deterministic"])
def test_unbounded_levels_proceed_past_every_limit(level: AutonomyLevel) -> None:
    way_past = {"iterations": 500, "tool_calls": 5000, "cost_usd": 50.0, "tokens": 500_000}
    assert check(ctx(level, consecutive_errors=2, **way_past), "tool") == PROCEED


def test_supervisor_target_string() -> None:
    assert supervisor_agent("risk-officer") == "supervisor_agent:risk-officer"


# ---- counters from the execution state's __budget ---------------------------------------------------------


def test_counters_from_budget() -> None:
    budget = {
        "total_input_tokens": 1200,
        "total_output_tokens": 300,
        "total_cost_usd": 0.42,
        "iteration_count": 4,
        "tool_call_count": 7,
        "consecutive_error_count": 2,
        "circuit_breaker_tripped": False,
        "something_new": "ignored",
    }
    assert Counters.from_budget(budget) == Counters(
        iterations=4, tool_calls=7, cost_usd=0.42, tokens=1500, consecutive_errors=2
    )


@pytest.mark.parametrize("budget", [None, {}])
def test_missing_budget_counts_nothing(budget: dict[str, Any] | None) -> None:
    assert Counters.from_budget(budget) == Counters()


def test_integer_cost_is_accepted() -> None:
    assert Counters.from_budget({"total_cost_usd": 2}).cost_usd == 2.0


@pytest.mark.parametrize(
    "budget",
    [{"iteration_count": "many"}, {"consecutive_error_count": -1}, {"total_cost_usd": "1.0"}],
)
def test_unreadable_budget_is_a_contract_error(budget: dict[str, Any]) -> None:
    with pytest.raises(ContractError, match="invalid budget counters"):
        Counters.from_budget(budget)


def test_escalation_label_on_the_card() -> None:
    plain = AgentCard(uri="jamjet://a", name="a")
    asking = AgentCard(uri="jamjet://a", name="a", labels={"jamjet.escalation": "approval"})
    assert not plain.escalates_to_approval
    assert asking.escalates_to_approval


def _without(limits: AutonomyConstraints, field: str) -> AutonomyConstraints:
    return msgspec.structs.replace(limits, **{field: None})
