"""The deduplication ids (``Nats-Msg-Id``) and keys of one fact, spelled here only.

Two services recording the same fact must spell its id the same way, or JetStream's duplicate window
takes it for two facts: the scheduler withdraws a dispatch under the same outcome id that workers
commit with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Self


class DispatchRef(Protocol):
    """Anything that names a node dispatch (a work item)."""

    @property
    def execution_id(self) -> str: ...

    @property
    def dispatch(self) -> int: ...


@dataclass(slots=True)
class DispatchKeys:
    """The ids of one node dispatch; ``dispatch`` is the sequence of the ``NodeScheduled`` that made it.

    Not frozen: it is built several times for every work item, and a frozen dataclass's ``__init__``
    (``object.__setattr__`` per field) was 2.7% of the worker's samples in W2."""

    execution_id: str
    dispatch: int

    @classmethod
    def of(cls, ref: DispatchRef) -> Self:
        return cls(ref.execution_id, ref.dispatch)

    @property
    def work(self) -> str:
        """``<execution_id>:<dispatch>``: the work item's id, and the prefix of its events' ids."""
        return f"{self.execution_id}:{self.dispatch}"

    @property
    def outcome(self) -> str:
        return f"{self.work}:outcome"

    @property
    def dead_letter(self) -> str:
        return f"{self.work}:dead"

    @property
    def violation(self) -> str:
        return f"{self.work}:violation"

    @property
    def approval(self) -> str:
        return f"{self.work}:approval"

    def started(self, attempt: int) -> str:
        return f"{self.work}:started:{attempt}"

    def failed(self, attempt: int) -> str:
        return f"{self.work}:failed:{attempt}"

    def retry(self, next_attempt: int) -> str:
        return f"{self.work}:retry:{next_attempt}"

    def escalation(self, index: int) -> str:
        return f"{self.work}:escalation:{index}"


def wait_timer_id(execution_id: str, hold: int) -> str:
    """A wait node's timer; ``hold`` is the sequence of the node's ``NodeScheduled``."""
    return f"{execution_id}:wait:{hold}"


def approval_timer_id(execution_id: str, hold: int) -> str:
    """An approval timeout; ``hold`` is the sequence of the ``ToolApprovalRequired``."""
    return f"{execution_id}:approval:{hold}"


def workflow_timer_id(execution_id: str) -> str:
    return f"{execution_id}:workflow_timeout"
