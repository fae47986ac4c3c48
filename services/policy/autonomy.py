"""Autonomy enforcement: may an agent take one more step on its own? Pure functions, no I/O.

The rules are the original runtime's, in its order: the circuit breaker first, whatever the level;
then ``guided`` agents need a human for every tool they call; ``bounded_autonomous`` agents escalate at
the first declared limit reached (iterations, tool calls, cost, tokens, each compared with ``>=``);
``fully_autonomous`` and ``deterministic`` agents proceed. Every escalation goes to a human.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from jamjet_common.agent_card import AutonomyConstraints, AutonomyLevel
from jamjet_common.errors import ContractError

CIRCUIT_BREAKER_THRESHOLD = 3
HUMAN_APPROVAL = "human_approval"
Number = int | float


def supervisor_agent(agent_id: str) -> str:
    """The escalation target naming a supervising agent (the original declares it, never uses it)."""
    return f"supervisor_agent:{agent_id}"


class _Budget(msgspec.Struct, frozen=True, kw_only=True):
    """The counters of the execution state's ``__budget`` that autonomy looks at."""

    iteration_count: Annotated[int, msgspec.Meta(ge=0)] = 0
    tool_call_count: Annotated[int, msgspec.Meta(ge=0)] = 0
    total_cost_usd: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    total_input_tokens: Annotated[int, msgspec.Meta(ge=0)] = 0
    total_output_tokens: Annotated[int, msgspec.Meta(ge=0)] = 0
    consecutive_error_count: Annotated[int, msgspec.Meta(ge=0)] = 0


@dataclass(frozen=True, slots=True)
class Counters:
    """What an execution has spent so far."""

    iterations: int = 0
    tool_calls: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    consecutive_errors: int = 0

    @classmethod
    def from_budget(cls, budget: Mapping[str, Any] | None) -> Counters:
        """Read a ``__budget`` object; missing counters are 0, wrong types a ContractError."""
        try:
            b = msgspec.convert(budget or {}, _Budget)
        except msgspec.ValidationError as exc:
            raise ContractError(f"invalid budget counters: {exc}") from exc
        return cls(
            iterations=b.iteration_count,
            tool_calls=b.tool_call_count,
            cost_usd=b.total_cost_usd,
            tokens=b.total_input_tokens + b.total_output_tokens,
            consecutive_errors=b.consecutive_error_count,
        )


@dataclass(frozen=True, slots=True)
class AutonomyContext:
    agent_ref: str
    level: AutonomyLevel
    constraints: AutonomyConstraints | None
    counters: Counters
    circuit_breaker_threshold: int = CIRCUIT_BREAKER_THRESHOLD


@dataclass(frozen=True, slots=True)
class Proceed:
    pass


@dataclass(frozen=True, slots=True)
class RequireToolApproval:
    tool_name: str


@dataclass(frozen=True, slots=True)
class EscalateLimit:
    limit_type: str
    """``max_iterations``, ``max_tool_calls``, ``cost_budget`` or ``token_budget``."""
    limit_value: Number
    actual_value: Number
    escalation_target: str = HUMAN_APPROVAL


@dataclass(frozen=True, slots=True)
class TripCircuitBreaker:
    consecutive_errors: int
    threshold: int
    escalation_target: str = HUMAN_APPROVAL


AutonomyDecision = Proceed | RequireToolApproval | EscalateLimit | TripCircuitBreaker
PROCEED = Proceed()


def check(ctx: AutonomyContext, tool_name: str | None) -> AutonomyDecision:
    """What the agent's autonomy allows for its next step (calling ``tool_name``, if it names one)."""
    errors, threshold = ctx.counters.consecutive_errors, ctx.circuit_breaker_threshold
    if errors >= threshold:
        return TripCircuitBreaker(errors, threshold)
    if ctx.level == "guided":
        return RequireToolApproval(tool_name) if tool_name is not None else PROCEED
    if ctx.level == "bounded_autonomous" and ctx.constraints is not None:
        return first_limit_reached(ctx.constraints, ctx.counters) or PROCEED
    return PROCEED


def first_limit_reached(limits: AutonomyConstraints, used: Counters) -> EscalateLimit | None:
    """The first declared limit that ``used`` has reached, in the original's order."""
    checks: tuple[tuple[str, Number | None, Number], ...] = (
        ("max_iterations", limits.max_iterations, used.iterations),
        ("max_tool_calls", limits.max_tool_calls, used.tool_calls),
        ("cost_budget", limits.cost_budget_usd, used.cost_usd),
        ("token_budget", limits.token_budget, used.tokens),
    )
    for limit_type, limit, actual in checks:
        if limit is not None and actual >= limit:
            return EscalateLimit(limit_type, limit, actual)
    return None
