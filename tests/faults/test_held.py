"""Restarting the scheduler while executions wait in nodes it holds (wait, human_approval).

Executions wait in each kind of held node; the scheduler is stopped (SIGTERM or SIGKILL; with a second
replica running, or alone) and started again. The signal or approval of each execution is sent before
the stop, while it is down, or after the restart behind an unrelated signal that loads the execution
first; timers come due while it is down or after. Besides the four invariants, check "H": no worker
is ever given a held node, and each held node is resolved exactly once, by what was sent or by its
timer (regression: a restarted scheduler republished held nodes as work items).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from jamjet_common import subjects
from tests.faults.harness import FaultHarness
from tests.faults.invariants import Check
from tests.faults.observations import Event
from tests.faults.procs import ProcessSpec
from tests.faults.workflows import HELD_NODES, SIGNAL_KEY, Planned

pytestmark = pytest.mark.faults
DOWN_SECS = 2.0
WHEN = ("before", "down", "after")
RESOLVED_BY_COMMAND = ("h_event", "h_either", "h_approval", "h_fallback")
RESOLVED_BY_TIMER = ("h_timer", "h_either_timer")
REPLICA = ProcessSpec("scheduler2", "services.scheduler")


def held_plan(scenario: str) -> list[Planned]:
    run = uuid.uuid4().hex[:6]
    planned = [
        Planned(f"{scenario}-{run}-{wf}-{when}", wf, when) for wf in RESOLVED_BY_COMMAND for when in WHEN
    ]
    return planned + [Planned(f"{scenario}-{run}-{wf}", wf, "timer") for wf in RESOLVED_BY_TIMER]


def resolving(planned: Planned) -> tuple[str, dict[str, Any]]:
    """The command that resolves the held node of ``planned``: its signal, or a decision."""
    if planned.workflow_id in ("h_approval", "h_fallback"):
        decision = "approved" if planned.workflow_id == "h_approval" else "rejected"
        body = {"execution_id": planned.execution_id, "decision": decision, "user_id": "faults"}
        return subjects.CMD_APPROVALS, body
    return signal(planned, SIGNAL_KEY)


def signal(planned: Planned, key: str) -> tuple[str, dict[str, Any]]:
    body = {"execution_id": planned.execution_id, "correlation_key": key, "payload": planned.execution_id}
    return subjects.CMD_SIGNALS, body


def is_held(events: list[Event]) -> bool:
    """The execution's held node is waiting: scheduled, and for an approval also asked."""
    kinds = {(e["kind"]["type"], e["kind"].get("node_id")) for e in events}
    return ("node_scheduled", "hold") in kinds or ("tool_approval_required", "ask") in kinds


async def hold_all(harness: FaultHarness, planned: list[Planned]) -> None:
    await harness.drive(planned, per_second=20)
    by_execution = harness.watch.by_execution
    held = await harness.until(
        lambda: all(is_held(by_execution().get(p.execution_id, [])) for p in planned), 30
    )
    assert held, "not every execution reached its held node"


async def stop(harness: FaultHarness, how: str) -> None:
    if how == "SIGKILL":
        await harness.kill("scheduler")
    else:
        await harness.term("scheduler", timeout=30)


async def send(harness: FaultHarness, planned: list[Planned], when: str) -> None:
    for execution in (p for p in planned if p.label == when):
        subject, body = resolving(execution)
        if when == "down":  # nobody may answer: the command waits in its stream
            await harness.nc.publish(subject, json.dumps(body).encode())
            continue
        if when == "after":  # loads the execution into the restarted scheduler first
            answer = await harness.ask(*signal(execution, "unrelated"))
            assert answer["accepted"] is True, answer
        await harness.ask(subject, body)
    await harness.nc.flush()


def held_problems(planned: Planned, events: list[Event]) -> list[str]:
    where = planned.execution_id
    mine = [e["kind"] for e in events if e["kind"].get("node_id") in HELD_NODES]
    problems = [
        f"{where}: a worker was given {k['node_id']}: {k}" for k in mine if k["type"] == "node_started"
    ]
    outcomes = [k for k in mine if k["type"] in ("node_completed", "node_failed", "node_cancelled")]
    if [k["type"] for k in outcomes] != ["node_completed"]:
        problems.append(f"{where}: held node outcomes {[(k['type'], k.get('error')) for k in outcomes]}")
    elif not resolved_as_sent(planned, outcomes[0]):
        problems.append(f"{where}: resolved with {outcomes[0]['output']}, not the signal sent")
    if "workflow_completed" not in [e["kind"]["type"] for e in events]:
        problems.append(f"{where}: not completed")
    return problems


def resolved_as_sent(planned: Planned, completed: dict[str, Any]) -> bool:
    if planned.workflow_id not in ("h_event", "h_either"):
        return True
    return bool(completed["output"].get("event") == planned.execution_id)


def held_check(harness: FaultHarness) -> Check:
    stream = harness.watch.by_execution()
    problems = [p for e in harness.planned.values() for p in held_problems(e, stream.get(e.execution_id, []))]
    summary = f"{len(harness.planned)} executions with held nodes"
    return Check("H", "held nodes never given to a worker, resolved exactly once", tuple(problems), summary)


@pytest.mark.parametrize(
    ("how", "replicas"), [("SIGTERM", 1), ("SIGKILL", 1), ("SIGTERM", 2), ("SIGKILL", 2)]
)
async def test_restart_scheduler_with_held_nodes(harness: FaultHarness, how: str, replicas: int) -> None:
    if replicas == 2:
        harness.procs.add(REPLICA)
        await harness.start_service(REPLICA.name)
    planned = held_plan(f"held-{how.lower()}-{replicas}")
    await hold_all(harness, planned)
    await send(harness, planned, "before")
    await stop(harness, how)
    await send(harness, planned, "down")
    await asyncio.sleep(DOWN_SECS)  # the fault's length: timers come due while the scheduler is down
    await harness.start_service("scheduler")
    await send(harness, planned, "after")
    await harness.finish(timeout=60)
    harness.add_check(held_check(harness))
    harness.verdict()
