"""The original's "trading agent autonomy" scenarios, through ``jamjet.policy.evaluate``.

A hedge fund's agents: a bounded-autonomous research agent (10 iterations, 50 tool calls, 100k tokens,
$2 per analysis), a guided execution agent (a trader approves every order), a fully autonomous
market-data agent; and a circuit breaker at 3 consecutive errors for all of them.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS

from jamjet_common.messages import PolicyDecision
from services.policy.service import PolicyService
from tests.policy.support import (
    agent_command,
    agent_node,
    agent_tool_node,
    card,
    error_code,
    evaluate,
    register,
    tool_node,
)

RESEARCH_URI = "jamjet://fund/quant-research-v2"
EXECUTOR_URI = "jamjet://fund/trade-executor-v1"
MARKET_DATA_URI = "jamjet://fund/market-data-ingest-v1"
RESEARCH = card(
    RESEARCH_URI,
    "bounded_autonomous",
    constraints={
        "max_iterations": 10,
        "max_tool_calls": 50,
        "token_budget": 100_000,
        "cost_budget_usd": 2.0,
        "time_budget_secs": 300,
    },
)
EXECUTOR = card(EXECUTOR_URI, "guided")
MARKET_DATA = card(
    MARKET_DATA_URI,
    "fully_autonomous",
    constraints={"max_iterations": 1000, "max_tool_calls": 10_000, "cost_budget_usd": 100.0},
)


def budget(
    iterations: int = 0, tool_calls: int = 0, cost: float = 0.0, tokens: int = 0, errors: int = 0
) -> dict[str, Any]:
    """A ``__budget`` as the runtime keeps it (tokens split into input and output)."""
    return {
        "total_input_tokens": tokens - tokens // 4,
        "total_output_tokens": tokens // 4,
        "total_cost_usd": cost,
        "iteration_count": iterations,
        "tool_call_count": tool_calls,
        "consecutive_error_count": errors,
        "circuit_breaker_tripped": False,
    }


@pytest.fixture
async def fund(policy: PolicyService, nc: NATS) -> dict[str, dict[str, Any]]:
    return {
        "research": await register(nc, RESEARCH),
        "executor": await register(nc, EXECUTOR),
        "market_data": await register(nc, MARKET_DATA),
    }


async def research(nc: NATS, **used: Any) -> dict[str, Any]:
    return await evaluate(nc, agent_node(RESEARCH_URI), budget=budget(**used))


def escalation(reply: dict[str, Any]) -> dict[str, Any]:
    assert reply["ok"] is True, reply
    assert reply["decision"] == "block", "an escalation must fail closed for a worker that ignores it"
    assert reply["policy_scope"] == "agent"
    outcome: dict[str, Any] = reply["autonomy"]
    assert outcome["escalation_target"] == "human_approval"
    return outcome


# ---- the research agent: bounded autonomy ------------------------------------------------------------------


async def test_research_agent_within_limits_proceeds(fund: Any, nc: NATS) -> None:
    reply = await research(nc, iterations=3, cost=0.80, tokens=40_000)
    assert reply == {"ok": True, "decision": "allow", "tool_name": RESEARCH_URI}


async def test_research_agent_iteration_limit_escalates(fund: Any, nc: NATS) -> None:
    reply = await research(nc, iterations=10, cost=1.50, tokens=80_000)
    assert escalation(reply) == {
        "decision": "escalate_limit",
        "agent_ref": RESEARCH_URI,
        "escalation_target": "human_approval",
        "reason": "autonomy_limit:max_iterations",
        "limit_type": "max_iterations",
        "limit_value": 10,
        "actual_value": 10,
    }
    assert reply["reason"] == f"agent '{RESEARCH_URI}' reached its max_iterations limit: 10 >= 10"


async def test_research_agent_tool_call_limit_escalates(fund: Any, nc: NATS) -> None:
    outcome = escalation(await research(nc, iterations=9, tool_calls=50))
    assert (outcome["limit_type"], outcome["limit_value"], outcome["actual_value"]) == (
        "max_tool_calls",
        50,
        50,
    )
    assert outcome["reason"] == "autonomy_limit:max_tool_calls"


async def test_research_agent_cost_budget_escalates(fund: Any, nc: NATS) -> None:
    outcome = escalation(await research(nc, iterations=5, cost=2.10, tokens=95_000))
    assert (outcome["limit_type"], outcome["limit_value"], outcome["actual_value"]) == (
        "cost_budget",
        2.0,
        2.1,
    )
    assert outcome["reason"] == "autonomy_limit:cost_budget"


async def test_research_agent_token_budget_escalates(fund: Any, nc: NATS) -> None:
    outcome = escalation(await research(nc, iterations=4, cost=0.50, tokens=100_000))
    assert (outcome["limit_type"], outcome["limit_value"], outcome["actual_value"]) == (
        "token_budget",
        100_000,
        100_000,
    )


async def test_research_agent_limits_in_order(fund: Any, nc: NATS) -> None:
    """As the analysis goes on, each limit is met in turn; the first in the original's order wins."""
    steps = [
        ({"iterations": 10, "tool_calls": 50, "cost": 2.0, "tokens": 100_000}, "max_iterations"),
        ({"iterations": 9, "tool_calls": 50, "cost": 2.0, "tokens": 100_000}, "max_tool_calls"),
        ({"iterations": 9, "tool_calls": 49, "cost": 2.0, "tokens": 100_000}, "cost_budget"),
        ({"iterations": 9, "tool_calls": 49, "cost": 1.99, "tokens": 100_000}, "token_budget"),
    ]
    for used, limit_type in steps:
        assert escalation(await research(nc, **used))["limit_type"] == limit_type
    assert (await research(nc, iterations=9, tool_calls=49, cost=1.99, tokens=99_999))["decision"] == "allow"


