"""The four invariants of the fault-injection suite, checked on a scenario's observations.

1. every execution reaches the terminal status its nodes imply;
2. every execution's sequences are gapless and unique, and Postgres equals the stream;
3. at most one outcome per node dispatch; every retryable failure is retried or exhausted, and every
   restart of a dispatch is recorded as a failure first (lease expiry);
4. no work item is left; dead letters (stream and table) are exactly the exhausted dispatches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from tests.faults.observations import DispatchKey, Event, Observations
from tests.faults.watch import TERMINAL_KINDS
from tests.faults.workflows import FATAL

EXAMPLES = 4
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Check:
    key: str
    title: str
    problems: tuple[str, ...] = ()
    summary: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        text = f"[{verdict}] {self.key} {self.title}"
        if self.summary:
            text += f": {self.summary}"
        for problem in self.problems[:EXAMPLES]:
            text += f"\n         - {problem}"
        if len(self.problems) > EXAMPLES:
            text += f"\n         - ... and {len(self.problems) - EXAMPLES} more"
        return text


@dataclass(slots=True)
class Dispatch:
    execution_id: str
    node_id: str
    sequence: int
    events: list[Event] = field(default_factory=list)

    @property
    def key(self) -> DispatchKey:
        return self.execution_id, self.sequence

    def of_type(self, kind_type: str) -> list[Event]:
        return [e for e in self.events if e["kind"]["type"] == kind_type]

    def outcomes(self) -> list[Event]:
        return [e for e in self.events if _settles(e)]

    @property
    def exhausted(self) -> bool:
        return any(e["kind"].get("exhausted") is not None for e in self.outcomes())


def _settles(event: Event) -> bool:
    kind = event["kind"]
    if kind["type"] == "node_failed":
        return not kind["retryable"]
    return bool(kind["type"] in ("node_completed", "node_cancelled"))


def dispatches(execution_id: str, events: list[Event]) -> list[Dispatch]:
    """Group node events after each NodeScheduled of their node (one group per dispatch)."""
    found: list[Dispatch] = []
    current: dict[str, Dispatch] = {}
    for event in sorted(events, key=lambda e: int(e["sequence"])):
        node_id = event["kind"].get("node_id")
        if node_id is None:
            continue
        if event["kind"]["type"] == "node_scheduled":
            current[node_id] = Dispatch(execution_id, node_id, int(event["sequence"]))
            found.append(current[node_id])
        elif node_id in current:
            current[node_id].events.append(event)
    return found


def all_dispatches(obs: Observations) -> list[Dispatch]:
    return [
        d for execution_id in obs.planned for d in dispatches(execution_id, obs.stream.get(execution_id, []))
    ]


def check_all(obs: Observations) -> list[Check]:
    found = all_dispatches(obs)
    return [
        terminal_status(obs),
        gapless(obs),
        postgres_equals_stream(obs),
        one_outcome(obs, found),
        failures_retried(found),
        restarts_recorded(found),
        work_drained(obs),
        dlq_stream(obs, found),
        dlq_table(obs, found),
    ]


# ---- 1 -------------------------------------------------------------------------------------------------


def implied_status(events: list[Event], node_ids: Iterable[str]) -> str:
    """What the nodes' own events say the execution's status must be."""
    final: dict[str, str] = {}
    for event in events:
        kind = event["kind"]
        if kind["type"] == "node_completed":
            final[kind["node_id"]] = "completed"
        elif kind["type"] == "node_skipped":
            final[kind["node_id"]] = "skipped"
        elif kind["type"] == "node_failed" and not kind["retryable"]:
            final[kind["node_id"]] = "failed"
    if "failed" in final.values():
        return "failed"
    unsettled = sorted(n for n in node_ids if n not in final)
    return f"incomplete ({', '.join(unsettled)} unsettled)" if unsettled else "completed"


def terminal_of(events: list[Event]) -> list[str]:
    return [TERMINAL_KINDS[e["kind"]["type"]] for e in events if e["kind"]["type"] in TERMINAL_KINDS]


def _status_problem(obs: Observations, execution_id: str) -> str | None:
    events = obs.stream.get(execution_id, [])
    terminals = terminal_of(events)
    if not terminals:
        last = events[-1]["kind"]["type"] if events else "no events"
        return f"{execution_id}: stuck, not terminal (last event {last})"
    if len(terminals) > 1:
        return f"{execution_id}: {len(terminals)} terminal events {terminals}"
    implied = implied_status(events, obs.node_ids(execution_id))
    if terminals[0] != implied:
        return f"{execution_id}: {terminals[0]} but its nodes imply {implied}"
    if obs.planned[execution_id].label == FATAL and terminals[0] != "failed":
        return f"{execution_id}: has a fatally failing node but is {terminals[0]}"
    stored = obs.postgres_status.get(execution_id, "missing")
    if stored != terminals[0]:
        return f"{execution_id}: {terminals[0]} in the stream, {stored} in Postgres"
    return None


def terminal_status(obs: Observations) -> Check:
    problems = _collect(obs.planned, lambda e: _status_problem(obs, e))
    statuses = Counter(t for e in obs.planned for t in terminal_of(obs.stream.get(e, []))[:1])
    summary = f"{sum(statuses.values())}/{len(obs.planned)} terminal ({_counts(statuses)})"
    return Check("1", "terminal status implied by nodes (stream and Postgres)", problems, summary)


# ---- 2 -------------------------------------------------------------------------------------------------


def _sequence_problem(execution_id: str, events: list[Event]) -> str | None:
    sequences = [int(e["sequence"]) for e in events]
    if sequences != list(range(1, len(sequences) + 1)):
        return f"{execution_id}: sequences in stream order are {_runs(sequences)}"
    ids = Counter(e["id"] for e in events)
    duplicated = [event_id for event_id, n in ids.items() if n > 1]
    return f"{execution_id}: event ids repeated: {duplicated[:3]}" if duplicated else None


def gapless(obs: Observations) -> Check:
    problems = _collect(obs.planned, lambda e: _sequence_problem(e, obs.stream.get(e, [])))
    if obs.stream_problem is not None:
        problems = (obs.stream_problem, *problems)
    events = sum(len(obs.stream.get(e, [])) for e in obs.planned)
    return Check("2a", "sequences gapless 1..n and unique", problems, f"{events} events")


def comparable(events: list[Event]) -> list[tuple[int, str, object]]:
    return [(int(e["sequence"]), str(e["id"]), e["kind"]) for e in events]


def _postgres_problem(obs: Observations, execution_id: str) -> str | None:
    stream = comparable(obs.stream.get(execution_id, []))
    stored = comparable(obs.postgres_events.get(execution_id, []))
    if stream == stored:
        return None
    first = next((i for i, (a, b) in enumerate(zip(stream, stored, strict=False)) if a != b), None)
    where = f"first difference at index {first}" if first is not None else "one is a prefix of the other"
    return f"{execution_id}: stream has {len(stream)} events, Postgres {len(stored)}; {where}"


def postgres_equals_stream(obs: Observations) -> Check:
    problems = _collect(obs.planned, lambda e: _postgres_problem(obs, e))
    rows = sum(len(v) for v in obs.postgres_events.values())
    return Check("2b", "Postgres events equal the EVENTS stream", problems, f"{rows} rows")


# ---- 3 -------------------------------------------------------------------------------------------------


def _outcome_problem(obs: Observations, dispatch: Dispatch) -> str | None:
    completed, outcomes = dispatch.of_type("node_completed"), dispatch.outcomes()
    where = f"{dispatch.execution_id}/{dispatch.node_id}@{dispatch.sequence}"
    if len(completed) > 1:
        return f"{where}: {len(completed)} NodeCompleted"
    if len(outcomes) > 1:
        return f"{where}: {len(outcomes)} outcomes {[e['kind']['type'] for e in outcomes]}"
    terminal = terminal_of(obs.stream.get(dispatch.execution_id, []))
    if not outcomes and terminal and terminal[0] != "cancelled":
        return f"{where}: no outcome although the execution is {terminal[0]}"
    return None


def one_outcome(obs: Observations, found: list[Dispatch]) -> Check:
    problems = _collect(found, lambda d: _outcome_problem(obs, d))
    starts = sum(len(d.of_type("node_started")) for d in found)
    summary = f"{len(found)} dispatches, {starts} starts"
    return Check("3a", "exactly one outcome (at most one NodeCompleted) per dispatch", problems, summary)


def _retry_problem(dispatch: Dispatch) -> str | None:
    kinds = [e["kind"] for e in dispatch.events]
    for i, kind in enumerate(kinds):
        if kind["type"] != "node_failed" or not kind["retryable"]:
            continue
        if any(k["type"] == "node_started" for k in kinds[i + 1 :]) or dispatch.exhausted:
            continue
        where = f"{dispatch.execution_id}/{dispatch.node_id}@{dispatch.sequence}"
        return f"{where}: retryable failure at attempt {kind['attempt']} never retried"
    return None


def failures_retried(found: list[Dispatch]) -> Check:
    problems = _collect(found, _retry_problem)
    retried = sum(len([e for e in d.of_type("node_failed") if e["kind"]["retryable"]]) for d in found)
    exhausted = sum(1 for d in found if d.exhausted)
    summary = f"{retried} retryable failures, {exhausted} dispatches exhausted"
    return Check("3b", "every retryable failure retried or exhausted", problems, summary)


def _restart_problem(dispatch: Dispatch) -> str | None:
    """A new NodeStarted must follow a recorded failure of the attempt before it."""
    failed_since_start, lease_pending = True, False
    for event in dispatch.events:
        kind = event["kind"]
        if kind["type"] == "node_started":
            if not failed_since_start or lease_pending:
                what = (
                    "no failure recorded"
                    if not failed_since_start
                    else "no RetryScheduled after lease expiry"
                )
                where = f"{dispatch.execution_id}/{dispatch.node_id}@{dispatch.sequence}"
                return f"{where}: started again (attempt {kind['attempt']}) with {what}"
            failed_since_start = False
        elif kind["type"] == "node_failed" and kind["retryable"]:
            failed_since_start = True
            lease_pending = bool(kind.get("lease_expired"))
        elif kind["type"] == "retry_scheduled":
            lease_pending = False
    return None


def restarts_recorded(found: list[Dispatch]) -> Check:
    problems = _collect(found, _restart_problem)
    expiries = sum(1 for d in found for e in d.of_type("node_failed") if e["kind"].get("lease_expired"))
    summary = f"{expiries} lease expiries recorded"
    return Check("3c", "every restarted attempt recorded as failed first (lease expiry)", problems, summary)


# ---- 4 -------------------------------------------------------------------------------------------------


def work_drained(obs: Observations) -> Check:
    problems: tuple[str, ...] = ()
    if obs.work_left:
        left = "an unknown number of" if obs.work_left < 0 else str(obs.work_left)
        problems = (f"{left} work item(s) left in JAMJET_WORK",)
    return Check("4a", "no work item left in JAMJET_WORK", problems, f"{obs.work_left} left")


def _exhausted(found: list[Dispatch]) -> Counter[DispatchKey]:
    return Counter(d.key for d in found if d.exhausted)


def _compare(expected: Counter[DispatchKey], actual: Counter[DispatchKey], what: str) -> list[str]:
    missing, extra = expected - actual, actual - expected
    problems = [f"exhausted dispatch {k[0]}@{k[1]} has no {what}" for k in sorted(missing)]
    problems += [f"{what} {k[0]}@{k[1]} x{n} is not an exhausted dispatch" for k, n in sorted(extra.items())]
    return problems


def dlq_stream(obs: Observations, found: list[Dispatch]) -> Check:
    expected = _exhausted(found)
    problems = _compare(expected, Counter(obs.dlq_work), "DLQ record (jamjet.dlq.work.>)")
    problems += [f"undecodable message dead-lettered: {text}" for text in obs.dlq_decode]
    summary = (
        f"{sum(expected.values())} exhausted, {len(obs.dlq_work)} in JAMJET_DLQ, {len(obs.dlq_decode)} decode"
    )
    return Check("4b", "JAMJET_DLQ holds exactly the exhausted dispatches", tuple(problems), summary)


def dlq_table(obs: Observations, found: list[Dispatch]) -> Check:
    title = "Postgres dead_letters holds exactly the exhausted dispatches"
    if obs.table_dead_letters is None:
        return Check("4c", title, (obs.table_problem or "no dead_letters table in Postgres",))
    expected = _exhausted(found)
    problems = _compare(expected, Counter(obs.table_dead_letters), "dead_letters row")
    summary = f"{sum(expected.values())} exhausted, {len(obs.table_dead_letters)} rows"
    return Check("4c", title, tuple(problems), summary)


# ---- helpers -------------------------------------------------------------------------------------------


def _collect[T](items: Iterable[T], problem: Callable[[T], str | None]) -> tuple[str, ...]:
    return tuple(p for p in map(problem, items) if p is not None)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counter.items())) or "none"


def _runs(sequences: list[int]) -> str:
    shown = sequences if len(sequences) <= 12 else [*sequences[:6], "...", *sequences[-6:]]
    return str(shown)
