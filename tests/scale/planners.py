"""Who planned what: the checks on the ``Jamjet-Planner`` stamp of the events schedulers append.

Each stamp is ``<instance> <partition> <term>``, the term being the lease revision at which the instance
acquired the partition. Two replicas planning one execution at once would show on its log as terms
that go back (A's term, then B's, then A's again) or as a term claimed by two instances.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from jamjet_common.eventlog import Entry, EventLog
from jamjet_common.events import NodeScheduled, WorkflowCompleted
from jamjet_common.partitions import partition_of
from services.scheduler.partitions import PLANNER_HEADER
from tests.faults.invariants import Check

PLANNED_KINDS = (NodeScheduled, WorkflowCompleted)
"""Events only a scheduler's planning appends."""


@dataclass(frozen=True, slots=True)
class Stamp:
    instance: str
    partition: int
    term: int | None


def stamp_of(entry: Entry) -> Stamp | None:
    raw = entry.headers.get(PLANNER_HEADER)
    if raw is None:
        return None
    instance, partition, term = raw.split()
    return Stamp(instance, int(partition), None if term == "-" else int(term))


async def read_logs(log: EventLog, tenant: str, execution_ids: list[str]) -> dict[str, list[Entry]]:
    return {e: [entry async for entry in log.read_entries(tenant, e)] for e in execution_ids}


def _log_problems(execution_id: str, entries: list[Entry], count: int) -> list[str]:
    problems, last_term = [], 0
    for entry in entries:
        stamp = stamp_of(entry)
        if stamp is None:
            if isinstance(entry.event.kind, PLANNED_KINDS):
                problems.append(f"{execution_id}#{entry.event.sequence}: planned without a stamp")
            continue
        if stamp.term is None:
            problems.append(
                f"{execution_id}#{entry.event.sequence}: planned by {stamp.instance} without a lease"
            )
            continue
        if stamp.partition != partition_of(execution_id, count):
            problems.append(f"{execution_id}#{entry.event.sequence}: stamped partition {stamp.partition}")
        if stamp.term < last_term:
            problems.append(f"{execution_id}#{entry.event.sequence}: term {stamp.term} after {last_term}")
        last_term = max(last_term, stamp.term)
    return problems


def one_planner_at_a_time(logs: dict[str, list[Entry]], count: int) -> Check:
    problems = [p for e, entries in logs.items() for p in _log_problems(e, entries, count)]
    owners: dict[tuple[int, int], set[str]] = {}
    for entries in logs.values():
        for stamp in filter(None, map(stamp_of, entries)):
            if stamp.term is not None:
                owners.setdefault((stamp.partition, stamp.term), set()).add(stamp.instance)
    problems += [
        f"partition {p} term {t} claimed by {sorted(i)}" for (p, t), i in owners.items() if len(i) > 1
    ]
    return Check(
        "S1", "no execution planned by two replicas at once", tuple(problems), f"{len(owners)} terms"
    )


def planned_by(logs: dict[str, list[Entry]]) -> Counter[str]:
    """Executions each instance planned at least one event of."""
    counts: Counter[str] = Counter()
    for entries in logs.values():
        counts.update({s.instance for s in filter(None, map(stamp_of, entries))})
    return counts


def shares(logs: dict[str, list[Entry]], instances: list[str]) -> Check:
    counts = planned_by(logs)
    problems = tuple(f"{i} planned no execution" for i in instances if counts[i] == 0)
    summary = ", ".join(f"{i}: {n}" for i, n in sorted(counts.items()))
    return Check("S2", "each scheduler replica planned a share", problems, summary)
