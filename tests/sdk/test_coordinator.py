"""``CoordinatorNode`` and ``AgentToolNode(agent="auto")`` written with the SDK, run through the services.

The agents are one local HTTP server answering on a path per agent, registered (and activated) through
``jamjet.cmd.agents.register``; the tiebreaker model is the fake OpenAI-compatible server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from jamjet.workflow import WorkflowGraph
from jamjet.workflow.nodes import AgentToolNode, CoordinatorNode

from tests.e2e.stack import Stack, services
from tests.executors.fake_http import FakeHttpServer, Reply, Request
from tests.helpers import eventually
from tests.sdk.fake_llm import fake_llm, model_env
from tests.sdk.support import events, execution, finished, register, request

pytestmark = pytest.mark.e2e


def answer(request: Request) -> Reply:
    return Reply(200, {"answered_by": request.path, "got": request.json()["input"]})


@pytest.fixture
async def llm() -> AsyncIterator[FakeHttpServer]:
    async with fake_llm() as server:
        yield server


@pytest.fixture
async def agents() -> AsyncIterator[FakeHttpServer]:
    async with FakeHttpServer(answer) as server:
        yield server


async def enlist(stack: Stack, uri: str, skills: list[str], *, active: bool = True, **card: Any) -> None:
    # Fully autonomous: calls need no approval (a guided agent's do, the registry's default; see below).
    card = {"autonomy": "fully_autonomous", **card}
    body = {"card": {"uri": uri, "name": uri.rsplit("/", 1)[-1], **card}}
    body["card"]["capabilities"] = {"skills": [{"name": s} for s in skills]}
    registered = await request(stack, "jamjet.cmd.agents.register", body)
    assert registered["ok"], registered
    if active:
        activated = await request(stack, "jamjet.cmd.agents.activate", {"id": registered["agent"]["id"]})
        assert activated["ok"], activated


async def staff(stack: Stack, base: str) -> None:
    await enlist(stack, f"{base}/pricey", ["translate"], cost_class="high", latency_class="slow")
    await enlist(stack, f"{base}/cheap", ["translate", "french"], cost_class="low", latency_class="fast")
    await enlist(stack, f"{base}/summarizer", ["summarize"], cost_class="free")
    await enlist(stack, f"{base}/idle", ["translate"], active=False, cost_class="free")


def one_node(workflow_id: str, node_id: str, node: CoordinatorNode | AgentToolNode) -> dict[str, Any]:
    graph = WorkflowGraph(workflow_id, version="1.0.0")
    graph.add_node(node_id, node)
    graph.add_edge(node_id, "end")
    return graph.compile()


async def run(
    stack: Stack, agents: FakeHttpServer, llm: FakeHttpServer, ir: dict[str, Any], state: dict[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    """(execution id, terminal event, final state) of ``ir`` run with the agents registered."""
    async with services(stack, **model_env(llm)):
        await staff(stack, agents.url)
        await register(stack, ir)
        execution_id = await stack.start(ir["workflow_id"], state)
        outcome = await finished(stack, execution_id)
        stored = (await execution(stack, execution_id))["current_state"]
    return execution_id, outcome, stored


async def test_a_coordinator_node_picks_the_best_fit_registered_agent(
    stack: Stack, agents: FakeHttpServer, llm: FakeHttpServer
) -> None:
    node = CoordinatorNode(task="translate a menu", required_skills=["translate"], output_key="chosen")
    _, outcome, state = await run(stack, agents, llm, one_node("routing", "route", node), {})
    assert outcome == "workflow_completed"
    assert state["chosen"] == f"{agents.url}/cheap"
    discovery, scoring, decision = state["coordinator_events"]
    assert discovery["candidates"] == [f"{agents.url}/cheap", f"{agents.url}/pricey"]
    assert discovery["filtered_out"] == [
        {"uri": f"{agents.url}/idle", "reason": "status is registered, not active"},
        {"uri": f"{agents.url}/summarizer", "reason": "missing skills: translate"},
    ]
    assert [r["agent_uri"] for r in scoring["rankings"]] == [f"{agents.url}/cheap", f"{agents.url}/pricey"]
    assert scoring["spread"] > 0.1 and set(scoring["weights"].values()) == {1.0}
    assert decision["type"] == "coordinator_decision" and decision["method"] == "structured"
    assert decision["rejected"] == [{"uri": f"{agents.url}/pricey", "reason": "lower score"}]
    assert llm.requests == [], "a clear winner needs no tiebreaker"


async def test_close_scores_go_to_the_tiebreaker_model(
    stack: Stack, agents: FakeHttpServer, llm: FakeHttpServer
) -> None:
    node = CoordinatorNode(
        task="translate a menu",
        required_skills=["translate"],
        output_key="chosen",
        tiebreaker={"model": "gpt-4o-mini", "threshold": 0.5},
    )
    execution_id, outcome, state = await run(stack, agents, llm, one_node("routing", "route", node), {})
    assert outcome == "workflow_completed"
    # The fake model picks the last candidate it is shown: the lower-scored one.
    assert state["chosen"] == f"{agents.url}/pricey"
    decision = state["coordinator_events"][-1]
    assert decision["method"] == "llm_tiebreaker" and decision["reasoning"] == "the last one shown"
    assert decision["tiebreaker_tokens"] == 15
    [completed] = [e for e in events(stack, execution_id, "node_completed") if e["node_id"] == "route"]
    assert completed["input_tokens"] == 10 and completed["output_tokens"] == 5


async def test_an_auto_agent_tool_runs_the_agent_the_coordinator_chose(
    stack: Stack, agents: FakeHttpServer, llm: FakeHttpServer
) -> None:
    node = AgentToolNode(agent="auto", output_key="reply", input_mapping={"q": "state.q"})
    ir = one_node("auto", "ask", node)
    execution_id, outcome, state = await run(stack, agents, llm, ir, {"q": "bonjour"})
    assert outcome == "workflow_completed"
    # No required skills: every active agent is a candidate; cheap and fast beats free of unknown speed.
    assert state["_selected_agent_ask"] == f"{agents.url}/cheap"
    assert state["reply"] == {"answered_by": "/cheap", "got": {"q": "bonjour"}}
    completed = [e["node_id"] for e in events(stack, execution_id, "node_completed")]
    assert completed == ["_coordinator_ask", "ask"]


async def test_no_matching_agent_fails_the_node_with_the_reason(
    stack: Stack, agents: FakeHttpServer, llm: FakeHttpServer
) -> None:
    node = CoordinatorNode(task="sing", required_skills=["opera"], output_key="chosen")
    execution_id, outcome, _ = await run(stack, agents, llm, one_node("routing", "route", node), {})
    assert outcome == "workflow_failed"
    [failed] = events(stack, execution_id, "node_failed")
    assert failed["node_id"] == "route" and failed["retryable"] is False
    assert failed["error"].startswith("coordinator 'route': no active agent has skills [opera]; left out: ")
    assert f"{agents.url}/cheap: missing skills: opera" in failed["error"]
    assert agents.requests == []


async def test_policy_judges_the_agent_the_coordinator_chose(
    stack: Stack, agents: FakeHttpServer, llm: FakeHttpServer
) -> None:
    node = AgentToolNode(agent="auto", output_key="reply", input_mapping={"q": "state.q"})
    ir = one_node("auto_blocked", "ask", node) | {"policy": {"blocked_tools": ["*/cheap"]}}
    execution_id, outcome, state = await run(stack, agents, llm, ir, {"q": "bonjour"})
    assert state["_selected_agent_ask"] == f"{agents.url}/cheap"
    assert outcome == "workflow_failed"
    [violation] = events(stack, execution_id, "policy_violation")
    assert violation["node_id"] == "ask" and violation["decision"] == "blocked"
    assert "reply" not in state and agents.requests == [], "a blocked agent is never called"


async def test_a_guided_agent_the_coordinator_chose_waits_for_approval(
    stack: Stack, agents: FakeHttpServer, llm: FakeHttpServer
) -> None:
    node = AgentToolNode(agent="auto", output_key="reply", input_mapping={"q": "state.q"})
    ir = one_node("auto_guided", "ask", node)
    async with services(stack, **model_env(llm)):
        await enlist(stack, f"{agents.url}/careful", ["translate"], autonomy="guided")
        await register(stack, ir)
        execution_id = await stack.start(ir["workflow_id"], {"q": "bonjour"})
        held = await eventually(lambda: events(stack, execution_id, "tool_approval_required"))
    assert held[0]["node_id"] == "ask" and agents.requests == [], "held before the agent is called"