async def test_circuit_breaker_overrides_bounded_limits(fund: Any, nc: NATS) -> None:
    outcome = escalation(await research(nc, iterations=2, cost=0.50, tokens=20_000, errors=3))
    assert outcome["decision"] == "trip_circuit_breaker"


async def test_a_research_node_may_name_the_agent_by_id(fund: dict[str, Any], nc: NATS) -> None:
    reply = await evaluate(nc, agent_node(fund["research"]["id"]), budget=budget(iterations=10))
    assert escalation(reply)["agent_ref"] == RESEARCH_URI


# ---- the execution agent: guided --------------------------------------------------------------------------


async def test_execution_agent_needs_a_trader_for_every_order(fund: Any, nc: NATS) -> None:
    for node_id in ("submit_market_order", "cancel_order"):
        reply = await evaluate(nc, agent_tool_node(EXECUTOR_URI, node_id), budget=budget())
        assert reply["decision"] == "require_approval"
        assert reply["approver"] == "human"
        assert reply["tool_name"] == EXECUTOR_URI
        assert reply["policy_scope"] == "agent"
        assert reply["autonomy"] == {
            "decision": "require_tool_approval",
            "agent_ref": EXECUTOR_URI,
            "escalation_target": "human_approval",
            "tool_name": EXECUTOR_URI,
        }


async def test_guided_agents_own_node_names_no_tool_and_proceeds(fund: Any, nc: NATS) -> None:
    assert (await evaluate(nc, agent_node(EXECUTOR_URI)))["decision"] == "allow"


async def test_circuit_breaker_after_three_consecutive_errors(fund: Any, nc: NATS) -> None:
    # The broker's API answers 503: the execution agent fails again and again.
    for errors in (1, 2):
        reply = await evaluate(nc, agent_node(EXECUTOR_URI, "check_positions"), budget=budget(errors=errors))
        assert reply["decision"] == "allow", f"tripped after {errors} error(s)"
    reply = await evaluate(nc, agent_node(EXECUTOR_URI, "check_positions"), budget=budget(errors=3))
    assert escalation(reply) == {
        "decision": "trip_circuit_breaker",
        "agent_ref": EXECUTOR_URI,
        "escalation_target": "human_approval",
        "reason": "circuit_breaker",
        "consecutive_errors": 3,
        "threshold": 3,
    }
    assert reply["reason"] == (
        f"circuit breaker tripped for agent '{EXECUTOR_URI}': 3 consecutive errors (threshold 3)"
    )


async def test_tripped_breaker_beats_guided_approval(fund: Any, nc: NATS) -> None:
    reply = await evaluate(nc, agent_tool_node(EXECUTOR_URI), budget=budget(errors=3))
    assert escalation(reply)["decision"] == "trip_circuit_breaker"


