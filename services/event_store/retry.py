"""Telling a poisoned write from a failing database, and how long to wait before trying again."""

from __future__ import annotations

import random
from dataclasses import dataclass

import asyncpg

POISON_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)
"""Errors caused by the data being written: trying the same rows again fails the same way."""


def is_poison(exc: BaseException) -> bool:
    return isinstance(exc, POISON_ERRORS)


@dataclass(slots=True)
class Backoff:
    """Capped exponential delays with a little jitter, so replicas do not retry in lockstep."""

    first: float = 0.2
    cap: float = 5.0
    _next: float = 0.0

    def next_delay(self) -> float:
        self._next = self.first if self._next == 0.0 else min(self._next * 2, self.cap)
        return self._next * random.uniform(0.9, 1.1)

    def reset(self) -> None:
        self._next = 0.0
