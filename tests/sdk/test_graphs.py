"""Graphs written with the SDK's ``WorkflowGraph`` builder and its YAML compiler, run through the services."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from jamjet.workflow import ConditionNode, EvalNode, HumanApprovalNode, ModelNode, ToolNode, WorkflowGraph
from jamjet.workflow.ir_compiler import compile_yaml
from jamjet.workflow.nodes import AgentToolNode

from tests.e2e.stack import Stack, services
from tests.executors.fake_http import FakeHttpServer, Reply, Request
from tests.sdk import graph_tools
from tests.sdk.fake_llm import fake_llm, model_env
from tests.sdk.support import decide, events, execution, finished, held, register

pytestmark = pytest.mark.e2e

RESEARCH_YAML = """
workflow:
  id: acme.research
  name: Research, in parallel
  version: 0.2.0
  start: fetch

tools:
  search: {kind: python, reference: "tests.sdk.graph_tools:search"}
  weather: {kind: python, reference: "tests.sdk.graph_tools:weather"}

nodes:
  fetch:
    type: tool
    tool_ref: search
    input:
      query: "{{ state.question }}"
      greeting: "Hello {{ state.user.name }}, about {{ state.question }}!"
      user: "{{ state.user }}"
      limit: 3
    next:
      - to: forecast
      - to: summarize
  forecast:
    type: tool
    tool_ref: weather
    input:
      city: "{{ state.user.city }}"
    retry_policy: fast
    next: report
  summarize:
    type: model
    model: gpt-4o-mini
    prompt: "Summarise {{ state.hits }}"
    output_schema: summary
    next: report
  report:
    type: model
    model: gpt-4o-mini
    prompt: "Report {{ state.forecast }} and {{ state.summary }}"
    output_schema: report
    next: end
"""


@pytest.fixture
async def llm() -> AsyncIterator[FakeHttpServer]:
    graph_tools.CALLS.clear()
    async with fake_llm() as server:
        yield server


async def test_a_yaml_graph_fans_out_and_in_and_renders_tool_inputs(
    stack: Stack, llm: FakeHttpServer
) -> None:
    ir = compile_yaml(RESEARCH_YAML)
    user = {"name": "Ada", "city": "Lyon"}
    async with services(stack, **model_env(llm)):
        reply = await register(stack, ir)
        execution_id = await stack.start("acme.research", {"question": "tides", "user": user})
        assert await finished(stack, execution_id) == "workflow_completed"
        state = (await execution(stack, execution_id))["current_state"]
    assert [w for w in reply["warnings"] if "'fast'" in w]
    calls = dict(graph_tools.CALLS)
    assert calls["search"] == {
        "query": "tides",
        "greeting": "Hello Ada, about tides!",
        "user": user,
        "limit": 3,
    }
    assert calls["weather"] == {"city": "Lyon"}
    assert state["hits"] == ["tides-1", "tides-2"] and state["forecast"] == "sunny in Lyon"
    assert state["summary"] == 'answer to: Summarise ["tides-1","tides-2"]'
    assert state["report"].startswith("answer to: Report sunny in Lyon")
    report_started = [e for e in events(stack, execution_id, "node_started") if e["node_id"] == "report"]
    assert len(report_started) == 1, "the fan-in node runs once, after both branches"


def agent_reply(request: Request) -> Reply:
    return Reply(200, {"verdict": "fine", "seen": request.json()["input"]})


async def test_a_workflow_graph_with_each_runnable_node_class(stack: Stack, llm: FakeHttpServer) -> None:
    async with FakeHttpServer(agent_reply) as agent:
        graph = WorkflowGraph("graph builder")
        graph.add_node("draft", ModelNode(model="gpt-4o-mini", prompt="Draft about {{ state.topic }}"))
        graph.add_node(
            "lookup",
            ToolNode(tool_ref="tests.sdk.graph_tools.search", input_mapping={"query": "state.topic"}),
        )
        graph.add_node(
            "route",
            ConditionNode(
                branches=[
                    {"condition": "state.hits", "target": "approve"},
                    {"condition": None, "target": "end"},
                ]
            ),
        )
        graph.add_node("approve", HumanApprovalNode(description="ship it?"))
        graph.add_node(
            "review",
            AgentToolNode(agent=f"{agent.url}/review", input_mapping={"draft": "state.last_model_output"}),
        )
        graph.add_node("check", EvalNode(scorers=[{"type": "assertion", "checks": ["state.hits"]}]))
        for src, dst in [("draft", "lookup"), ("lookup", "route"), ("route", "approve"), ("route", "end")]:
            graph.add_edge(src, dst)
        for src, dst in [("approve", "review"), ("review", "check"), ("check", "end")]:
            graph.add_edge(src, dst)
        ir = graph.compile()
        async with services(stack, **model_env(llm)):
            reply = await register(stack, ir)
            execution_id = await stack.start("graph builder", {"topic": "tides"})
            await held(stack, execution_id)
            await decide(stack, execution_id, "approved", "alice", "go")
            assert await finished(stack, execution_id) == "workflow_completed"
            state = (await execution(stack, execution_id))["current_state"]
    assert reply["warnings"] == []
    assert state["hits"] == ["tides-1", "tides-2"]
    assert state["result"] == {"verdict": "fine", "seen": {"draft": "answer to: Draft about tides"}}
    completed = [e["node_id"] for e in events(stack, execution_id, "node_completed")]
    assert completed == ["draft", "lookup", "route", "approve", "review", "check"]
    assert json.dumps(state).count("agent_tool_completed") == 1


GUARDED_YAML = """
workflow:
  id: guarded
  start: fetch
tools:
  search: {kind: python, reference: "tests.sdk.graph_tools:search"}
  weather: {kind: python, reference: "tests.sdk.graph_tools:weather"}
nodes:
  fetch:
    type: tool
    tool_ref: search
    input: {query: "{{ state.question }}"}
    policy:
      blocked_tools: ["sea*"]
    next: forecast
  forecast:
    type: tool
    tool_ref: weather
    next: end
"""


async def test_a_yaml_node_policy_blocks_its_tool_node(stack: Stack, llm: FakeHttpServer) -> None:
    async with services(stack, **model_env(llm)):
        await register(stack, compile_yaml(GUARDED_YAML))
        execution_id = await stack.start("guarded", {"question": "tides"})
        assert await finished(stack, execution_id) == "workflow_failed"
    assert graph_tools.CALLS == []
    [violation] = events(stack, execution_id, "policy_violation")
    assert violation["node_id"] == "fetch" and violation["policy_scope"] == "node"
    assert violation["rule"] == "tool 'search' matches blocked pattern 'sea*'"
