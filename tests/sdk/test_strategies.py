"""YAML ``agent:`` documents compiled by the SDK's strategy compiler, run through the four services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from jamjet.workflow.ir_compiler import compile_yaml

from tests.e2e.stack import Stack, services
from tests.executors.fake_http import FakeHttpServer
from tests.sdk.fake_llm import fake_llm, model_env
from tests.sdk.support import events, execution, finished, register

pytestmark = pytest.mark.e2e


def agent_yaml(strategy: str) -> dict[str, Any]:
    return compile_yaml(
        f"""
agent:
  id: {strategy}-agent
  name: "{strategy} agent"
  strategy: {strategy}
  goal: "Answer the customer"
  model: gpt-4o-mini
  tools: [lookup_customer]
  limits:
    max_iterations: 3
    max_cost_usd: 1.0
    timeout_seconds: 120
"""
    )


@pytest.fixture
async def llm() -> AsyncIterator[FakeHttpServer]:
    async with fake_llm() as server:
        yield server


# strategy: (nodes that must have run, nodes that must have been skipped, unreachable nodes)
EXPECTED: dict[str, tuple[list[str], list[str], list[str]]] = {
    "react": (
        ["__think_0__", "__observe_0__", "__think_2__", "__finalize__"],
        ["__limit_exceeded__"],
        [],
    ),
    "plan-and-execute": (
        ["__plan__", "__step_0__", "__step_2__", "__finalize__"],
        ["__limit_exceeded__"],
        [],
    ),
    "critic": (
        ["__draft__", "__critic_0__", "__finalize__"],
        ["__revise_0__", "__critic_2__"],
        ["__limit_exceeded__"],
    ),
    "reflection": (
        ["__execute__", "__reflect_0__", "__revise_0__", "__reflect_1__", "__finalize__"],
        ["__revise_1__", "__reflect_2__"],
        ["__limit_exceeded__"],
    ),
    "consensus": (
        ["__agent_0__", "__agent_2__", "__vote__", "__judge__", "__finalize__"],
        ["__limit_exceeded__"],
        [],
    ),
    "debate": (
        ["__propose__", "__counter_0__", "__judge_0__", "__finalize__"],
        ["__respond_0__", "__judge_2__", "__limit_exceeded__"],
        [],
    ),
}


async def test_every_strategy_runs_to_its_final_answer(stack: Stack, llm: FakeHttpServer) -> None:
    replies: dict[str, dict[str, Any]] = {}
    runs: dict[str, str] = {}
    async with services(stack, **model_env(llm)):
        for strategy in EXPECTED:
            ir = agent_yaml(strategy)
            replies[strategy] = await register(stack, ir)
            runs[strategy] = await stack.start(ir["workflow_id"], {})
        states = {s: (await execution(stack, e))["current_state"] for s, e in runs.items()}
        outcomes = {s: await finished(stack, e) for s, e in runs.items()}
    for strategy, (ran, skipped, unreachable) in EXPECTED.items():
        execution_id = runs[strategy]
        assert outcomes[strategy] == "workflow_completed", strategy
        assert states[strategy]["result"] == "FINAL ANSWER", strategy
        completed = {k["node_id"] for k in events(stack, execution_id, "node_completed")}
        assert set(ran) <= completed, (strategy, set(ran) - completed)
        assert set(skipped) <= {k["node_id"] for k in events(stack, execution_id, "node_skipped")}, strategy
        warned = [w for w in replies[strategy]["warnings"] if "not reachable" in w]
        assert warned == [
            f"node '{n}' is not reachable from start node {_start(strategy)}: it never runs"
            for n in unreachable
        ]
        touched = {e["kind"].get("node_id") for e in stack.recorder.events[execution_id]}
        assert not set(unreachable) & touched, strategy
    assert states["critic"]["__critic_0_verdict__"]["passed"] is True
    assert states["reflection"]["__reflect_0_verdict__"]["passed"] is False
    assert states["plan-and-execute"]["__plan__"] == {"steps": ["look", "think", "answer"]}


def _start(strategy: str) -> str:
    return "'__draft__'" if strategy == "critic" else "'__execute__'"
