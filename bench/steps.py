"""No-op node functions and the benchmark workflows."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any


def noop(state: dict[str, Any]) -> dict[str, Any]:
    return {}


def _fn(node_id: str, function: str = "noop") -> dict[str, Any]:
    return {"id": node_id, "kind": {"type": "python_fn", "module": __name__, "function": function}}


def _ir(workflow_id: str, nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "version": "1.0.0",
        "state_schema": "{}",
        "start_node": nodes[0]["id"],
        "nodes": {n["id"]: n for n in nodes},
        "edges": [{"from": a, "to": b} for a, b in edges],
    }


def chain10() -> dict[str, Any]:
    nodes = [_fn(f"s{i}") for i in range(10)]
    edges = [(f"s{i}", f"s{i + 1}") for i in range(9)] + [("s9", "end")]
    return _ir("chain10", nodes, edges)


def diamond() -> dict[str, Any]:
    nodes = [_fn("a"), *(_fn(f"b{i}") for i in range(1, 9)), _fn("c")]
    edges = [("a", f"b{i}") for i in range(1, 9)] + [(f"b{i}", "c") for i in range(1, 9)] + [("c", "end")]
    return _ir("diamond", nodes, edges)


def parked() -> dict[str, Any]:
    """Waits at its first node for a signal nobody sends: an execution the scheduler keeps in memory."""
    hold = {"id": "hold", "kind": {"type": "wait", "condition": "external_event", "correlation_key": "never"}}
    return _ir("parked", [hold, _fn("after")], [("hold", "after"), ("after", "end")])


def gated() -> dict[str, Any]:
    """10 sequential no-op steps, a wait for the signal ``go``, then 10 more: for an SSE follower, events
    to catch up with while they are being stored, then events to a follower that is connected."""
    hold = {"id": "hold", "kind": {"type": "wait", "condition": "external_event", "correlation_key": "go"}}
    nodes = [*(_fn(f"a{i}") for i in range(10)), hold, *(_fn(f"b{i}") for i in range(10))]
    chain = [*(f"a{i}" for i in range(10)), "hold", *(f"b{i}" for i in range(10)), "end"]
    return _ir("gated", nodes, list(itertools.pairwise(chain)))


def one_step() -> dict[str, Any]:
    return _ir("one_step", [_fn("only")], [("only", "end")])


async def pause(state: dict[str, Any]) -> dict[str, Any]:
    """A step that waits ``state.pause`` seconds (an LLM call's latency, without its CPU)."""
    await asyncio.sleep(float(state.get("pause", 1.0)))
    return {}


def paced(length: int = 5) -> dict[str, Any]:
    """``length`` sequential pause steps: executions that stay running for a while."""
    nodes = [_fn(f"p{i}", "pause") for i in range(length)]
    edges = [(f"p{i}", f"p{i + 1}") for i in range(length - 1)] + [(f"p{length - 1}", "end")]
    return _ir("paced", nodes, edges)
