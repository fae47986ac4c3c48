"""Scheduler partitions across replicas: 3 schedulers, one SIGKILLed and one added mid-run.

Two event stores share their consumers meanwhile; the fault suite's invariants (every execution
terminal, gapless logs, Postgres equal to the stream, one outcome per dispatch...) must all hold.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from nats.js.errors import KeyNotFoundError

from jamjet_common import subjects
from jamjet_common.eventlog import Entry, EventLog, new_event
from jamjet_common.events import EventKind, NodeScheduled
from jamjet_common.partitions import KV_SCHEDULER_LEASES, partition_of
from services.scheduler.config import DEFAULT_PARTITIONS
from services.scheduler.partitions import PLANNER_HEADER, assignment, partition_key
from tests.faults.harness import LEASE_SECS, FaultHarness
from tests.faults.procs import ProcessSpec
from tests.faults.workflows import Planned, fn, workflow
from tests.helpers import eventually
from tests.scale.planners import one_planner_at_a_time, read_logs, shares

EXECUTIONS = 500
LATE_BATCH_AT = 380
TAKEOVER_SECS = 3 * LEASE_SECS
"""The lease, then the next renewal round of the survivors, with room for a loaded machine."""
PARTITIONS = DEFAULT_PARTITIONS
WORKFLOW = "scale-noop"
TENANT = "default"


def noop_workflow() -> dict[str, object]:
    return workflow(WORKFLOW, [fn("a", "fast"), fn("b", "fast")], [("a", "b")])


async def owners(harness: FaultHarness) -> list[str | None]:
    """The instance leasing each partition, None where it is free (never leased, or released)."""
    kv = await harness.js.key_value(KV_SCHEDULER_LEASES)
    found: list[str | None] = []
    for p in range(PARTITIONS):
        try:
            value = (await kv.get(partition_key(p))).value
        except KeyNotFoundError:
            value = None
        found.append(value.decode() if value else None)
    return found


async def none_owned_by(harness: FaultHarness, instance: str) -> bool:
    """Every partition leased, and none to ``instance``."""
    return all(owner and owner != instance for owner in await owners(harness))


async def some_owned_by(harness: FaultHarness, instance: str) -> bool:
    return instance in await owners(harness)


async def add(harness: FaultHarness, name: str, module: str) -> None:
    harness.procs.add(ProcessSpec(name, module))
    await harness.start_service(name)


async def test_partitions_move_when_schedulers_die_and_join(harness: FaultHarness) -> None:
    ir = noop_workflow()
    harness.workflows[WORKFLOW] = ir
    await harness.ask(subjects.CMD_REGISTER, {"ir": ir})
    for name, module in (
        ("scheduler2", "services.scheduler"),
        ("scheduler3", "services.scheduler"),
        ("event_store2", "services.event_store"),
    ):
        await add(harness, name, module)
    planned = [Planned(f"exec_{uuid.uuid4().hex}", WORKFLOW, "noop") for _ in range(EXECUTIONS)]
    # The last batch is started only once the joining replica holds partitions, so that it has work
    # to plan however slowly it starts on a loaded machine.
    first, last = planned[:LATE_BATCH_AT], planned[LATE_BATCH_AT:]
    driving = asyncio.create_task(harness.drive(first, per_second=60))
    assert await harness.reach(0.2, timeout=120), "a fifth of the executions never completed"
    await harness.kill("scheduler2")
    await eventually(
        lambda: none_owned_by(harness, "scheduler2-0"),
        timeout=TAKEOVER_SECS,
        interval=0.2,
        message="the killed replica's partitions were not taken over",
    )
    assert await harness.reach(0.4, timeout=120), "no progress after a scheduler was killed"
    await add(harness, "scheduler4", "services.scheduler")
    await driving
    await eventually(
        lambda: some_owned_by(harness, "scheduler4-0"),
        timeout=TAKEOVER_SECS,
        interval=0.2,
        message="the joining replica was given no partition",
    )
    await harness.drive(last, per_second=60)
    await harness.finish(timeout=240)
    logs = await read_logs(EventLog(harness.nc, harness.js), TENANT, list(harness.planned))
    harness.add_check(one_planner_at_a_time(logs, PARTITIONS))
    schedulers = ["scheduler-0", "scheduler2-0", "scheduler3-0", "scheduler4-0"]
    harness.add_check(shares(logs, schedulers))
    harness.verdict()


def test_the_partition_of_an_execution_is_the_servers() -> None:
    """FNV-1a modulo P, as nats-server's partition() transform; checked against the stream in S1 too."""
    assert partition_of("x1", 4) == 2
    assert partition_of("exec_abc", 4) == 3


def entry(sequence: int, kind: EventKind, planner: str | None) -> Entry:
    headers = {} if planner is None else {PLANNER_HEADER: planner}
    return Entry(new_event("exec_x1", sequence, kind), sequence, headers)


def test_the_planner_check_sees_interleaved_owners() -> None:
    scheduled = NodeScheduled(node_id="a", queue_type="general")
    part = partition_of("exec_x1", PARTITIONS)
    interleaved = [
        entry(1, scheduled, f"s1 {part} 5"),
        entry(2, scheduled, f"s2 {part} 9"),
        entry(3, scheduled, f"s1 {part} 5"),
        entry(4, scheduled, None),
        entry(5, scheduled, f"s3 {part} 9"),
    ]
    problems = one_planner_at_a_time({"exec_x1": interleaved}, PARTITIONS).problems
    assert any("term 5 after 9" in p for p in problems)
    assert any("without a stamp" in p for p in problems)
    assert any("claimed by ['s2', 's3']" in p for p in problems)
    handover = [entry(1, scheduled, f"s1 {part} 5"), entry(2, scheduled, f"s2 {part} 9")]
    assert one_planner_at_a_time({"exec_x1": handover}, PARTITIONS).ok


def test_every_replica_derives_the_same_round_robin_assignment() -> None:
    owners = assignment(["member.b", "member.a", "member.c", "member.a"], 12)
    assert owners == assignment(["member.c", "member.a", "member.b"], 12)
    assert Counter(owners.values()) == {"member.a": 4, "member.b": 4, "member.c": 4}
    assert assignment([], 12) == {}
