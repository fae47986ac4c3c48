"""Workflows the console tests start, and their node functions."""

from __future__ import annotations

from typing import Any

from tests.e2e import workflows
from tests.scheduler.builders import fn, workflow

MODULE = __name__
FAST_RETRY = {"max_attempts": 2, "backoff": "fixed", "initial_delay": 0.05, "max_delay": 0.05}


def disk_full(state: dict[str, Any]) -> dict[str, Any]:
    raise OSError(28, "No space left on device")


def flaky() -> dict[str, Any]:
    """One node that fails with a retryable I/O error on both of its attempts: a dead letter."""
    node = fn("write", "disk_full", MODULE) | {"retry_policy": "fast"}
    ir = workflow([fn("root", "root", workflows.MODULE), node], [("root", "write")], wf="flaky")
    ir["retry_policies"] = {"fast": FAST_RETRY | {"retryable_on": ["io_error"]}}
    return ir


def napping() -> dict[str, Any]:
    """root, then a node that sleeps ``state.sleep`` seconds: running long enough to be cancelled."""
    nodes = [fn("root", "root", workflows.MODULE), fn("nap", "sleeper", workflows.MODULE)]
    return workflow(nodes, [("root", "nap"), ("nap", "end")], wf="napping")


def one_node(wf: str) -> dict[str, Any]:
    """A workflow of one quick node, to fill the executions list."""
    return workflow([fn("root", "root", workflows.MODULE)], [("root", "end")], wf=wf)
