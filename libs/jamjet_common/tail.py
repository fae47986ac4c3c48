"""A position in an execution's log (defined apart from ``eventlog`` so that its helpers can use it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tail:
    """A log position: the last event's sequence and its stream sequence (0, 0 = empty log)."""

    sequence: int = 0
    stream_seq: int = 0


EMPTY = Tail()
