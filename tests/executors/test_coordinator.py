"""The coordinator's scoring and decision, the registry view it reads, and its tiebreaker call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from jamjet_common.agent_card import AgentCard
from jamjet_common.errors import FatalError
from jamjet_common.ir import CoordinatorNode, NodeDef
from jamjet_common.records import Agent, agent_key, agent_uri_key
from services.worker.executors import coordinator_scoring as scoring
from services.worker.executors.agent_call import chosen_agent
from services.worker.executors.coordinator import CoordinatorExecutor
from services.worker.executors.coordinator_agents import live
from services.worker.executors.coordinator_tiebreak import choice
from tests.executors.builders import context, model_settings
from tests.executors.fake_http import FakeHttpServer, Reply, Request

AT = datetime(2026, 1, 1, tzinfo=UTC)


def agent(uri: str, *skills: str, status: str = "active", **card: Any) -> Agent:
    capabilities = {"skills": [{"name": s} for s in skills]}
    parsed = msgspec.convert({"uri": uri, "name": uri, "capabilities": capabilities, **card}, AgentCard)
    return Agent(id=uri.replace("/", "-"), card=parsed, status=status, registered_at=AT, updated_at=AT)  # type: ignore[arg-type]


def coordinator(**fields: Any) -> CoordinatorNode:
    return msgspec.convert({"type": "coordinator", "task": "translate", **fields}, CoordinatorNode)


CHEAP = agent("a/cheap", "translate", cost_class="low", latency_class="slow")
FAST = agent("a/fast", "translate", cost_class="high", latency_class="realtime")
PLAIN = agent("a/plain", "translate", "french")


def test_discovery_keeps_active_agents_with_every_required_skill_and_says_why_others_are_out() -> None:
    paused = agent("a/paused", "translate", status="paused")
    other = agent("a/other", "summarize")
    secret = agent("a/secret", "translate", labels={"jamjet.trust_domain": "vault"})
    node = coordinator(required_skills=["translate"], trust_domain="vault")
    found = scoring.discover(node, [paused, other, secret, PLAIN])
    assert [a.uri for a in found.candidates] == ["a/secret"]
    assert found.filtered_out == [
        {"uri": "a/paused", "reason": "status is paused, not active"},
        {"uri": "a/other", "reason": "missing skills: translate"},
        {"uri": "a/plain", "reason": "trust domain mismatch: None != 'vault'"},
    ]


def test_weights_decide_between_a_cheap_and_a_fast_agent() -> None:
    node = coordinator(required_skills=["translate"])
    by_cost = scoring.rank(node, [FAST, CHEAP], scoring.weights({"latency_fit": 0.0}))
    by_speed = scoring.rank(node, [CHEAP, FAST], scoring.weights({"cost_fit": 0.0}))
    assert [r.agent_uri for r in by_cost] == ["a/cheap", "a/fast"]
    assert [r.agent_uri for r in by_speed] == ["a/fast", "a/cheap"]
    assert by_cost[0].scores == {
        "capability_fit": 1.0,
        "cost_fit": 0.85,
        "latency_fit": 0.3,
        "trust_compatibility": 0.5,
        "historical_performance": 0.5,
    }
    assert scoring.spread(by_cost) == pytest.approx((0.85 - 0.3) / 4)


def test_preferred_skills_and_budgets_move_the_scores() -> None:
    node = coordinator(preferred_skills=["french", "german"], budget={"max_latency_ms": 500})
    assert scoring.score(node, PLAIN)["capability_fit"] == 0.5
    assert scoring.score(node, CHEAP)["latency_fit"] == 0.0
    bounded = agent("a/b", "translate", cost_class="free", constraints={"cost_budget_usd": 5.0})
    assert scoring.score(coordinator(budget={"max_cost_usd": 1.0}), bounded)["cost_fit"] == 0.0
    assert scoring.score(coordinator(budget={"max_cost_usd": 9.0}), bounded)["cost_fit"] == 1.0


def test_one_candidate_has_the_full_spread_and_zero_weights_score_zero() -> None:
    rankings = scoring.rank(coordinator(), [PLAIN], scoring.weights(None))
    assert scoring.spread(rankings) == 1.0
    assert scoring.composite(rankings[0].scores, dict.fromkeys(scoring.DIMENSIONS, 0.0)) == 0.0


@pytest.mark.parametrize("raw", [{"speed": 1.0}, {"cost_fit": -1}, {"cost_fit": True}, [1.0]])
def test_weights_outside_the_five_dimensions_are_refused(raw: Any) -> None:
    with pytest.raises(FatalError, match="coordinator: weights"):
        scoring.weights(raw)


def test_the_registry_view_keeps_the_tenants_live_records_only() -> None:
    winner, loser = agent("a/x", "t"), msgspec.structs.replace(agent("a/x", "t"), id="late")
    entries = {
        agent_key("t1", winner.id): msgspec.json.encode(winner),
        agent_key("t1", loser.id): msgspec.json.encode(loser),
        agent_uri_key("t1", "a/x"): winner.id.encode(),
        agent_key("t1", "broken"): b'{"id": 3}',
        # Another tenant's registry, and a key of none, are never candidates.
        agent_key("t2", "other"): msgspec.json.encode(msgspec.structs.replace(winner, id="other")),
        agent_uri_key("t2", "a/x"): b"other",
        winner.id: msgspec.json.encode(winner),
    }
    assert [a.id for a in live("t1", entries)] == [winner.id]
    assert [a.id for a in live("t2", entries)] == ["other"]


def test_a_tiebreaker_answer_naming_no_candidate_keeps_the_top_score() -> None:
    tied = scoring.rank(coordinator(), [CHEAP, PLAIN], scoring.weights(None))
    assert choice({"selected_uri": tied[1].agent_uri, "reasoning": "r"}, tied) == (tied[1].agent_uri, "r")
    picked, why = choice("not json", tied)
    assert picked == tied[0].agent_uri and "named no candidate" in why


def test_a_state_reference_names_the_agent_a_coordinator_chose() -> None:
    assert chosen_agent({"explicit": "state.pick"}, {"pick": "http://a"}) == "http://a"
    assert chosen_agent({"explicit": "http://b"}, {}) == {"explicit": "http://b"}
    with pytest.raises(FatalError, match=r"state.pick names no agent \(the state holds None there\)"):
        chosen_agent({"explicit": "state.pick"}, {})


class Agents:
    def __init__(self, *agents: Agent) -> None:
        self._agents = list(agents)

    async def agents(self, tenant: str) -> list[Agent]:
        return self._agents


def picks_second(request: Request) -> Reply:
    prompt = request.json()["messages"][0]["content"]
    uri = prompt.split("2. URI: ")[1].split("\n")[0]
    content = f'{{"selected_uri": "{uri}", "reasoning": "second is better"}}'
    usage = {"prompt_tokens": 40, "completion_tokens": 8, "cost": 0.002}
    return Reply(
        200, {"choices": [{"message": {"content": content}, "finish_reason": "stop"}], "usage": usage}
    )


@pytest.fixture
async def model() -> AsyncIterator[FakeHttpServer]:
    async with FakeHttpServer(picks_second) as server:
        yield server


def run_node(**fields: Any) -> Any:
    return context(
        NodeDef(id="route", kind=coordinator(output_key="chosen", **fields)), {"coordinator_events": [1]}
    )


async def test_close_scores_are_settled_by_the_tiebreaker_model(model: FakeHttpServer) -> None:
    executor = CoordinatorExecutor(Agents(CHEAP, PLAIN), model_settings(model.url))
    try:
        result = await executor.execute(run_node(tiebreaker={"model": "judge", "threshold": 0.2}))
    finally:
        await executor.aclose()
    second = result.state_patch["coordinator_events"][2]["rankings"][1]["agent_uri"]
    assert result.state_patch["chosen"] == second and result.output["method"] == "llm_tiebreaker"
    assert result.output["tiebreaker_tokens"] == 48 and result.output["tiebreaker_cost"] == 0.002
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (40, 8, 0.002)
    assert result.state_patch["coordinator_events"][0] == 1, "earlier events are kept"
    assert model.last.json()["model"] == "judge"


async def test_a_clear_winner_or_no_model_asks_no_one(model: FakeHttpServer) -> None:
    executor = CoordinatorExecutor(Agents(CHEAP, FAST), model_settings(model.url))
    try:
        unasked = await executor.execute(run_node(tiebreaker={"threshold": 1.0}))
        clear = await executor.execute(run_node(weights={"latency_fit": 0}, tiebreaker={"model": "judge"}))
    finally:
        await executor.aclose()
    assert unasked.output["method"] == clear.output["method"] == "structured"
    assert clear.output["selected"] == "a/cheap" and model.requests == []


async def test_no_candidate_is_a_fatal_failure_naming_who_was_left_out(model: FakeHttpServer) -> None:
    executor = CoordinatorExecutor(Agents(PLAIN), model_settings(model.url))
    try:
        with pytest.raises(FatalError) as raised:
            await executor.execute(run_node(required_skills=["opera"], trust_domain="stage"))
    finally:
        await executor.aclose()
    assert raised.value.message == (
        "coordinator 'route': no active agent has skills [opera] in trust domain 'stage'; "
        "left out: a/plain: missing skills: opera"
    )
    assert raised.value.retryable is False
