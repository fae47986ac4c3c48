"""No-op node functions and the benchmark workflows."""

from __future__ import annotations

from typing import Any


def noop(state: dict[str, Any]) -> dict[str, Any]:
    return {}


def _fn(node_id: str) -> dict[str, Any]:
    return {"id": node_id, "kind": {"type": "python_fn", "module": __name__, "function": "noop"}}


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


def one_step() -> dict[str, Any]:
    return _ir("one_step", [_fn("only")], [("only", "end")])
