"""Workflows and node functions for the end-to-end tests."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from tests.scheduler.builders import cond, fn, workflow

__all__ = ["cond", "fn", "workflow"]

MODULE = __name__
BRANCHES = 8


def root(state: dict[str, Any]) -> dict[str, Any]:
    return {"root": True}


def _branch(index: int) -> Any:
    def branch(state: dict[str, Any]) -> dict[str, Any]:
        return {f"b{index}": index, "seen_root": state.get("root", False)}

    branch.__name__ = f"branch_{index}"
    return branch


for _i in range(BRANCHES):
    globals()[f"branch_{_i}"] = _branch(_i)


def join(state: dict[str, Any]) -> dict[str, Any]:
    return {"total": sum(int(state.get(f"b{i}", 0)) for i in range(BRANCHES))}


async def slow(state: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(random.uniform(0.05, 0.25))
    return {"slow_steps": int(state.get("slow_steps", 0)) + 1}


def diamond10() -> dict[str, Any]:
    """root, then branch_0..branch_7 in parallel, then join: ten nodes."""
    nodes = [fn("root", "root", MODULE)]
    nodes += [fn(f"b{i}", f"branch_{i}", MODULE) for i in range(BRANCHES)]
    nodes.append(fn("join", "join", MODULE))
    edges = [("root", f"b{i}") for i in range(BRANCHES)] + [(f"b{i}", "join") for i in range(BRANCHES)]
    return workflow(nodes, [*edges, ("join", "end")], wf="diamond10")


def routed() -> dict[str, Any]:
    """A condition picks one of two branches; a join runs after the live one."""
    nodes = [
        fn("root", "root", MODULE),
        cond("route", [("state.go_left == true", "left"), (None, "right")]),
        fn("left", "branch_0", MODULE),
        fn("right", "branch_1", MODULE),
        fn("join", "join", MODULE),
    ]
    edges = [("root", "route"), ("route", "left"), ("route", "right"), ("left", "join"), ("right", "join")]
    return workflow(nodes, [*edges, ("join", "end")], wf="routed")


def slow_chain(length: int = 4) -> dict[str, Any]:
    nodes = [fn(f"s{i}", "slow", MODULE) for i in range(length)]
    edges = [(f"s{i}", f"s{i + 1}") for i in range(length - 1)]
    return workflow(nodes, [*edges, (f"s{length - 1}", "end")], wf="slow_chain")


async def sleeper(state: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(float(state.get("sleep", 5.0)))
    return {"slept": True}


def timed(timeout_secs: float) -> dict[str, Any]:
    """One node that sleeps `state.sleep` seconds, in a workflow with a timeout."""
    ir = workflow([fn("nap", "sleeper", MODULE)], [("nap", "end")], wf="timed")
    ir["timeouts"] = {"workflow_timeout": timeout_secs}
    return ir


def approval(name: str = "gated", fallback: bool = False, timeout_secs: int | None = None) -> dict[str, Any]:
    """root → ask (human_approval) → work → end; with a fallback node `plan_b` when asked."""
    ask: dict[str, Any] = {"id": "ask", "kind": {"type": "human_approval", "description": "ship it?"}}
    if fallback:
        ask["kind"]["fallback_node"] = "plan_b"
    if timeout_secs is not None:
        ask["kind"]["timeout_secs"] = timeout_secs
    nodes = [fn("root", "root", MODULE), ask, fn("work", "branch_0", MODULE)]
    edges = [("root", "ask"), ("ask", "work"), ("work", "end")]
    if fallback:
        nodes.append(fn("plan_b", "branch_1", MODULE))
        edges += [("ask", "plan_b"), ("plan_b", "end")]
    return workflow(nodes, edges, wf=name)


def two_approvals() -> dict[str, Any]:
    nodes = [
        fn("root", "root", MODULE),
        {"id": "ask_a", "kind": {"type": "human_approval"}},
        {"id": "ask_b", "kind": {"type": "human_approval"}},
    ]
    return workflow(nodes, [("root", "ask_a"), ("root", "ask_b")], wf="two_approvals")


def policy_gated() -> dict[str, Any]:
    """A python_fn node that the workflow policy says needs a human's approval."""
    ir = workflow([fn("root", "root", MODULE), fn("pay", "branch_0", MODULE)], [("root", "pay")], wf="pay")
    ir["policy"] = {"require_approval_for": [f"{MODULE}.branch_*"]}
    return ir


def model_node(node_id: str, prompt: str = "Summarise {{ state.topic }}") -> dict[str, Any]:
    return {"id": node_id, "kind": {"type": "model", "model_ref": "fast", "prompt_ref": prompt}}


def with_models(ir: dict[str, Any]) -> dict[str, Any]:
    ir["models"] = {
        "fast": {"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.1, "max_tokens": 64}
    }
    return ir


def model_chain(token_budget: int | None = None) -> dict[str, Any]:
    """think (model) → finish (python_fn); with an optional total token budget."""
    ir = with_models(
        workflow([model_node("think"), fn("finish", "branch_0", MODULE)], [("think", "finish")], wf="thinker")
    )
    if token_budget is not None:
        ir["token_budget"] = {"total_tokens": token_budget}
    return ir


def agent_after_model(agent_uri: str) -> dict[str, Any]:
    """think (model) → act (agent at agent_uri)."""
    act = {"id": "act", "kind": {"type": "agent", "agent_ref": agent_uri}}
    return with_models(workflow([model_node("think"), act], [("think", "act")], wf="agentic"))


def blocked_fn() -> dict[str, Any]:
    ir = workflow(
        [fn("root", "root", MODULE), fn("danger", "branch_0", MODULE)], [("root", "danger")], wf="risky"
    )
    ir["policy"] = {"blocked_tools": [f"{MODULE}.branch_*"]}
    return ir


def waiting(condition: Any, timeout_secs: float | None = None, key: str | None = "payment") -> dict[str, Any]:
    """root → hold (wait) → after."""
    hold: dict[str, Any] = {"id": "hold", "kind": {"type": "wait", "condition": condition}}
    if key is not None:
        hold["kind"]["correlation_key"] = key
    if timeout_secs is not None:
        hold["kind"]["timeout_secs"] = timeout_secs
    nodes = [fn("root", "root", MODULE), hold, fn("after", "branch_0", MODULE)]
    return workflow(nodes, [("root", "hold"), ("hold", "after")], wf=f"wait_{condition}")
