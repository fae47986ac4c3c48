"""Timers follow partition ownership: with 3 scheduler replicas, each wait timer fires on its owner.

All replicas share the timers' consumer, so without ownership about two timers in three would be taken
by a replica that does not plan the execution, and its TimerFired would be stamped without a lease.
"""

from __future__ import annotations

import uuid

from jamjet_common.eventlog import EventLog
from jamjet_common.events import TimerFired
from jamjet_common.partitions import KV_SCHEDULER_LEASES
from services.scheduler.config import DEFAULT_PARTITIONS
from tests.faults.harness import FaultHarness
from tests.faults.invariants import Check
from tests.faults.workflows import Planned
from tests.helpers import eventually
from tests.scale.planners import one_planner_at_a_time, read_logs
from tests.scale.test_partitions import TENANT, add

EXECUTIONS = 60
SCHEDULERS = ("scheduler-0", "scheduler2-0", "scheduler3-0")


async def every_replica_leases(harness: FaultHarness) -> bool:
    kv = await harness.js.key_value(KV_SCHEDULER_LEASES)
    holders = {(await kv.get(key)).value for key in await kv.keys() if key.startswith("partition.")}
    return {h.decode() for h in holders if h} == set(SCHEDULERS)


async def test_each_timer_fires_on_the_replica_that_owns_its_execution(harness: FaultHarness) -> None:
    await add(harness, "scheduler2", "services.scheduler")
    await add(harness, "scheduler3", "services.scheduler")
    await eventually(
        lambda: every_replica_leases(harness), timeout=60, message="partitions not spread over 3"
    )
    planned = [Planned(f"exec_{uuid.uuid4().hex}", "h_timer", "timer") for _ in range(EXECUTIONS)]
    await harness.drive(planned, per_second=30)
    await harness.finish(timeout=120)
    logs = await read_logs(EventLog(harness.nc, harness.js), TENANT, list(harness.planned))
    unfired = [
        e for e, entries in logs.items() if not any(isinstance(x.event.kind, TimerFired) for x in entries)
    ]
    harness.add_check(Check("T1", "every wait timer fired", tuple(unfired), f"{len(logs)} executions"))
    harness.add_check(one_planner_at_a_time(logs, DEFAULT_PARTITIONS))
    harness.verdict()
