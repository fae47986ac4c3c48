"""Schedulers that run short nodes themselves (``JAMJET_SCHEDULER_INLINE_KINDS``), killed and stopped.

A scheduler killed while it runs nodes leaves them started with no work item: the partition's next
owner gives each to a worker, which finds the attempt lapsed and retries it. A scheduler stopped lets
its running nodes finish within the grace period (past it, gives them back: tests/e2e/test_inline.py).
Besides the four invariants, "S" checks that the stops hit nodes running inline, and after a kill that
such nodes were recorded as stopped and taken over.
"""

from __future__ import annotations

import asyncio

import pytest

from services.scheduler.inline import RUNNER_PREFIX
from tests.faults.harness import FaultHarness
from tests.faults.invariants import Check
from tests.faults.observations import Event
from tests.faults.test_faults import drive_in_background

pytestmark = pytest.mark.faults
SCHEDULER = "scheduler"
HARNESS_SETTINGS = {"JAMJET_SCHEDULER_INLINE_KINDS": "python_fn,condition,parallel,join"}
"""Read by the ``harness`` fixture: every scheduler runs short nodes itself."""


def inline_runner(harness: FaultHarness) -> str:
    return f"{RUNNER_PREFIX}{harness.procs.instance_id(SCHEDULER)}"


async def stop_mid_node(harness: FaultHarness, how: str, times: int) -> list[int]:
    """Stop the scheduler (``how``) as soon as it runs a node, and start it again; nodes it was running."""
    landed: list[int] = []
    for _ in range(times):
        runner = inline_runner(harness)

        def running(runner: str = runner) -> bool:
            return harness.watch.in_flight(runner) > 0

        await harness.until(running, 15)
        landed.append(harness.watch.in_flight(runner))
        if how == "SIGKILL":
            await harness.kill(SCHEDULER)
        else:
            await harness.term(SCHEDULER, timeout=30)
        await asyncio.sleep(1.0)
        await harness.start_service(SCHEDULER)
    return landed


def taken_over(events: list[Event]) -> tuple[int, int]:
    """Attempts that ran inline and ended without an outcome of their own; of them, those a worker redid."""
    stopped, redone = 0, 0
    open_inline: dict[str, int] = {}
    for event in events:
        kind = event["kind"]
        node = kind.get("node_id")
        if kind["type"] == "node_started" and kind["worker_id"].startswith(RUNNER_PREFIX):
            open_inline[node] = kind["attempt"]
        elif kind["type"] == "node_failed" and node in open_inline and kind["attempt"] == open_inline[node]:
            if kind.get("lease_expired") or kind.get("released"):
                stopped += 1
        elif kind["type"] == "node_started" and node in open_inline:
            redone += 1
            del open_inline[node]
        elif kind["type"] in ("node_completed", "node_failed", "node_cancelled"):
            open_inline.pop(node, None)
    return stopped, redone


def inline_check(harness: FaultHarness, landed: list[int], how: str) -> Check:
    by_execution = harness.watch.by_execution().values()
    inline = sum(
        1
        for events in by_execution
        for e in events
        if e["kind"]["type"] == "node_started" and e["kind"]["worker_id"].startswith(RUNNER_PREFIX)
    )
    stopped, redone = map(sum, zip(*(taken_over(events) for events in by_execution), strict=True))
    problems = []
    if inline == 0:
        problems.append("no node ran inline")
    if not any(landed):
        problems.append("no stop landed while the scheduler ran a node")
    if how == "SIGKILL" and stopped == 0 and any(landed):
        problems.append("no inline attempt was recorded as stopped")
    summary = f"{inline} inline starts; {sum(landed)} nodes running at the stops; {stopped} taken over"
    return Check("S", "inline nodes taken over", tuple(problems), f"{summary}, {redone} restarted elsewhere")


async def scenario(harness: FaultHarness, how: str) -> None:
    driving = await drive_in_background(harness, 60, rate=6)
    landed = await stop_mid_node(harness, how, times=2)
    await driving
    await harness.finish(timeout=120)
    harness.add_check(inline_check(harness, landed, how))
    harness.verdict()


async def test_sigkill_scheduler_running_nodes_inline(harness: FaultHarness) -> None:
    await scenario(harness, "SIGKILL")


async def test_sigterm_scheduler_running_nodes_inline(harness: FaultHarness) -> None:
    await scenario(harness, "SIGTERM")
