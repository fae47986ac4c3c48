"""Short nodes run by the scheduler itself (``JAMJET_SCHEDULER_INLINE_KINDS``), with no work item: the one
node a plan dispatches; a fan-out's nodes go to the workers.

The log is the same as a worker's (``NodeStarted`` names the runner ``inline:<scheduler>``); retries,
cancellation and a stop mid-node behave as on a worker; a node any policy applies to still goes to a
worker, which asks the policy service. Kills mid-node: tests/faults/test_inline.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from jamjet_common import streams, subjects
from jamjet_common.config import ConfigError, Env
from jamjet_common.eventlog import EventLog
from jamjet_common.events import NodeCompleted
from jamjet_common.publisher import MSG_ID
from services.event_store.service import EventStoreService
from services.policy.service import PolicyService
from services.scheduler.config import SchedulerConfig
from services.scheduler.inline import RUNNER_PREFIX
from services.scheduler.service import SchedulerService
from services.worker.service import WorkerService
from tests.e2e import workflows
from tests.e2e.stack import Stack, assert_gapless, running_all, services
from tests.faults.invariants import dispatches
from tests.harness import running
from tests.helpers import ask as runtime_request
from tests.helpers import eventually
from tests.worker import fns

pytestmark = pytest.mark.e2e
INLINE = {"JAMJET_SCHEDULER_INLINE_KINDS": "python_fn,condition,parallel,join"}
WORKER_FNS = "tests.worker.fns"


def starts(stack: Stack, execution_id: str) -> list[tuple[str, str, int]]:
    """(node, runner, attempt) of each NodeStarted."""
    return [
        (e["kind"]["node_id"], e["kind"]["worker_id"], e["kind"]["attempt"])
        for e in stack.recorder.events[execution_id]
        if e["kind"]["type"] == "node_started"
    ]


def node_kinds(stack: Stack, execution_id: str, node_id: str) -> list[str]:
    events = stack.recorder.events[execution_id]
    return [e["kind"]["type"] for e in events if e["kind"].get("node_id") == node_id]


def one_node(function: str, retry: dict[str, Any] | None = None) -> dict[str, Any]:
    node = workflows.fn("work", function, WORKER_FNS)
    ir = workflows.workflow([node], [("work", "end")], wf=f"one_{function}")
    if retry is not None:
        node["retry_policy"] = "quick"
        ir["retry_policies"] = {"quick": retry}
    return ir


def chain2(wf: str) -> dict[str, Any]:
    """a -> b, two python_fn nodes."""
    return workflows.workflow(
        [workflows.fn("a", "root", workflows.MODULE), workflows.fn("b", "join", workflows.MODULE)],
        [("a", "b"), ("b", "end")],
        wf=wf,
    )


async def test_a_passs_lone_node_runs_in_the_scheduler_and_a_fan_out_on_workers(stack: Stack) -> None:
    chain = chain2("chain2")
    async with services(stack, workers=1, **INLINE):
        for ir in (workflows.diamond10(), workflows.routed(), chain):
            await stack.register(ir)
        diamonds = [await stack.start("diamond10") for _ in range(3)]
        others = [await stack.start("routed", {"go_left": True}), await stack.start("chain2")]
        await stack.all_terminal(diamonds + others)
        await stack.postgres_matches_stream(diamonds + others)
        work = await stack.nc.jetstream().stream_info(streams.WORK)
    assert all(stack.recorder.terminal[e] == "workflow_completed" for e in diamonds + others)
    assert work.state.last_seq == 3 * workflows.BRANCHES, "only the fan-outs' nodes were work items"
    assert_gapless(stack, diamonds + others)
    for execution_id in diamonds:
        runners = {node: runner for node, runner, _ in starts(stack, execution_id)}
        assert runners["root"].startswith(RUNNER_PREFIX) and runners["join"].startswith(RUNNER_PREFIX)
        assert not any(runners[f"b{i}"].startswith(RUNNER_PREFIX) for i in range(workflows.BRANCHES))
    for execution_id in others:
        assert all(runner.startswith(RUNNER_PREFIX) for _, runner, _ in starts(stack, execution_id))
    final = stack.recorder.events[diamonds[0]][-1]["kind"]["final_state"]
    assert final["total"] == sum(range(workflows.BRANCHES))


async def test_a_node_a_policy_applies_to_goes_to_a_worker(stack: Stack) -> None:
    async with services(stack, workers=1, **INLINE):
        await stack.register(workflows.blocked_fn())
        execution_id = await stack.start("risky")
        await stack.all_terminal([execution_id])
    assert stack.recorder.terminal[execution_id] == "workflow_failed"
    assert "policy_violation" in node_kinds(stack, execution_id, "danger")
    assert all(not runner.startswith(RUNNER_PREFIX) for _, runner, _ in starts(stack, execution_id))


async def test_a_function_the_schedulers_allowlist_leaves_out_goes_to_a_worker(stack: Stack) -> None:
    ir = workflows.workflow(
        [workflows.fn("a", "root", workflows.MODULE), workflows.fn("b", "noop", "tests.fns")],
        [("a", "b"), ("b", "end")],
        wf="two_modules",
    )
    env = stack.env(**INLINE)
    async with contextlib.AsyncExitStack() as running_services:
        await running_services.enter_async_context(running_all([EventStoreService.from_env(env)]))
        scheduler_env = stack.env(JAMJET_PYTHON_ALLOWED_MODULES="tests.fns", **INLINE)
        for service in (
            PolicyService.from_env(env),
            WorkerService.from_env(env),
            SchedulerService.from_env(scheduler_env),
        ):
            await running_services.enter_async_context(running(service))
        await stack.register(ir)
        execution_id = await stack.start("two_modules")
        await stack.all_terminal([execution_id])
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    runners = {node: runner for node, runner, _ in starts(stack, execution_id)}
    assert not runners["a"].startswith(RUNNER_PREFIX) and runners["b"].startswith(RUNNER_PREFIX), runners


async def test_a_retryable_failure_is_retried_inline(stack: Stack) -> None:
    key = uuid.uuid4().hex
    retry = {"max_attempts": 3, "backoff": "fixed", "initial_delay": 0.1, "max_delay": 0.1}
    async with services(stack, workers=0, **INLINE):
        await stack.register(one_node("flaky", retry))
        execution_id = await stack.start("one_flaky", {"key": key, "fail_times": 1})
        await stack.all_terminal([execution_id])
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    kinds = node_kinds(stack, execution_id, "work")
    assert kinds == [
        "node_scheduled",
        "node_started",
        "node_failed",
        "retry_scheduled",
        "node_started",
        "node_completed",
    ], kinds
    assert [attempt for _, _, attempt in starts(stack, execution_id)] == [0, 1]
    assert all(runner.startswith(RUNNER_PREFIX) for _, runner, _ in starts(stack, execution_id))


async def test_cancelling_stops_a_node_running_inline(stack: Stack) -> None:
    key = uuid.uuid4().hex
    async with services(stack, workers=0, **INLINE):
        await stack.register(one_node("slow"))
        execution_id = await stack.start("one_slow", {"key": key, "secs": 60})
        await eventually(lambda: starts(stack, execution_id), timeout=30)
        await stack.ask("jamjet.cmd.executions.cancel", {"execution_id": execution_id})
        await stack.all_terminal([execution_id], timeout=30)
        await eventually(lambda: "node_cancelled" in node_kinds(stack, execution_id, "work"), timeout=30)
    assert stack.recorder.terminal[execution_id] == "workflow_cancelled"
    assert "node_completed" not in node_kinds(stack, execution_id, "work")


async def test_a_stopping_scheduler_gives_its_inline_node_to_a_worker(stack: Stack) -> None:
    key = uuid.uuid4().hex
    env = stack.env(**INLINE)
    async with contextlib.AsyncExitStack() as always:
        await always.enter_async_context(running_all([EventStoreService.from_env(env)]))
        for service in (PolicyService.from_env(env), WorkerService.from_env(env)):
            await always.enter_async_context(running(service))
        async with running(SchedulerService.from_env(stack.env(JAMJET_SHUTDOWN_GRACE_SECS="0.5", **INLINE))):
            await stack.register(one_node("slow"))
            execution_id = await stack.start("one_slow", {"key": key, "secs": 2})
            await eventually(lambda: starts(stack, execution_id), timeout=30)
        # Stopped within its grace: the node was given back, and a worker runs it again.
        await eventually(lambda: len(starts(stack, execution_id)) == 2, timeout=30)
        async with running(SchedulerService.from_env(env)):
            await stack.all_terminal([execution_id], timeout=60)
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    (_, first, a0), (_, second, a1) = starts(stack, execution_id)
    assert first.startswith(RUNNER_PREFIX) and not second.startswith(RUNNER_PREFIX) and (a0, a1) == (0, 1)
    failed = [e["kind"] for e in stack.recorder.events[execution_id] if e["kind"]["type"] == "node_failed"]
    assert [f.get("released") for f in failed] == [True]
    assert node_kinds(stack, execution_id, "work").count("node_completed") == 1


def test_only_kinds_that_run_in_process_can_run_inline() -> None:
    def config(kinds: str) -> SchedulerConfig:
        return SchedulerConfig.from_env(Env({"JAMJET_SCHEDULER_INLINE_KINDS": kinds}))

    assert config("python_fn,join").inline_kinds == {"python_fn", "join"}
    assert config("none").inline_kinds == frozenset()
    assert SchedulerConfig.from_env(Env({})).inline_kinds == frozenset()
    with pytest.raises(ConfigError, match="JAMJET_SCHEDULER_INLINE_KINDS: model cannot run inline"):
        config("python_fn,model")


async def test_a_quiet_logs_inline_nodes_are_chained_in_one_round_trip_per_step(stack: Stack) -> None:
    chain = chain2("chain2_paired")
    async with services(stack, workers=0, **INLINE):
        await stack.register(chain)
        execution_id = await stack.start("chain2_paired")
        await stack.all_terminal([execution_id])
        await stack.postgres_matches_stream([execution_id])
        stored = await raw_log(stack, execution_id)
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    for node_id in ("a", "b"):
        at = next(i for i, (event, _, _) in enumerate(stored) if scheduling(event, node_id))
        (scheduled, seq, ids), (started, next_seq, next_ids) = stored[at], stored[at + 1]
        # Paired: the NodeScheduled carries its id as the message id the start's check names, and the
        # start is the stream's very next message.
        assert ids == scheduled["id"] and next_seq == seq + 1, (node_id, stored)
        assert started["kind"]["type"] == "node_started" and started["kind"]["attempt"] == 0
        assert next_ids == f"{execution_id}:{scheduled['sequence']}:started:0"
    # A's completion heads b's pass, and b's heads the finish: each chained the same way.
    kinds = [(event["kind"]["type"], event["kind"].get("node_id")) for event, _, _ in stored]
    for at, (kind, node_id) in enumerate(kinds):
        if kind != "node_completed":
            continue
        (completed, seq, ids), (_, next_seq, _) = stored[at], stored[at + 1]
        assert ids == completed["id"] and next_seq == seq + 1, (node_id, stored)
        assert kinds[at + 1] == {"a": ("node_scheduled", "b"), "b": ("workflow_completed", None)}[node_id]
    assert_gapless(stack, [execution_id])


async def test_a_start_on_a_quiet_stream_heads_its_first_pass_in_one_round_trip(stack: Stack) -> None:
    chain = chain2("chain2_started")
    async with services(stack, workers=0, **INLINE):
        await stack.register(chain)
        first = await stack.start("chain2_started")  # the scheduler has seen the stream's end since
        await stack.all_terminal([first])
        execution_id = await stack.start("chain2_started")
        await stack.all_terminal([execution_id])
        await stack.postgres_matches_stream([first, execution_id])
        stored = await raw_log(stack, execution_id)
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    (started, seq, ids), (scheduled, next_seq, _) = stored[0], stored[1]
    assert started["kind"]["type"] == "workflow_started" and scheduling(scheduled, "a"), stored
    assert ids == started["id"] and next_seq == seq + 1, stored
    assert_gapless(stack, [first, execution_id])


def scheduling(event: dict[str, Any], node_id: str) -> bool:
    return event["kind"]["type"] == "node_scheduled" and event["kind"]["node_id"] == node_id


async def raw_log(stack: Stack, execution_id: str) -> list[tuple[dict[str, Any], int, str | None]]:
    """(event, stream sequence, Nats-Msg-Id) of each message of the execution's log, as stored."""
    js = stack.nc.jetstream()
    subject = subjects.events_in_any_tenant(execution_id)
    found, seq = [], 1
    while True:
        try:
            msg = await js.get_msg(streams.EVENTS, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return found
        found.append((json.loads(msg.data or b""), msg.seq or 0, (msg.headers or {}).get(MSG_ID)))
        seq = (msg.seq or 0) + 1


async def test_an_outcome_another_writer_records_first_voids_the_inline_result(stack: Stack) -> None:
    # Whether the scheduler has folded the other outcome by the time the run ends (its own append then
    # finds it) or not (the completion it appends at the head of the next pass conflicts, and the run
    # appends the usual way): one outcome, the first.
    key = uuid.uuid4().hex
    execution_id = f"exec_race_{key}"
    ir = workflows.workflow(
        [workflows.fn("a", "race_outcome", WORKER_FNS), workflows.fn("b", "answer", WORKER_FNS)],
        [("a", "b"), ("b", "end")],
        wf="race",
    )

    async def other_writer() -> None:
        other = NodeCompleted(node_id="a", output={"by": "other"}, state_patch={"by": "other"})
        log = EventLog(stack.nc, stack.nc.jetstream())
        await log.append("default", execution_id, other, msg_id=f"{execution_id}:2:outcome")

    fns.racers[key] = other_writer
    async with services(stack, workers=0, **INLINE):
        await stack.register(ir)
        await stack.start("race", {"key": key}, execution_id=execution_id)
        await stack.all_terminal([execution_id])
        await stack.postgres_matches_stream([execution_id])
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    outcomes = [
        e["kind"]["output"]
        for e in stack.recorder.events[execution_id]
        if e["kind"]["type"] == "node_completed" and e["kind"]["node_id"] == "a"
    ]
    assert outcomes == [{"by": "other"}], outcomes
    assert stack.recorder.events[execution_id][-1]["kind"]["final_state"]["by"] == "other"
    assert_gapless(stack, [execution_id])


async def test_chained_steps_under_load_and_cancellations_keep_one_outcome_per_dispatch(stack: Stack) -> None:
    # Chains at once and one after another: the stream is quiet for some steps and not for others, so
    # chains land whole, get cut short or are not tried, while cancellations race the runs.
    nodes = [workflows.fn(f"s{i}", "noop", "tests.fns") for i in range(8)]
    edges = [*((f"s{i}", f"s{i + 1}") for i in range(7)), ("s7", "end")]
    async with services(stack, workers=1, **INLINE):
        await stack.register(workflows.workflow(nodes, edges, wf="chain8"))
        ids = list(await asyncio.gather(*(stack.start("chain8") for _ in range(16))))
        for n in range(16):  # one after another: most of their steps find the stream quiet
            ids.append(await stack.start("chain8"))
            if n % 3 == 0:
                await cancel(stack, ids[-1])
        for execution_id in ids[:16:3]:
            await cancel(stack, execution_id)
        await stack.all_terminal(ids)
        await stack.postgres_matches_stream(ids)
    assert_gapless(stack, ids)
    for execution_id in ids:
        events = stack.recorder.events[execution_id]
        found = dispatches(execution_id, events)
        assert all(len(dispatch.outcomes()) <= 1 for dispatch in found), events
        if stack.recorder.terminal[execution_id] == "workflow_completed":
            completed = [e["kind"]["node_id"] for e in events if e["kind"]["type"] == "node_completed"]
            assert sorted(completed) == [f"s{i}" for i in range(8)], events
        else:
            assert stack.recorder.terminal[execution_id] == "workflow_cancelled", events


async def cancel(stack: Stack, execution_id: str) -> None:
    """Refused once the execution has finished: either way it ends once."""
    await runtime_request(stack.nc, subjects.CMD_CANCEL, {"execution_id": execution_id}, timeout=30)
