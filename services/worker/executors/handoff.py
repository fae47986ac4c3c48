"""A daemon thread's result handed to its event loop: taken at once when it comes quickly, else later.

A plain function's result reaches the loop through ``call_soon_threadsafe``: a write to the loop's
wakeup pipe, a turn of ``epoll`` and a callback, while the function's thread waits for the GIL the
loop holds. For a function that returns in microseconds that trip is most of the call. So a lone call
whose function has been quick waits for its result for a moment (``BRIEF_WAIT_SECS``) with the GIL
released: the thread, woken on the caller's CPU, runs as soon as the caller blocks, and the result is
taken straight back. A result later than that goes the usual way, and the function waits on the loop
for its next ``SLOW_SKIPS`` calls: the loop is never held longer than the moment, and a slow function
costs it that moment once in a while, not on every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

BRIEF_WAIT_SECS = 0.0005
SLOW_SKIPS = 64
"""Calls of a function that missed the moment that go straight to the loop, before it is tried again."""
_MAX_TRACKED = 4096


class QuickFunctions:
    """Which functions have lately returned within the moment."""

    def __init__(self) -> None:
        self._skips: dict[object, int] = {}

    def worth_waiting(self, key: object) -> bool:
        left = self._skips.get(key)
        if left is None:
            return True
        if left <= 1:
            del self._skips[key]
        else:
            self._skips[key] = left - 1
        return False

    def missed(self, key: object) -> None:
        if len(self._skips) >= _MAX_TRACKED:
            self._skips.clear()
        self._skips[key] = SLOW_SKIPS


class Handoff:
    """One call's result: taken by a caller still waiting for it, else settled on the loop's future."""

    __slots__ = ("_guard", "_loop", "_outcome", "_ready", "_taken", "_waiting", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self._ready = threading.Lock()
        self._ready.acquire()
        self._guard = threading.Lock()
        self._waiting = False
        self._taken = False
        self._outcome: tuple[Any, BaseException | None] | None = None

    def deliver(self, value: Any, error: BaseException | None) -> None:
        """From the function's thread."""
        with self._guard:
            self._outcome = (value, error)
            if self._waiting:
                self._ready.release()
                return
        with contextlib.suppress(RuntimeError):  # the loop may be gone when an abandoned call returns
            self._loop.call_soon_threadsafe(self._settle)

    def wait_briefly(self) -> tuple[Any, BaseException | None] | None:
        """From the caller, right after the call was submitted: the outcome, if it comes within the
        moment; None: it will settle ``future``."""
        with self._guard:
            if self._outcome is not None:  # its settling is on its way to the loop: a no-op now
                self._taken = True
                return self._outcome
            self._waiting = True
        if self._ready.acquire(timeout=BRIEF_WAIT_SECS):
            return self._outcome
        with self._guard:
            self._waiting = False
            return self._outcome

    def _settle(self) -> None:
        if self._taken or self.future.done() or self._outcome is None:
            return
        value, error = self._outcome
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(value)


def unwrap(outcome: tuple[Any, BaseException | None]) -> Any:
    value, error = outcome
    if error is not None:
        raise error
    return value
