"""The workflow mix of the fault-injection suite, and the executions a scenario starts.

Chains, a diamond, condition routing, a transiently failing node with a short retry policy, and a
fatally failing node beside a slow sibling; most of them have slow nodes so that kills land mid-node.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MODULE = "tests.faults.fns"
FLAKY_POLICY = "flaky"
RETRY_POLICIES = {
    FLAKY_POLICY: {"max_attempts": 3, "backoff": "fixed", "initial_delay": 0.2, "max_delay": 0.2}
}
FATAL = "fatal"
"""Label of the executions that must fail (their ``boom`` node raises ValueError)."""


@dataclass(frozen=True, slots=True)
class Planned:
    """One execution to start: which workflow, with what input, and a label for the report."""

    execution_id: str
    workflow_id: str
    label: str
    input: dict[str, Any] = field(default_factory=dict)


def fn(node_id: str, function: str, retry_policy: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": node_id,
        "kind": {"type": "python_fn", "module": MODULE, "function": function},
    }
    if retry_policy is not None:
        node["retry_policy"] = retry_policy
    return node


def cond(node_id: str, branches: list[tuple[str | None, str]]) -> dict[str, Any]:
    targets = [{"condition": c, "target": t} for c, t in branches]
    return {"id": node_id, "kind": {"type": "condition", "branches": targets}}


def workflow(wf: str, nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "workflow_id": wf,
        "version": "1.0.0",
        "state_schema": "{}",
        "start_node": nodes[0]["id"],
        "nodes": {n["id"]: n for n in nodes},
        "edges": [{"from": a, "to": b} for a, b in edges],
        "retry_policies": RETRY_POLICIES,
    }


def chain() -> dict[str, Any]:
    nodes = [fn("a", "fast"), fn("b", "slow"), fn("c", "fast"), fn("d", "slow")]
    return workflow("f_chain", nodes, [("a", "b"), ("b", "c"), ("c", "d"), ("d", "end")])


def diamond() -> dict[str, Any]:
    nodes = [fn("root", "fast"), fn("b1", "slow"), fn("b2", "fast"), fn("b3", "slow"), fn("join", "fast")]
    branches = ("b1", "b2", "b3")
    edges = [("root", b) for b in branches] + [(b, "join") for b in branches] + [("join", "end")]
    return workflow("f_diamond", nodes, edges)


def routed() -> dict[str, Any]:
    route = cond("route", [("state.go_left == true", "left"), (None, "right")])
    nodes = [fn("root", "fast"), route, fn("left", "slow"), fn("right", "fast"), fn("join", "fast")]
    edges = [("root", "route"), ("route", "left"), ("route", "right"), ("left", "join"), ("right", "join")]
    return workflow("f_routed", nodes, [*edges, ("join", "end")])


def flaky() -> dict[str, Any]:
    nodes = [fn("root", "fast"), fn("flaky", "flaky", FLAKY_POLICY), fn("after", "slow")]
    return workflow("f_flaky", nodes, [("root", "flaky"), ("flaky", "after"), ("after", "end")])


def fatal() -> dict[str, Any]:
    """``boom`` fails for good while its sibling ``side`` is still running; ``join`` never runs."""
    nodes = [fn("root", "fast"), fn("boom", "boom"), fn("side", "slow"), fn("join", "fast")]
    edges = [("root", "boom"), ("root", "side"), ("boom", "join"), ("side", "join"), ("join", "end")]
    return workflow("f_fatal", nodes, edges)


SIGNAL_KEY = "go"
TIMER_SECS = 3
HELD_NODES = ("hold", "ask")
"""Node ids of the nodes the scheduler holds in the held workflows (wait, human_approval)."""


def waiting(wf: str, condition: str, timeout_secs: int | None = None) -> dict[str, Any]:
    """root → hold (wait) → after."""
    hold: dict[str, Any] = {"id": "hold", "kind": {"type": "wait", "condition": condition}}
    if condition != "timer":
        hold["kind"]["correlation_key"] = SIGNAL_KEY
    if timeout_secs is not None:
        hold["kind"]["timeout_secs"] = timeout_secs
    nodes = [fn("root", "fast"), hold, fn("after", "fast")]
    return workflow(wf, nodes, [("root", "hold"), ("hold", "after"), ("after", "end")])


def approval(wf: str, fallback: bool) -> dict[str, Any]:
    """root → ask (human_approval) → after; with a fallback node ``plan_b`` when asked."""
    ask: dict[str, Any] = {"id": "ask", "kind": {"type": "human_approval", "description": "go?"}}
    nodes = [fn("root", "fast"), ask, fn("after", "fast")]
    edges = [("root", "ask"), ("ask", "after"), ("after", "end")]
    if fallback:
        ask["kind"]["fallback_node"] = "plan_b"
        nodes.append(fn("plan_b", "fast"))
        edges += [("ask", "plan_b"), ("plan_b", "end")]
    return workflow(wf, nodes, edges)


def held_workflows() -> list[dict[str, Any]]:
    """Workflows whose middle node the scheduler holds: waits of each condition, approvals."""
    return [
        waiting("h_event", "external_event"),
        waiting("h_either", "either", timeout_secs=600),
        waiting("h_timer", "timer", timeout_secs=TIMER_SECS),
        waiting("h_either_timer", "either", timeout_secs=TIMER_SECS),
        approval("h_approval", fallback=False),
        approval("h_fallback", fallback=True),
    ]


def all_workflows() -> dict[str, dict[str, Any]]:
    irs = [chain(), diamond(), routed(), flaky(), fatal(), *held_workflows()]
    return {ir["workflow_id"]: ir for ir in irs}


MIX: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("chain", "f_chain", {}),
    ("diamond", "f_diamond", {}),
    ("routed-left", "f_routed", {"go_left": True}),
    ("flaky", "f_flaky", {"fail_p": 0.5}),
    ("chain", "f_chain", {}),
    ("diamond", "f_diamond", {}),
    ("routed-right", "f_routed", {"go_left": False}),
    (FATAL, "f_fatal", {}),
    ("flaky", "f_flaky", {"fail_p": 0.5}),
    ("always-transient", "f_flaky", {"fail_p": 1.0}),
)
"""One cycle of the mix: every tenth execution exhausts its retries, every tenth fails fatally."""


def plan(count: int, scenario: str, **extra_input: Any) -> list[Planned]:
    """``count`` executions cycling through the mix, with ids that name the scenario."""
    run = uuid.uuid4().hex[:6]
    cycle: Iterator[tuple[str, str, dict[str, Any]]] = itertools.cycle(MIX)
    return [
        Planned(f"{scenario}-{run}-{i:04d}", wf, label, {**data, **extra_input})
        for i, (label, wf, data) in zip(range(count), cycle, strict=False)
    ]
