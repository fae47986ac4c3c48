"""What one process has seen of executions' logs lately: a contiguous run of events per execution.

A writer that must know whether anything since a position ended a dispatch
(:meth:`jamjet_common.eventlog.EventLog.append_unless`) then reads only what it has not seen. Its own
conditional appends (nothing lies between the tail an append names and the append) and what it read
after a lost race extend the run; anything else starts a new one.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

import msgspec

from jamjet_common.events import EventKind, NodeCompleted, WorkflowCompleted, WorkflowStarted
from jamjet_common.tail import Tail

Seen = tuple[Tail, EventKind]
"""An accepted event's position and its kind, without the payloads that can be large."""


def light(kind: EventKind) -> EventKind:
    """``kind`` without the state and outputs it may carry: what ends a dispatch never depends on them."""
    if isinstance(kind, NodeCompleted):
        return msgspec.structs.replace(kind, output=None, state_patch=None, provenance=None)
    if isinstance(kind, WorkflowStarted):
        return msgspec.structs.replace(kind, initial_input=None)
    if isinstance(kind, WorkflowCompleted):
        return msgspec.structs.replace(kind, final_state=None)
    return kind


@dataclass(slots=True)
class _Run:
    start: Tail
    end: Tail
    events: deque[Seen] = field(default_factory=deque)
    """The accepted events after ``start``, up to ``end``."""


class SeenEvents:
    def __init__(self, executions: int = 1024, per_execution: int = 64) -> None:
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._executions = executions
        self._per_execution = per_execution

    def saw(self, execution_id: str, after: Tail, at: Tail, kind: EventKind | None) -> None:
        """The message at ``at`` directly follows ``after``; ``kind`` None: a message readers refuse."""
        run = self._runs.get(execution_id)
        if run is None or run.end != after:
            run = self._runs[execution_id] = _Run(after, after)
            if len(self._runs) > self._executions:
                self._runs.popitem(last=False)
        self._runs.move_to_end(execution_id)
        run.end = at
        if kind is None:
            return
        run.events.append((at, light(kind)))
        if len(run.events) > self._per_execution:
            run.start = run.events.popleft()[0]

    def since(self, execution_id: str, clear: Tail) -> tuple[Tail, list[Seen]] | None:
        """The end of what was seen and the events after ``clear``, if ``clear`` lies in what was seen."""
        run = self._runs.get(execution_id)
        if run is None or not run.start.stream_seq <= clear.stream_seq <= run.end.stream_seq:
            return None
        return run.end, [seen for seen in run.events if seen[0].stream_seq > clear.stream_seq]
