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