# ---- the market data agent: fully autonomous ---------------------------------------------------------------


async def test_fully_autonomous_agent_only_has_the_circuit_breaker(fund: Any, nc: NATS) -> None:
    way_past = budget(iterations=500, tool_calls=5000, cost=50.0, tokens=500_000, errors=2)
    assert (await evaluate(nc, agent_node(MARKET_DATA_URI), budget=way_past))["decision"] == "allow"
    tripped = budget(errors=3)
    assert escalation(await evaluate(nc, agent_node(MARKET_DATA_URI), budget=tripped))["threshold"] == 3


# ---- the registry's say: status, unknown agents, policy sets first -----------------------------------------


@pytest.mark.parametrize("action", ["pause", "deactivate"])
async def test_an_agent_not_active_is_blocked(fund: dict[str, Any], nc: NATS, action: str) -> None:
    await agent_command(nc, action, {"id": fund["market_data"]["id"]})
    reply = await evaluate(nc, agent_node(MARKET_DATA_URI), budget=budget())
    status = {"pause": "paused", "deactivate": "deactivated"}[action]
    assert reply["decision"] == "block"
    assert reply["reason"] == f"agent '{MARKET_DATA_URI}' is {status}"
    assert reply["policy_scope"] == "agent"
    assert "autonomy" not in reply


async def test_a_registered_agent_must_be_activated_first(policy: PolicyService, nc: NATS) -> None:
    await register(nc, card("jamjet://fund/new-hire", "fully_autonomous"), activate=False)
    reply = await evaluate(nc, agent_node("jamjet://fund/new-hire"))
    assert reply["reason"] == "agent 'jamjet://fund/new-hire' is registered"


async def test_an_unknown_agent_is_not_governed_by_the_registry(fund: Any, nc: NATS) -> None:
    reply = await evaluate(nc, agent_node("https://partner.example/agent"), budget=budget(errors=10))
    assert reply == {"ok": True, "decision": "allow", "tool_name": "https://partner.example/agent"}


async def test_policy_sets_decide_before_the_agent(fund: Any, nc: NATS) -> None:
    tripped = budget(errors=5)
    blocked = await evaluate(
        nc, agent_node(RESEARCH_URI), workflow_policy={"blocked_tools": ["jamjet://fund/*"]}, budget=tripped
    )
    assert blocked["decision"] == "block"
    assert blocked["policy_scope"] == "workflow"
    assert "autonomy" not in blocked
    held = await evaluate(
        nc, agent_node(RESEARCH_URI), workflow_policy={"require_approval_for": ["*research*"]}, budget=tripped
    )
    assert held["decision"] == "require_approval"
    assert held["policy_scope"] == "workflow"
    assert "autonomy" not in held


async def test_other_nodes_are_not_affected(fund: Any, nc: NATS) -> None:
    reply = await evaluate(nc, tool_node("sec_search"), budget=budget(errors=99, iterations=99))
    assert reply["decision"] == "allow"


async def test_escalation_can_ask_for_an_approval(policy: PolicyService, nc: NATS) -> None:
    labelled = {**RESEARCH, "uri": "jamjet://fund/careful", "labels": {"jamjet.escalation": "approval"}}
    await register(nc, labelled)
    limit = escalation(await evaluate(nc, agent_node("jamjet://fund/careful"), budget=budget(iterations=10)))
    trip = escalation(await evaluate(nc, agent_node("jamjet://fund/careful"), budget=budget(errors=3)))
    assert limit["escalation_mode"] == trip["escalation_mode"] == "approval"


async def test_replies_decode_as_the_worker_reads_them(fund: Any, nc: NATS) -> None:
    reply = await research(nc, cost=3.0)
    decision = msgspec.convert(reply, PolicyDecision)
    assert decision.autonomy is not None
    assert decision.autonomy.limit_type == "cost_budget"
    assert decision.autonomy.escalation_mode == "fail"


async def test_unreadable_budget_is_refused(fund: Any, nc: NATS) -> None:
    reply = await evaluate(nc, agent_node(RESEARCH_URI), budget={"iteration_count": "ten"})
    assert error_code(reply) == "invalid_request"
    assert "budget" in reply["error"]["message"]
